//! The control plane's audit key: an Ed25519 key that signs checkpoints of the chain.
//!
//! Kept as a PKCS#8 file with mode 0600, created on first start. Its `Debug` never shows the key.

use super::AuditError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What a checkpoint asserts: the chain had `count` records up to `chain_seq`, whose hash is
/// `head_hash`, at `time_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointBody {
    pub chain_seq: i64,
    pub head_hash: [u8; super::HASH_LEN],
    pub count: i64,
    pub time_ms: i64,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub body: CheckpointBody,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// A public key that checkpoints may be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKey {
    pub key_id: String,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
}

/// Signs checkpoints.
pub struct AuditSigner {
    pair: Ed25519KeyPair,
    key: AuditKey,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("key_id", &self.key.key_id)
            .finish_non_exhaustive()
    }
}

// === impl CheckpointBody ===

impl CheckpointBody {
    /// The exact bytes that are signed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "rampart-audit-checkpoint/v1\n{}\n{}\n{}\n{}",
            self.chain_seq,
            hex::encode(self.head_hash),
            self.count,
            self.time_ms
        )
        .into_bytes()
    }
}

// === impl AuditKey ===

impl AuditKey {
    /// Whether `checkpoint` was signed by this key.
    pub fn verifies(&self, checkpoint: &Checkpoint) -> bool {
        checkpoint.key_id == self.key_id
            && UnparsedPublicKey::new(&ED25519, &self.public_key)
                .verify(&checkpoint.body.signed_bytes(), &checkpoint.signature)
                .is_ok()
    }
}

// === impl AuditSigner ===

impl AuditSigner {
    /// A fresh key held in memory (tests, or before it is written).
    pub fn generate() -> Result<(Self, Vec<u8>), AuditError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AuditError::Key("cannot generate an Ed25519 key".into()))?;
        let bytes = pkcs8.as_ref().to_vec();
        Ok((Self::from_pkcs8(&bytes)?, bytes))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AuditError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| AuditError::Key("the audit key is not an Ed25519 PKCS#8 key".into()))?;
        let public_key = pair.public_key().as_ref().to_vec();
        let key_id = super::key_id(&public_key);
        Ok(Self {
            pair,
            key: AuditKey { key_id, public_key },
        })
    }

    /// Loads the key at `path`, or creates it (mode 0600) when the file does not exist.
    /// A key file readable by others is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path)
                    .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(AuditError::Key(format!(
                        "{} is readable by others (mode {:o}); it must be 0600",
                        path.display(),
                        mode & 0o777
                    )));
                }
                Self::from_pkcs8(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (signer, pkcs8) = Self::generate()?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
                file.write_all(&pkcs8)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
                Ok(signer)
            }
            Err(e) => Err(AuditError::Io(format!("{}: {e}", path.display()))),
        }
    }

    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    pub fn sign(&self, body: CheckpointBody) -> Checkpoint {
        let signature = self.pair.sign(&body.signed_bytes()).as_ref().to_vec();
        Checkpoint {
            body,
            key_id: self.key.key_id.clone(),
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_verify_only_unchanged_and_with_the_right_key() {
        let (signer, _) = AuditSigner::generate().unwrap();
        let (other, _) = AuditSigner::generate().unwrap();
        let body = CheckpointBody {
            chain_seq: 10,
            head_hash: [7; 32],
            count: 10,
            time_ms: 1,
        };
        let cp = signer.sign(body);
        assert!(signer.key().verifies(&cp));
        assert!(!other.key().verifies(&cp));
        let mut changed = cp.clone();
        changed.body.count = 9;
        assert!(!signer.key().verifies(&changed));
    }

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-signing.key");
        let a = AuditSigner::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = AuditSigner::load_or_create(&path).unwrap();
        assert_eq!(a.key(), b.key());
        assert!(!format!("{a:?}").contains("pair"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(AuditSigner::load_or_create(&path).is_err());
    }
}
