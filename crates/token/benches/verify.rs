//! Verification cost: the raw ES256 signature check (aws-lc-rs alone, the floor), the whole
//! ES256 and EdDSA `verify` (framing, header, signature, claims), a gateway miss (distinct
//! tokens: hash, cache lookup, parse, verify, insert) and a `VerifiedCache` hit.
//! Run with `cargo bench -p rampart-token` (not part of the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use rampart_token::{
    Algorithm, Jwks, ParsedToken, Policy, SigningKey, VerifiedCache, VerifyingKeys, verify,
    verify_parsed,
};
use serde_json::json;

fn setup(alg: Algorithm) -> (String, VerifyingKeys, Policy, SystemTime) {
    let key = SigningKey::generate(alg).unwrap();
    let (token, keys, policy, now) = setup_with(&key, 0);
    (token, keys, policy, now)
}

/// A token of `key` whose `jti` ends with `n` (distinct tokens for distinct `n`).
fn setup_with(key: &SigningKey, n: u64) -> (String, VerifyingKeys, Policy, SystemTime) {
    let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let t = 1_900_000_000u64;
    let claims = json!({
        "iss": "https://127.0.0.1:7400", "sub": "svc-a", "aud": "orders", "exp": t + 300,
        "iat": t, "jti": format!("0f8e6c1a-5b7d-4e1e-9a55-{n:012}"), "scope": "orders.read",
        "client_id": "svc-a"
    });
    let token = key.sign("at+jwt", &claims).unwrap();
    let keys = VerifyingKeys::from_jwks(&Jwks {
        keys: vec![key.public_jwk()],
    });
    let mut policy = Policy::new("https://127.0.0.1:7400");
    policy.audiences = vec!["orders".to_owned()];
    policy.required_scopes = vec!["orders.read".to_owned()];
    (token, keys, policy, now)
}

fn benches(c: &mut Criterion) {
    // The floor: one ES256 signature check with a pre-parsed key, nothing else.
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let (token, _, _, _) = setup_with(&key, 0);
    let jwk = key.public_jwk();
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(jwk.x.as_deref().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(jwk.y.as_deref().unwrap()).unwrap());
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    c.bench_function("signature only ES256", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(input.as_bytes()), &sig)
                .unwrap()
        })
    });

    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let (token, keys, policy, now) = setup(alg);
        c.bench_function(&format!("verify {alg}"), |b| {
            b.iter(|| verify(black_box(&token), &keys, &policy, now).unwrap())
        });
    }
    // What the gateway does for a token it has not seen: hash, miss, parse, verify, insert.
    let (_, keys, policy, now) = setup_with(&key, 0);
    let tokens: Vec<String> = (0..4096).map(|n| setup_with(&key, n).0).collect();
    let cache = VerifiedCache::new(16 * 1024);
    let mut next = 0usize;
    c.bench_function("gateway miss ES256", |b| {
        b.iter(|| {
            let token = &tokens[next % tokens.len()];
            next += 1;
            let key = VerifiedCache::key(token);
            if cache.get_by_key(&key, now).is_none() {
                let parsed = ParsedToken::parse(token, policy.max_token_bytes).unwrap();
                let verified = verify_parsed(&parsed, &keys, &policy, now).unwrap();
                cache.insert_by_key(&key, Arc::new(verified));
            }
            if next.is_multiple_of(tokens.len()) {
                // Every token seen: start over so that each stays a miss.
                cache.clear();
            }
        })
    });

    let (token, keys, policy, now) = setup(Algorithm::ES256);
    let cache = VerifiedCache::new(10_000);
    cache.insert(
        &token,
        Arc::new(verify(&token, &keys, &policy, now).unwrap()),
    );
    c.bench_function("cache hit", |b| {
        b.iter(|| cache.get(black_box(&token), now).unwrap())
    });
}

criterion_group!(verify_benches, benches);
criterion_main!(verify_benches);
