//! Event log URLs: which backend they select, and how to show them without their password.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::error::LogError;

/// A parsed event log URL.
pub(crate) enum Target {
    SqliteFile(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

/// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://…` and `postgresql://…`.
pub(crate) fn parse(url: &str) -> Result<Target, LogError> {
    let invalid = |reason: &str| LogError::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(invalid(
            "missing a scheme such as `sqlite:` or `postgres://`",
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                Err(invalid(
                    "needs a file path (the writer and readers share one file)",
                ))
            } else if path.contains(['?', '#']) {
                Err(invalid("sqlite urls take no query parameters"))
            } else {
                Ok(Target::SqliteFile(PathBuf::from(path)))
            }
        }
        "postgres" | "postgresql" => PgConnectOptions::from_str(url)
            .map(|opts| Target::Postgres(Box::new(opts)))
            .map_err(|e| invalid(&e.to_string())),
        other => Err(LogError::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}

pub(crate) use rampart_core::redact_url as redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_selects_backends() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://h/db?password=x"),
            "postgres://h/db?password=***"
        );
        assert!(
            matches!(parse("sqlite:///a/b.db"), Ok(Target::SqliteFile(p)) if p.as_path() == std::path::Path::new("/a/b.db"))
        );
        assert!(matches!(
            parse("sqlite::memory:"),
            Err(LogError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("mysql://x"),
            Err(LogError::UnsupportedScheme { .. })
        ));
        if let Err(e) = parse("postgres://u:secret@h:99999999/db") {
            assert!(!e.to_string().contains("secret"));
        }
    }
}
