//! The secrets store's part of [`Store`] (see docs/secrets.md, "Store API").

use super::{Backend, Store};
use crate::error::StoreError;
use crate::postgres;
use crate::records::{SecretMetaRecord, SecretVersionRecord, SecretWrite};
use crate::sqlite;

// === impl Store ===

impl Store {
    /// The metadata of `path` and its version `version` (`None` = the current one), in one
    /// statement: the read hot path.
    ///
    /// `None` when the path has no metadata; `Some((meta, None))` when it has no such version
    /// (none written yet, pruned, or never written).
    pub async fn secret_read(
        &self,
        path: &str,
        version: Option<i64>,
    ) -> Result<Option<(SecretMetaRecord, Option<SecretVersionRecord>)>, StoreError> {
        dispatch!(self, "secret_read", |b| b.secret_read(path, version))
    }

    /// The metadata of `path`, if it has any.
    pub async fn secret_meta(&self, path: &str) -> Result<Option<SecretMetaRecord>, StoreError> {
        dispatch!(self, "secret_meta", |b| b.secret_meta(path))
    }

    /// Every kept version of `path`, oldest first, metadata only: `wrapped_dek` and `ciphertext`
    /// are left empty.
    pub async fn secret_versions(
        &self,
        path: &str,
    ) -> Result<Vec<SecretVersionRecord>, StoreError> {
        dispatch!(self, "secret_versions", |b| b.secret_versions(path))
    }

    /// Writes a new version in one transaction if the path's `current_version` still equals
    /// `write.expected_current` (an absent row counts as 0): upserts the metadata row, inserts
    /// the version and deletes the versions below `write.prune_below`.
    ///
    /// `false` (nothing changed) when the version moved on, including when a concurrent writer
    /// won the race: the caller retries or reports a CAS failure. Of concurrent writes with the
    /// same `expected_current`, at most one returns `true`.
    pub async fn secret_write(&self, write: &SecretWrite) -> Result<bool, StoreError> {
        dispatch!(self, "secret_write", |b| b.secret_write(write))
    }

    /// Sets the settings of `meta.path` (`max_versions`, `cas_required`,
    /// `delete_version_after_secs`, `custom_metadata`, `updated_at_ms`), creating the row from
    /// `meta` when the path has none; `current_version`, `oldest_version` and `created_at_ms`
    /// of an existing row are kept, so this never races with [`Store::secret_write`].
    ///
    /// Returns `true` when the secret existed (and was updated), `false` when this call created
    /// it.
    pub async fn secret_put_meta(&self, meta: &SecretMetaRecord) -> Result<bool, StoreError> {
        dispatch!(self, "secret_put_meta", |b| b.secret_put_meta(meta))
    }

    /// Soft-deletes (`Some(ms)`) or undeletes (`None`) the listed versions of `path` that are
    /// not destroyed and not already in that state; returns how many changed.
    pub async fn secret_set_deleted(
        &self,
        path: &str,
        versions: &[i64],
        deleted_at_ms: Option<i64>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, "secret_set_deleted", |b| b.secret_set_deleted(
            path,
            versions,
            deleted_at_ms
        ))
    }

    /// Destroys the listed versions of `path`: marks them destroyed and empties both blobs.
    /// Returns how many were destroyed by this call (already destroyed ones do not count).
    pub async fn secret_destroy(&self, path: &str, versions: &[i64]) -> Result<u64, StoreError> {
        dispatch!(self, "secret_destroy", |b| b.secret_destroy(path, versions))
    }

    /// Removes `path`'s metadata and every version in one transaction; returns whether it had
    /// any.
    pub async fn secret_delete_all(&self, path: &str) -> Result<bool, StoreError> {
        dispatch!(self, "secret_delete_all", |b| b.secret_delete_all(path))
    }

    /// The full paths starting with `prefix` (taken literally: `%` and `_` are not patterns),
    /// sorted by their bytes.
    pub async fn secret_list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        dispatch!(self, "secret_list", |b| b.secret_list(prefix))
    }

    /// The sealed keyring blob, if initialised.
    pub async fn secret_keyring(&self) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, "secret_keyring", |b| b.secret_keyring())
    }

    /// Replaces the sealed keyring with `blob` if it is still `expected` (`None` = no keyring
    /// yet); returns whether it did.
    pub async fn secret_put_keyring(
        &self,
        blob: &[u8],
        expected: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, "secret_put_keyring", |b| b
            .secret_put_keyring(blob, expected))
    }

    /// The seal configuration (JSON text), if set.
    pub async fn secret_seal_config(&self) -> Result<Option<String>, StoreError> {
        dispatch!(self, "secret_seal_config", |b| b.secret_seal_config())
    }

    /// Sets the seal configuration (JSON text), replacing any previous one.
    pub async fn secret_put_seal_config(&self, json: &str) -> Result<(), StoreError> {
        dispatch!(self, "secret_put_seal_config", |b| b
            .secret_put_seal_config(json))
    }

    /// The mount configuration (JSON text), if set.
    pub async fn secret_config(&self) -> Result<Option<String>, StoreError> {
        dispatch!(self, "secret_config", |b| b.secret_config())
    }

    /// Sets the mount configuration (JSON text), replacing any previous one.
    pub async fn secret_put_config(&self, json: &str) -> Result<(), StoreError> {
        dispatch!(self, "secret_put_config", |b| b.secret_put_config(json))
    }

    /// Up to `limit` `(path, version, wrapped_dek)` of live (not destroyed) versions whose data
    /// key is wrapped by `kek_id`, ordered by path and version: the next batch to rewrap.
    pub async fn secret_versions_by_kek(
        &self,
        kek_id: i64,
        limit: u32,
    ) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError> {
        dispatch!(self, "secret_versions_by_kek", |b| b
            .secret_versions_by_kek(kek_id, limit))
    }

    /// Replaces the wrapped data key of `path` version `version` with `wrapped_dek` under
    /// `new_kek_id`, only if the row is not destroyed and still has `old_kek_id`; returns
    /// whether it did.
    pub async fn secret_rewrap_dek(
        &self,
        path: &str,
        version: i64,
        old_kek_id: i64,
        new_kek_id: i64,
        wrapped_dek: &[u8],
    ) -> Result<bool, StoreError> {
        dispatch!(self, "secret_rewrap_dek", |b| b.secret_rewrap_dek(
            path,
            version,
            old_kek_id,
            new_kek_id,
            wrapped_dek
        ))
    }
}
