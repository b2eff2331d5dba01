//! [`Keyring`]: the key-encryption keys and the active one's id, sealed under the root key
//! (AES-256-GCM, AAD `rampart/keyring/v1`, JSON with the keys base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::keys::{KEYRING_AAD, Kek, RootKey, open, seal};

/// One key-encryption key.
#[derive(Clone, Debug)]
pub(crate) struct KekEntry {
    pub id: u32,
    pub key: Kek,
    pub created_at_ms: i64,
}

/// The keyring: every KEK still in use and the id of the one new data keys are wrapped with.
#[derive(Clone, Debug)]
pub(crate) struct Keyring {
    pub keys: Vec<KekEntry>,
    pub active: u32,
}

#[derive(Serialize, Deserialize)]
struct WireEntry {
    id: u32,
    key: String,
    created_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct WireKeyring {
    keys: Vec<WireEntry>,
    active: u32,
}

// === impl Keyring ===

impl Keyring {
    /// A keyring of one fresh KEK (id 1).
    pub fn first(now_ms: i64) -> Result<Self, SecretsError> {
        Ok(Self {
            keys: vec![KekEntry {
                id: 1,
                key: Kek::generate()?,
                created_at_ms: now_ms,
            }],
            active: 1,
        })
    }

    /// The active KEK's entry.
    pub fn active_entry(&self) -> Option<&KekEntry> {
        self.keys.iter().find(|k| k.id == self.active)
    }

    /// Adds a fresh KEK (id = highest + 1) and makes it active.
    pub fn rotated(&self, now_ms: i64) -> Result<Self, SecretsError> {
        let id = self.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let mut keys = self.keys.clone();
        keys.push(KekEntry {
            id,
            key: Kek::generate()?,
            created_at_ms: now_ms,
        });
        Ok(Self { keys, active: id })
    }

    /// The same keyring with only the active KEK.
    pub fn only_active(&self) -> Self {
        Self {
            keys: self
                .keys
                .iter()
                .filter(|k| k.id == self.active)
                .cloned()
                .collect(),
            active: self.active,
        }
    }

    /// Seals the keyring under `root`.
    pub fn seal(&self, root: &RootKey) -> Result<Vec<u8>, SecretsError> {
        let wire = WireKeyring {
            keys: self
                .keys
                .iter()
                .map(|k| WireEntry {
                    id: k.id,
                    key: STANDARD.encode(k.key.expose()),
                    created_at_ms: k.created_at_ms,
                })
                .collect(),
            active: self.active,
        };
        let json = Zeroizing::new(serde_json::to_vec(&wire).map_err(|_| SecretsError::Crypto)?);
        for entry in wire.keys {
            drop(Zeroizing::new(entry.key));
        }
        seal(&root.aead()?, KEYRING_AAD, &json)
    }

    /// Opens a sealed keyring; `None` when `root` is not the key it was sealed with (or the
    /// blob is damaged).
    pub fn open(root: &RootKey, blob: &[u8]) -> Result<Option<Self>, SecretsError> {
        let Some(json) = open(&root.aead()?, KEYRING_AAD, blob) else {
            return Ok(None);
        };
        let wire: WireKeyring = serde_json::from_slice(&json).map_err(|_| SecretsError::Crypto)?;
        let mut keys = Vec::with_capacity(wire.keys.len());
        for entry in wire.keys {
            let encoded = Zeroizing::new(entry.key);
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|_| SecretsError::Crypto)?,
            );
            let key = Kek::from_slice(&bytes).ok_or(SecretsError::Crypto)?;
            keys.push(KekEntry {
                id: entry.id,
                key,
                created_at_ms: entry.created_at_ms,
            });
        }
        Ok(Some(Self {
            keys,
            active: wire.active,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn seal_open_and_wrong_root() {
        let root = RootKey::generate().unwrap();
        let ring = Keyring::first(5).unwrap().rotated(6).unwrap();
        let blob = ring.seal(&root).unwrap();
        let back = Keyring::open(&root, &blob).unwrap().unwrap();
        assert_eq!(back.active, 2);
        assert_eq!(back.keys.len(), 2);
        assert_eq!(back.keys[0].key.expose(), ring.keys[0].key.expose());
        let other = RootKey::generate().unwrap();
        assert!(Keyring::open(&other, &blob).unwrap().is_none());
        assert_eq!(back.only_active().keys.len(), 1);
    }
}
