//! Helpers shared by the integration tests: keys, policies, claims and token surgery.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_token::{Algorithm, Jwks, Policy, SigningKey, VerifyingKeys};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://127.0.0.1:7400";

/// A fixed "now" for deterministic time checks.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_900_000_000)
}

pub fn now_secs() -> u64 {
    now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn policy() -> Policy {
    let mut p = Policy::new(ISSUER);
    p.audiences = vec!["orders".to_owned()];
    p.required_scopes = vec!["orders.read".to_owned()];
    p
}

pub fn claims() -> Value {
    let t = now_secs();
    json!({
        "iss": ISSUER, "sub": "svc-a", "aud": "orders", "exp": t + 300, "iat": t,
        "jti": "j-1", "scope": "orders.read orders.write", "client_id": "svc-a"
    })
}

pub fn keys_of(keys: &[&SigningKey]) -> VerifyingKeys {
    VerifyingKeys::from_jwks(&Jwks {
        keys: keys.iter().map(|k| k.public_jwk()).collect(),
    })
}

pub fn es256() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// The three parts of a compact token.
pub fn parts(token: &str) -> (String, String, String) {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3);
    (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
}

/// Reassembles a token from a header JSON, payload JSON and raw signature.
pub fn assemble(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(payload).unwrap()),
        b64(signature)
    )
}

/// Signs an arbitrary header and payload with an ES256 key's private half (test forgery aid).
pub fn sign_es256_raw(key: &SigningKey, header: &Value, payload: &[u8]) -> String {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pkcs8 = key.to_pkcs8();
    let signer =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.expose()).unwrap();
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(payload)
    );
    let sig = signer.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}
