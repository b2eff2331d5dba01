//! The `data` of Vault's KV v2 answers, borrowed from the engine's values (nothing copied
//! but the formatted times).

use std::collections::BTreeMap;

use rampart_secrets::{KvConfig, SecretMetadata, VersionMeta};
use serde::Serialize;
use serde_json::{Map, Value};

use super::vault::time_ms;

/// A version's metadata (`metadata` of a read, the `data` of a write).
#[derive(Serialize)]
pub(crate) struct VersionBody<'a> {
    created_time: String,
    /// `null` when the secret has none, as Vault answers.
    custom_metadata: Option<&'a BTreeMap<String, String>>,
    deletion_time: String,
    destroyed: bool,
    version: u64,
}

/// A read: the value (`null` when deleted or destroyed) and its version's metadata.
#[derive(Serialize)]
pub(crate) struct ReadBody<'a, T> {
    pub(crate) data: Option<&'a T>,
    pub(crate) metadata: VersionBody<'a>,
}

/// `subkeys`: the structure and the version's metadata.
#[derive(Serialize)]
pub(crate) struct SubkeysBody<'a> {
    pub(crate) subkeys: Option<&'a Value>,
    pub(crate) metadata: VersionBody<'a>,
}

/// A version in the metadata's `versions` map.
#[derive(Serialize)]
struct VersionEntry {
    created_time: String,
    deletion_time: String,
    destroyed: bool,
}

/// `GET /metadata/<path>`.
#[derive(Serialize)]
pub(crate) struct MetadataBody<'a> {
    cas_required: bool,
    created_time: String,
    current_version: u64,
    custom_metadata: Option<&'a BTreeMap<String, String>>,
    delete_version_after: String,
    max_versions: u64,
    oldest_version: u64,
    updated_time: String,
    versions: BTreeMap<String, VersionEntry>,
}

/// `GET /config`.
#[derive(Serialize)]
pub(crate) struct ConfigBody {
    cas_required: bool,
    delete_version_after: String,
    max_versions: u64,
}

/// A list's `keys`.
#[derive(Serialize)]
pub(crate) struct KeysBody<'a> {
    pub(crate) keys: &'a [String],
}

/// A live value as Vault nests it.
pub(crate) type Data = Map<String, Value>;

// === constructors ===

impl<'a> VersionBody<'a> {
    pub(crate) fn new(meta: &'a VersionMeta) -> Self {
        Self {
            created_time: time_ms(meta.created_time_ms),
            custom_metadata: custom(&meta.custom_metadata),
            deletion_time: meta.deletion_time_ms.map(time_ms).unwrap_or_default(),
            destroyed: meta.destroyed,
            version: meta.version,
        }
    }
}

impl<'a> MetadataBody<'a> {
    pub(crate) fn new(meta: &'a SecretMetadata) -> Self {
        let versions = meta
            .versions
            .iter()
            .map(|(n, v)| {
                let entry = VersionEntry {
                    created_time: time_ms(v.created_time_ms),
                    deletion_time: v.deletion_time_ms.map(time_ms).unwrap_or_default(),
                    destroyed: v.destroyed,
                };
                (n.to_string(), entry)
            })
            .collect();
        Self {
            cas_required: meta.cas_required,
            created_time: time_ms(meta.created_time_ms),
            current_version: meta.current_version,
            custom_metadata: custom(&meta.custom_metadata),
            delete_version_after: duration(meta.delete_version_after_secs),
            max_versions: meta.max_versions,
            oldest_version: meta.oldest_version,
            updated_time: time_ms(meta.updated_time_ms),
            versions,
        }
    }
}

impl ConfigBody {
    pub(crate) fn new(config: &KvConfig) -> Self {
        Self {
            cas_required: config.cas_required,
            delete_version_after: duration(config.delete_version_after_secs),
            max_versions: config.max_versions,
        }
    }
}

// === helpers ===

fn custom(map: &BTreeMap<String, String>) -> Option<&BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

/// Vault's duration text: `0s`, `1h30m0s`, …
fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go_durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(61), "1m1s");
        assert_eq!(duration(3600), "1h0m0s");
        assert_eq!(duration(12_319), "3h25m19s");
    }
}
