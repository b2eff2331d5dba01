//! Public JSON Web Keys (RFC 7517) and RFC 7638 thumbprints.
//!
//! `Jwk` carries public members only: private members (`d`, `p`, `q`, ...) found in a JWKS are
//! dropped when parsing and can never be serialized.

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use crate::{TokenError, b64};

/// A public JSON Web Key (EC P-256, OKP Ed25519 or RSA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Curve (`P-256`, `Ed25519`) for EC and OKP keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url (verification of external issuers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use: `sig` or `enc`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Permitted operations (RFC 7517 §4.3); a verifying key needs `verify` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
}

impl Jwk {
    /// The RFC 7638 thumbprint (SHA-256 of the canonical JSON of the required members),
    /// base64url without padding.
    pub fn thumbprint(&self) -> Result<String, TokenError> {
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                json_str(self.crv.as_deref())?,
                json_str(self.x.as_deref())?,
                json_str(self.y.as_deref())?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                json_str(self.crv.as_deref())?,
                json_str(self.x.as_deref())?
            ),
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                json_str(self.e.as_deref())?,
                json_str(self.n.as_deref())?
            ),
            _ => return Err(TokenError::Key("unsupported key type for a thumbprint")),
        };
        Ok(b64::encode(
            digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
        ))
    }
}

/// A member as a JSON string literal (with JSON escaping), or an error when missing.
fn json_str(value: Option<&str>) -> Result<String, TokenError> {
    let value = value.ok_or(TokenError::Key("missing JWK member"))?;
    serde_json::to_string(value).map_err(|_| TokenError::Key("unencodable JWK member"))
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}
