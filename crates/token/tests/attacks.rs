//! Attack cases: each must be refused with the expected reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair};
use common::*;
use rampart_token::{
    Algorithm, Policy, SigningKey, TokenError, VerifyingKeys, peek_header, verify,
};
use serde_json::{Value, json};

fn reject(token: &str, keys: &VerifyingKeys, policy: &Policy) -> TokenError {
    let err = verify(token, keys, policy, now()).expect_err("must be refused");
    // Messages never contain the token or its parts.
    let message = err.to_string();
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(
            !message.contains(part),
            "message leaks the token: {message}"
        );
    }
    err
}

fn header(key: &SigningKey) -> Value {
    json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"})
}

#[test]
fn alg_none_is_refused_even_when_listed() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut p = policy();
    p.algorithms.push("none".to_owned());
    for alg in ["none", "None", "NONE"] {
        let token = assemble(&json!({"alg": alg, "kid": key.kid()}), &claims(), b"");
        assert_eq!(reject(&token, &keys, &p).reason(), "alg_not_allowed");
        let unsigned = format!("{}.{}.", parts(&token).0, parts(&token).1);
        assert_eq!(reject(&unsigned, &keys, &p).reason(), "alg_not_allowed");
    }
}

#[test]
fn hs256_with_public_key_as_secret_is_refused_even_when_listed() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut p = policy();
    p.algorithms
        .extend(["HS256".to_owned(), "HS384".to_owned(), "HS512".to_owned()]);
    let jwk = key.public_jwk();
    let mut point = vec![4u8];
    point.extend(unb64(jwk.x.as_deref().unwrap()));
    point.extend(unb64(jwk.y.as_deref().unwrap()));
    let secrets = [serde_json::to_vec(&jwk).unwrap(), point];
    for secret in &secrets {
        let h = json!({"alg": "HS256", "kid": key.kid(), "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            b64(&serde_json::to_vec(&claims()).unwrap())
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        let token = format!("{input}.{}", b64(tag.as_ref()));
        assert_eq!(reject(&token, &keys, &p).reason(), "alg_not_allowed");
    }
}

#[test]
fn alg_outside_the_allow_list_is_refused() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let mut p = policy();
    p.algorithms = vec!["ES256".to_owned()];
    let token = key.sign("at+jwt", &claims()).unwrap();
    assert_eq!(
        reject(&token, &keys_of(&[&key]), &p).reason(),
        "alg_not_allowed"
    );
}

#[test]
fn alg_swapped_to_another_key_type_is_refused() {
    // An EdDSA header pointing at an EC key: the key type must match alg.
    let key = es256();
    let (_, payload, sig) = parts(&key.sign("at+jwt", &claims()).unwrap());
    let h = b64(&serde_json::to_vec(&json!({"alg": "EdDSA", "kid": key.kid()})).unwrap());
    let token = format!("{h}.{payload}.{sig}");
    let mut p = policy();
    p.algorithms = vec!["ES256".to_owned(), "EdDSA".to_owned()];
    assert_eq!(
        reject(&token, &keys_of(&[&key]), &p).reason(),
        "key_mismatch"
    );
}

#[test]
fn expired_and_leeway() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let t = now_secs();
    let mut c = claims();
    c["exp"] = json!(t - 31);
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
        "expired"
    );
    c["exp"] = json!(t - 30);
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
        "expired"
    );
    c["exp"] = json!(t - 29);
    verify(&key.sign("at+jwt", &c).unwrap(), &keys, &policy(), now()).unwrap();
    let mut strict = policy();
    strict.leeway = Duration::ZERO;
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &strict).reason(),
        "expired"
    );
}

#[test]
fn missing_or_non_numeric_exp_is_refused() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
        "invalid_claim"
    );
    c["exp"] = json!("1900000300");
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
        "invalid_claim"
    );
}

#[test]
fn not_yet_valid_nbf_and_iat() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let t = now_secs();
    for claim in ["nbf", "iat"] {
        let mut c = claims();
        c[claim] = json!(t + 31);
        assert_eq!(
            reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
            "not_yet_valid"
        );
        c[claim] = json!(t + 29);
        verify(&key.sign("at+jwt", &c).unwrap(), &keys, &policy(), now()).unwrap();
    }
}

#[test]
fn wrong_issuer() {
    let key = es256();
    let keys = keys_of(&[&key]);
    for iss in [json!("https://evil.example"), json!(null), json!([ISSUER])] {
        let mut c = claims();
        c["iss"] = iss;
        assert_eq!(
            reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
            "wrong_issuer"
        );
    }
}

#[test]
fn audiences_string_array_and_wrong() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut c = claims();
    c["aud"] = json!(["billing", "orders"]);
    verify(&key.sign("at+jwt", &c).unwrap(), &keys, &policy(), now()).unwrap();
    for aud in [json!("billing"), json!(["billing"]), json!(null), json!(7)] {
        c["aud"] = aud;
        assert_eq!(
            reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy()).reason(),
            "wrong_audience"
        );
    }
    let mut any = policy();
    any.audiences.clear();
    verify(&key.sign("at+jwt", &c).unwrap(), &keys, &any, now()).unwrap();
}

