//! The embedded migrations of each backend.
//!
//! To change the schema, add `NNNN_name.sql` under both `migrations/sqlite/` and
//! `migrations/postgres/` and list it here with the next version number. Never edit a migration
//! that has shipped: sqlx checks the checksums of applied migrations on every open.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One migration file, embedded in the binary.
pub(crate) struct Embedded {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

pub(crate) const SQLITE: &[Embedded] = &[
    Embedded {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Embedded {
        version: 2,
        description: "join_tokens",
        sql: include_str!("../migrations/sqlite/0002_join_tokens.sql"),
    },
    Embedded {
        version: 3,
        description: "mesh",
        sql: include_str!("../migrations/sqlite/0003_mesh.sql"),
    },
    Embedded {
        version: 4,
        description: "oauth",
        sql: include_str!("../migrations/sqlite/0004_oauth.sql"),
    },
    Embedded {
        version: 5,
        description: "policy_versions",
        sql: include_str!("../migrations/sqlite/0005_policy_versions.sql"),
    },
    Embedded {
        version: 6,
        description: "secrets",
        sql: include_str!("../migrations/sqlite/0006_secrets.sql"),
    },
    Embedded {
        version: 7,
        description: "platform_keys",
        sql: include_str!("../migrations/sqlite/0007_platform_keys.sql"),
    },
];

pub(crate) const POSTGRES: &[Embedded] = &[
    Embedded {
        version: 1,
        description: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Embedded {
        version: 2,
        description: "join_tokens",
        sql: include_str!("../migrations/postgres/0002_join_tokens.sql"),
    },
    Embedded {
        version: 3,
        description: "mesh",
        sql: include_str!("../migrations/postgres/0003_mesh.sql"),
    },
    Embedded {
        version: 4,
        description: "oauth",
        sql: include_str!("../migrations/postgres/0004_oauth.sql"),
    },
    Embedded {
        version: 5,
        description: "policy_versions",
        sql: include_str!("../migrations/postgres/0005_policy_versions.sql"),
    },
    Embedded {
        version: 6,
        description: "secrets",
        sql: include_str!("../migrations/postgres/0006_secrets.sql"),
    },
    Embedded {
        version: 7,
        description: "platform_keys",
        sql: include_str!("../migrations/postgres/0007_platform_keys.sql"),
    },
];

/// A migrator over `set`, built by hand because `sqlx::migrate!` needs sqlx's `macros` feature.
pub(crate) fn migrator(set: &[Embedded]) -> Migrator {
    let migrations = set
        .iter()
        .map(|m| {
            Migration::new(
                m.version,
                Cow::Borrowed(m.description),
                MigrationType::Simple,
                m.sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_share_versions_in_order() {
        let versions = |set: &[Embedded]| {
            set.iter()
                .map(|m| (m.version, m.description))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        for set in [SQLITE, POSTGRES] {
            for (i, m) in set.iter().enumerate() {
                assert_eq!(
                    m.version,
                    i as i64 + 1,
                    "versions are 1, 2, 3, … without gaps"
                );
            }
        }
    }
}
