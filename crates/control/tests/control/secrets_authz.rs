//! Who may touch which secret: OAuth client tokens and workload SVIDs decided by the
//! enforced Cedar set (none: only the admin token), each decision audited.

use std::collections::BTreeMap;

use http::{StatusCode, Version};
use rampart_control::api::ApplyPolicy;
use rampart_events::SecurityKind;
use rampart_policy::{PolicySource, Segments};
use serde_json::json;

use crate::{
    oauth::create_client,
    secrets::{admin, data, errors, next_access, send, start_secrets, vault},
    support::{Plane, alpn, next_event},
};

async fn apply(plane: &Plane, cedar: &str, segments: Segments) {
    let source = PolicySource {
        files: BTreeMap::from([("secrets.cedar".to_owned(), cedar.to_owned())]),
        segments,
    };
    plane
        .client()
        .apply_policy(&ApplyPolicy {
            source,
            segments_from_current: false,
            author: "test".to_owned(),
            message: String::new(),
            dry_run: false,
        })
        .await
        .unwrap();
}

/// An access token (for the secrets audience) of a fresh OAuth client, and the client's id.
async fn client_token(plane: &Plane) -> (String, String) {
    client_token_for(plane, &format!("{}/v1/secret", plane.url)).await
}

/// An access token for `audience` of a fresh OAuth client, and the client's id.
pub async fn client_token_for(plane: &Plane, audience: &str) -> (String, String) {
    let created = create_client(plane, &["secrets"], None).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let form = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&audience={}",
        form_encode(audience)
    );
    let config =
        rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
            .unwrap();
    let reply = send(
        plane,
        config,
        "POST",
        "/oauth2/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    (
        reply.json()["access_token"].as_str().unwrap().to_owned(),
        id,
    )
}

#[tokio::test]
async fn a_client_token_needs_a_permitting_policy() {
    let plane = start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/db",
        r#"{"data":{"p":"v1"}}"#,
    )
    .await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/ops/root",
        r#"{"data":{"p":"v2"}}"#,
    )
    .await;
    let (token, id) = client_token(&plane).await;
    let mut events = plane.bus.subscribe();

    // No enforced set: only the admin token passes.
    let denied = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&token), "").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(errors(&denied), ["permission denied"]);
    let detail = next_access(&mut events).await;
    assert_eq!(
        detail,
        format!(
            "principal=client:{id} op=read path=app/db version=latest decision=deny policies=none"
        )
    );

    // A set that does not permit this client still denies.
    apply(
        &plane,
        r#"permit(principal == Rampart::Client::"someone-else", action, resource);"#,
        Segments::default(),
    )
    .await;
    let denied = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&token), "").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        next_access(&mut events)
            .await
            .contains("decision=deny policies=")
    );

    let cedar = format!(
        r#"@id("app-reads")
permit(principal == Rampart::Client::"{id}", action == Rampart::Action::"read_secret", resource) when {{ resource.path like "app/*" }};"#
    );
    apply(&plane, &cedar, Segments::default()).await;
    let read = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&token), "").await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(data(&read)["data"], json!({"p": "v1"}));
    let detail = next_access(&mut events).await;
    assert!(
        detail.ends_with("decision=allow policies=app-reads"),
        "{detail}"
    );
    assert!(!detail.contains("v1\""));
    // Only under app/, and only reads.
    let other = vault(&plane, "GET", "/v1/secret/data/ops/root", Some(&token), "").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let write = vault(
        &plane,
        "PUT",
        "/v1/secret/data/app/db",
        Some(&token),
        r#"{"data":{"p":"x"}}"#,
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        data(&admin(&plane, "GET", "/v1/secret/data/app/db", "").await)["data"]["p"],
        "v1"
    );
}

#[tokio::test]
async fn a_workload_permitted_by_policy_reads_its_secret_with_its_svid() {
    let plane = start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/orders/db",
        r#"{"data":{"dsn":"pg://x"}}"#,
    )
    .await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/billing/db",
        r#"{"data":{"dsn":"pg://y"}}"#,
    )
    .await;
    let workload = plane.join("orders", "default").await;
    let segments = Segments {
        services: BTreeMap::from([("orders".to_owned(), "backend".to_owned())]),
        segments: vec![rampart_policy::Segment {
            name: "backend".to_owned(),
            cidrs: Vec::new(),
        }],
        flows: Vec::new(),
    };
    let cedar = r#"@id("backend-own-secrets")
permit(principal is Rampart::Workload, action == Rampart::Action::"read_secret", resource)
when { principal.segment == "backend" && resource.path like "orders/*" };"#;
    apply(&plane, cedar, segments).await;
    let mut events = plane.bus.subscribe();
    let config = rampart_identity::client_config_with_client_auth(
        &plane.ca_path,
        vec![alpn(Version::HTTP_11).to_vec()],
        workload.chain.clone(),
        workload.key_der(),
    )
    .unwrap();
    let read = send(
        &plane,
        config.clone(),
        "GET",
        "/v1/secret/data/orders/db",
        &[],
        "",
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(data(&read)["data"]["dsn"], "pg://x");
    let detail = next_access(&mut events).await;
    assert!(
        detail.starts_with(&format!(
            "principal=workload:{} op=read path=orders/db version=1 decision=allow",
            workload.spiffe_id
        )),
        "{detail}"
    );
    let other = send(&plane, config, "GET", "/v1/secret/data/billing/db", &[], "").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // Without a certificate or token: refused and counted as an authentication failure.
    let anonymous = vault(&plane, "GET", "/v1/secret/data/orders/db", None, "").await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    next_event(&mut events, SecurityKind::AuthFailed).await;
}

/// `value` form-urlencoded.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