#[test]
fn missing_scope_is_403_insufficient_scope() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut c = claims();
    c["scope"] = json!("orders.write orders.readx");
    let err = reject(&key.sign("at+jwt", &c).unwrap(), &keys, &policy());
    assert_eq!(err.reason(), "insufficient_scope");
    assert_eq!(err.oauth_error(), "insufficient_scope");
    assert_eq!(err.http_status(), 403);
    // scp array form works.
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["orders.read"]);
    verify(&key.sign("at+jwt", &c).unwrap(), &keys, &policy(), now()).unwrap();
}

#[test]
fn required_claims_must_be_equal() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut p = policy();
    p.required_claims.insert("tenant".to_owned(), json!("acme"));
    let mut c = claims();
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &p).reason(),
        "claim_mismatch"
    );
    c["tenant"] = json!("other");
    assert_eq!(
        reject(&key.sign("at+jwt", &c).unwrap(), &keys, &p).reason(),
        "claim_mismatch"
    );
    c["tenant"] = json!("acme");
    verify(&key.sign("at+jwt", &c).unwrap(), &keys, &p, now()).unwrap();
}

#[test]
fn unknown_kid_and_kid_selection() {
    let a = es256();
    let b = es256();
    let token = a.sign("at+jwt", &claims()).unwrap();
    let err = reject(&token, &keys_of(&[&b]), &policy());
    assert_eq!(err.reason(), "unknown_kid");
    assert_eq!(err.http_status(), 401);
    // Two keys: the kid picks the right one.
    verify(&token, &keys_of(&[&b, &a]), &policy(), now()).unwrap();
    // No kid: only with exactly one key.
    let no_kid = sign_es256_raw(
        &a,
        &json!({"alg": "ES256"}),
        &serde_json::to_vec(&claims()).unwrap(),
    );
    verify(&no_kid, &keys_of(&[&a]), &policy(), now()).unwrap();
    assert_eq!(
        reject(&no_kid, &keys_of(&[&a, &b]), &policy()).reason(),
        "unknown_kid"
    );
    assert!(keys_of(&[&a]).contains(a.kid()));
    assert!(!keys_of(&[&a]).contains(b.kid()));
}

#[test]
fn tampered_payload_and_header() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let token = key.sign("at+jwt", &claims()).unwrap();
    let (h, _, sig) = parts(&token);
    let mut c = claims();
    c["scope"] = json!("orders.read admin");
    let forged = format!("{h}.{}.{sig}", b64(&serde_json::to_vec(&c).unwrap()));
    assert_eq!(reject(&forged, &keys, &policy()).reason(), "bad_signature");
    let mut hv = header(&key);
    hv["typ"] = json!("JWT");
    let forged = format!(
        "{}.{}.{sig}",
        b64(&serde_json::to_vec(&hv).unwrap()),
        parts(&token).1
    );
    assert_eq!(reject(&forged, &keys, &policy()).reason(), "bad_signature");
}

#[test]
fn stripped_signature_and_bad_framing() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let token = key.sign("at+jwt", &claims()).unwrap();
    let (h, p, s) = parts(&token);
    assert_eq!(
        reject(&format!("{h}.{p}."), &keys, &policy()).reason(),
        "bad_signature"
    );
    for bad in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        String::new(),
        format!("{h}..{s}x"),
    ] {
        assert_eq!(
            reject(&bad, &keys, &policy()).reason(),
            "malformed",
            "{bad}"
        );
    }
    // Padding, non-URL alphabet, whitespace and non-canonical trailing bits are refused.
    for bad in [
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{}", s.replace('-', "+")),
        format!("{h} .{p}.{s}"),
    ] {
        if bad != token {
            assert_eq!(reject(&bad, &keys, &policy()).reason(), "malformed");
        }
    }
    // ES256 signature: 64 bytes → 86 chars, last char carries 2 unused bits (must be zero).
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let noncanon = alphabet.chars().nth(idx ^ 1).unwrap();
    let bad = format!("{h}.{p}.{}{noncanon}", chars.iter().collect::<String>());
    assert_eq!(reject(&bad, &keys, &policy()).reason(), "malformed");
}

#[test]
fn es256_r_or_s_zero_or_out_of_range_is_refused() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let token = key.sign("at+jwt", &claims()).unwrap();
    let (h, p, s) = parts(&token);
    let sig = unb64(&s);
    let n = unb64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut r0 = sig.clone();
    r0[..32].fill(0);
    cases.push(r0);
    let mut s0 = sig.clone();
    s0[32..].fill(0);
    cases.push(s0);
    cases.push(vec![0; 64]);
    let mut rn = sig.clone();
    rn[..32].copy_from_slice(&n);
    cases.push(rn);
    let mut sn = sig.clone();
    sn[32..].copy_from_slice(&n);
    cases.push(sn);
    cases.push(sig[..63].to_vec());
    let mut long = sig.clone();
    long.push(0);
    cases.push(long);
    for bad in cases {
        let forged = format!("{h}.{p}.{}", b64(&bad));
        assert_eq!(reject(&forged, &keys, &policy()).reason(), "bad_signature");
    }
}

