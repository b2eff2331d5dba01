//! The KV operations besides read and write: delete, undelete, destroy, metadata, list and the
//! mount configuration.

use std::sync::Arc;

use super::types::{KvConfig, KvConfigUpdate, MetadataUpdate, SecretMetadata};
use super::{Kv, config, list, path, records, to_i64};
use crate::error::SecretsError;
use crate::seal::now_ms;

// === impl Kv ===

impl Kv {
    /// Soft-deletes `versions` of `path` (empty = the current version). Versions that do not
    /// exist or are destroyed are skipped.
    pub async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<(), SecretsError> {
        if versions.is_empty() {
            return self.delete_latest(path).await;
        }
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let versions = to_i64s(versions);
        let mutation = self.shared.cache.begin(&path);
        self.shared
            .store
            .secret_set_deleted(&path, &versions, Some(now_ms()))
            .await?;
        mutation.finish(None);
        Ok(())
    }

    /// Soft-deletes the current version of `path`; [`SecretsError::NotFound`] when none.
    pub async fn delete_latest(&self, path: &str) -> Result<(), SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let meta = self.current_meta(&path).await?;
        let current = meta.map_or(0, |m| m.current_version);
        if current == 0 {
            return Err(SecretsError::NotFound);
        }
        let mutation = self.shared.cache.begin(&path);
        self.shared
            .store
            .secret_set_deleted(&path, &[current], Some(now_ms()))
            .await?;
        mutation.finish(None);
        Ok(())
    }

    /// Clears the soft deletion of `versions` of `path`.
    pub async fn undelete(&self, path: &str, versions: &[u64]) -> Result<(), SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let versions = to_i64s(versions);
        let mutation = self.shared.cache.begin(&path);
        self.shared
            .store
            .secret_set_deleted(&path, &versions, None)
            .await?;
        mutation.finish(None);
        Ok(())
    }

    /// Wipes the ciphertext and wrapped key of `versions` of `path` for good.
    pub async fn destroy(&self, path: &str, versions: &[u64]) -> Result<(), SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let versions = to_i64s(versions);
        let mutation = self.shared.cache.begin(&path);
        self.shared.store.secret_destroy(&path, &versions).await?;
        mutation.finish(None);
        Ok(())
    }

    /// The metadata of `path` and of its kept versions.
    pub async fn metadata(&self, path: &str) -> Result<SecretMetadata, SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let meta = self
            .shared
            .store
            .secret_meta(&path)
            .await?
            .ok_or(SecretsError::NotFound)?;
        let versions = self.shared.store.secret_versions(&path).await?;
        let mount = self.shared.mount.load();
        records::secret_metadata(&meta, &versions, mount.delete_version_after_secs)
    }

    /// Updates the settings of `path`, creating its metadata (without versions) if missing.
    pub async fn put_metadata(
        &self,
        path: &str,
        update: &MetadataUpdate,
    ) -> Result<(), SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let meta = self.current_meta(&path).await?;
        let row = records::updated_meta(&path, meta, update, now_ms())?;
        let mutation = self.shared.cache.begin(&path);
        self.shared.store.secret_put_meta(&row).await?;
        mutation.finish(None);
        Ok(())
    }

    /// Removes `path` and every version; [`SecretsError::NotFound`] when it had none.
    pub async fn delete_metadata(&self, path: &str) -> Result<(), SecretsError> {
        let path = path::validate_path(path)?;
        self.shared.unsealed()?;
        let mutation = self.shared.cache.begin(&path);
        let deleted = self.shared.store.secret_delete_all(&path).await?;
        mutation.finish(None);
        if deleted {
            Ok(())
        } else {
            Err(SecretsError::NotFound)
        }
    }

    /// The immediate children of `prefix` (empty = the root): secret names, and folders
    /// ending in `/`, sorted. Empty when nothing is there (Vault answers 404).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, SecretsError> {
        let prefix = path::validate_prefix(prefix)?;
        self.shared.unsealed()?;
        let mut paths = self.shared.store.secret_list(&prefix).await?;
        paths.retain(|p| !path::is_reserved(p));
        Ok(list::children(&prefix, &paths))
    }

    /// The mount configuration.
    pub fn config(&self) -> Result<KvConfig, SecretsError> {
        self.shared.unsealed()?;
        Ok(KvConfig::clone(&self.shared.mount.load()))
    }

    /// Updates the mount configuration; returns the new one.
    pub async fn put_config(&self, update: &KvConfigUpdate) -> Result<KvConfig, SecretsError> {
        self.shared.unsealed()?;
        let next = config::apply(&self.shared.mount.load(), update);
        let json = serde_json::to_string(&next).map_err(|_| SecretsError::Crypto)?;
        self.shared.store.secret_put_config(&json).await?;
        self.shared.mount.store(Arc::new(next.clone()));
        Ok(next)
    }
}

fn to_i64s(versions: &[u64]) -> Vec<i64> {
    versions.iter().map(|v| to_i64(*v)).collect()
}
