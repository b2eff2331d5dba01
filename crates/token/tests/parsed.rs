//! Parse once, verify later: `ParsedToken` + `verify_parsed` give exactly what `verify` gives,
//! and the checks of the parse (size, framing, header) are not skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rampart_token::{
    Algorithm, ParsedToken, SigningKey, TokenError, VerifiedCache, verify, verify_parsed,
};

#[test]
fn parsed_verification_matches_verify() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    let policy = policy();
    let parsed = ParsedToken::parse(&token, policy.max_token_bytes).unwrap();
    assert_eq!(parsed.header().kid.as_deref(), Some(key.kid()));
    assert_eq!(parsed.as_str(), token);
    let keys = keys_of(&[&key]);
    assert_eq!(
        verify_parsed(&parsed, &keys, &policy, now()).unwrap(),
        verify(&token, &keys, &policy, now()).unwrap()
    );
    // Another key with the same kid-less lookup fails the same way through both paths.
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let others = keys_of(&[&other]);
    assert_eq!(
        verify_parsed(&parsed, &others, &policy, now())
            .unwrap_err()
            .reason(),
        verify(&token, &others, &policy, now())
            .unwrap_err()
            .reason()
    );
}

#[test]
fn parse_checks_size_framing_and_header() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    assert!(matches!(
        ParsedToken::parse(&token, token.len() - 1),
        Err(TokenError::TooLarge { .. })
    ));
    assert_eq!(
        ParsedToken::parse("a.b", 8192).unwrap_err().reason(),
        "malformed"
    );
    // A parse under a larger limit does not get past a policy with a smaller one.
    let parsed = ParsedToken::parse(&token, 1 << 20).unwrap();
    let mut small = policy();
    small.max_token_bytes = token.len() - 1;
    assert_eq!(
        verify_parsed(&parsed, &keys_of(&[&key]), &small, now())
            .unwrap_err()
            .reason(),
        "too_large"
    );
}

#[test]
fn cache_by_precomputed_key_is_the_cache_by_token() {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    let verified =
        std::sync::Arc::new(verify(&token, &keys_of(&[&key]), &policy(), now()).unwrap());
    let cache = VerifiedCache::new(64);
    cache.insert_by_key(&VerifiedCache::key(&token), verified.clone());
    assert_eq!(cache.get(&token, now()).unwrap(), verified);
    assert!(
        cache
            .get_by_key(&VerifiedCache::key(&format!("{token}x")), now())
            .is_none()
    );
    assert_eq!(format!("{:?}", VerifiedCache::key(&token)), "CacheKey(..)");
}