#[test]
fn es256_der_signature_is_refused() {
    let key = es256();
    let pkcs8 = key.to_pkcs8();
    let der_signer =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.expose())
            .unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    let (h, p, _) = parts(&token);
    let der = der_signer
        .sign(&SystemRandom::new(), format!("{h}.{p}").as_bytes())
        .unwrap();
    let forged = format!("{h}.{p}.{}", b64(der.as_ref()));
    assert_eq!(
        reject(&forged, &keys_of(&[&key]), &policy()).reason(),
        "bad_signature"
    );
}

#[test]
fn oversized_token_is_refused_before_decoding() {
    let key = es256();
    let mut c = claims();
    c["pad"] = json!("x".repeat(9000));
    let token = key.sign("at+jwt", &c).unwrap();
    assert_eq!(
        reject(&token, &keys_of(&[&key]), &policy()).reason(),
        "too_large"
    );
    // Even garbage that could never decode is refused as too large.
    let garbage = "!".repeat(8 * 1024 + 1);
    assert_eq!(
        reject(&garbage, &keys_of(&[&key]), &policy()).reason(),
        "too_large"
    );
}

#[test]
fn crit_and_b64_false_headers_are_refused() {
    let key = es256();
    let keys = keys_of(&[&key]);
    let mut hv = header(&key);
    hv["crit"] = json!(["exp"]);
    let token = assemble(&hv, &claims(), &[0; 64]);
    assert_eq!(
        reject(&token, &keys, &policy()).reason(),
        "unsupported_header"
    );
    assert!(peek_header(&token).is_err());
    let mut hv = header(&key);
    hv["b64"] = json!(false);
    let token = assemble(&hv, &claims(), &[0; 64]);
    assert_eq!(
        reject(&token, &keys, &policy()).reason(),
        "unsupported_header"
    );
}

#[test]
fn payload_must_be_a_json_object() {
    // Signed by our key, but the payload is not a JSON object: refused after the signature.
    let key = es256();
    for payload in [&b"\"foo\""[..], b"[1]", b"foo"] {
        let token = sign_es256_raw(&key, &header(&key), payload);
        assert_eq!(
            reject(&token, &keys_of(&[&key]), &policy()).reason(),
            "malformed"
        );
    }
}

#[test]
fn reasons_map_to_rfc6750_codes() {
    assert_eq!(TokenError::Expired.oauth_error(), "invalid_token");
    assert_eq!(TokenError::Expired.http_status(), 401);
    assert_eq!(
        TokenError::CertificateRequired.reason(),
        "certificate_required"
    );
    assert_eq!(
        TokenError::CertificateMismatch.reason(),
        "certificate_mismatch"
    );
    assert_eq!(TokenError::TooLarge { limit: 1 }.reason(), "too_large");
}

#[test]
fn duplicate_members_are_refused() {
    let key = es256();
    let keys = keys_of(&[&key]);
    // Duplicate header alg (a classic parser-differential trick).
    let h = format!(r#"{{"alg":"ES256","kid":"{}","alg":"none"}}"#, key.kid());
    let token = format!(
        "{}.{}.{}",
        b64(h.as_bytes()),
        b64(&serde_json::to_vec(&claims()).unwrap()),
        b64(&[1; 64])
    );
    assert_eq!(reject(&token, &keys, &policy()).reason(), "malformed");
    // Duplicate claim in a correctly signed payload.
    let t = now_secs();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"svc-a","sub":"admin","aud":"orders","exp":{},"scope":"orders.read"}}"#,
        t + 60
    );
    let token = sign_es256_raw(&key, &header(&key), payload.as_bytes());
    assert_eq!(reject(&token, &keys, &policy()).reason(), "malformed");
}

#[test]
fn every_single_character_change_is_refused() {
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        .chars()
        .collect();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg).unwrap();
        let keys = keys_of(&[&key]);
        let token = key.sign("at+jwt", &claims()).unwrap();
        verify(&token, &keys, &policy(), now()).unwrap();
        let chars: Vec<char> = token.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '.' {
                continue;
            }
            let pos = alphabet.iter().position(|a| a == c).unwrap();
            let mut mutated = chars.clone();
            mutated[i] = alphabet[(pos + 1 + i % 63) % 64];
            let mutated: String = mutated.into_iter().collect();
            assert!(
                verify(&mutated, &keys, &policy(), now()).is_err(),
                "{alg} position {i} accepted"
            );
        }
    }
}
