//! Errors of loading, validating and compiling policies.

use std::path::PathBuf;

/// One pointed problem in a policy source: file, line, column, policy id and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The source file (or a synthetic name such as `<segments>`).
    pub file: String,
    /// 1-based line, when the problem has a location.
    pub line: Option<usize>,
    /// 1-based column, when the problem has a location.
    pub column: Option<usize>,
    /// The id of the policy concerned, when known.
    pub policy_id: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(id) = &self.policy_id {
            write!(f, " [policy {id}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a policy set cannot be loaded or compiled.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy directory or file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded schema does not parse (a build defect).
    #[error("invalid embedded schema: {0}")]
    Schema(String),
    /// A policy file does not parse.
    #[error("policy syntax error:\n{}", join(.0))]
    Parse(Vec<Problem>),
    /// Policies do not validate against the schema (strict mode).
    #[error("policy validation failed:\n{}", join(.0))]
    Validation(Vec<Problem>),
    /// Two policies share an id.
    #[error("duplicate policy id {id} (in {first} and {second})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first defined.
        first: String,
        /// Where it was defined again.
        second: String,
    },
    /// Policy templates are not supported.
    #[error("{file}: policy templates are not supported (policy {id})")]
    Template {
        /// The file.
        file: String,
        /// The template id.
        id: String,
    },
    /// The segments configuration is inconsistent.
    #[error("invalid segments: {0}")]
    Segments(String),
    /// Internal Cedar error while assembling the compiled set.
    #[error("cannot assemble policy set: {0}")]
    Assemble(String),
}
