//! Forged, broken and unacceptable tokens: each is refused with the RFC 6750 challenge naming
//! its reason, never reaches the upstream, and raises a security event without the token.

use super::idp::{Idp, now};
use super::{call, described, gateway};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;
use rampart_token::{Algorithm, SigningKey};
use serde_json::{Value, json};

/// `header.payload.signature` from JSON parts and raw signature bytes.
fn compact(header: &Value, payload: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(payload).unwrap()),
        B64.encode(signature)
    )
}

fn with(idp: &Idp, changes: Value) -> Value {
    let mut claims = idp.claims();
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

#[tokio::test]
async fn attacks_are_refused() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let mut gw = gateway(&idp, upstream.addr(), &[]).await;
    let kid = idp.key.kid().to_owned();
    let now = now();

    // `alg: none`, unsigned.
    let none = compact(&json!({"alg": "none", "kid": kid}), &idp.claims(), b"");
    // HS256 with the issuer's public key (its JWK as published) as the HMAC secret.
    let hs_header = json!({"alg": "HS256", "kid": kid, "typ": "at+jwt"});
    let signing_input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&hs_header).unwrap()),
        B64.encode(serde_json::to_vec(&idp.claims()).unwrap())
    );
    let secret = serde_json::to_vec(&idp.key.public_jwk()).unwrap();
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
        signing_input.as_bytes(),
    );
    let hs256 = format!("{signing_input}.{}", B64.encode(mac.as_ref()));
    // A valid token whose payload is swapped for a more powerful one.
    let valid = idp.token();
    let parts: Vec<&str> = valid.split('.').collect();
    let evil = B64.encode(serde_json::to_vec(&with(&idp, json!({"sub": "admin"}))).unwrap());
    let tampered = format!("{}.{evil}.{}", parts[0], parts[2]);
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    let real_sig = B64.decode(parts[2]).unwrap();
    let zero_sig = format!("{}.{}.{}", parts[0], parts[1], B64.encode([0u8; 64]));
    let mut r_zero = real_sig.clone();
    r_zero[..32].fill(0);
    let zero_r = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&r_zero));
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let padding = "x".repeat(9 * 1024);

    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        ("alg none", none, 401, Some("alg_not_allowed")),
        (
            "HS256 with the public key",
            hs256,
            401,
            Some("alg_not_allowed"),
        ),
        (
            "expired",
            idp.sign(
                &idp.key,
                &with(&idp, json!({"exp": now - 3600, "iat": now - 4000})),
            ),
            401,
            Some("expired"),
        ),
        (
            "not yet valid",
            idp.sign(&idp.key, &with(&idp, json!({"nbf": now + 3600}))),
            401,
            Some("not_yet_valid"),
        ),
        (
            "wrong issuer",
            idp.sign(
                &idp.key,
                &with(&idp, json!({"iss": "https://evil.example"})),
            ),
            401,
            Some("wrong_issuer"),
        ),
        (
            "wrong audience",
            idp.sign(&idp.key, &with(&idp, json!({"aud": "billing"}))),
            401,
            Some("wrong_audience"),
        ),
        (
            "missing scope",
            idp.sign(&idp.key, &with(&idp, json!({"scope": "orders.write"}))),
            403,
            Some("insufficient_scope"),
        ),
        (
            "unknown kid",
            idp.sign(&stranger, &idp.claims()),
            401,
            Some("unknown_kid"),
        ),
        ("tampered payload", tampered, 401, Some("bad_signature")),
        ("stripped signature", stripped, 401, None),
        ("ECDSA signature r = s = 0", zero_sig, 401, None),
        ("ECDSA signature r = 0", zero_r, 401, None),
        (
            "oversized",
            idp.sign(&idp.key, &with(&idp, json!({"pad": padding}))),
            401,
            Some("too_large"),
        ),
        (
            "certificate-bound, no certificate",
            idp.sign(
                &idp.key,
                &with(
                    &idp,
                    json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}),
                ),
            ),
            401,
            Some("certificate_required"),
        ),
    ];
    // The issuer's keys are loaded: a valid token passes first.
    assert_eq!(call(&gw, Some(&valid)).await.status, 200);
    let before = upstream.count();
    for (name, token, status, reason) in cases {
        let r = call(&gw, Some(&token)).await;
        assert_eq!(r.status, status, "{name}: {}", r.text());
        let challenge = r.header("www-authenticate").unwrap_or_default().to_owned();
        let error = if status == 403 {
            "insufficient_scope"
        } else {
            "invalid_token"
        };
        assert!(
            challenge.starts_with("Bearer realm=\"rampart\"")
                && challenge.contains(&format!("error=\"{error}\"")),
            "{name}: {challenge}"
        );
        if status == 403 {
            assert!(challenge.contains("scope=\"orders.read\""), "{challenge}");
        }
        let got = described(&r);
        if let Some(reason) = reason {
            assert_eq!(got, reason, "{name}");
        }
        let ev = gw.security(SecurityKind::TokenRejected).await;
        assert_eq!(ev.detail, got, "{name}");
        let ev_json = serde_json::to_string(&ev).unwrap();
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(!ev_json.contains(&token), "{name}: token in event");
        assert!(
            signature.is_empty() || !ev_json.contains(signature),
            "{name}: signature in event"
        );
    }
    assert_eq!(
        upstream.count(),
        before,
        "no refused request reached the upstream"
    );
}

#[tokio::test]
async fn malformed_authorization_is_refused() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &[]).await;
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer a b",
        "Bearer not-a-jwt",
    ] {
        let req = http::Request::get("/orders")
            .header("authorization", value)
            .body(http_body_util::Full::<bytes::Bytes>::default())
            .unwrap();
        let r = crate::support::send(gw.http(), req).await;
        assert_eq!(r.status, 401, "{value}");
        assert!(r.header("www-authenticate").is_some(), "{value}");
    }
    assert_eq!(upstream.count(), 0);
}
