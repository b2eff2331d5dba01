//! The rows of the versioned Cedar policy sets.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::time::from_millis;

/// One version of the policy set, enforced or evaluated in dry-run (shadow) mode.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    /// 1, 2, … in insertion order; assigned by
    /// [`Store::insert_policy_version`](crate::Store::insert_policy_version).
    pub version: i64,
    pub created_at: SystemTime,
    pub author: String,
    pub message: String,
    /// `enforce`, `dry-run` or `dry-run-cleared`.
    pub mode: String,
    /// The hex SHA-256 of the canonical JSON of `source`.
    pub digest: String,
    /// The set as JSON (`rampart_policy::PolicySource`).
    pub source: String,
    /// The unified diff against the enforced set before it.
    pub diff: String,
    /// `config` (seeded from the configuration file) or `api`.
    pub origin: String,
}

/// [`PolicyVersionRecord::mode`] of an enforced set.
pub const POLICY_MODE_ENFORCE: &str = "enforce";
/// [`PolicyVersionRecord::mode`] of a set evaluated in shadow.
pub const POLICY_MODE_DRY_RUN: &str = "dry-run";
/// [`PolicyVersionRecord::mode`] of a dry run that was stopped (or ended by an enforced set).
pub const POLICY_MODE_DRY_RUN_CLEARED: &str = "dry-run-cleared";
/// [`PolicyVersionRecord::origin`] of a set seeded from the configuration file.
pub const POLICY_ORIGIN_CONFIG: &str = "config";
/// [`PolicyVersionRecord::origin`] of a set applied through the admin API.
pub const POLICY_ORIGIN_API: &str = "api";

// === impl PolicyVersionRecord ===

impl PolicyVersionRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            version: row.try_get("version")?,
            created_at: from_millis(row.try_get("created_at_ms")?),
            author: row.try_get("author")?,
            message: row.try_get("message")?,
            mode: row.try_get("mode")?,
            digest: row.try_get("digest")?,
            source: row.try_get("source")?,
            diff: row.try_get("diff")?,
            origin: row.try_get("origin")?,
        })
    }
}

/// The column list of `policy_versions`, for `concat!`, shared by both backends.
pub(crate) mod columns {
    macro_rules! policy_columns {
        () => {
            "version, created_at_ms, author, message, mode, digest, source, diff, origin"
        };
    }
    pub(crate) use policy_columns;
}
