//! The shared engine state: the unsealed keys (swapped atomically, read lock-free on the hot
//! path), the unseal progress and the mount configuration.

use std::sync::Arc;
use std::sync::Mutex;

use arc_swap::{ArcSwap, ArcSwapOption};
use aws_lc_rs::aead::LessSafeKey;
use rampart_config::SealMode;
use rampart_store::Store;

use crate::error::SecretsError;
use crate::keyring::Keyring;
use crate::keys::{RootKey, aead_key};
use crate::kv::{Cache, KvConfig};
use crate::shamir::Share;

/// The keys while unsealed: the root key, the keyring, its sealed blob (for compare-and-swap)
/// and a ready AES key object per KEK.
pub(crate) struct Unsealed {
    pub root: RootKey,
    pub keyring: Keyring,
    pub blob: Vec<u8>,
    keks: Vec<(u32, LessSafeKey)>,
}

/// What `seal.rs`, `kv.rs` and `rotate.rs` share.
pub(crate) struct Shared {
    pub store: Store,
    pub mode: SealMode,
    pub keys: ArcSwapOption<Unsealed>,
    pub unseal: Mutex<UnsealState>,
    pub mount: ArcSwap<KvConfig>,
    /// Serializes init, unseal completion and keyring changes.
    pub keyring_lock: tokio::sync::Mutex<()>,
    pub rewrap_running: std::sync::atomic::AtomicBool,
    /// The sealed records of recently used secrets (on SQLite only: see `kv/cache.rs`).
    pub cache: Cache,
    /// Writes and patches of one path take its stripe in turn: concurrent writers of a path in
    /// this process queue instead of losing compare-and-set races and retrying.
    pub write_locks: Vec<tokio::sync::Mutex<()>>,
}

/// Stripes of [`Shared::write_locks`].
pub(crate) const WRITE_LOCK_STRIPES: usize = 64;

/// Seal configuration and the shares given so far.
#[derive(Default)]
pub(crate) struct UnsealState {
    pub initialized: bool,
    pub shares: u8,
    pub threshold: u8,
    pub given: Vec<Share>,
}

// === impl Unsealed ===

impl Unsealed {
    /// Builds the key objects of `keyring`.
    pub fn new(root: RootKey, keyring: Keyring, blob: Vec<u8>) -> Result<Self, SecretsError> {
        let keks = keyring
            .keys
            .iter()
            .map(|k| Ok((k.id, aead_key(k.key.expose())?)))
            .collect::<Result<Vec<_>, SecretsError>>()?;
        Ok(Self {
            root,
            keyring,
            blob,
            keks,
        })
    }

    /// The AES key object of KEK `id`.
    pub fn kek(&self, id: u32) -> Option<&LessSafeKey> {
        self.keks.iter().find(|(i, _)| *i == id).map(|(_, k)| k)
    }

    /// The active KEK's id and key object.
    pub fn active(&self) -> Result<(u32, &LessSafeKey), SecretsError> {
        let id = self.keyring.active;
        self.kek(id).map(|k| (id, k)).ok_or(SecretsError::Crypto)
    }
}

// === impl Shared ===

impl Shared {
    /// The unsealed keys, or [`SecretsError::Sealed`].
    pub fn unsealed(&self) -> Result<Arc<Unsealed>, SecretsError> {
        self.keys.load_full().ok_or(SecretsError::Sealed)
    }

    /// The write lock stripe of `path`.
    pub fn write_lock(&self, path: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut hasher);
        let len = self.write_locks.len().max(1);
        let index = usize::try_from(hasher.finish() % len as u64).unwrap_or(0);
        &self.write_locks[index]
    }

    /// Locks the unseal state (a poisoned lock is still usable: it holds no invariant a panic
    /// could break half-way).
    pub fn unseal_state(&self) -> std::sync::MutexGuard<'_, UnsealState> {
        self.unseal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
