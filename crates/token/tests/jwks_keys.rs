//! `VerifyingKeys::from_jwks`: which keys are usable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_token::{Jwk, Jwks, VerifyingKeys};
use serde_json::{Value, json};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/wycheproof-jose/"
);

fn usable(jwk: Value) -> usize {
    let jwk: Jwk = serde_json::from_value(jwk).unwrap();
    VerifyingKeys::from_jwks(&Jwks { keys: vec![jwk] }).len()
}

fn wycheproof_key(comment: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DIR}json_web_key_test.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == comment)
        .unwrap()["public"]["keys"][0]
        .clone()
}

const X: &str = "04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY";
const Y: &str = "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw";

#[test]
fn ec_keys() {
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a"})),
        1
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"})),
        0
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "key_ops": ["encrypt"]})),
        0
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "key_ops": ["verify"]})),
        1
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-384", "x": X, "y": Y})),
        0
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "ES512"})),
        0
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "EdDSA"})),
        0
    );
    // Not on the curve (last byte of y changed).
    assert_eq!(
        usable(
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgnw"})
        ),
        0
    );
    // Padded base64 and short coordinates are refused.
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": format!("{X}="), "y": Y})),
        0
    );
    assert_eq!(
        usable(json!({"kty": "EC", "crv": "P-256", "x": &X[..40], "y": Y})),
        0
    );
    // Symmetric keys are never usable.
    assert_eq!(
        usable(json!({"kty": "oct", "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg"})),
        0
    );
}

#[test]
fn okp_keys() {
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    assert_eq!(usable(json!({"kty": "OKP", "crv": "Ed25519", "x": x})), 1);
    assert_eq!(usable(json!({"kty": "OKP", "crv": "X25519", "x": x})), 0);
    assert_eq!(
        usable(json!({"kty": "OKP", "crv": "Ed25519", "x": &x[..20]})),
        0
    );
}

#[test]
fn rsa_keys_size_exponent_and_roca() {
    let good = wycheproof_key("rs256");
    assert_eq!(usable(good.clone()), 1);
    assert_eq!(
        usable(wycheproof_key("keysize_too_small")),
        0,
        "1024-bit modulus"
    );
    assert_eq!(usable(wycheproof_key("exponentOne")), 0, "e = 1");
    assert_eq!(
        usable(wycheproof_key("jws_rsa_roca_key")),
        0,
        "ROCA fingerprint"
    );
    let mut even = good.clone();
    even["e"] = json!("AQAA");
    assert_eq!(usable(even), 0, "even exponent");
    let mut labelled = good;
    labelled["alg"] = json!("RSA1_5");
    assert_eq!(usable(labelled), 0, "encryption algorithm label");
}
