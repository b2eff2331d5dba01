//! Envelope encryption of one version: a fresh DEK encrypts the JSON value, the active KEK
//! wraps the DEK; both AADs bind the path and version (and the KEK id), so edited or swapped
//! rows fail with [`SecretsError::Integrity`].

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::keys::{DataKey, aead_key, dek_aad, open, seal, value_aad};
use crate::state::Unsealed;

/// A version encrypted for storage.
pub(crate) struct Sealed {
    pub kek_id: u32,
    pub wrapped_dek: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Encrypts `data` as version `version` of `path` under the active KEK.
pub(crate) fn encrypt(
    keys: &Unsealed,
    path: &str,
    version: u64,
    data: &Map<String, Value>,
) -> Result<Sealed, SecretsError> {
    let json = Zeroizing::new(serde_json::to_vec(data).map_err(|_| SecretsError::Crypto)?);
    let dek = DataKey::generate()?;
    let ciphertext = seal(&dek.aead()?, &value_aad(path, version), &json)?;
    let (kek_id, kek) = keys.active()?;
    let wrapped_dek = seal(kek, &dek_aad(path, version, kek_id), dek.expose())?;
    Ok(Sealed {
        kek_id,
        wrapped_dek,
        ciphertext,
    })
}

/// Decrypts version `version` of `path`.
pub(crate) fn decrypt(
    keys: &Unsealed,
    path: &str,
    version: u64,
    kek_id: i64,
    wrapped_dek: &[u8],
    ciphertext: &[u8],
) -> Result<Map<String, Value>, SecretsError> {
    let integrity = || SecretsError::Integrity {
        path: path.to_owned(),
        version,
    };
    let dek = unwrap_dek(keys, path, version, kek_id, wrapped_dek).ok_or_else(integrity)?;
    let dek = aead_key(&dek).map_err(|_| integrity())?;
    let json = open(&dek, &value_aad(path, version), ciphertext).ok_or_else(integrity)?;
    serde_json::from_slice(&json).map_err(|_| integrity())
}

/// Rewraps a DEK from KEK `old_id` to the active KEK; returns the new KEK id and blob.
pub(crate) fn rewrap(
    keys: &Unsealed,
    path: &str,
    version: u64,
    old_id: i64,
    wrapped_dek: &[u8],
) -> Result<(u32, Vec<u8>), SecretsError> {
    let dek = unwrap_dek(keys, path, version, old_id, wrapped_dek).ok_or_else(|| {
        SecretsError::Integrity {
            path: path.to_owned(),
            version,
        }
    })?;
    let (new_id, kek) = keys.active()?;
    Ok((new_id, seal(kek, &dek_aad(path, version, new_id), &dek)?))
}

fn unwrap_dek(
    keys: &Unsealed,
    path: &str,
    version: u64,
    kek_id: i64,
    wrapped: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let kek_id = u32::try_from(kek_id).ok()?;
    open(keys.kek(kek_id)?, &dek_aad(path, version, kek_id), wrapped)
}
