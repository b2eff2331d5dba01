//! `SigningKey`: an ES256 (P-256) or EdDSA (Ed25519) private key generated and used through
//! aws-lc-rs. The PKCS#8 copy is zeroized on drop; Debug shows only `kid` and `alg`.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use rampart_core::Sensitive;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{Algorithm, Jwk, TokenError, b64};

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A private signing key with its RFC 7638 `kid`.
pub struct SigningKey {
    pair: Pair,
    pkcs8: Zeroizing<Vec<u8>>,
    kid: String,
    jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key with the system random generator.
    pub fn generate(alg: Algorithm) -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let document = match alg {
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng),
        }
        .map_err(|_| TokenError::Key("key generation failed"))?;
        Self::from_pkcs8(alg, document.as_ref())
    }

    /// Loads a key from PKCS#8 DER (as written by [`SigningKey::to_pkcs8`]).
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, TokenError> {
        let pair = match alg {
            Algorithm::ES256 => Pair::Es256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| TokenError::Key("not a P-256 PKCS#8 key"))?,
            ),
            Algorithm::EdDSA => Pair::EdDsa(
                Ed25519KeyPair::from_pkcs8(der)
                    .map_err(|_| TokenError::Key("not an Ed25519 PKCS#8 key"))?,
            ),
        };
        let mut jwk = public_jwk_of(&pair)?;
        let kid = jwk.thumbprint()?;
        jwk.kid = Some(kid.clone());
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
            kid,
            jwk,
        })
    }

    /// The PKCS#8 DER of the private key, for storage only (write it 0600).
    pub fn to_pkcs8(&self) -> Sensitive<Vec<u8>> {
        Sensitive::new(self.pkcs8.to_vec())
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url), used as `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signing algorithm.
    pub fn alg(&self) -> Algorithm {
        match self.pair {
            Pair::Es256(_) => Algorithm::ES256,
            Pair::EdDsa(_) => Algorithm::EdDSA,
        }
    }

    /// The public JWK (`kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// Signs `claims` (a JSON object) as a compact JWS with header `{alg, kid, typ}`.
    pub fn sign(&self, header_typ: &str, claims: &Value) -> Result<String, TokenError> {
        if !claims.is_object() {
            return Err(TokenError::Key("claims must be a JSON object"));
        }
        let header = json!({ "alg": self.alg().as_str(), "kid": self.kid, "typ": header_typ });
        let header = serde_json::to_vec(&header).map_err(|_| TokenError::Key("header encoding"))?;
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Key("claims encoding"))?;
        let mut token = b64::encode(&header);
        token.push('.');
        token.push_str(&b64::encode(&payload));
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64::encode(&signature));
        Ok(token)
    }

    /// The raw JWS signature (ES256: 64-byte r||s; EdDSA: 64 bytes) over `message`.
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        match &self.pair {
            Pair::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| TokenError::Key("signing failed")),
            Pair::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Builds the public JWK (without `kid`) from the key pair's raw public key.
fn public_jwk_of(pair: &Pair) -> Result<Jwk, TokenError> {
    let mut jwk = Jwk {
        kty: String::new(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
        kid: None,
        alg: None,
        key_use: Some("sig".to_owned()),
        key_ops: None,
    };
    match pair {
        Pair::Es256(pair) => {
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
            if point.len() != 65 || point.first() != Some(&0x04) {
                return Err(TokenError::Key("unexpected P-256 public key encoding"));
            }
            jwk.kty = "EC".to_owned();
            jwk.crv = Some("P-256".to_owned());
            jwk.x = Some(b64::encode(&point[1..33]));
            jwk.y = Some(b64::encode(&point[33..65]));
            jwk.alg = Some("ES256".to_owned());
        }
        Pair::EdDsa(pair) => {
            jwk.kty = "OKP".to_owned();
            jwk.crv = Some("Ed25519".to_owned());
            jwk.x = Some(b64::encode(pair.public_key().as_ref()));
            jwk.alg = Some("EdDSA".to_owned());
        }
    }
    Ok(jwk)
}
