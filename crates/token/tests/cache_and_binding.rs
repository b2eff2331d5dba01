//! `VerifiedCache` (bounded, never past `exp`, cleared on demand) and `check_binding`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rampart_token::{VerifiedCache, certificate_thumbprint, check_binding, verify};
use serde_json::json;

fn verified_with(exp_offset: u64, jti: &str) -> (String, Arc<rampart_token::Verified>) {
    let key = es256();
    let mut c = claims();
    c["exp"] = json!(now_secs() + exp_offset);
    c["jti"] = json!(jti);
    let token = key.sign("at+jwt", &c).unwrap();
    let verified = verify(&token, &keys_of(&[&key]), &policy(), now()).unwrap();
    (token, Arc::new(verified))
}

#[test]
fn cache_hits_only_the_exact_token_and_never_at_or_after_exp() {
    let cache = VerifiedCache::new(64);
    let (token, verified) = verified_with(60, "a");
    assert!(cache.get(&token, now()).is_none());
    cache.insert(&token, Arc::clone(&verified));
    assert_eq!(cache.get(&token, now()).unwrap().jti.as_deref(), Some("a"));
    // A token differing by one character is a miss.
    let mut other = token.clone();
    other.push('A');
    assert!(cache.get(&other, now()).is_none());
    // One second before exp: hit; at exp and later: miss (and evicted).
    let exp = verified.expires_at;
    assert!(cache.get(&token, exp - Duration::from_secs(1)).is_some());
    assert!(cache.get(&token, exp).is_none());
    assert!(
        cache.get(&token, exp - Duration::from_secs(1)).is_none(),
        "entry evicted at exp"
    );
    assert!(cache.is_empty());
}

#[test]
fn cache_never_returns_an_entry_past_exp_for_any_time() {
    let cache = VerifiedCache::new(1024);
    let mut entries = Vec::new();
    for i in 0..50u64 {
        let (token, verified) = verified_with(10 + i, &format!("t{i}"));
        cache.insert(&token, Arc::clone(&verified));
        entries.push((token, verified));
    }
    for probe in 0..80u64 {
        let at = now() + Duration::from_secs(probe);
        for (token, verified) in &entries {
            if let Some(hit) = cache.get(token, at) {
                assert!(at < hit.expires_at);
                assert_eq!(hit.jti, verified.jti);
            }
        }
    }
    assert!(cache.is_empty(), "all entries expired and evicted");
}

#[test]
fn cache_is_bounded() {
    let cache = VerifiedCache::new(16);
    let mut tokens = Vec::new();
    for i in 0..200 {
        let (token, verified) = verified_with(600, &format!("n{i}"));
        cache.insert(&token, verified);
        tokens.push(token);
        assert!(cache.len() <= 16, "len {}", cache.len());
    }
    // The most recent insertions are present.
    let (last, v) = verified_with(600, "last");
    cache.insert(&last, v);
    assert!(cache.get(&last, now()).is_some());
    assert!(cache.len() <= 16);
    assert!(
        tokens
            .iter()
            .filter(|t| cache.get(t, now()).is_some())
            .count()
            < 16
    );
}

#[test]
fn cache_clear_and_zero_capacity() {
    let cache = VerifiedCache::new(8);
    let (token, verified) = verified_with(60, "c");
    cache.insert(&token, Arc::clone(&verified));
    cache.clear();
    assert!(cache.get(&token, now()).is_none());
    let off = VerifiedCache::new(0);
    off.insert(&token, verified);
    assert!(off.get(&token, now()).is_none());
}

#[test]
fn binding_requires_the_bound_certificate() {
    let key = es256();
    let cert = b"not really DER, but any bytes hash the same way".to_vec();
    let mut c = claims();
    c["cnf"] = json!({ "x5t#S256": certificate_thumbprint(&cert) });
    let token = key.sign("at+jwt", &c).unwrap();
    let verified = verify(&token, &keys_of(&[&key]), &policy(), now()).unwrap();
    assert_eq!(
        verified.cnf_x5t_s256.as_deref(),
        Some(certificate_thumbprint(&cert).as_str())
    );
    check_binding(&verified, Some(&cert)).unwrap();
    let err = check_binding(&verified, None).unwrap_err();
    assert_eq!(err.reason(), "certificate_required");
    assert_eq!(err.http_status(), 401);
    let err = check_binding(&verified, Some(b"another certificate")).unwrap_err();
    assert_eq!(err.reason(), "certificate_mismatch");

    // An unbound token passes with or without a certificate.
    let plain = verify(
        &key.sign("at+jwt", &claims()).unwrap(),
        &keys_of(&[&key]),
        &policy(),
        now(),
    )
    .unwrap();
    check_binding(&plain, None).unwrap();
    check_binding(&plain, Some(&cert)).unwrap();
}

#[test]
fn thumbprint_is_sha256_base64url_without_padding() {
    // SHA-256("abc") = ba7816bf...; base64url of it:
    assert_eq!(
        certificate_thumbprint(b"abc"),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
}
