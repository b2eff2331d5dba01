//! The error type of the event log.

use std::sync::Arc;

use crate::query::QueryError;

/// Why the log could not be opened, or an ingest, query or audit read failed.
///
/// No variant ever holds a URL's password: URLs are redacted before they are stored here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The URL could not be parsed.
    #[error("invalid event log url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The URL names a scheme no backend serves.
    #[error("unsupported event log url scheme `{scheme}`: expected `sqlite:` or `postgres://`")]
    UnsupportedScheme { scheme: String },

    /// The database could not be reached or created.
    #[error("cannot open the {backend} event log at `{url}`")]
    Connect {
        backend: &'static str,
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The embedded migrations could not be applied (or an applied one was changed).
    #[error("cannot apply the {backend} event log migrations")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed.
    #[error("event log statement `{op}` failed")]
    Sql {
        op: &'static str,
        /// Shared: one failed transaction fails every batch that was coalesced into it.
        #[source]
        source: Arc<sqlx::Error>,
    },

    /// The ingest queue is full: the caller should answer 503 and retry later.
    #[error("the event log ingest queue is full")]
    Busy,

    /// The writer task has stopped (the store is closing or a previous error ended it).
    #[error("the event log writer has stopped")]
    Closed,

    /// The stored data breaks an invariant (a hash of the wrong length, an unknown kind, a chain
    /// row that another writer inserted behind the head lock).
    #[error("event log data is inconsistent: {0}")]
    Corrupt(String),

    /// A query string did not parse.
    #[error(transparent)]
    Query(#[from] QueryError),
}

// === impl LogError ===

impl LogError {
    /// A copy for another waiting caller (the writer's errors are all shareable).
    pub(crate) fn share(&self) -> LogError {
        match self {
            LogError::Sql { op, source } => LogError::Sql {
                op,
                source: Arc::clone(source),
            },
            LogError::Busy => LogError::Busy,
            LogError::Closed => LogError::Closed,
            LogError::Corrupt(s) => LogError::Corrupt(s.clone()),
            other => LogError::Corrupt(other.to_string()),
        }
    }
}

/// Maps a sqlx error to [`LogError::Sql`] naming the operation.
pub(crate) fn sql(op: &'static str) -> impl FnOnce(sqlx::Error) -> LogError {
    move |source| LogError::Sql {
        op,
        source: Arc::new(source),
    }
}
