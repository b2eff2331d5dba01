//! Wycheproof JOSE vectors (`json_web_signature_test.json`, `json_web_key_test.json`).
//!
//! Read from `../shared/testdata/wycheproof-jose/` beside the workspace. For every case whose
//! algorithm this crate supports (ES256, EdDSA, RS256/384/512, PS256/384/512) the result of
//! `verify_jws` must equal the expected one (`acceptable` may go either way; there are none
//! for these files at the time of writing, and they are counted). Cases with other algorithms
//! (`none`, HMAC, ES384/ES512, JSON serialization, ...) must be rejected, even with the
//! algorithm listed in the allow-list.
//!
//! Known deviation: the vectors contradict each other on a JWK's `alg`. Cases 331-340 expect
//! a key labelled PS512 to refuse otherwise valid RS256/PS256/... signatures ("WrongPrimitive"),
//! while the RFC 7520 Figure 20 cases expect a key labelled PS256 to accept a PS384 signature.
//! No rule satisfies both; this crate enforces the label (a key with `alg` verifies exactly
//! that algorithm), so the Figure 20 cases are refused with `key_mismatch` and listed in
//! `KEY_ALG_DEVIATIONS`, each asserted to fail for exactly that reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_token::{Jwk, Jwks, VerifyingKeys, peek_header, verify_jws};
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/wycheproof-jose/"
);
const SUPPORTED: [&str; 8] = [
    "ES256", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// `(file, tcId)` of valid cases refused because the JWK `alg` differs from the header `alg`.
const KEY_ALG_DEVIATIONS: [(&str, u64); 2] = [
    ("json_web_signature_test.json", 346),
    ("json_web_signature_test.json", 350),
];

#[derive(Default, Debug)]
struct Counts {
    supported_valid_accepted: usize,
    supported_invalid_rejected: usize,
    acceptable: usize,
    unsupported_rejected: usize,
    key_alg_deviations: usize,
}

fn load(file: &str) -> Value {
    let path = format!("{DIR}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The group's public key(s): one JWK (JWS file) or a JWK set (JWK file); none for groups
/// that only carry a symmetric private key.
fn keys_of(group: &Value) -> VerifyingKeys {
    let Some(public) = group.get("public") else {
        return VerifyingKeys::from_jwks(&Jwks::default());
    };
    let jwks = if public.get("keys").is_some() {
        serde_json::from_value::<Jwks>(public.clone()).unwrap_or_default()
    } else {
        Jwks {
            keys: serde_json::from_value::<Jwk>(public.clone())
                .into_iter()
                .collect(),
        }
    };
    VerifyingKeys::from_jwks(&jwks)
}

fn group_alg(group: &Value) -> Option<String> {
    let public = group.get("public")?;
    let key = public.get("keys").and_then(|k| k.get(0)).unwrap_or(public);
    key.get("alg")?.as_str().map(str::to_owned)
}

fn run(file: &str, counts: &mut Counts) {
    // Everything listed, even what must never be accepted: the crate must refuse it anyway.
    let mut allow: Vec<String> = SUPPORTED.iter().map(|s| (*s).to_owned()).collect();
    allow.extend(
        [
            "none", "HS256", "HS384", "HS512", "ES384", "ES512", "RSA1_5",
        ]
        .map(str::to_owned),
    );
    for group in load(file)["testGroups"].as_array().unwrap() {
        let keys = keys_of(group);
        for case in group["tests"].as_array().unwrap() {
            let id = &case["tcId"];
            let expected = case["result"].as_str().unwrap();
            let token = match &case["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(), // JSON serialization: not compact, must fail
            };
            let alg = peek_header(&token)
                .ok()
                .map(|h| h.alg)
                .or_else(|| group_alg(group));
            let supported =
                case["jws"].is_string() && alg.as_deref().is_some_and(|a| SUPPORTED.contains(&a));
            let result = verify_jws(&token, &keys, &allow, 1 << 20);
            if !supported {
                assert!(
                    result.is_err(),
                    "{file} tc {id}: unsupported alg {alg:?} accepted"
                );
                counts.unsupported_rejected += 1;
                continue;
            }
            if KEY_ALG_DEVIATIONS.contains(&(file, id.as_u64().unwrap())) {
                assert_eq!(expected, "valid");
                assert_eq!(
                    result.unwrap_err().reason(),
                    "key_mismatch",
                    "{file} tc {id}"
                );
                counts.key_alg_deviations += 1;
                continue;
            }
            match expected {
                "valid" => {
                    assert!(
                        result.is_ok(),
                        "{file} tc {id} ({}): valid case refused: {result:?}",
                        case["comment"]
                    );
                    counts.supported_valid_accepted += 1;
                }
                "invalid" => {
                    assert!(
                        result.is_err(),
                        "{file} tc {id} ({}): invalid case accepted",
                        case["comment"]
                    );
                    counts.supported_invalid_rejected += 1;
                }
                _ => counts.acceptable += 1,
            }
        }
    }
}

#[test]
fn wycheproof_jws_vectors() {
    let mut counts = Counts::default();
    run("json_web_signature_test.json", &mut counts);
    println!("json_web_signature_test.json: {counts:?}");
    let total = counts.supported_valid_accepted
        + counts.supported_invalid_rejected
        + counts.acceptable
        + counts.unsupported_rejected
        + counts.key_alg_deviations;
    assert_eq!(
        total,
        load("json_web_signature_test.json")["numberOfTests"]
            .as_u64()
            .unwrap() as usize
    );
    assert!(counts.supported_valid_accepted >= 20, "{counts:?}");
    assert!(counts.supported_invalid_rejected >= 300, "{counts:?}");
    assert_eq!(
        counts.key_alg_deviations,
        KEY_ALG_DEVIATIONS.len(),
        "{counts:?}"
    );
}

#[test]
fn wycheproof_jwk_vectors() {
    let mut counts = Counts::default();
    run("json_web_key_test.json", &mut counts);
    println!("json_web_key_test.json: {counts:?}");
    assert!(counts.supported_valid_accepted >= 1, "{counts:?}");
    assert!(counts.supported_invalid_rejected >= 9, "{counts:?}");
    assert!(counts.unsupported_rejected >= 10, "{counts:?}");
}
