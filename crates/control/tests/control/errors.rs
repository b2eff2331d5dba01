//! Bad input gets a clear JSON answer, never a panic.

use http::{Method, StatusCode};
use rampart_control::{
    ControlError,
    api::{HealthState, Heartbeat, ProxyKind},
};

use crate::support::start;

#[tokio::test]
async fn garbage_json_to_heartbeat_gets_400() {
    let plane = start().await;
    let auth = plane.bearer();
    let reply = plane
        .h1(
            Method::POST,
            "/v1/proxies/heartbeat",
            Some(&auth),
            "{not json",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = reply.error();
    assert_eq!(error.code, "bad_request");
    assert!(
        error.error.starts_with("invalid json body: "),
        "{}",
        error.error
    );

    for (body, needle) in [
        (r#"{"kind":"gateway"}"#, "missing field `id`"),
        (
            r#"{"id":"g","kind":"router","name":"","version":"","address":"","config_version":"","started_at_ms":0}"#,
            "unknown variant `router`",
        ),
        (
            r#"{"id":"a b","kind":"gateway","name":"","version":"","address":"","config_version":"","started_at_ms":0}"#,
            "`id` may hold only",
        ),
        ("", "invalid json body"),
        ("[]", "invalid json body"),
    ] {
        let reply = plane
            .h2(Method::POST, "/v1/proxies/heartbeat", Some(&auth), body)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let error = reply.error();
        assert!(error.error.contains(needle), "{body}: {}", error.error);
    }
}

#[tokio::test]
async fn the_client_reports_the_servers_message() {
    let plane = start().await;
    let heartbeat = Heartbeat {
        id: "x".repeat(200),
        kind: ProxyKind::Sidecar,
        name: "s".into(),
        version: "1".into(),
        address: "127.0.0.1:1".into(),
        config_version: "c".into(),
        started_at_ms: 0,
    };
    let err = plane.client().heartbeat(&heartbeat).await.unwrap_err();
    match &err {
        ControlError::Http {
            status: 400,
            message,
        } => {
            assert!(message.contains("`id` must have 1 to 128"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = plane.client().config_versions(0).await.unwrap_err();
    assert!(
        matches!(err, ControlError::Http { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_paths_methods_and_queries_get_json_errors() {
    let plane = start().await;
    let auth = plane.bearer();

    let reply = plane
        .h1(Method::GET, "/v1/nothing-here", Some(&auth), "")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().code, "not_found");

    let reply = plane
        .h2(Method::DELETE, "/v1/status", Some(&auth), "")
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error().code, "method_not_allowed");

    let reply = plane
        .h1(
            Method::GET,
            "/v1/config/versions?limit=abc",
            Some(&auth),
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().error.starts_with("invalid query string"));

    let reply = plane
        .h1(Method::DELETE, "/v1/proxies/unknown", Some(&auth), "")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().error, "no proxy `unknown`");
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let plane = start().await;
    let body = format!(r#"{{"id":"{}"}}"#, "x".repeat(100 * 1024));
    let reply = plane
        .h1(
            Method::POST,
            "/v1/proxies/heartbeat",
            Some(&plane.bearer()),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error().code, "payload_too_large");
}

#[tokio::test]
async fn a_failing_store_degrades_health_with_503() {
    let plane = start().await;
    plane.store.close().await;

    let health = plane.client().health().await.unwrap();
    assert_eq!(health.status, HealthState::Degraded);
    let status = plane.client().status().await.unwrap();
    assert!(!status.health.is_ok());
    assert!(status.proxies.is_empty());

    let reply = plane
        .h1(Method::GET, "/v1/health", Some(&plane.bearer()), "")
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["status"], "degraded");

    let reply = plane
        .h1(
            Method::GET,
            "/v1/config/versions",
            Some(&plane.bearer()),
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = reply.error();
    assert_eq!(error.code, "store_unavailable");
    assert_eq!(error.error, "the store is unavailable");
}
