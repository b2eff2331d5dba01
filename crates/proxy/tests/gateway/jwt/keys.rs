//! The issuer's key set over time: an outage keeps the cached keys working, a rotation is
//! picked up by the rate-limited refetch an unknown `kid` triggers, and empties the cache of
//! verified tokens.

use super::idp::Idp;
use super::{call, described, gateway};
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
