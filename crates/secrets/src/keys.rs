//! Key material ([`RootKey`], [`Kek`], [`DataKey`]) and AES-256-GCM sealing with the AAD
//! strings of `docs/secrets.md`. Blobs are `nonce (12 bytes) || ciphertext+tag`.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::error::SecretsError;

/// Length of every key in the hierarchy.
pub const KEY_LEN: usize = 32;

/// AAD of the sealed keyring.
pub(crate) const KEYRING_AAD: &[u8] = b"rampart/keyring/v1";

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<[u8; KEY_LEN]>);

        impl $name {
            /// Fresh random key material from aws-lc-rs.
            pub fn generate() -> Result<Self, SecretsError> {
                let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
                aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| SecretsError::Crypto)?;
                Ok(Self(bytes))
            }

            /// Wraps existing bytes; `None` unless exactly 32 long.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
                Some(Self(Zeroizing::new(array)))
            }

            /// The raw bytes.
            pub fn expose(&self) -> &[u8; KEY_LEN] {
                &self.0
            }

            /// An AES-256-GCM key object for this key.
            #[allow(dead_code, reason = "generated for every key type; KEKs use cached objects")]
            pub(crate) fn aead(&self) -> Result<LessSafeKey, SecretsError> {
                aead_key(self.expose())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

key_type!(
    /// The root key: seals the keyring; never stored in the database.
    RootKey
);
key_type!(
    /// A key-encryption key of the keyring: wraps data keys.
    Kek
);
key_type!(
    /// A per-version data key: encrypts one secret version's value.
    DataKey
);

/// An AES-256-GCM key object for `bytes`.
pub(crate) fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, SecretsError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| SecretsError::Crypto)
}

/// Encrypts `plaintext` under `key` with a fresh random nonce: `nonce || ct+tag`.
pub(crate) fn seal(
    key: &LessSafeKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SecretsError> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SecretsError::Crypto)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(NONCE_LEN);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| SecretsError::Crypto)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a blob made by [`seal`]; `None` when it fails authentication or is malformed.
/// The plaintext is returned in a zeroizing buffer.
pub(crate) fn open(key: &LessSafeKey, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return None;
    }
    let (nonce, body) = blob.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// AAD of a version's value: `"rampart/kv/v1\0" + path + "\0" + version`.
pub(crate) fn value_aad(path: &str, version: u64) -> Vec<u8> {
    format!("rampart/kv/v1\0{path}\0{version}").into_bytes()
}

/// AAD of a wrapped DEK: `"rampart/dek/v1\0" + path + "\0" + version + "\0" + kek_id`.
pub(crate) fn dek_aad(path: &str, version: u64, kek_id: u32) -> Vec<u8> {
    format!("rampart/dek/v1\0{path}\0{version}\0{kek_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = DataKey::generate().unwrap().aead().unwrap();
        let blob = seal(&key, b"aad", b"hello").unwrap();
        assert_eq!(open(&key, b"aad", &blob).unwrap().as_slice(), b"hello");
        assert!(open(&key, b"other", &blob).is_none());
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open(&key, b"aad", &bad).is_none());
        assert!(open(&key, b"aad", &blob[..10]).is_none());
    }

    #[test]
    fn debug_is_redacted() {
        let key = RootKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "[redacted]");
        assert!(RootKey::from_slice(&[0u8; 31]).is_none());
    }
}
