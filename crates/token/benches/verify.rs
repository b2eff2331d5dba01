//! Verification cost: ES256 and EdDSA `verify`, and a `VerifiedCache` hit.
//! Run with `cargo bench -p rampart-token` (not part of the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_token::{Algorithm, Jwks, Policy, SigningKey, VerifiedCache, VerifyingKeys, verify};
use serde_json::json;

fn setup(alg: Algorithm) -> (String, VerifyingKeys, Policy, SystemTime) {
    let key = SigningKey::generate(alg).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let t = 1_900_000_000u64;
    let claims = json!({
        "iss": "https://127.0.0.1:7400", "sub": "svc-a", "aud": "orders", "exp": t + 300,
        "iat": t, "jti": "0f8e6c1a-5b7d-4e1e-9a55-0c1f2d3e4f50", "scope": "orders.read",
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
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let (token, keys, policy, now) = setup(alg);
        c.bench_function(&format!("verify {alg}"), |b| {
            b.iter(|| verify(black_box(&token), &keys, &policy, now).unwrap())
        });
    }
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
