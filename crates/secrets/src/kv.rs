//! [`Kv`]: the KV v2 engine's rules on top of the store: versions, check-and-set, soft
//! delete / undelete / destroy, max versions, merge patch, subkeys and list.

use std::sync::Arc;

use rampart_store::{SecretMetaRecord, SecretVersionRecord, SecretWrite};
use serde_json::{Map, Value};

use crate::error::SecretsError;
use crate::seal::now_ms;
use crate::state::{Shared, Unsealed};

mod cache;
mod config;
mod crypto;
mod list;
mod manage;
mod merge;
mod path;
mod records;
mod subkeys;
mod types;

pub(crate) use self::cache::Cache;
use self::cache::Cached;
pub(crate) use self::config::load_config;
pub(crate) use self::crypto::{decrypt, encrypt, rewrap};
pub(crate) use self::path::validate_internal;
pub use self::path::{RESERVED_PREFIX, is_reserved, validate_path};
pub(crate) use self::records::next_meta;
pub use self::types::{
    KvConfig, KvConfigUpdate, MetadataUpdate, ReadOutcome, SecretMetadata, VersionMeta, Versioned,
};

/// How many times a write without `cas` retries after losing a race to another writer.
const WRITE_ATTEMPTS: usize = 16;

/// The KV v2 engine of the `secret` mount. Cheap to clone; every operation answers
/// [`SecretsError::Sealed`] while the store is sealed.
#[derive(Clone)]
pub struct Kv {
    shared: Arc<Shared>,
}

// === impl Kv ===

impl Kv {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Writes `data` as a new version. `cas = Some(0)`: only if the secret does not exist;
    /// `Some(n)`: only if the current version is `n` ([`SecretsError::CasMismatch`]
    /// otherwise); `None` is refused with [`SecretsError::CasRequired`] when the secret or the
    /// mount requires CAS. Versions beyond `max_versions` are pruned, oldest first.
    pub async fn write(
        &self,
        path: &str,
        data: Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMeta, SecretsError> {
        let path = validate_path(path)?;
        let _turn = self.shared.write_lock(&path).lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let keys = self.shared.unsealed()?;
            let meta = self.current_meta(&path).await?;
            check_cas(
                self.cas_required(meta.as_ref()),
                current(meta.as_ref()),
                cas,
            )?;
            if let Some(done) = self.try_write(&keys, &path, meta.as_ref(), &data).await? {
                return Ok(done);
            }
            if cas.is_some() {
                return Err(SecretsError::CasMismatch);
            }
        }
        Err(SecretsError::Busy)
    }

