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
use crate::kv::KvConfig;
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
}

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

    /// Locks the unseal state (a poisoned lock is still usable: it holds no invariant a panic
    /// could break half-way).
    pub fn unseal_state(&self) -> std::sync::MutexGuard<'_, UnsealState> {
        self.unseal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
