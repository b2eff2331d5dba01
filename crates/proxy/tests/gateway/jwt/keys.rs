//! The issuer's key set over time: an outage keeps the cached keys working, a rotation is
//! picked up by the rate-limited refetch an unknown `kid` triggers, and empties the cache of
//! verified tokens.

use super::idp::{AUDIENCE, Idp, SCOPE};
use super::{call, described, gateway};
use crate::support::{Gw, Reply, send};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rampart_testkit::RecordingUpstream;
use rampart_token::{Algorithm, SigningKey};
use std::time::{Duration, Instant};

#[tokio::test]
async fn cached_keys_survive_an_issuer_outage() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &[]).await;
    assert_eq!(call(&gw, Some(&idp.token())).await.status, 200);
    idp.stop();
    // A token never seen before (not in the verified cache) still verifies with cached keys.
    let fresh = idp.token();
    let r = call(&gw, Some(&fresh)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A key the gateway has never seen cannot be fetched: closed.
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let r = call(&gw, Some(&idp.sign(&stranger, &idp.claims()))).await;
    assert_eq!(r.status, 401);
    assert_eq!(described(&r), "unknown_kid");
}

#[tokio::test]
async fn rotation_is_picked_up_by_a_rate_limited_refetch() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &[]).await;
    let old_token = idp.token();
    // Twice: the second answer may come from the verified cache.
    assert_eq!(call(&gw, Some(&old_token)).await.status, 200);
    assert_eq!(call(&gw, Some(&old_token)).await.status, 200);

    // The issuer retires its key and signs with a new one.
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    idp.publish(&[&next]);
    let new_token = idp.sign(&next, &idp.claims());
    let fetches_before = idp.jwks_fetches();
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let r = call(&gw, Some(&new_token)).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(described(&r), "unknown_kid");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "rotation never picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // However many requests named the new kid, the JWKS was fetched at most twice (one
    // refetch per 10 s, plus possibly the one that had just happened at start).
    let fetched = idp.jwks_fetches() - fetches_before;
    assert!(
        (1..=2).contains(&fetched),
        "{fetched} fetches for {attempts} attempts"
    );
    // The old token was verified and cached before: the rotation emptied the cache, and its key
    // is gone, so it is refused now.
    let r = call(&gw, Some(&old_token)).await;
    assert_eq!(r.status, 401);
    assert_eq!(described(&r), "unknown_kid");
}

#[tokio::test]
async fn an_unchanged_reload_keeps_the_keys() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let gw = gateway(&idp, upstream.addr(), &[]).await;
    assert_eq!(call(&gw, Some(&idp.token())).await.status, 200);
    idp.stop();
    // Same route settings: the validator (keys, cache) carries over; a new one would have no
    // keys with the issuer down, and refuse.
    gw.handle.reload(&gw.config).unwrap();
    assert_eq!(call(&gw, Some(&idp.token())).await.status, 200);
}

/// `GET <path>` with `Authorization: Bearer <token>`.
async fn call_path(gw: &Gw, path: &str, token: &str) -> Reply {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    send(gw.http(), req).await
}

#[tokio::test]
async fn routes_with_the_same_issuer_share_its_keys() {
    let idp = Idp::start().await;
    let upstream = RecordingUpstream::start();
    let issuer = format!(
        "{{ issuer: \"{}\", ca: \"{}\" }}",
        idp.issuer,
        idp.ca.display()
    );
    let mut yaml = format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes:\n",
        upstream.addr()
    );
    for name in ["a", "b"] {
        yaml.push_str(&format!(
            "- name: {name}\n\
             \x20 match: {{ path_prefix: /{name}/ }}\n\
             \x20 cluster: up\n\
             \x20 auth:\n\
             \x20   jwt:\n\
             \x20     issuers: [{issuer}]\n\
             \x20     audiences: [{AUDIENCE}]\n\
             \x20     scopes: [{SCOPE}]\n"
        ));
    }
    let gw = Gw::start(&yaml).await;
    // The routes' start-up fetch: one for both (without sharing, one per route).
    let start = Instant::now();
    while idp.jwks_fetches() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "keys never fetched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(idp.jwks_fetches(), 1);
    let old_token = idp.token();
    for path in ["/a/x", "/b/x"] {
        // Twice: the second answer comes from the route's verified cache.
        for _ in 0..2 {
            let r = call_path(&gw, path, &old_token).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
        }
    }
    // Both routes verified with one discovery and one key-set fetch.
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(idp.discoveries(), 1);

    // A rotation picked up through route `a` (one refetch) is seen by route `b` too.
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    idp.publish(&[&next]);
    let new_token = idp.sign(&next, &idp.claims());
    let start = Instant::now();
    while call_path(&gw, "/a/x", &new_token).await.status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "rotation never picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fetched = idp.jwks_fetches();
    let r = call_path(&gw, "/b/x", &new_token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(idp.jwks_fetches(), fetched, "route b fetched on its own");
    // Both routes' caches were emptied: the old token (cached on each) is refused by both.
    for path in ["/a/x", "/b/x"] {
        let r = call_path(&gw, path, &old_token).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(described(&r), "unknown_kid", "{path}");
    }
}