    /// Applies an RFC 7386 merge `patch` (a JSON object) to the current version's data and
    /// writes the result as a new version, with the CAS rules of [`Kv::write`].
    /// [`SecretsError::NotFound`] when the current version is missing, deleted or destroyed.
    pub async fn patch(
        &self,
        path: &str,
        patch: &Value,
        cas: Option<u64>,
    ) -> Result<VersionMeta, SecretsError> {
        let path = validate_path(path)?;
        if !patch.is_object() {
            return Err(SecretsError::InvalidRequest(
                "a merge patch must be a JSON object".to_owned(),
            ));
        }
        let _turn = self.shared.write_lock(&path).lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let keys = self.shared.unsealed()?;
            let Some(records) = self.current_records(&path).await? else {
                return Err(SecretsError::NotFound);
            };
            let (meta, Some(record)) = (&records.meta, &records.current) else {
                return Err(SecretsError::NotFound);
            };
            check_cas(self.cas_required(Some(meta)), current(Some(meta)), cas)?;
            let Versioned::Live { value, .. } = self.open_version(&keys, &path, meta, record)?
            else {
                return Err(SecretsError::NotFound);
            };
            let mut merged = Value::Object(value);
            merge::merge_patch(&mut merged, patch);
            let Value::Object(merged) = merged else {
                return Err(SecretsError::InvalidRequest(
                    "patch result is not an object".into(),
                ));
            };
            if let Some(done) = self.try_write(&keys, &path, Some(meta), &merged).await? {
                return Ok(done);
            }
            if cas.is_some() {
                return Err(SecretsError::CasMismatch);
            }
        }
        Err(SecretsError::Busy)
    }

    /// Reads `version` (`None` or `Some(0)` = current) of `path`: the data and the version's
    /// metadata, or [`Versioned::Deleted`] when soft-deleted or destroyed.
    /// [`SecretsError::NotFound`] when there is no such secret or version.
    pub async fn read(
        &self,
        path: &str,
        version: Option<u64>,
    ) -> Result<ReadOutcome, SecretsError> {
        let path = validate_path(path)?;
        let keys = self.shared.unsealed()?;
        let wanted = match version {
            None | Some(0) => None,
            Some(v) => Some(i64::try_from(v).map_err(|_| SecretsError::NotFound)?),
        };
        let cached = match wanted {
            None => self.current_records(&path).await?,
            Some(v) => self
                .shared
                .cache
                .get(&path)
                .ok()
                .filter(|hit| hit.meta.current_version == v),
        };
        if let Some(records) = cached {
            let Some(record) = &records.current else {
                return Err(SecretsError::NotFound);
            };
            return self.open_version(&keys, &path, &records.meta, record);
        }
        let Some((meta, Some(record))) = self.shared.store.secret_read(&path, wanted).await? else {
            return Err(SecretsError::NotFound);
        };
        self.open_version(&keys, &path, &meta, &record)
    }

    /// The metadata row and current version row of `path` (sealed), from the cache or the
    /// store; None when there is no such secret.
    pub(crate) async fn current_records(
        &self,
        path: &str,
    ) -> Result<Option<Arc<Cached>>, SecretsError> {
        let ticket = match self.shared.cache.get(path) {
            Ok(hit) => return Ok(Some(hit)),
            Err(ticket) => ticket,
        };
        let Some((meta, current)) = self.shared.store.secret_read(path, None).await? else {
            return Ok(None);
        };
        let records = Arc::new(Cached { meta, current });
        if let Some(ticket) = ticket {
            self.shared.cache.fill(path, ticket, &records);
        }
        Ok(Some(records))
    }

    /// The metadata row of `path`: from the cache (filling it) when on, else one small query.
    pub(crate) async fn current_meta(
        &self,
        path: &str,
    ) -> Result<Option<SecretMetaRecord>, SecretsError> {
        if self.shared.cache.enabled() {
            return Ok(self
                .current_records(path)
                .await?
                .map(|records| records.meta.clone()));
        }
        Ok(self.shared.store.secret_meta(path).await?)
    }

    /// The structure of `version` of `path` with leaf values replaced by `null`, down to
    /// `depth` levels (0 = all).
    pub async fn subkeys(
        &self,
        path: &str,
        version: Option<u64>,
        depth: u32,
    ) -> Result<Versioned<Value>, SecretsError> {
        Ok(match self.read(path, version).await? {
            Versioned::Live { value, meta } => Versioned::Live {
                value: subkeys::subkeys(&value, depth),
                meta,
            },
            Versioned::Deleted { meta } => Versioned::Deleted { meta },
        })
    }

    /// Decrypts `record` unless it reads as deleted.
    fn open_version(
        &self,
        keys: &Unsealed,
        path: &str,
        meta: &SecretMetaRecord,
        record: &SecretVersionRecord,
    ) -> Result<ReadOutcome, SecretsError> {
        let mount = self.shared.mount.load();
        let info = records::version_meta(meta, record, mount.delete_version_after_secs)?;
        if info.destroyed || info.deletion_time_ms.is_some_and(|t| t <= now_ms()) {
            return Ok(Versioned::Deleted { meta: info });
        }
        let value = crypto::decrypt(
            keys,
            path,
            info.version,
            record.kek_id,
            &record.wrapped_dek,
            &record.ciphertext,
        )?;
        Ok(Versioned::Live { value, meta: info })
    }

    /// Encrypts and writes version current + 1; `None` when another writer got there first.
    async fn try_write(
        &self,
        keys: &Unsealed,
        path: &str,
        meta: Option<&SecretMetaRecord>,
        data: &Map<String, Value>,
    ) -> Result<Option<VersionMeta>, SecretsError> {
        let mount = self.shared.mount.load();
        let current = current(meta);
        let version = current + 1;
        let sealed = crypto::encrypt(keys, path, version, data)?;
        let now = now_ms();
        let max = meta
            .map(|m| u64::try_from(m.max_versions).unwrap_or(0))
            .filter(|m| *m > 0)
            .unwrap_or(mount.max_versions)
            .max(1);
        let prune_below = if version > max { version - max + 1 } else { 0 };
        let write = SecretWrite {
            expected_current: to_i64(current),
            meta: records::next_meta(path, meta, version, prune_below, now),
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
            prune_below: to_i64(prune_below),
        };
        let mutation = self.shared.cache.begin(path);
        if !self.shared.store.secret_write(&write).await? {
            mutation.finish(None);
            return Ok(None);
        }
        let info = records::version_meta(&write.meta, &write.version, 0)?;
        mutation.finish(Some(Cached {
            meta: write.meta,
            current: Some(write.version),
        }));
        Ok(Some(info))
    }

    fn cas_required(&self, meta: Option<&SecretMetaRecord>) -> bool {
        self.shared.mount.load().cas_required || meta.is_some_and(|m| m.cas_required)
    }
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv").finish_non_exhaustive()
    }
}

/// The current version of a secret (0 when none).
fn current(meta: Option<&SecretMetaRecord>) -> u64 {
    meta.map_or(0, |m| u64::try_from(m.current_version).unwrap_or(0))
}

/// Vault's check-and-set rules.
fn check_cas(required: bool, current: u64, cas: Option<u64>) -> Result<(), SecretsError> {
    match cas {
        None if required => Err(SecretsError::CasRequired),
        Some(expected) if expected != current => Err(SecretsError::CasMismatch),
        _ => Ok(()),
    }
}

/// A version or count as the store's integer (saturating).
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
