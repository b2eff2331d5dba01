//! The admin token that authenticates callers of the control-plane API: created once in the
//! data directory (mode 0600), compared in constant time, never printed.

use std::{
    fmt,
    fs::{DirBuilder, File, OpenOptions},
    io::{ErrorKind, Read, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

use aws_lc_rs::{
    digest::{SHA256, SHA256_OUTPUT_LEN, digest},
    rand::{SecureRandom, SystemRandom},
};
use rampart_core::{Sensitive, ct_eq};

use crate::ControlError;

/// Random bytes in a generated token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;
/// Tokens shorter than this are refused, whoever made them.
const MIN_LEN: usize = 32;
/// Longer than any token we would write; a bigger file is not a token file.
const MAX_FILE_LEN: u64 = 4096;
/// Permission bits that let anyone but the owner near the token file.
const NOT_OWNER: u32 = 0o077;

/// The control plane's admin token.
///
/// `Debug` prints `AdminToken(**REDACTED**)`; the secret is zeroized on drop.
#[derive(Clone)]
pub struct AdminToken {
    secret: Sensitive<String>,
    digest: [u8; SHA256_OUTPUT_LEN],
}

// === impl AdminToken ===

impl AdminToken {
    /// Loads the token in `path`, or creates one there (32 random bytes, hex-encoded, in a new
    /// file of mode 0600) when the file does not exist. A missing parent directory is created
    /// with mode 0700.
    ///
    /// An existing file that group or others can access is refused, as is one that does not
    /// hold a usable token; an existing token is never overwritten.
    pub fn load_or_create(path: &Path) -> Result<Self, ControlError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|source| ControlError::TokenWrite {
                    path: parent.to_owned(),
                    source,
                })?;
        }
        let open = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match open {
            Ok(file) => Self::create(path, file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::load(path),
            Err(source) => Err(ControlError::TokenWrite {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Loads the token in `path` (surrounding whitespace ignored), refusing a file that group
    /// or others can access.
    pub fn load(path: &Path) -> Result<Self, ControlError> {
        let read_err = |source| ControlError::TokenRead {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        // Checked on the open file, so the file read is the file checked.
        let meta = file.metadata().map_err(read_err)?;
        let malformed = |reason| ControlError::TokenMalformed {
            path: path.to_owned(),
            reason,
        };
        if !meta.is_file() {
            return Err(malformed("not a regular file"));
        }
        let mode = meta.permissions().mode();
        if mode & NOT_OWNER != 0 {
            return Err(ControlError::TokenPermissions {
                path: path.to_owned(),
                mode: mode & 0o7777,
            });
        }
        // Sized up front so that reading never reallocates and leaves copies of the secret.
        let mut text = String::with_capacity(MAX_FILE_LEN as usize + 1);
        let read = file.take(MAX_FILE_LEN + 1).read_to_string(&mut text);
        // Wrapped at once: zeroized on drop, whatever happens next.
        let raw = Sensitive::new(text);
        let read = read.map_err(|e| match e.kind() {
            ErrorKind::InvalidData => malformed("not UTF-8 text"),
            _ => read_err(e),
        })?;
        if read as u64 > MAX_FILE_LEN {
            return Err(malformed("the file is too large to be a token"));
        }
        Self::new(Sensitive::new(raw.expose().trim().to_owned())).map_err(|e| match e {
            ControlError::InvalidToken { reason } => malformed(reason),
            other => other,
        })
    }

    /// A token given by the operator (e.g. `--token` or `RAMPART_TOKEN`): at least 32
    /// characters of letters, digits and `-._~+/=`.
    pub fn new(secret: Sensitive<String>) -> Result<Self, ControlError> {
        let token = secret.expose();
        if token.len() < MIN_LEN {
            return Err(ControlError::InvalidToken {
                reason: "a token needs at least 32 characters",
            });
        }
        if !token.bytes().all(is_token_byte) {
            return Err(ControlError::InvalidToken {
                reason: "a token may hold only letters, digits and `-._~+/=`",
            });
        }
        Ok(Self {
            digest: sha256(token),
            secret,
        })
    }

    /// A fresh random token (32 bytes from the system's secure generator, hex-encoded).
    pub fn generate() -> Result<Self, ControlError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| ControlError::Random)?;
        let token = Self::new(Sensitive::new(hex::encode(bytes)));
        bytes.fill(0);
        token
    }

    /// Whether `presented` is this token. The comparison takes the same time whatever the
    /// presented value's content or length: it compares SHA-256 digests in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        ct_eq(&sha256(presented), &self.digest)
    }

    /// The token itself, e.g. for an in-process client. Callers must not log or format it.
    pub fn secret(&self) -> &Sensitive<String> {
        &self.secret
    }

    fn create(path: &Path, mut file: File) -> Result<Self, ControlError> {
        let token = Self::generate()?;
        let line = Sensitive::new(format!("{}\n", token.secret.expose()));
        let written = file
            .write_all(line.expose().as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(source) = written {
            // A half-written token file would be refused forever; leave nothing behind.
            let _ = std::fs::remove_file(path);
            return Err(ControlError::TokenWrite {
                path: path.to_owned(),
                source,
            });
        }
        tracing::info!(path = %path.display(), "created admin token");
        Ok(token)
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(**REDACTED**)")
    }
}

// === helpers ===

fn sha256(text: &str) -> [u8; SHA256_OUTPUT_LEN] {
    let mut out = [0u8; SHA256_OUTPUT_LEN];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

/// The characters of an RFC 6750 `b64token`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

#[cfg(test)]
mod tests;
