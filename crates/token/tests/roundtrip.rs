//! Sign and verify round trips, key persistence, JWK shape and RFC 7638 thumbprints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use rampart_token::{Algorithm, Jwk, SigningKey, peek_header, verify};

fn round_trip(alg: Algorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    let header = peek_header(&token).unwrap();
    assert_eq!(header.alg, alg.as_str());
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    let verified = verify(&token, &keys_of(&[&key]), &policy(), now()).unwrap();
    assert_eq!(verified.subject, "svc-a");
    assert_eq!(verified.client_id.as_deref(), Some("svc-a"));
    assert_eq!(verified.jti.as_deref(), Some("j-1"));
    assert_eq!(verified.scopes, vec!["orders.read", "orders.write"]);
    assert_eq!(
        verified.expires_at,
        now() + std::time::Duration::from_secs(300)
    );
    assert_eq!(verified.cnf_x5t_s256, None);
}

#[test]
fn es256_round_trip() {
    round_trip(Algorithm::ES256);
}

#[test]
fn eddsa_round_trip() {
    round_trip(Algorithm::EdDSA);
}

#[test]
fn es256_signature_is_64_bytes_r_s() {
    let token = es256().sign("at+jwt", &claims()).unwrap();
    assert_eq!(unb64(&parts(&token).2).len(), 64);
}

#[test]
fn pkcs8_round_trip_keeps_kid_and_verifies() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg).unwrap();
        let again = SigningKey::from_pkcs8(alg, key.to_pkcs8().expose()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.alg(), alg);
        let token = again.sign("at+jwt", &claims()).unwrap();
        verify(&token, &keys_of(&[&key]), &policy(), now()).unwrap();
    }
    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    assert!(SigningKey::from_pkcs8(Algorithm::ES256, ed.to_pkcs8().expose()).is_err());
}

#[test]
fn debug_shows_kid_and_alg_only() {
    let key = es256();
    let debug = format!("{key:?}");
    assert!(debug.contains(key.kid()));
    assert!(debug.contains("ES256"));
    let pkcs8 = key.to_pkcs8();
    let der_b64 = b64(pkcs8.expose());
    assert!(!debug.contains(&der_b64[..16]));
    assert!(!format!("{pkcs8:?}").contains(&der_b64[..16]));
}

#[test]
fn public_jwk_has_public_members_only_and_thumbprint_kid() {
    let key = es256();
    let jwk = key.public_jwk();
    let json = serde_json::to_value(&jwk).unwrap();
    // Sorted: serde_json keeps insertion order when another crate enables `preserve_order`.
    let mut members: Vec<&String> = json.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert_eq!(jwk.thumbprint().unwrap(), key.kid());

    let ed = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let json = serde_json::to_value(ed.public_jwk()).unwrap();
    assert_eq!(json["kty"], "OKP");
    assert_eq!(json["crv"], "Ed25519");
    assert!(json.get("d").is_none() && json.get("y").is_none());
    assert_eq!(unb64(json["x"].as_str().unwrap()).len(), 32);
    assert_ne!(ed.kid(), key.kid());
}

#[test]
fn rfc7638_example_thumbprint() {
    // RFC 7638 §3.1.
    let jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint().unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn jwks_parsing_drops_private_members() {
    let jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    }))
    .unwrap();
    assert!(!serde_json::to_string(&jwk).unwrap().contains("\"d\""));
}

#[test]
fn sign_refuses_non_object_claims() {
    assert!(es256().sign("at+jwt", &serde_json::json!("foo")).is_err());
}

#[test]
fn algorithm_names() {
    assert_eq!("ES256".parse::<Algorithm>().unwrap(), Algorithm::ES256);
    assert_eq!("EdDSA".parse::<Algorithm>().unwrap(), Algorithm::EdDSA);
    assert!("es256".parse::<Algorithm>().is_err());
    assert!("HS256".parse::<Algorithm>().is_err());
    assert_eq!(
        serde_json::to_string(&Algorithm::EdDSA).unwrap(),
        "\"EdDSA\""
    );
    assert_eq!(
        serde_json::from_str::<Algorithm>("\"ES256\"").unwrap(),
        Algorithm::ES256
    );
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SigningKey>();
    check::<rampart_token::VerifyingKeys>();
    check::<rampart_token::VerifiedCache>();
    check::<rampart_token::Verified>();
    check::<rampart_token::TokenError>();
    check::<rampart_token::Policy>();
}
