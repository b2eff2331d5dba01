//! Every request needs the admin token; failures are published and braked per address.

use std::{sync::Arc, time::Duration};

use http::{Method, StatusCode, header};
use rampart_control::{ControlError, api::HealthState};
use rampart_events::{Event, SecurityEvent, SecurityKind, Subscription};

use crate::support::{VERSION, start};

const WRONG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

async fn next_security(events: &mut Subscription) -> SecurityEvent {
    let event: Arc<Event> = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5 s")
        .expect("the bus is open");
    match &*event {
        Event::Security(e) => e.clone(),
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn a_request_without_a_token_gets_401_and_a_challenge() {
    let plane = start().await;
    for path in ["/v1/status", "/v1/health", "/v1/no-such-route"] {
        let reply = plane.h1(Method::GET, path, None, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer realm="rampart""#),
            "{challenge}"
        );
        let error = reply.error();
        assert_eq!(error.code, "unauthorized");
        assert!(
            error.error.starts_with("missing credentials"),
            "{}",
            error.error
        );
    }
    let reply = plane
        .h1(
            Method::GET,
            "/v1/status",
            Some("Basic YWRtaW46YWRtaW4="),
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_token_gets_401_and_publishes_an_event_without_the_token() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();

    let err = plane.client_with_token(WRONG).status().await.unwrap_err();
    assert!(matches!(err, ControlError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("the control plane refused the credentials (401): "),
        "{text}"
    );
    assert!(!text.contains(WRONG), "the error repeats the token: {text}");

    let event = next_security(&mut events).await;
    assert_eq!(event.kind, SecurityKind::AuthFailed);
    assert_eq!(event.detail, "invalid token");
    assert_eq!(event.client.unwrap().ip().to_string(), "127.0.0.1");
    let json = serde_json::to_string(&event).unwrap();
    assert!(!json.contains(WRONG), "{json}");
    assert!(!json.contains(plane.token.secret().expose().as_str()));

    let reply = plane
        .h2(
            Method::GET,
            "/v1/health",
            Some(&format!("Bearer {WRONG}")),
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(!String::from_utf8_lossy(&reply.body).contains(WRONG));

    plane.h1(Method::GET, "/v1/health", None, "").await;
    let event = next_security(&mut events).await;
    assert_eq!(event.detail, "invalid token");
    let event = next_security(&mut events).await;
    assert_eq!(event.detail, "missing credentials");
}

#[tokio::test]
async fn the_right_token_gets_status_and_health() {
    let plane = start().await;
    let client = plane.client();

    let health = client.health().await.unwrap();
    assert_eq!(health.status, HealthState::Ok);
    assert_eq!(health.version, VERSION);
    assert_eq!(health.store, "sqlite");

    let status = client.status().await.unwrap();
    assert!(status.health.is_ok());
    assert_eq!(status.proxy_ttl_ms, 30_000);
    assert!(status.proxies.is_empty());

    let reply = plane
        .h1(Method::GET, "/v1/status", Some(&plane.bearer()), "")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let json = reply.json();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["store"], "sqlite");
    assert!(json["uptime_secs"].is_u64());
    assert!(json["proxies"].is_array());
}

#[tokio::test]
async fn the_eleventh_bad_attempt_from_one_address_gets_429() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let wrong = plane.client_with_token(WRONG);
    for attempt in 1..=10 {
        let err = wrong.health().await.unwrap_err();
        assert!(
            matches!(err, ControlError::Unauthorized { .. }),
            "attempt {attempt}: {err:?}"
        );
    }
    let err = wrong.health().await.unwrap_err();
    assert!(matches!(err, ControlError::RateLimited { .. }), "{err:?}");

    // The address is braked whatever it sends, so the right token cannot be found by guessing.
    let err = plane.client().health().await.unwrap_err();
    assert!(matches!(err, ControlError::RateLimited { .. }), "{err:?}");
    let reply = plane
        .h1(Method::GET, "/v1/health", Some(&plane.bearer()), "")
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error().code, "rate_limited");
    let retry: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    let mut kinds = Vec::new();
    while let Some(event) = events.try_recv() {
        if let Event::Security(e) = &*event {
            kinds.push(e.kind);
        }
    }
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == SecurityKind::AuthFailed)
            .count(),
        10
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == SecurityKind::RateLimited)
            .count(),
        1
    );
}
