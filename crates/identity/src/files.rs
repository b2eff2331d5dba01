//! File-system helpers for key material: private directories, files created 0600, refusal of
//! keys that others can read.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

use zeroize::Zeroizing;

use crate::IdentityError;

/// Permission bits that let anyone but the owner near a key file.
const NOT_OWNER: u32 = 0o077;

/// Reads a whole file; the buffer is wiped when dropped since it may hold a key.
pub(crate) fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| IdentityError::Read {
            path: path.to_owned(),
            source,
        })
}

/// Reads a key file after checking that only its owner can access it.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let mode = fs::metadata(path)
        .map_err(|source| IdentityError::Read {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & NOT_OWNER != 0 {
        return Err(IdentityError::KeyPermissions {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    read(path)
}

/// Whether `path` exists; an error only when that cannot be told (e.g. no permission).
pub(crate) fn exists(path: &Path) -> Result<bool, IdentityError> {
    path.try_exists().map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Creates `dir` and any missing parents with mode 0700; an existing directory is left as is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| IdentityError::Write {
            path: dir.to_owned(),
            source,
        })
}

/// Writes a new file that must not exist yet, created with `mode` from the start so that its
/// content is never visible to others, not even for a moment.
pub(crate) fn write_new(path: &Path, mode: u32, contents: &[u8]) -> Result<(), IdentityError> {
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    write().map_err(|source| IdentityError::Write {
        path: path.to_owned(),
        source,
    })
}
