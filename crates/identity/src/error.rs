//! The one error type of this crate.

use std::{io, path::PathBuf};

/// Why a certificate, key, CA or TLS configuration could not be loaded or built.
///
/// Messages name the file involved and what is wrong with it; they never contain key bytes.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("`{}` is empty", path.display())]
    EmptyFile { path: PathBuf },

    #[error("`{}` is not valid PEM: {reason}", path.display())]
    MalformedPem { path: PathBuf, reason: &'static str },

    #[error("`{}` contains no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },

    #[error("`{}` contains no PEM private key (expected PKCS#8, SEC1 EC or PKCS#1 RSA)", path.display())]
    NoPrivateKey { path: PathBuf },

    #[error(
        "`{}` holds an unsupported private key (expected ECDSA P-256/P-384, RSA 2048+ or Ed25519)",
        path.display()
    )]
    UnsupportedKey { path: PathBuf },

    #[error("private key `{}` does not match certificate `{}`", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    #[error("`{}` holds an invalid certificate: {reason}", path.display())]
    InvalidCertificate { path: PathBuf, reason: String },

    #[error(
        "key file `{}` is accessible by group or others (mode {mode:04o}); restrict it with `chmod 600`",
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },

    #[error("local CA in `{}` is incomplete: `{}` is missing", dir.display(), missing.display())]
    CaIncomplete { dir: PathBuf, missing: PathBuf },

    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),

    #[error("a certificate needs at least one name")]
    NoNames,

    #[error("invalid certificate name `{name}`: {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error("no certificate configured")]
    NoCertificates,

    #[error("no trusted root certificates: {reason}")]
    NoRoots { reason: String },

    #[error("invalid ca pin: {reason}")]
    InvalidPin { reason: &'static str },

    #[error("invalid tls configuration: {0}")]
    Tls(#[from] rustls::Error),
}
