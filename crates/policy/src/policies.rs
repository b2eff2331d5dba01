//! Policy sources: `.cedar` files parsed into policies with stable ids, validated in strict mode.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Policy, PolicySet, ValidationMode, Validator};

use crate::error::{PolicyError, Problem};
use crate::location::{first_offset, line_col};
use crate::schema::schema;

/// A stable policy id: the `@id("...")` annotation, else `<file stem>.<index in file>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId(Arc<str>);

impl PolicyId {
    /// Wraps an id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PolicyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One loaded policy with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: PolicyId,
    pub(crate) file: Arc<str>,
    pub(crate) source: Arc<str>,
    pub(crate) policy: Policy,
}

/// An ordered collection of static Cedar policies with stable, unique ids.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    entries: Vec<Entry>,
}

impl Policies {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.cedar` file of `dir` (not recursive, in name order), then validates the
    /// whole set against the schema in strict mode.
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let io = |source| PolicyError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "cedar") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut policies = Self::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Io {
                path: path.clone(),
                source,
            })?;
            policies.add_source(&path.display().to_string(), &text)?;
        }
        policies.validate()?;
        Ok(policies)
    }

    /// Parses and validates named sources (`(file name, text)`).
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyError> {
        let mut policies = Self::new();
        for (file, text) in sources {
            policies.add_source(file, text)?;
        }
        policies.validate()?;
        Ok(policies)
    }

    /// Parses one source and appends its policies (not yet validated: call
    /// [`Policies::validate`]). Ids must be unique across the collection.
    pub fn add_source(&mut self, file: &str, text: &str) -> Result<(), PolicyError> {
        let file: Arc<str> = Arc::from(file);
        let source: Arc<str> = Arc::from(text);
        let set = PolicySet::from_str(text).map_err(|errs| {
            PolicyError::Parse(
                errs.iter()
                    .map(|e| problem(&file, &source, None, e, e.to_string()))
                    .collect(),
            )
        })?;
        if let Some(t) = set.templates().next() {
            return Err(PolicyError::Template {
                file: file.to_string(),
                id: t.id().to_string(),
            });
        }
        // The parser numbers policies `policy0`, `policy1`, … in file order.
        let mut parsed: Vec<(usize, &Policy)> = set
            .policies()
            .map(|p| (parser_index(p.id().as_ref()), p))
            .collect();
        parsed.sort_by_key(|(i, _)| *i);
        let stem = Path::new(&*file)
            .file_stem()
            .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
        let mut seen: HashMap<String, String> = self
            .entries
            .iter()
            .map(|e| (e.id.to_string(), e.file.to_string()))
            .collect();
        let mut added = Vec::with_capacity(parsed.len());
        for (index, (_, policy)) in parsed.iter().enumerate() {
            let id = match policy.annotation("id") {
                Some(id) => id.to_string(),
                None => format!("{stem}.{index}"),
            };
            if let Some(first) = seen.get(id.as_str()) {
                return Err(PolicyError::DuplicateId {
                    id,
                    first: first.clone(),
                    second: file.to_string(),
                });
            }
            seen.insert(id.clone(), file.to_string());
            added.push(Entry {
                policy: policy.new_id(cedar_policy::PolicyId::new(&id)),
                id: PolicyId::new(id),
                file: file.clone(),
                source: source.clone(),
            });
        }
        self.entries.extend(added);
        Ok(())
    }

    /// Validates every policy against the schema in strict mode; problems name the file, line,
    /// column and policy id.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let schema = schema()?;
        let set = self.to_policy_set()?;
        let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
        if result.validation_passed() {
            return Ok(());
        }
        let by_id: HashMap<&str, &Entry> =
            self.entries.iter().map(|e| (e.id.as_str(), e)).collect();
        let problems = result
            .validation_errors()
            .map(|e| {
                let id = e.policy_id().to_string();
                match by_id.get(id.as_str()) {
                    Some(entry) => problem(&entry.file, &entry.source, Some(&id), e, e.to_string()),
                    None => Problem {
                        file: String::from("<unknown>"),
                        line: None,
                        column: None,
                        policy_id: Some(id),
                        message: e.to_string(),
                    },
                }
            })
            .collect();
        Err(PolicyError::Validation(problems))
    }

    /// Appends all policies of `other` (ids must stay unique).
    pub fn extend(&mut self, other: &Policies) -> Result<(), PolicyError> {
        for entry in &other.entries {
            if let Some(first) = self.entries.iter().find(|e| e.id == entry.id) {
                return Err(PolicyError::DuplicateId {
                    id: entry.id.to_string(),
                    first: first.file.to_string(),
                    second: entry.file.to_string(),
                });
            }
            self.entries.push(entry.clone());
        }
        Ok(())
    }

    /// The policy ids, in load order.
    pub fn ids(&self) -> impl Iterator<Item = &PolicyId> {
        self.entries.iter().map(|e| &e.id)
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no policies.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file a policy came from and its Cedar text, for explanations.
    pub fn describe(&self, id: &PolicyId) -> Option<(String, String)> {
        self.entries
            .iter()
            .find(|e| &e.id == id)
            .map(|e| (e.file.to_string(), e.policy.to_string()))
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// All policies as one Cedar set (ids are the stable ids).
    pub(crate) fn to_policy_set(&self) -> Result<PolicySet, PolicyError> {
        PolicySet::from_policies(self.entries.iter().map(|e| e.policy.clone()))
            .map_err(|e| PolicyError::Assemble(e.to_string()))
    }
}

fn parser_index(id: &str) -> usize {
    id.strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

fn problem(
    file: &str,
    source: &str,
    policy_id: Option<&str>,
    diag: &dyn miette::Diagnostic,
    message: String,
) -> Problem {
    let (line, column) = match first_offset(diag) {
        Some(offset) => {
            let (l, c) = line_col(source, offset);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    Problem {
        file: file.to_string(),
        line,
        column,
        policy_id: policy_id.map(str::to_string),
        message,
    }
}
