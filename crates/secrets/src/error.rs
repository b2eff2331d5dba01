//! [`SecretsError`]: every failure of the engine, shaped for the HTTP layer's status codes.
//!
//! No variant carries a secret value or key bytes.

use rampart_store::StoreError;

/// A failed secrets operation. The comment on each variant gives the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The store is sealed (503, `Vault is sealed`).
    #[error("Vault is sealed")]
    Sealed,
    /// The store has not been initialized yet (503).
    #[error("Vault is not initialized")]
    NotInitialized,
    /// `init` on a store that already has a root key (400).
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// A share that cannot be decoded (400).
    #[error("invalid key share")]
    BadShare,
    /// The combined shares do not open the keyring; the unseal progress was reset (400).
    #[error("the key shares do not unseal the store; unseal progress reset")]
    WrongShares,
    /// The auto-unseal root key does not open the keyring, or is malformed (400).
    #[error("the root key does not unseal the store")]
    WrongKey,
    /// The auto-unseal key file can be read by group or others (refused).
    #[error("root key file {path} is readable by group or others; chmod 600 it")]
    InsecureKeyFile {
        /// The file.
        path: String,
    },
    /// Reading or creating the auto-unseal key file failed.
    #[error("root key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A path that breaks the path rules (400).
    #[error("invalid secret path: {0}")]
    InvalidPath(&'static str),
    /// A path under the reserved prefix of the platform keys (403, `permission denied`).
    #[error("permission denied")]
    Reserved,
    /// A request that breaks a rule (400).
    #[error("{0}")]
    InvalidRequest(String),
    /// The `cas` given does not match the current version (400).
    #[error("check-and-set parameter did not match the current version")]
    CasMismatch,
    /// `cas_required` is set and no `cas` was given (400).
    #[error("check-and-set parameter required for this call")]
    CasRequired,
    /// No such secret or version (404).
    #[error("secret not found")]
    NotFound,
    /// A stored ciphertext or wrapped key failed authentication (500, `SecretIntegrity`).
    #[error("integrity check failed for {path} version {version}")]
    Integrity {
        /// The secret's path.
        path: String,
        /// The version.
        version: u64,
    },
    /// Concurrent writers kept changing the secret; retry later (503).
    #[error("too many concurrent writes to this secret; retry")]
    Busy,
    /// A cryptographic primitive failed unexpectedly (500).
    #[error("cryptographic failure")]
    Crypto,
    /// The storage layer failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

// === impl SecretsError ===

impl SecretsError {
    /// The HTTP status Vault answers with for this error (the mapping in each variant's doc).
    pub fn http_status(&self) -> u16 {
        match self {
            SecretsError::Sealed | SecretsError::NotInitialized | SecretsError::Busy => 503,
            SecretsError::AlreadyInitialized
            | SecretsError::BadShare
            | SecretsError::WrongShares
            | SecretsError::WrongKey
            | SecretsError::InvalidPath(_)
            | SecretsError::InvalidRequest(_)
            | SecretsError::CasMismatch
            | SecretsError::CasRequired => 400,
            SecretsError::NotFound => 404,
            SecretsError::Reserved => 403,
            SecretsError::InsecureKeyFile { .. }
            | SecretsError::KeyFile { .. }
            | SecretsError::Integrity { .. }
            | SecretsError::Crypto
            | SecretsError::Store(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_vault() {
        assert_eq!(SecretsError::Sealed.http_status(), 503);
        assert_eq!(SecretsError::CasMismatch.http_status(), 400);
        assert_eq!(SecretsError::NotFound.http_status(), 404);
        let integrity = SecretsError::Integrity {
            path: "a".into(),
            version: 1,
        };
        assert_eq!(integrity.http_status(), 500);
        assert_eq!(SecretsError::Sealed.to_string(), "Vault is sealed");
    }
}
