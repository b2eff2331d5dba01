//! `VerifyingKeys`: the usable public keys of a JWKS, selected by `kid`.
//!
//! A key is usable when it is a well-formed EC P-256 (valid point), OKP Ed25519 or RSA key
//! (modulus >= 2048 bits, odd exponent >= 3, no ROCA fingerprint), its `use` is absent or `sig`,
//! its `key_ops` is absent or contains `verify`, and its `alg`, when present, is a supported
//! signature algorithm of the key's family. Anything else is skipped. A key with an `alg`
//! verifies that algorithm only.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};

use crate::algorithm::{JwsAlg, KeyFamily};
use crate::{Jwk, Jwks, TokenError, b64, roca};

/// Minimum RSA modulus size accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// One usable public key.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    /// The JWK's `alg`, when present.
    intended: Option<JwsAlg>,
    material: Material,
}

#[derive(Clone)]
enum Material {
    /// Parsed (point validated) P-256 key for ES256.
    P256(ParsedPublicKey),
    /// Parsed Ed25519 key for EdDSA.
    Ed25519(ParsedPublicKey),
    /// RSA components (big-endian, leading zeros stripped).
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// The public keys of one issuer, parsed from its JWKS. Keys it cannot use are skipped.
#[derive(Clone, Default)]
pub struct VerifyingKeys {
    keys: Vec<VerifyingKey>,
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKeys")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl VerifyingKeys {
    /// Parses the usable keys of a JWKS; unusable ones are skipped.
    pub fn from_jwks(jwks: &Jwks) -> Self {
        Self {
            keys: jwks.keys.iter().filter_map(parse_key).collect(),
        }
    }

    /// True when a usable key with this `kid` exists.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `signature` over `signing_input` with the key selected by `kid` for `alg`.
    pub(crate) fn verify(
        &self,
        alg: JwsAlg,
        kid: Option<&str>,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        let key = self.select(kid)?;
        if key.intended.is_some_and(|intended| intended != alg) {
            return Err(TokenError::KeyMismatch);
        }
        let ok = match (&key.material, alg.family()) {
            (Material::P256(parsed), KeyFamily::P256)
            | (Material::Ed25519(parsed), KeyFamily::Ed25519) => {
                parsed.verify_sig(signing_input, signature).is_ok()
            }
            (Material::Rsa { n, e }, KeyFamily::Rsa) => {
                let params = alg.rsa_parameters().ok_or(TokenError::KeyMismatch)?;
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .verify(params, signing_input, signature)
                .is_ok()
            }
            _ => return Err(TokenError::KeyMismatch),
        };
        if ok {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }

    /// The key for `kid`; without a `kid`, the only key. Duplicate kids are ambiguous.
    fn select(&self, kid: Option<&str>) -> Result<&VerifyingKey, TokenError> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid);
        match (candidates.next(), candidates.next()) {
            (Some(key), None) => Ok(key),
            _ => Err(TokenError::UnknownKid),
        }
    }
}

/// Parses one JWK into a usable key, or `None`.
fn parse_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return None;
    }
    let family = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("EC", Some("P-256")) => KeyFamily::P256,
        ("OKP", Some("Ed25519")) => KeyFamily::Ed25519,
        ("RSA", None) => KeyFamily::Rsa,
        _ => return None,
    };
    let mut intended = None;
    if let Some(alg) = jwk.alg.as_deref() {
        // RFC 7517 §4.4: the key's intended algorithm. It must be a supported signature
        // algorithm of the key's family (an EC key labelled ES521 or an RSA key labelled
        // RSA1_5 is unusable), and a token is then only verified with exactly that algorithm.
        let labelled = JwsAlg::parse(alg)?;
        if labelled.family() != family {
            return None;
        }
        intended = Some(labelled);
    }
    let material = match family {
        KeyFamily::P256 => {
            let x = b64::decode(jwk.x.as_deref()?, "jwk x").ok()?;
            let y = b64::decode(jwk.y.as_deref()?, "jwk y").ok()?;
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // Parsing validates that the point is on the curve.
            Material::P256(ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).ok()?)
        }
        KeyFamily::Ed25519 => {
            let x = b64::decode(jwk.x.as_deref()?, "jwk x").ok()?;
            if x.len() != 32 || jwk.y.is_some() {
                return None;
            }
            Material::Ed25519(ParsedPublicKey::new(&signature::ED25519, x).ok()?)
        }
        KeyFamily::Rsa => {
            let n = strip_leading_zeros(b64::decode(jwk.n.as_deref()?, "jwk n").ok()?);
            let e = strip_leading_zeros(b64::decode(jwk.e.as_deref()?, "jwk e").ok()?);
            if bit_length(&n) < MIN_RSA_BITS || !exponent_ok(&e) || roca::is_vulnerable(&n) {
                return None;
            }
            Material::Rsa { n, e }
        }
    };
    Some(VerifyingKey {
        kid: jwk.kid.clone(),
        intended,
        material,
    })
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

fn bit_length(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(first) => (be.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// Public exponent: odd, at least 3, at most 2^33 - 1 (what aws-lc accepts).
fn exponent_ok(e: &[u8]) -> bool {
    if e.is_empty() || e.len() > 5 {
        return false;
    }
    let value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    value >= 3 && value % 2 == 1 && value < (1 << 33)
}
