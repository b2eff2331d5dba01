//! Algorithms: the two Rampart signs with, and the JWS algorithms the verifier understands.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self, RsaParameters};

use crate::TokenError;

/// The algorithms Rampart signs with. Serializes as its JWS name (`"ES256"`, `"EdDSA"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256, signature r||s (RFC 7518 §3.4).
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JWS `alg` name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

impl FromStr for Algorithm {
    type Err = TokenError;

    fn from_str(name: &str) -> Result<Self, TokenError> {
        Self::parse(name).ok_or(TokenError::AlgNotAllowed)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key family an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    /// EC P-256.
    P256,
    /// OKP Ed25519.
    Ed25519,
    /// RSA, modulus of at least 2048 bits.
    Rsa,
}

/// A JWS algorithm the verifier supports. `none` and HMAC are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsAlg {
    Es256,
    EdDsa,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl JwsAlg {
    /// Parses an `alg` name; `None` for anything unsupported (including `none`, `HS*`).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ES256" => Self::Es256,
            "EdDSA" => Self::EdDsa,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            _ => return None,
        })
    }

    /// The key family this algorithm verifies with.
    pub(crate) fn family(self) -> KeyFamily {
        match self {
            Self::Es256 => KeyFamily::P256,
            Self::EdDsa => KeyFamily::Ed25519,
            _ => KeyFamily::Rsa,
        }
    }

    /// The aws-lc-rs RSA parameters (all require a modulus of 2048..=8192 bits).
    pub(crate) fn rsa_parameters(self) -> Option<&'static RsaParameters> {
        match self {
            Self::Rs256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Self::Rs384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Self::Rs512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            Self::Ps256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Self::Ps384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Self::Ps512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            _ => None,
        }
    }
}
