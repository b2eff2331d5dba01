//! Bearer-token validation on a route (`auth.jwt`): a real issuer over TLS serves discovery and
//! JWKS, the gateway fetches them, and tokens minted with `rampart_token::SigningKey` (or forged
//! by hand) are sent through the gateway to a recording upstream.

mod attacks;
mod binding;
pub mod idp;
mod introspection;
mod keys;

use crate::support::{Gw, Reply, send};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use idp::{AUDIENCE, Idp, SCOPE};
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;
use std::net::SocketAddr;
use std::time::Duration;

/// A gateway with one route `api` that demands a token of `idp` (audience and scope of the
/// test issuer, claims forwarded), plus `extra` lines in its `jwt` section.
async fn gateway(idp: &Idp, upstream: SocketAddr, extra: &[&str]) -> Gw {
    let issuer = format!(
        "{{ issuer: \"{}\", ca: \"{}\" }}",
        idp.issuer,
        idp.ca.display()
    );
    gateway_with(&issuer, upstream, extra).await
}

/// Like [`gateway`], with the YAML flow mapping of the one accepted issuer.
async fn gateway_with(issuer: &str, upstream: SocketAddr, extra: &[&str]) -> Gw {
    let mut yaml = format!(
        "clusters: [{{ name: up, endpoints: [\"{upstream}\"] }}]\n\
         routes:\n\
         - name: api\n\
         \x20 cluster: up\n\
         \x20 auth:\n\
         \x20   jwt:\n\
         \x20     issuers: [{issuer}]\n\
         \x20     audiences: [{AUDIENCE}]\n\
         \x20     scopes: [{SCOPE}]\n\
         \x20     forward_claims: true\n"
    );
    for line in extra {
        yaml.push_str(&format!("      {line}\n"));
    }
    Gw::start(&yaml).await
}

/// `GET /orders` with `Authorization: Bearer <token>` when a token is given.
async fn call(gw: &Gw, token: Option<&str>) -> Reply {
    let mut req = Request::get("/orders");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    send(gw.http(), req.body(Full::<Bytes>::default()).unwrap()).await
}

/// The `error_description` of a refusal's challenge.
fn described(r: &Reply) -> String {
    let challenge = r.header("www-authenticate").unwrap_or_default();
    challenge
        .split("error_description=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn valid_token_passes_with_claims_and_principal() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let mut gw = gateway(&idp, upstream.addr(), &[]).await;
    let token = idp.token();
    let r = call(&gw, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &upstream.requests()[0];
    let claims = seen
        .header_str("x-rampart-claims")
        .expect("claims forwarded");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "svc-orders");
    assert_eq!(claims["iss"], idp.issuer.as_str());
    // The token still goes upstream unless `strip_token` says otherwise.
    assert_eq!(
        seen.header_str("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    let access = gw.access(|a| a.route.as_deref() == Some("api")).await;
    assert_eq!(access.principal.as_deref(), Some("svc-orders"));

    // Served from the cache the second time, same outcome.
    assert_eq!(call(&gw, Some(&token)).await.status, 200);
}

#[tokio::test]
async fn inbound_claims_header_is_replaced_and_token_can_be_stripped() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &["strip_token: true"]).await;
    let req = Request::get("/orders")
        .header("authorization", format!("Bearer {}", idp.token()))
        .header("x-rampart-claims", "eyJzdWIiOiJhZG1pbiJ9")
        .body(Full::<Bytes>::default())
        .unwrap();
    let r = send(gw.http(), req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = &upstream.requests()[0];
    assert!(seen.header("authorization").is_none(), "token stripped");
    let forwarded = seen.header_all("x-rampart-claims");
    assert_eq!(forwarded.len(), 1);
    assert_ne!(forwarded[0], b"eyJzdWIiOiJhZG1pbiJ9");
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge_and_an_event() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let mut gw = gateway(&idp, upstream.addr(), &[]).await;
    let r = call(&gw, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"rampart\"")
    );
    let ev = gw.security(SecurityKind::TokenRejected).await;
    assert_eq!(ev.detail, "missing_token");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn issuer_without_keys_refuses_everything() {
    // Nothing listens at the issuer: no keys are ever fetched, so nothing gets through.
    let idp = Idp::start().await;
    idp.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &[]).await;
    for _ in 0..3 {
        let r = call(&gw, Some(&idp.token())).await;
        assert_eq!(r.status, 401);
        assert_eq!(described(&r), "unknown_kid");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn explicit_jwks_uri_skips_discovery() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let issuer = format!(
        "{{ issuer: \"{0}\", jwks_uri: \"{0}/jwks\", ca: \"{1}\", algorithms: [ES256] }}",
        idp.issuer,
        idp.ca.display()
    );
    let gw = gateway_with(&issuer, upstream.addr(), &[]).await;
    let r = call(&gw, Some(&idp.token())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(idp.discoveries(), 0);
}

#[tokio::test]
async fn metadata_naming_another_issuer_gives_no_keys() {
    // Configured with a trailing slash: discovery finds the metadata, but its `issuer` is not
    // the configured string, so its keys are never trusted.
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let configured = format!("{}/", idp.issuer);
    let issuer = format!(
        "{{ issuer: \"{configured}\", ca: \"{}\" }}",
        idp.ca.display()
    );
    let gw = gateway_with(&issuer, upstream.addr(), &[]).await;
    let mut claims = idp.claims();
    claims["iss"] = configured.clone().into();
    let r = call(&gw, Some(&idp.sign(&idp.key, &claims))).await;
    assert_eq!(r.status, 401);
    assert_eq!(described(&r), "unknown_kid");
    assert!(idp.discoveries() >= 1);
    assert_eq!(idp.jwks_fetches(), 0);
    let m = gw.metrics().await;
    assert!(
        crate::support::metric(
            &m,
            "rampart_jwks_fetches_total",
            &[("route", "api"), ("result", "error")]
        )
        .is_some_and(|n| n >= 1.0),
        "{m}"
    );
}
