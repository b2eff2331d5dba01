//! The KV engine's public values: version and secret metadata, read outcomes, updates and the
//! mount configuration.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One version's metadata (Vault's `metadata` of a read or write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionMeta {
    /// The version number (from 1).
    pub version: u64,
    /// When it was written (ms since the epoch).
    pub created_time_ms: i64,
    /// When it was or will be soft-deleted (explicitly, or by `delete_version_after`).
    pub deletion_time_ms: Option<i64>,
    /// Destroyed for good.
    pub destroyed: bool,
    /// The secret's custom metadata.
    pub custom_metadata: BTreeMap<String, String>,
}

/// A version read: its value, or only its metadata when soft-deleted or destroyed (Vault
/// answers 404 with `data: null` and the metadata). `Debug` never shows the value.
#[derive(Clone, PartialEq)]
pub enum Versioned<T> {
    /// The version is live.
    Live {
        /// The value.
        value: T,
        /// Its metadata.
        meta: VersionMeta,
    },
    /// Soft-deleted (deletion time passed) or destroyed.
    Deleted {
        /// Its metadata.
        meta: VersionMeta,
    },
}

/// The answer to [`crate::Kv::read`].
pub type ReadOutcome = Versioned<Map<String, Value>>;

/// A secret's metadata (Vault's `GET /metadata/<path>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMetadata {
    /// The path.
    pub path: String,
    /// Newest version (0 = none).
    pub current_version: u64,
    /// Oldest version kept (0 = none pruned yet).
    pub oldest_version: u64,
    /// Versions kept (0 = the mount's setting).
    pub max_versions: u64,
    /// Writes must carry `cas`.
    pub cas_required: bool,
    /// Versions read as deleted this long after their creation (0 = never).
    pub delete_version_after_secs: u64,
    /// Free-form string map.
    pub custom_metadata: BTreeMap<String, String>,
    /// When the secret was created (ms since the epoch).
    pub created_time_ms: i64,
    /// When it last changed (ms since the epoch).
    pub updated_time_ms: i64,
    /// Every kept version's metadata, by number.
    pub versions: BTreeMap<u64, VersionMeta>,
}

/// A metadata write: the fields given replace the stored ones; `None` keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MetadataUpdate {
    /// Versions kept (0 = the mount's setting).
    pub max_versions: Option<u64>,
    /// Writes must carry `cas`.
    pub cas_required: Option<bool>,
    /// Seconds after which versions read as deleted (0 = never).
    pub delete_version_after_secs: Option<u64>,
    /// Replaces the whole custom metadata map.
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

/// The mount-wide configuration (Vault's `secret/config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvConfig {
    /// Versions kept when a secret does not say.
    pub max_versions: u64,
    /// Every write must carry `cas`.
    pub cas_required: bool,
    /// Seconds after which versions read as deleted (0 = never).
    pub delete_version_after_secs: u64,
}

/// A mount configuration write: the fields given replace the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct KvConfigUpdate {
    /// Versions kept when a secret does not say.
    pub max_versions: Option<u64>,
    /// Every write must carry `cas`.
    pub cas_required: Option<bool>,
    /// Seconds after which versions read as deleted (0 = never).
    pub delete_version_after_secs: Option<u64>,
}

// === impl Versioned ===

impl<T> Versioned<T> {
    /// The version's metadata, live or not.
    pub fn meta(&self) -> &VersionMeta {
        match self {
            Versioned::Live { meta, .. } | Versioned::Deleted { meta } => meta,
        }
    }

    /// The value when live.
    pub fn value(&self) -> Option<&T> {
        match self {
            Versioned::Live { value, .. } => Some(value),
            Versioned::Deleted { .. } => None,
        }
    }
}

impl<T> fmt::Debug for Versioned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Versioned::Live { meta, .. } => f
                .debug_struct("Live")
                .field("value", &"[redacted]")
                .field("meta", meta)
                .finish(),
            Versioned::Deleted { meta } => f.debug_struct("Deleted").field("meta", meta).finish(),
        }
    }
}

impl KvConfig {
    /// The defaults: `max_versions` from the configuration file, no CAS, no expiry.
    pub fn with_max_versions(max_versions: u64) -> Self {
        Self {
            max_versions,
            cas_required: false,
            delete_version_after_secs: 0,
        }
    }
}
