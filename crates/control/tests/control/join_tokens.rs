//! Join tokens: created through the API, redeemed once, refusals published.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::digest::{SHA256, digest};
use http::{Method, StatusCode};
use rampart_control::{ControlError, api::CreateJoinToken, parse_token};
use rampart_events::{Event, SecurityEvent, SecurityKind, Subscription};

use crate::support::{Plane, start};

fn request(service: &str, namespace: &str, ttl_secs: u64) -> CreateJoinToken {
    CreateJoinToken {
        service: service.to_owned(),
        namespace: namespace.to_owned(),
        ttl_secs,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The next join-token refusal on the bus, skipping other events.
async fn next_rejection(events: &mut Subscription) -> SecurityEvent {
    loop {
        let event: Arc<Event> = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the bus is open");
        if let Event::Security(e) = &*event
            && e.kind == SecurityKind::JoinTokenRejected
        {
            return e.clone();
        }
    }
}

async fn refused(plane: &Plane, events: &mut Subscription, token: &str, reason: &str) {
    let error = plane.handle.join_tokens().redeem(token).await.unwrap_err();
    assert!(
        matches!(error, ControlError::JoinTokenRejected { reason: r } if r == reason),
        "{error:?}"
    );
    let event = next_rejection(events).await;
    assert!(event.detail.contains(reason), "{}", event.detail);
    if !token.is_empty() {
        assert!(!error.to_string().contains(token));
        assert!(!event.detail.contains(token));
    }
    let parsed = parse_token(token).ok();
    if let Some(parsed) = parsed {
        assert!(!event.detail.contains(parsed.secret.expose()));
    }
}

#[tokio::test]
async fn a_token_is_created_and_redeemed_once() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let before = now_ms();
    let created = plane
        .client()
        .create_join_token(&request("orders", "shop", 600))
        .await
        .unwrap();
    assert_eq!(
        created.spiffe_id,
        "spiffe://rampart.local/ns/shop/sa/orders"
    );
    assert!(
        (before + 599_000..=now_ms() + 600_000).contains(&created.expires_at_ms),
        "{}",
        created.expires_at_ms
    );
    assert!(!format!("{created:?}").contains(&created.token));

    let parsed = parse_token(&created.token).unwrap();
    assert_eq!(
        parsed.ca_fingerprint,
        hex::encode(digest(&SHA256, &plane.ca_der))
    );
    assert_eq!(parsed.id.len(), 32);
    assert_eq!(parsed.secret.expose().len(), 64);

    // Only the hash of the secret is stored.
    let stored = plane.store.list_join_tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, parsed.id);
    assert_eq!(
        stored[0].secret_hash,
        hex::encode(digest(&SHA256, parsed.secret.expose().as_bytes()))
    );
    assert_eq!(stored[0].used_at, None);

    let id = plane
        .handle
        .join_tokens()
        .redeem(&created.token)
        .await
        .unwrap();
    assert_eq!(id.to_string(), created.spiffe_id);
    assert_eq!(id.namespace(), Some("shop"));
    assert_eq!(id.service(), Some("orders"));

    refused(&plane, &mut events, &created.token, "already used").await;
}

#[tokio::test]
async fn the_namespace_and_ttl_have_defaults() {
    let plane = start().await;
    let before = now_ms();
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/join-tokens",
            Some(&plane.bearer()),
            r#"{"service":"billing"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(
        body["spiffe_id"],
        "spiffe://rampart.local/ns/default/sa/billing"
    );
    let expires = body["expires_at_ms"].as_i64().unwrap();
    assert!((before + 599_000..=now_ms() + 600_000).contains(&expires));
    assert!(body["token"].as_str().unwrap().starts_with("rampart-join."));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let created = plane
        .client()
        .create_join_token(&request("orders", "default", 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    refused(&plane, &mut events, &created.token, "expired").await;
}

#[tokio::test]
async fn unknown_forged_and_malformed_tokens_are_refused() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let created = plane
        .client()
        .create_join_token(&request("orders", "default", 600))
        .await
        .unwrap();
    let parsed = parse_token(&created.token).unwrap();
    let other_secret = "ab".repeat(32);
    let forged = format!(
        "rampart-join.{}.{other_secret}.{}",
        parsed.id, parsed.ca_fingerprint
    );
    refused(&plane, &mut events, &forged, "unknown").await;
    let other_ca = format!(
        "rampart-join.{}.{}.{}",
        parsed.id,
        parsed.secret.expose(),
        "cd".repeat(32)
    );
    refused(&plane, &mut events, &other_ca, "unknown").await;
    for bad in ["", "rampart-join.x.y.z", "not a token"] {
        refused(&plane, &mut events, bad, "malformed").await;
    }
    // None of that used the real token up.
    plane
        .handle
        .join_tokens()
        .redeem(&created.token)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_names_and_ttls_get_400() {
    let plane = start().await;
    let client = plane.client();
    for (service, namespace, ttl) in [
        ("../x", "default", 600),
        ("", "default", 600),
        ("orders", "", 600),
        ("orders", "a/b", 600),
        ("orders", "..", 600),
        ("orders", "default", 0),
        ("orders", "default", 86_401),
    ] {
        let error = client
            .create_join_token(&request(service, namespace, ttl))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ControlError::Http { status: 400, .. }),
            "{service:?} {namespace:?} {ttl}: {error:?}"
        );
    }
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/join-tokens",
            Some(&plane.bearer()),
            r#"{"namespace":"default"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().code, "bad_request");
    assert!(plane.store.list_join_tokens().await.unwrap().is_empty());
}

#[tokio::test]
async fn creating_a_token_needs_the_admin_token() {
    let plane = start().await;
    let reply = plane
        .h2(
            Method::POST,
            "/v1/identity/join-tokens",
            None,
            r#"{"service":"orders"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let error = plane
        .client_with_token(&"0".repeat(64))
        .create_join_token(&request("orders", "default", 600))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(plane.store.list_join_tokens().await.unwrap().is_empty());
}
