//! The secrets store's Vault-compatible API with the admin token: KV v2 round trips in
//! Vault's shapes, check-and-set, merge patch, LIST both ways, and the audit trail.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rampart_config::SealMode;
use rampart_events::{SecurityKind, Subscription};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::{Plane, Reply, Settings, next_event, start_settings};

/// A control plane serving an auto-unsealed secrets store.
pub async fn start_secrets() -> Plane {
    start_settings(Settings {
        secrets: Some(SealMode::Auto),
        ..Settings::default()
    })
    .await
}

/// One request with `X-Vault-Token: token` (if any) over a fresh HTTP/1.1 connection.
pub async fn vault(
    plane: &Plane,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Reply {
    let config =
        rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
            .unwrap();
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("x-vault-token", token));
    }
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    send(plane, config, method, path, &headers, body).await
}

/// The admin's request.
pub async fn admin(plane: &Plane, method: &str, path: &str, body: &str) -> Reply {
    let token = plane.token.secret().expose().clone();
    vault(plane, method, path, Some(&token), body).await
}

/// One request with the given headers over `config` (ALPN http/1.1).
pub async fn send(
    plane: &Plane,
    config: rustls::ClientConfig,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let tcp = TcpStream::connect(plane.addr()).await.unwrap();
    let tls = TlsConnector::from(std::sync::Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header(header::HOST, "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Asserts Vault's envelope around `data` and returns `data`.
pub fn data(reply: &Reply) -> Value {
    let body = reply.json();
    assert_eq!(
        body["request_id"].as_str().map(str::len),
        Some(36),
        "{body}"
    );
    assert_eq!(body["lease_id"], "");
    assert_eq!(body["renewable"], false);
    assert_eq!(body["lease_duration"], 0);
    assert!(body["wrap_info"].is_null() && body["warnings"].is_null() && body["auth"].is_null());
    body["data"].clone()
}

/// Vault's `errors` list.
pub fn errors(reply: &Reply) -> Vec<String> {
    serde_json::from_value(reply.json()["errors"].clone()).unwrap()
}

/// The next `SecretAccess` event's detail.
pub async fn next_access(events: &mut Subscription) -> String {
    next_event(events, SecurityKind::SecretAccess).await.detail
}

#[tokio::test]
async fn admin_round_trip_in_vaults_shapes() {
    let plane = start_secrets().await;
    let one = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/db",
        r#"{"data":{"user":"a","password":"p1"}}"#,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    let meta = data(&one);
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["destroyed"], false);
    assert_eq!(meta["deletion_time"], "");
    assert!(meta["created_time"].as_str().unwrap().ends_with('Z'));
    let two = admin(
        &plane,
        "POST",
        "/v1/secret/data/app/db",
        r#"{"data":{"user":"a","password":"p2"}}"#,
    )
    .await;
    assert_eq!(data(&two)["version"], 2);
    admin(
        &plane,
        "POST",
        "/v1/secret/data/app/cache/redis",
        r#"{"data":{"k":"v"}}"#,
    )
    .await;

    let read = admin(&plane, "GET", "/v1/secret/data/app/db", "").await;
    assert_eq!(read.status, StatusCode::OK);
    let body = data(&read);
    assert_eq!(body["data"], json!({"user": "a", "password": "p2"}));
    assert_eq!(body["metadata"]["version"], 2);
    let old = admin(&plane, "GET", "/v1/secret/data/app/db?version=1", "").await;
    assert_eq!(data(&old)["data"]["password"], "p1");

    let meta = admin(&plane, "GET", "/v1/secret/metadata/app/db", "").await;
    let meta = data(&meta);
    assert_eq!(meta["current_version"], 2);
    assert_eq!(meta["oldest_version"], 0);
    assert_eq!(meta["cas_required"], false);
    assert_eq!(meta["delete_version_after"], "0s");
    let versions: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1", "2"]);

    // Soft delete of the latest version: 404 with its metadata and no data.
    assert_eq!(
        admin(&plane, "DELETE", "/v1/secret/data/app/db", "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = admin(&plane, "GET", "/v1/secret/data/app/db", "").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let body = data(&gone);
    assert!(body["data"].is_null());
    assert_ne!(body["metadata"]["deletion_time"], "");
    let back = admin(
        &plane,
        "POST",
        "/v1/secret/undelete/app/db",
        r#"{"versions":[2]}"#,
    )
    .await;
    assert_eq!(back.status, StatusCode::NO_CONTENT);
    assert_eq!(
        admin(&plane, "GET", "/v1/secret/data/app/db", "")
            .await
            .status,
        StatusCode::OK
    );
    let destroyed = admin(
        &plane,
        "PUT",
        "/v1/secret/destroy/app/db",
        r#"{"versions":[2]}"#,
    )
    .await;
    assert_eq!(destroyed.status, StatusCode::NO_CONTENT);
    let read = admin(&plane, "GET", "/v1/secret/data/app/db", "").await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    assert_eq!(data(&read)["metadata"]["destroyed"], true);
    let v1 = admin(
        &plane,
        "POST",
        "/v1/secret/delete/app/db",
        r#"{"versions":[1]}"#,
    )
    .await;
    assert_eq!(v1.status, StatusCode::NO_CONTENT);
    assert_eq!(
        admin(&plane, "GET", "/v1/secret/data/app/db?version=1", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Metadata delete removes everything: 404 with an empty `errors` list.
    assert_eq!(
        admin(&plane, "DELETE", "/v1/secret/metadata/app/db", "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let none = admin(&plane, "GET", "/v1/secret/metadata/app/db", "").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert!(errors(&none).is_empty());
}

#[tokio::test]
async fn list_by_method_and_by_query() {
    let plane = start_secrets().await;
    for path in ["app/db", "app/cache/redis", "other"] {
        let reply = admin(
            &plane,
            "PUT",
            &format!("/v1/secret/data/{path}"),
            r#"{"data":{"k":"v"}}"#,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let root = admin(&plane, "LIST", "/v1/secret/metadata/", "").await;
    assert_eq!(root.status, StatusCode::OK, "{:?}", root.body);
    assert_eq!(data(&root)["keys"], json!(["app/", "other"]));
    let app = admin(&plane, "GET", "/v1/secret/metadata/app/?list=true", "").await;
    assert_eq!(data(&app)["keys"], json!(["cache/", "db"]));
    let app = admin(&plane, "LIST", "/v1/secret/metadata/app", "").await;
    assert_eq!(data(&app)["keys"], json!(["cache/", "db"]));
    let empty = admin(&plane, "LIST", "/v1/secret/metadata/nothing/", "").await;
    assert_eq!(empty.status, StatusCode::NOT_FOUND);
    // LIST means nothing on the data path.
    let wrong = admin(&plane, "LIST", "/v1/secret/data/app/", "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn check_and_set_mismatch_is_400_with_vaults_text() {
    let plane = start_secrets().await;
    let first = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/cas",
        r#"{"options":{"cas":0},"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/cas",
        r#"{"options":{"cas":0},"data":{"a":"2"}}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors(&again),
        ["check-and-set parameter did not match the current version"]
    );
    let right = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/cas",
        r#"{"options":{"cas":1},"data":{"a":"2"}}"#,
    )
    .await;
    assert_eq!(data(&right)["version"], 2);
    // With cas_required in the metadata, a write without cas is refused.
    let required = admin(
        &plane,
        "POST",
        "/v1/secret/metadata/app/cas",
        r#"{"cas_required":true,"max_versions":5}"#,
    )
    .await;
    assert_eq!(required.status, StatusCode::NO_CONTENT);
    let bare = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/cas",
        r#"{"data":{"a":"3"}}"#,
    )
    .await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors(&bare),
        ["check-and-set parameter required for this call"]
    );
    let meta = data(&admin(&plane, "GET", "/v1/secret/metadata/app/cas", "").await);
    assert_eq!(
        (meta["cas_required"].clone(), meta["max_versions"].clone()),
        (json!(true), json!(5))
    );
}

#[tokio::test]
async fn patch_merges_with_the_merge_patch_media_type_only() {
    let plane = start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/p",
        r#"{"data":{"a":"1","b":{"c":"2","e":"4"}}}"#,
    )
    .await;
    let token = plane.token.secret().expose().clone();
    let config =
        rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
            .unwrap();
    let patch = r#"{"data":{"b":{"c":null,"d":"3"}}}"#;
    let merged = crate::secrets::send(
        &plane,
        config.clone(),
        "PATCH",
        "/v1/secret/data/app/p",
        &[
            ("x-vault-token", &token),
            ("content-type", "application/merge-patch+json"),
        ],
        patch,
    )
    .await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(data(&merged)["version"], 2);
    let read = data(&admin(&plane, "GET", "/v1/secret/data/app/p", "").await);
    assert_eq!(read["data"], json!({"a": "1", "b": {"d": "3", "e": "4"}}));
    let plain_json = admin(&plane, "PATCH", "/v1/secret/data/app/p", patch).await;
    assert_eq!(plain_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let missing = crate::secrets::send(
        &plane,
        config,
        "PATCH",
        "/v1/secret/data/app/none",
        &[
            ("x-vault-token", &token),
            ("content-type", "application/merge-patch+json"),
        ],
        patch,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn subkeys_and_config_answer_vaults_shapes() {
    let plane = start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/s",
        r#"{"data":{"a":"1","b":{"c":"2"}}}"#,
    )
    .await;
    let subkeys = data(&admin(&plane, "GET", "/v1/secret/subkeys/app/s", "").await);
    assert_eq!(subkeys["subkeys"], json!({"a": null, "b": {"c": null}}));
    assert_eq!(subkeys["metadata"]["version"], 1);
    let set = admin(
        &plane,
        "POST",
        "/v1/secret/config",
        r#"{"max_versions":3,"delete_version_after":"1h"}"#,
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    let config = data(&admin(&plane, "GET", "/v1/secret/config", "").await);
    assert_eq!(
        config,
        json!({"cas_required": false, "delete_version_after": "1h0m0s", "max_versions": 3})
    );
}

#[tokio::test]
async fn the_audit_trail_names_the_access_never_the_value() {
    let plane = start_secrets().await;
    let mut events = plane.bus.subscribe();
    let value = "s3cr3t-value-7f3a";
    let write = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/audit",
        &format!(r#"{{"data":{{"password":"{value}"}}}}"#),
    )
    .await;
    assert_eq!(write.status, StatusCode::OK);
    let detail = next_access(&mut events).await;
    assert_eq!(
        detail,
        "principal=user:admin op=write path=app/audit version=1 decision=allow policies=admin-token"
    );
    let read = admin(&plane, "GET", "/v1/secret/data/app/audit", "").await;
    assert!(String::from_utf8_lossy(&read.body).contains(value));
    let detail = next_access(&mut events).await;
    assert!(
        detail.contains("op=read path=app/audit version=1 decision=allow"),
        "{detail}"
    );
    assert!(!detail.contains(value));
}

#[tokio::test]
async fn credentials_come_from_either_header_and_nothing_is_403() {
    let plane = start_secrets().await;
    let mut events = plane.bus.subscribe();
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/h",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    let config =
        rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
            .unwrap();
    let bearer = plane.bearer();
    let read = send(
        &plane,
        config,
        "GET",
        "/v1/secret/data/app/h",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    let none = vault(&plane, "GET", "/v1/secret/data/app/h", None, "").await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert_eq!(errors(&none), ["permission denied"]);
    let wrong = vault(&plane, "GET", "/v1/secret/data/app/h", Some("hvs.nope"), "").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let failed = next_event(&mut events, SecurityKind::AuthFailed).await;
    assert!(!failed.detail.contains("hvs.nope"));
    // The Vault CLI's preflight and token checks.
    let mount = admin(&plane, "GET", "/v1/sys/internal/ui/mounts/secret/app/h", "").await;
    let mount = data(&mount);
    assert_eq!(
        (mount["type"].clone(), mount["path"].clone()),
        (json!("kv"), json!("secret/"))
    );
    assert_eq!(mount["options"]["version"], "2");
    let me = admin(&plane, "GET", "/v1/auth/token/lookup-self", "").await;
    assert_eq!(data(&me)["policies"], json!(["root"]));
    assert_eq!(data(&me)["id"], "");
}

#[tokio::test]
async fn a_swapped_row_is_500_and_a_secret_integrity_event() {
    let plane = start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/i",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    // Store version 1's ciphertext again as version 2: its AAD names version 1.
    let (meta, v1) = plane
        .store
        .secret_read("app/i", None)
        .await
        .unwrap()
        .unwrap();
    let v1 = v1.unwrap();
    let swapped = rampart_store::SecretWrite {
        expected_current: 1,
        meta: rampart_store::SecretMetaRecord {
            current_version: 2,
            ..meta
        },
        version: rampart_store::SecretVersionRecord { version: 2, ..v1 },
        prune_below: 0,
    };
    assert!(plane.store.secret_write(&swapped).await.unwrap());
    // The engine caches sealed records of its own writes; this one went behind its back.
    plane.secrets.as_ref().unwrap().clear_cache();
    let mut events = plane.bus.subscribe();
    let read = admin(&plane, "GET", "/v1/secret/data/app/i", "").await;
    assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(errors(&read), ["internal error"]);
    let event = next_event(&mut events, SecurityKind::SecretIntegrity).await;
    assert_eq!(event.detail, "integrity check failed: path=app/i version=2");
    // Version 1 still reads.
    let one = admin(&plane, "GET", "/v1/secret/data/app/i?version=1", "").await;
    assert_eq!(data(&one)["data"]["a"], "1");
}
