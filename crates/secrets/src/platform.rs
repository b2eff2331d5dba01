//! [`Platform`]: the platform's own keys (token signing keys, client secret hashes, the CA
//! key) kept in the secrets store under the reserved prefix `sys/platform/`
//! (`docs/secrets.md`, "Platform keys").
//!
//! Each key is an ordinary KV version: a fresh data key encrypts it, the active KEK wraps the
//! data key, both AADs bind the reserved path and version. So a root rotation rewraps them
//! with everything else, and a grep of the database finds no key. Only the latest version is
//! kept. The public KV API refuses the reserved prefix ([`crate::SecretsError::Reserved`]),
//! for every caller, the admin token included.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use rampart_store::{SecretVersionRecord, SecretWrite};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::kv::{RESERVED_PREFIX, decrypt, encrypt, next_meta, to_i64, validate_internal};
use crate::seal::{Secrets, now_ms};
use crate::state::Shared;

/// The member of the stored JSON object that holds the key (base64).
const FIELD: &str = "b64";
/// How many times a write retries after losing a race to another writer.
const ATTEMPTS: usize = 16;

/// The platform keys' part of the secrets store. Cheap to clone.
#[derive(Clone)]
pub struct Platform {
    shared: Arc<Shared>,
}

// === impl Secrets ===

impl Secrets {
    /// The platform keys' store (reserved paths `sys/platform/<name>`).
    pub fn platform(&self) -> Platform {
        Platform {
            shared: self.shared.clone(),
        }
    }
}

// === impl Platform ===

impl Platform {
    /// The full KV path of `name` (`sys/platform/<name>`).
    pub fn path(name: &str) -> String {
        format!("{RESERVED_PREFIX}/{}", name.trim_matches('/'))
    }

    /// Whether the store is unsealed (the keys can be read and written).
    pub fn is_unsealed(&self) -> bool {
        self.shared.keys.load().is_some()
    }

    /// Stores `value` as the new version of `name`, encrypted; older versions are removed.
    pub async fn put(&self, name: &str, value: &[u8]) -> Result<(), SecretsError> {
        let path = validate_internal(&Self::path(name))?;
        let _turn = self.shared.write_lock(&path).lock().await;
        let mut data = Map::new();
        data.insert(FIELD.to_owned(), Value::String(STANDARD.encode(value)));
        let result = self.write(&path, &data).await;
        if let Some(Value::String(encoded)) = data.remove(FIELD) {
            drop(Zeroizing::new(encoded));
        }
        result
    }

    async fn write(&self, path: &str, data: &Map<String, Value>) -> Result<(), SecretsError> {
        for _ in 0..ATTEMPTS {
            let keys = self.shared.unsealed()?;
            let meta = self.shared.store.secret_meta(path).await?;
            let current = meta
                .as_ref()
                .map_or(0, |m| u64::try_from(m.current_version).unwrap_or(0));
            let version = current + 1;
            let sealed = encrypt(&keys, path, version, data)?;
            let now = now_ms();
            let write = SecretWrite {
                expected_current: to_i64(current),
                meta: next_meta(path, meta.as_ref(), version, version, now),
                version: SecretVersionRecord {
                    path: path.to_owned(),
                    version: to_i64(version),
                    created_at_ms: now,
                    deleted_at_ms: None,
                    destroyed: false,
                    kek_id: i64::from(sealed.kek_id),
                    wrapped_dek: sealed.wrapped_dek,
                    ciphertext: sealed.ciphertext,
                },
                prune_below: to_i64(version),
            };
            let mutation = self.shared.cache.begin(path);
            let done = self.shared.store.secret_write(&write).await;
            mutation.finish(None);
            if done? {
                return Ok(());
            }
        }
        Err(SecretsError::Busy)
    }

    /// The key `name`, decrypted; `None` when there is none.
    /// [`SecretsError::Sealed`] while sealed, [`SecretsError::Integrity`] when the stored row
    /// does not decrypt under its path and version.
    pub async fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, SecretsError> {
        let path = validate_internal(&Self::path(name))?;
        let keys = self.shared.unsealed()?;
        let Some((_, Some(record))) = self.shared.store.secret_read(&path, None).await? else {
            return Ok(None);
        };
        if record.destroyed {
            return Ok(None);
        }
        let version = u64::try_from(record.version).unwrap_or(0);
        let integrity = || SecretsError::Integrity {
            path: path.clone(),
            version,
        };
        let mut data = decrypt(
            &keys,
            &path,
            version,
            record.kek_id,
            &record.wrapped_dek,
            &record.ciphertext,
        )?;
        let Some(Value::String(encoded)) = data.remove(FIELD) else {
            return Err(integrity());
        };
        let encoded = Zeroizing::new(encoded);
        let bytes = STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| integrity())?;
        Ok(Some(Zeroizing::new(bytes)))
    }

    /// Removes the key `name` and every version of it; returns whether it existed. Works
    /// while sealed (nothing is decrypted).
    pub async fn delete(&self, name: &str) -> Result<bool, SecretsError> {
        let path = validate_internal(&Self::path(name))?;
        let mutation = self.shared.cache.begin(&path);
        let deleted = self.shared.store.secret_delete_all(&path).await;
        mutation.finish(None);
        Ok(deleted?)
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}
