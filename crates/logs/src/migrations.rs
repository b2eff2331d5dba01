//! The embedded migrations of each backend, tracked in `_rampart_logs_migrations` so they can
//! share a PostgreSQL database with `rampart-store`'s.
//!
//! To change the schema, add `NNNN_name.sql` under both `migrations/sqlite/` and
//! `migrations/postgres/` and list it here. Never edit a migration that has shipped.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The migrations table of the event log.
pub(crate) const TABLE: &str = "_rampart_logs_migrations";

pub(crate) struct Embedded {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

pub(crate) const SQLITE: &[Embedded] = &[Embedded {
    version: 1,
    description: "events",
    sql: include_str!("../migrations/sqlite/0001_events.sql"),
}];

pub(crate) const POSTGRES: &[Embedded] = &[Embedded {
    version: 1,
    description: "events",
    sql: include_str!("../migrations/postgres/0001_events.sql"),
}];

/// A migrator over `set` (built by hand: `sqlx::migrate!` needs sqlx's `macros` feature).
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
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}
