//! Hooks for `benches/kv.rs` to time the envelope encryption alone. Not part of the API.

use serde_json::{Map, Value};

use crate::error::SecretsError;
use crate::keyring::Keyring;
use crate::keys::RootKey;
use crate::kv::{decrypt, encrypt};
use crate::state::Unsealed;

/// A throwaway unsealed keyring.
pub struct BenchKeys(Unsealed);

impl BenchKeys {
    /// Fresh random keys.
    pub fn new() -> Result<Self, SecretsError> {
        Ok(Self(Unsealed::new(
            RootKey::generate()?,
            Keyring::first(0)?,
            Vec::new(),
        )?))
    }

    /// Encrypts `data` as a version (fresh DEK, wrapped by the KEK) and decrypts it again, as a
    /// write and a read do; returns the decrypted value.
    pub fn round_trip(
        &self,
        path: &str,
        data: &Map<String, Value>,
    ) -> Result<Map<String, Value>, SecretsError> {
        let sealed = encrypt(&self.0, path, 1, data)?;
        decrypt(
            &self.0,
            path,
            1,
            i64::from(sealed.kek_id),
            &sealed.wrapped_dek,
            &sealed.ciphertext,
        )
    }
}
