//! `TokenError`: why a token, key or signature was refused.
//!
//! Messages never contain the token (nor any part of it): they are safe for logs, security
//! events and the `error_description` of a `WWW-Authenticate` header.

/// Why a token was refused or a key operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not a well-formed compact JWS / JWT (framing, base64url, JSON, header).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token is larger than the policy's `max_token_bytes`.
    #[error("token larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The header `alg` is `none`, HMAC, unknown or not in the policy's allow-list.
    #[error("algorithm not allowed")]
    AlgNotAllowed,
    /// The header uses an extension Rampart does not implement (`crit`, `b64: false`).
    #[error("unsupported JWS header: {0}")]
    UnsupportedHeader(&'static str),
    /// No usable key for the header `kid` (or no `kid` and not exactly one key).
    #[error("no usable key for this kid")]
    UnknownKid,
    /// The selected key cannot be used with the header `alg` (type, curve, `use`, `key_ops`).
    #[error("key does not match the algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is missing or in the past (beyond leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is missing or not the policy's issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain any of the policy's audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// A required scope is missing.
    #[error("insufficient scope")]
    InsufficientScope,
    /// A required claim is missing or has another value.
    #[error("claim mismatch: {0}")]
    ClaimMismatch(String),
    /// A standard claim has the wrong JSON type (e.g. `exp` not a number).
    #[error("invalid claim: {0}")]
    InvalidClaim(&'static str),
    /// The token is certificate-bound (`cnf.x5t#S256`) but no client certificate was presented.
    #[error("certificate-bound token presented without a client certificate")]
    CertificateRequired,
    /// The presented client certificate is not the one the token is bound to.
    #[error("client certificate does not match the token binding")]
    CertificateMismatch,
    /// A key could not be generated, parsed or used for signing.
    #[error("key error: {0}")]
    Key(&'static str),
}

impl TokenError {
    /// A short, stable code for `WWW-Authenticate` descriptions, metrics and security events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::UnsupportedHeader(_) => "unsupported_header",
            Self::UnknownKid => "unknown_kid",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::InsufficientScope => "insufficient_scope",
            Self::ClaimMismatch(_) => "claim_mismatch",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::CertificateRequired => "certificate_required",
            Self::CertificateMismatch => "certificate_mismatch",
            Self::Key(_) => "key_error",
        }
    }

    /// The RFC 6750 error code: `insufficient_scope` (HTTP 403) for a missing scope,
    /// `invalid_token` (HTTP 401) for everything else.
    pub fn oauth_error(&self) -> &'static str {
        if self.is_insufficient_scope() {
            "insufficient_scope"
        } else {
            "invalid_token"
        }
    }

    /// True when the answer is 403 `insufficient_scope` rather than 401 `invalid_token`.
    pub fn is_insufficient_scope(&self) -> bool {
        matches!(self, Self::InsufficientScope)
    }

    /// The HTTP status an RFC 6750 resource server answers with: 403 or 401.
    pub fn http_status(&self) -> u16 {
        if self.is_insufficient_scope() {
            403
        } else {
            401
        }
    }
}
