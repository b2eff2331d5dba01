//! The mount configuration, stored as JSON in `secret_config`.

use rampart_store::Store;

use super::types::{KvConfig, KvConfigUpdate};
use crate::error::SecretsError;

/// The stored mount configuration, or the defaults (`max_versions` from the file).
pub(crate) async fn load_config(store: &Store, default_max: u32) -> Result<KvConfig, SecretsError> {
    let default = KvConfig::with_max_versions(u64::from(default_max));
    Ok(match store.secret_config().await? {
        Some(json) => serde_json::from_str(&json).unwrap_or(default),
        None => default,
    })
}

/// `config` with `update` applied.
pub(crate) fn apply(config: &KvConfig, update: &KvConfigUpdate) -> KvConfig {
    KvConfig {
        max_versions: update.max_versions.unwrap_or(config.max_versions),
        cas_required: update.cas_required.unwrap_or(config.cas_required),
        delete_version_after_secs: update
            .delete_version_after_secs
            .unwrap_or(config.delete_version_after_secs),
    }
}
