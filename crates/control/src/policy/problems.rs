//! A set that does not compile, as the API reports it: one pointed line per problem.

use rampart_policy::PolicyError;

/// The problems of a rejected set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// A summary for people.
    pub(crate) error: String,
    /// `file:line:col [policy id]: message`, one per problem.
    pub(crate) problems: Vec<String>,
}

// === impl Rejected ===

impl Rejected {
    pub(crate) fn internal(message: String) -> Self {
        Self {
            error: message.clone(),
            problems: vec![message],
        }
    }

    /// The first problem and how many more, for events and logs.
    pub(crate) fn summary(&self) -> String {
        match self.problems.as_slice() {
            [] => self.error.clone(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        }
    }
}

impl From<&PolicyError> for Rejected {
    fn from(e: &PolicyError) -> Self {
        match e {
            PolicyError::Parse(problems) => Self {
                error: "policy syntax error".to_owned(),
                problems: problems.iter().map(ToString::to_string).collect(),
            },
            PolicyError::Validation(problems) => Self {
                error: "policy validation failed".to_owned(),
                problems: problems.iter().map(ToString::to_string).collect(),
            },
            other => Self {
                error: other.to_string(),
                problems: vec![other.to_string()],
            },
        }
    }
}
