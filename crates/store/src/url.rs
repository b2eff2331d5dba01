//! Store URLs: which backend they select, and how to show them without their password.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::error::StoreError;

/// A parsed store URL.
pub(crate) enum Target {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres(Box<PgConnectOptions>),
}

/// Parses `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, `postgres://…` and `postgresql://…`.
pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
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
            if path == ":memory:" {
                Ok(Target::SqliteMemory)
            } else if path.is_empty() {
                Err(invalid("missing a file path"))
            } else if path.contains(['?', '#']) {
                Err(invalid("sqlite urls take no query parameters"))
            } else {
                Ok(Target::SqliteFile(PathBuf::from(path)))
            }
        }
        "postgres" | "postgresql" => PgConnectOptions::from_str(url)
            .map(|opts| Target::Postgres(Box::new(opts)))
            .map_err(|e| invalid(&e.to_string())),
        other => Err(StoreError::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
}

pub(crate) use rampart_core::redact_url as redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let cases = [
            ("postgres://u:secret@h:5/db", "postgres://u:***@h:5/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?password=secret&x=1",
                "postgres://h/db?password=***&x=1",
            ),
            ("postgres://u:se/c@r@et@h/db", "postgres://u:***@h/db"),
            ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
            ("sqlite::memory:", "sqlite::memory:"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want);
        }
    }

    #[test]
    fn parses_sqlite_forms() {
        assert!(matches!(parse("sqlite::memory:"), Ok(Target::SqliteMemory)));
        assert!(matches!(
            parse("sqlite://:memory:"),
            Ok(Target::SqliteMemory)
        ));
        for (url, path) in [
            ("sqlite:///a/b.db", "/a/b.db"),
            ("sqlite:b.db", "b.db"),
            ("SQLITE://c.db", "c.db"),
        ] {
            match parse(url) {
                Ok(Target::SqliteFile(p)) => assert_eq!(p, PathBuf::from(path)),
                _ => panic!("{url} did not parse as a sqlite file"),
            }
        }
        assert!(matches!(
            parse("sqlite://"),
            Err(StoreError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("sqlite://a.db?mode=rwc"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn rejects_other_schemes() {
        match parse("mysql://u:secret@h/db") {
            Err(StoreError::UnsupportedScheme { scheme }) => assert_eq!(scheme, "mysql"),
            _ => panic!("mysql was accepted"),
        }
        assert!(matches!(
            parse("no-scheme"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }
}
