//! The agent's data directory: its SVID and key, the trust bundle, the pinned CA
//! fingerprint and the last mesh snapshot, kept so that a restart needs neither a new join
//! token nor a reachable control plane.
//!
//! Layout: `svid.pem` (chain, leaf first), `svid-key.pem` (PKCS#8, mode 0600), `bundle.pem`,
//! `pin` (hex SHA-256 of the control plane's CA), `snapshot.json`, and `refused` (the serial
//! of an SVID the control plane refused, so that a restart does not resume with it). The directory is 0700;
//! every file is written to a temporary file and renamed over the old one, so a crash leaves
//! the old or the new file, never half of one.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use rampart_control::api::MeshSnapshot;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use zeroize::Zeroizing;

use crate::MeshError;

const SVID: &str = "svid.pem";
const KEY: &str = "svid-key.pem";
const BUNDLE: &str = "bundle.pem";
const PIN: &str = "pin";
const SNAPSHOT: &str = "snapshot.json";
const REFUSED: &str = "refused";

/// The agent's data directory (see the module documentation for its layout).
#[derive(Clone, Debug)]
pub struct DataDir {
    path: PathBuf,
}

/// An SVID read back from disk: the chain (leaf first) and its key. `Debug` hides the key.
pub struct StoredSvid {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

// === impl DataDir ===

impl DataDir {
    /// Opens `path`, creating it (mode 0700) if needed, and restricts it to its owner.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, MeshError> {
        let path = path.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(io_error("create", &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restrict", &path))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the SVID `chain_pem` and its key (0600). The key is written first: a crash
    /// between the two leaves a pair that does not match, which [`DataDir::load_svid`]'s
    /// caller refuses, never a new certificate beside an old key.
    pub fn save_svid(&self, chain_pem: &str, key_pem: &Zeroizing<String>) -> Result<(), MeshError> {
        write_atomic(&self.path.join(KEY), key_pem.as_bytes(), 0o600)?;
        write_atomic(&self.path.join(SVID), chain_pem.as_bytes(), 0o644)
    }

    /// Keeps the trust bundle's roots.
    pub fn save_bundle(&self, bundle_pem: &str) -> Result<(), MeshError> {
        write_atomic(&self.path.join(BUNDLE), bundle_pem.as_bytes(), 0o644)
    }

    /// Keeps the fingerprint of the control plane's CA, pinned on every connection to it.
    pub fn save_pin(&self, pin: &str) -> Result<(), MeshError> {
        write_atomic(&self.path.join(PIN), format!("{pin}\n").as_bytes(), 0o644)
    }

    /// Keeps the last mesh snapshot.
    pub fn save_snapshot(&self, snapshot: &MeshSnapshot) -> Result<(), MeshError> {
        let path = self.path.join(SNAPSHOT);
        let json = serde_json::to_vec_pretty(snapshot).map_err(|e| MeshError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &json, 0o644)
    }

    /// Remembers that the control plane refused the SVID with `serial`.
    pub fn save_refused(&self, serial: &str) -> Result<(), MeshError> {
        write_atomic(
            &self.path.join(REFUSED),
            format!("{serial}\n").as_bytes(),
            0o644,
        )
    }

    /// The serial of the last SVID the control plane refused, if any.
    pub fn load_refused(&self) -> Result<Option<String>, MeshError> {
        read_line(&self.path.join(REFUSED))
    }

    /// The stored SVID, if both files exist. The key file must not be readable by group or
    /// others. Whether the pair matches and is still valid is the caller's check.
    pub fn load_svid(&self) -> Result<Option<StoredSvid>, MeshError> {
        let (cert_path, key_path) = (self.path.join(SVID), self.path.join(KEY));
        let Some(chain_pem) = read_optional(&cert_path)? else {
            return Ok(None);
        };
        let Some(key_pem) = read_optional(&key_path)?.map(Zeroizing::new) else {
            return Ok(None);
        };
        let mode = fs::metadata(&key_path)
            .map_err(io_error("read", &key_path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(MeshError::KeyPermissions {
                path: key_path,
                mode,
            });
        }
        let chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(&cert_path, e.to_string()))?;
        if chain.is_empty() {
            return Err(malformed(&cert_path, "no certificate".to_owned()));
        }
        // The parser's error names the problem, never the key's bytes.
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| malformed(&key_path, e.to_string()))?;
        Ok(Some(StoredSvid { chain, key }))
    }

    /// The stored trust bundle, as PEM.
    pub fn load_bundle(&self) -> Result<Option<String>, MeshError> {
        let path = self.path.join(BUNDLE);
        read_optional(&path)?
            .map(|bytes| String::from_utf8(bytes).map_err(|e| malformed(&path, e.to_string())))
            .transpose()
    }

    /// The stored CA fingerprint.
    pub fn load_pin(&self) -> Result<Option<String>, MeshError> {
        read_line(&self.path.join(PIN))
    }

    /// When the kept snapshot was written (received from the control plane), if it exists.
    pub fn snapshot_saved_at(&self) -> Option<std::time::SystemTime> {
        fs::metadata(self.path.join(SNAPSHOT))
            .and_then(|m| m.modified())
            .ok()
    }

    /// The last snapshot kept.
    pub fn load_snapshot(&self) -> Result<Option<MeshSnapshot>, MeshError> {
        let path = self.path.join(SNAPSHOT);
        read_optional(&path)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| malformed(&path, e.to_string()))
            })
            .transpose()
    }
}

impl std::fmt::Debug for StoredSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSvid")
            .field("chain", &self.chain.len())
            .field("key", &"**REDACTED**")
            .finish()
    }
}

// === helpers ===

/// Writes `bytes` to a fresh temporary file beside `path` with `mode`, syncs it and renames it
/// over `path`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), MeshError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    // A leftover from a crash may have another mode; start from nothing.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("replace", &tmp)(e)),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error("create", &tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io_error("replace", path))?;
    // Make the rename itself durable; a directory that cannot be synced is not an error.
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, MeshError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// A one-line text file, trimmed.
fn read_line(path: &Path) -> Result<Option<String>, MeshError> {
    read_optional(path)?
        .map(|bytes| match String::from_utf8(bytes) {
            Ok(text) => Ok(text.trim().to_owned()),
            Err(e) => Err(malformed(path, e.to_string())),
        })
        .transpose()
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> MeshError {
    let path = path.to_owned();
    move |source| MeshError::Io {
        action,
        path,
        source,
    }
}

fn malformed(path: &Path, reason: String) -> MeshError {
    MeshError::Malformed {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests;
