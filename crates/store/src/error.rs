//! The one error type of the store.

/// Why a store could not be opened or a query failed.
///
/// No variant ever holds a URL's password: URLs are redacted before they are stored here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL could not be parsed.
    #[error("invalid store url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The URL names a scheme no backend serves.
    #[error(
        "unsupported store url scheme `{scheme}`: expected `sqlite:`, `postgres://` or `postgresql://`"
    )]
    UnsupportedScheme { scheme: String },

    /// The database could not be reached, refused us, or took too long to answer.
    #[error("cannot connect to the {backend} store at `{url}`")]
    Connect {
        backend: &'static str,
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The embedded migrations could not be applied (or an applied one was changed).
    #[error("cannot apply the {backend} store migrations")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed.
    #[error("{backend} store query `{op}` failed")]
    Query {
        backend: &'static str,
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
}
