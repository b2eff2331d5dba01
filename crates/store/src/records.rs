//! The typed rows callers read and write, and how rows map onto them.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::time::from_millis;

/// A proxy (gateway or sidecar) known to the control plane.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRecord {
    pub id: String,
    /// `gateway` or `sidecar`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub address: String,
    /// The configuration version the proxy last reported running.
    pub config_version: String,
    pub started_at: SystemTime,
    pub last_seen: SystemTime,
}

/// One configuration the control plane tried to apply.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigVersion {
    /// Assigned by the store; ignored by [`Store::record_config_version`](crate::Store::record_config_version).
    pub id: i64,
    pub hash: String,
    /// Where the configuration came from (a file path, an API call, …).
    pub source: String,
    pub applied_at: SystemTime,
    pub accepted: bool,
    /// Why it was rejected, when it was.
    pub error: Option<String>,
}

// === impl ProxyRecord ===

impl ProxyRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            address: row.try_get("address")?,
            config_version: row.try_get("config_version")?,
            started_at: from_millis(row.try_get("started_at_ms")?),
            last_seen: from_millis(row.try_get("last_seen_ms")?),
        })
    }
}

// === impl ConfigVersion ===

impl ConfigVersion {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        Option<String>: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            id: row.try_get("id")?,
            hash: row.try_get("hash")?,
            source: row.try_get("source")?,
            applied_at: from_millis(row.try_get("applied_at_ms")?),
            accepted: row.try_get("accepted")?,
            error: row.try_get("error")?,
        })
    }
}
