//! Root rotation: a new KEK becomes active at once, then a background task rewraps every data
//! key of older KEKs in batches and finally drops them from the keyring. Crash-safe: old KEKs
//! stay in the keyring until no data key uses them, and the rewrap resumes at the next unseal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::error::SecretsError;
use crate::kv::rewrap;
use crate::seal::{Secrets, now_ms};
use crate::state::{Shared, Unsealed};

/// Data keys rewrapped per store round trip.
const BATCH: u32 = 256;
/// Upper bound on batches per old KEK (bounds the loop; 256 M versions).
const MAX_BATCHES: usize = 1_000_000;
/// Counted at most this many rows per old KEK by [`Secrets::key_status`].
const COUNT_CAP: u32 = 100_000;
/// Pause before the final check, so writers that loaded the old keyring have finished.
const SETTLE: Duration = Duration::from_millis(100);

/// The answer to [`Secrets::key_status`] (Vault's `sys/key-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// The active KEK's id: 1 at init, +1 per rotation.
    pub term: u32,
    /// When the active KEK was created (ms since the epoch).
    pub active_since_ms: i64,
    /// Data keys still wrapped by older KEKs (counted up to 100 000 per KEK).
    pub rewrap_remaining: u64,
    /// A rewrap task is running.
    pub rewrapping: bool,
}

// === impl Secrets ===

impl Secrets {
    /// Adds a KEK and makes it active (new versions use it at once), then starts rewrapping
    /// older data keys in the background.
    pub async fn rotate_root(&self) -> Result<KeyStatus, SecretsError> {
        {
            let _guard = self.shared.keyring_lock.lock().await;
            let current = self.shared.keys.load_full();
            let keys = current.as_ref().ok_or(SecretsError::Sealed)?;
            let next = keys.keyring.rotated(now_ms())?;
            let blob = next.seal(&keys.root)?;
            if !self
                .shared
                .store
                .secret_put_keyring(&blob, Some(&keys.blob))
                .await?
            {
                return Err(SecretsError::Busy);
            }
            let unsealed = Arc::new(Unsealed::new(keys.root.clone(), next, blob)?);
            self.shared.keys.compare_and_swap(&current, Some(unsealed));
        }
        resume(&self.shared);
        self.key_status().await
    }

    /// The active KEK and the rewrap progress.
    pub async fn key_status(&self) -> Result<KeyStatus, SecretsError> {
        let keys = self.shared.unsealed()?;
        let active = keys.keyring.active_entry().ok_or(SecretsError::Crypto)?;
        let mut remaining = 0u64;
        for old in keys
            .keyring
            .keys
            .iter()
            .filter(|k| k.id != keys.keyring.active)
        {
            let rows = self
                .shared
                .store
                .secret_versions_by_kek(i64::from(old.id), COUNT_CAP)
                .await?;
            remaining += u64::try_from(rows.len()).unwrap_or(u64::MAX);
        }
        Ok(KeyStatus {
            term: active.id,
            active_since_ms: active.created_at_ms,
            rewrap_remaining: remaining,
            rewrapping: self.shared.rewrap_running.load(Ordering::Acquire),
        })
    }

    /// Waits (at most `timeout`) until no rewrap task runs and the keyring holds one KEK;
    /// returns whether that happened.
    pub async fn wait_rewrapped(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            let done = !self.shared.rewrap_running.load(Ordering::Acquire)
                && self
                    .shared
                    .keys
                    .load()
                    .as_ref()
                    .is_some_and(|k| k.keyring.keys.len() == 1);
            if done {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// Starts the rewrap task if the keyring holds old KEKs and none runs.
pub(crate) fn resume(shared: &Arc<Shared>) {
    let has_old = shared
        .keys
        .load()
        .as_ref()
        .is_some_and(|k| k.keyring.keys.len() > 1);
    if !has_old || shared.rewrap_running.swap(true, Ordering::AcqRel) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Err(error) = rewrap_all(&shared).await {
            tracing::warn!(%error, "secrets: rewrap stopped; old keys kept, resumes at next unseal");
        }
        shared.rewrap_running.store(false, Ordering::Release);
    });
}

/// Rewraps every data key of the old KEKs, then drops them from the keyring.
async fn rewrap_all(shared: &Shared) -> Result<(), SecretsError> {
    let old_ids = {
        let keys = shared.unsealed()?;
        old_ids(&keys)
    };
    for old in &old_ids {
        rewrap_kek(shared, *old).await?;
    }
    tokio::time::sleep(SETTLE).await;
    for old in &old_ids {
        rewrap_kek(shared, *old).await?;
    }
    let _guard = shared.keyring_lock.lock().await;
    for old in &old_ids {
        if !shared
            .store
            .secret_versions_by_kek(i64::from(*old), 1)
            .await?
            .is_empty()
        {
            return Err(SecretsError::Busy);
        }
    }
    let current = shared.keys.load_full();
    let keys = current.as_ref().ok_or(SecretsError::Sealed)?;
    let next = keys.keyring.only_active();
    let blob = next.seal(&keys.root)?;
    if !shared
        .store
        .secret_put_keyring(&blob, Some(&keys.blob))
        .await?
    {
        return Err(SecretsError::Busy);
    }
    let unsealed = Arc::new(Unsealed::new(keys.root.clone(), next, blob)?);
    shared.keys.compare_and_swap(&current, Some(unsealed));
    // Every rewrapped row was dropped from the cache already; clear it anyway, so that no
    // record wrapped by a dropped KEK can outlive it there.
    shared.cache.clear();
    tracing::info!(
        term = keys.keyring.active,
        "secrets: rewrap finished, old keys dropped"
    );
    Ok(())
}

/// Rewraps every data key wrapped by KEK `old`.
async fn rewrap_kek(shared: &Shared, old: u32) -> Result<(), SecretsError> {
    for _ in 0..MAX_BATCHES {
        let batch = shared
            .store
            .secret_versions_by_kek(i64::from(old), BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        let keys = shared.unsealed()?;
        let mut progressed = 0usize;
        for (path, version, wrapped) in batch {
            let number = u64::try_from(version).unwrap_or(0);
            match rewrap(&keys, &path, number, i64::from(old), &wrapped) {
                Ok((new_id, blob)) => {
                    let mutation = shared.cache.begin(&path);
                    let done = shared
                        .store
                        .secret_rewrap_dek(&path, version, i64::from(old), i64::from(new_id), &blob)
                        .await?;
                    mutation.finish(None);
                    if done {
                        progressed += 1;
                    }
                }
                Err(error) => tracing::error!(%error, "secrets: cannot rewrap a data key"),
            }
        }
        if progressed == 0 {
            return Err(SecretsError::Integrity {
                path: String::from("(rewrap batch)"),
                version: 0,
            });
        }
    }
    Err(SecretsError::Busy)
}

fn old_ids(keys: &Unsealed) -> Vec<u32> {
    keys.keyring
        .keys
        .iter()
        .map(|k| k.id)
        .filter(|id| *id != keys.keyring.active)
        .collect()
}
