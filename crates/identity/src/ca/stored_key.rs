//! A local root CA whose private key is kept outside the data directory, in the secrets store
//! (`docs/secrets.md`, "Platform keys"): the certificate stays in `ca.pem`, the key is handed
//! to (and taken from) the caller as PEM in a zeroizing buffer, and `ca-key.pem` is removed
//! once the caller has stored it.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{CERT_FILE, KEY_FILE, LocalCa};
use crate::{IdentityError, files};

/// Where a key handed in by the caller came from, for error messages.
const STORED_KEY_LABEL: &str = "<secrets store>/local-ca-key";

// === impl LocalCa ===

impl LocalCa {
    /// The CA's private key as PKCS#8 PEM, to keep it in a key store. Never print it.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.issuer.key().serialize_pem())
    }

    /// The key file of the local CA in `dir` (`ca-key.pem`), whether or not it exists.
    pub fn key_file(dir: &Path) -> PathBuf {
        dir.join(KEY_FILE)
    }

    /// Whether `dir` holds the local CA's certificate (`ca.pem`).
    pub fn has_cert(dir: &Path) -> Result<bool, IdentityError> {
        files::exists(&dir.join(CERT_FILE))
    }

    /// Loads `dir/ca.pem` with the private key `key_pem` kept elsewhere; the certificate and
    /// the key must match ([`IdentityError::KeyMismatch`]).
    pub fn load_with_key(dir: &Path, key_pem: &[u8]) -> Result<Self, IdentityError> {
        Self::load_key_pem(dir.join(CERT_FILE), Path::new(STORED_KEY_LABEL), key_pem)
    }

    /// Creates a new root CA in `dir` (like [`LocalCa::load_or_create`]) whose key is not
    /// written to disk: only `ca.pem` is. The caller stores [`LocalCa::key_pem`]. Refuses a
    /// directory that already holds `ca.pem` or `ca-key.pem`.
    pub fn create_without_key_file(dir: &Path) -> Result<Self, IdentityError> {
        files::create_private_dir(dir)?;
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        if files::exists(&key_path)? {
            return Err(IdentityError::CaIncomplete {
                dir: dir.to_owned(),
                missing: cert_path,
            });
        }
        if files::exists(&cert_path)? {
            return Err(IdentityError::CaIncomplete {
                dir: dir.to_owned(),
                missing: key_path,
            });
        }
        Self::create_with(cert_path, None)
    }

    /// The key file of the local CA in `dir` (`ca-key.pem`), read after checking that only
    /// its owner can access it; `None` when absent. The key is not checked against
    /// `ca.pem`: this is for moving the key of a CA nobody loads (a retired generation).
    pub fn read_key_file(dir: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, IdentityError> {
        let path = dir.join(KEY_FILE);
        if !files::exists(&path)? {
            return Ok(None);
        }
        files::read_private(&path).map(Some)
    }

    /// Removes `dir/ca.pem` and `dir/ca-key.pem` when present: the leftovers of a CA whose
    /// creation was interrupted and that nothing refers to.
    pub fn remove_files(dir: &Path) -> Result<(), IdentityError> {
        remove_if_present(dir.join(CERT_FILE))?;
        remove_if_present(dir.join(KEY_FILE))
    }

    /// Removes `dir/ca-key.pem` (after its key was stored elsewhere); no error when absent.
    pub fn remove_key_file(dir: &Path) -> Result<(), IdentityError> {
        remove_if_present(dir.join(KEY_FILE))
    }
}

// === helpers ===

fn remove_if_present(path: PathBuf) -> Result<(), IdentityError> {
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(IdentityError::Write { path, source }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_key_kept_elsewhere_reloads_the_same_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let ca = LocalCa::create_without_key_file(&dir).unwrap();
        assert!(!LocalCa::key_file(&dir).exists());
        assert!(LocalCa::has_cert(&dir).unwrap());
        let pem = ca.key_pem();
        assert!(pem.contains("PRIVATE KEY"));
        let again = LocalCa::load_with_key(&dir, pem.as_bytes()).unwrap();
        assert_eq!(again.cert_der(), ca.cert_der());
        assert!(LocalCa::create_without_key_file(&dir).is_err());

        let other = LocalCa::create_without_key_file(&tmp.path().join("other")).unwrap();
        let err = LocalCa::load_with_key(&dir, other.key_pem().as_bytes()).unwrap_err();
        assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err}");
        let shown = format!("{err}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }

    #[test]
    fn a_key_file_is_read_and_leftovers_removed() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(LocalCa::read_key_file(tmp.path()).unwrap().is_none());
        let ca = LocalCa::load_or_create(tmp.path()).unwrap();
        let read = LocalCa::read_key_file(tmp.path()).unwrap().unwrap();
        assert_eq!(read.as_slice(), ca.key_pem().as_bytes());
        LocalCa::remove_files(tmp.path()).unwrap();
        assert!(!LocalCa::has_cert(tmp.path()).unwrap());
        assert!(!LocalCa::key_file(tmp.path()).exists());
        LocalCa::remove_files(tmp.path()).unwrap();
        // A fresh CA can be created where the leftovers were.
        LocalCa::create_without_key_file(tmp.path()).unwrap();
    }

    #[test]
    fn a_key_file_is_moved_out() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(tmp.path()).unwrap();
        let pem = ca.key_pem();
        LocalCa::remove_key_file(tmp.path()).unwrap();
        assert!(!LocalCa::key_file(tmp.path()).exists());
        LocalCa::remove_key_file(tmp.path()).unwrap();
        let again = LocalCa::load_with_key(tmp.path(), pem.as_bytes()).unwrap();
        assert_eq!(again.cert_der(), ca.cert_der());
    }
}
