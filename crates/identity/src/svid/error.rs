//! Why an SVID could not be issued or was refused.

use rampart_core::spiffe::{SpiffeId, SpiffeIdError, TrustDomain};

use crate::IdentityError;

/// Why an SVID could not be issued, or why a certificate is not an acceptable SVID.
///
/// Messages never contain key bytes.
#[derive(Debug, thiserror::Error)]
pub enum SvidError {
    #[error("invalid certificate signing request: {reason}")]
    InvalidCsr { reason: String },

    #[error("the signature of the certificate signing request does not verify")]
    CsrSignature,

    #[error(
        "unsupported key type `{algorithm}` (expected ECDSA P-256/P-384, Ed25519 or RSA with PKCS#1 v1.5)"
    )]
    UnsupportedKey { algorithm: String },

    #[error("cannot generate a key or CSR: {0}")]
    Generate(#[from] rcgen::Error),

    #[error("cannot issue the SVID: {0}")]
    Issue(#[from] IdentityError),

    #[error("no random serial number available")]
    Random,

    #[error("no certificate presented")]
    NoCertificate,

    #[error("malformed certificate: {reason}")]
    Malformed { reason: String },

    #[error("the certificate has no URI SAN")]
    NoUriSan,

    #[error("the certificate has {0} URI SANs, an SVID has exactly one")]
    SeveralUriSans(usize),

    #[error("URI SAN `{uri}` is not a SPIFFE id: {source}")]
    NotSpiffe { uri: String, source: SpiffeIdError },

    #[error("`{id}` names a trust domain, a leaf SVID needs a path")]
    TrustDomainId { id: SpiffeId },

    #[error("a CA certificate cannot be used as a leaf SVID")]
    CaAsLeaf,

    #[error("trust domain `{found}` is not the trusted `{expected}`")]
    WrongTrustDomain {
        expected: TrustDomain,
        found: TrustDomain,
    },

    #[error("the certificate has expired")]
    Expired,

    #[error("the certificate is not valid yet")]
    NotYetValid,

    #[error("invalid key usage: {reason}")]
    KeyUsage { reason: &'static str },

    #[error("extended key usage must include both serverAuth and clientAuth")]
    ExtendedKeyUsage,

    #[error("the certificate does not chain to a trusted root: {reason}")]
    Untrusted { reason: String },

    #[error("expected peer `{expected}`, got `{found}`")]
    UnexpectedId { expected: SpiffeId, found: SpiffeId },

    #[error("invalid root certificate: {reason}")]
    InvalidRoot { reason: String },

    #[error("the certificate with serial `{serial}` is revoked")]
    Revoked { serial: String },

    #[error("the private key does not match the certificate")]
    KeyMismatch,

    #[error("the SVID names `{found}`, this source holds `{expected}`")]
    IdChanged { expected: SpiffeId, found: SpiffeId },
}
