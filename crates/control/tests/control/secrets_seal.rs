//! Sealing over the Vault API: init with Shamir shares, `503 Vault is sealed` on data routes
//! while seal status and health keep answering, unseal share by share, seal again.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::StatusCode;
use rampart_config::SealMode;
use rampart_events::SecurityKind;
use serde_json::Value;

use crate::{
    secrets::{admin, data, errors, vault},
    support::{Settings, next_event, start_settings},
};

#[tokio::test]
async fn shamir_init_unseal_and_seal_over_http() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Shamir),
        ..Settings::default()
    })
    .await;
    let mut events = plane.bus.subscribe();
    let status = vault(&plane, "GET", "/v1/sys/seal-status", None, "").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json()["initialized"], false);
    assert_eq!(
        vault(&plane, "GET", "/v1/sys/init", None, "").await.json()["initialized"],
        false
    );
    assert_eq!(
        vault(&plane, "GET", "/v1/sys/health", None, "")
            .await
            .status,
        StatusCode::NOT_IMPLEMENTED
    );

    // Init takes the admin token.
    let init = r#"{"secret_shares":3,"secret_threshold":2}"#;
    let anonymous = vault(&plane, "PUT", "/v1/sys/init", None, init).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    let reply = admin(&plane, "PUT", "/v1/sys/init", init).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let body = reply.json();
    let keys: Vec<String> = serde_json::from_value(body["keys"].clone()).unwrap();
    let keys_base64: Vec<String> = serde_json::from_value(body["keys_base64"].clone()).unwrap();
    assert_eq!((keys.len(), keys_base64.len()), (3, 3));
    assert_eq!(
        STANDARD.decode(&keys_base64[1]).unwrap(),
        hex::decode(&keys[1]).unwrap()
    );
    let again = admin(&plane, "PUT", "/v1/sys/init", init).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    // Sealed: every data route is 503, seal status and health still answer.
    let sealed = admin(&plane, "GET", "/v1/secret/data/app/x", "").await;
    assert_eq!(sealed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(errors(&sealed), ["Vault is sealed"]);
    let write = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/x",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
    let list = admin(&plane, "LIST", "/v1/secret/metadata/", "").await;
    assert_eq!(list.status, StatusCode::SERVICE_UNAVAILABLE);
    let status = vault(&plane, "GET", "/v1/sys/seal-status", None, "").await;
    assert_eq!(status.status, StatusCode::OK);
    let s = status.json();
    assert_eq!(
        (s["initialized"].clone(), s["sealed"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(
        (s["t"].clone(), s["n"].clone(), s["progress"].clone()),
        (2.into(), 3.into(), 0.into())
    );
    assert_eq!(s["type"], "shamir");
    assert_eq!(
        vault(&plane, "GET", "/v1/sys/health", None, "")
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Unseal with two shares, one in hex and one in base64 (no token needed).
    let one = vault(
        &plane,
        "PUT",
        "/v1/sys/unseal",
        None,
        &format!(r#"{{"key":"{}"}}"#, keys[0]),
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    assert_eq!(
        (one.json()["sealed"].clone(), one.json()["progress"].clone()),
        (Value::Bool(true), 1.into())
    );
    let two = vault(
        &plane,
        "PUT",
        "/v1/sys/unseal",
        None,
        &format!(r#"{{"key":"{}"}}"#, keys_base64[2]),
    )
    .await;
    assert_eq!(two.json()["sealed"], false);
    let unsealed = next_event(&mut events, SecurityKind::SecretsSeal).await;
    assert!(
        unsealed.detail.contains("initialized"),
        "{}",
        unsealed.detail
    );
    assert!(
        next_event(&mut events, SecurityKind::SecretsSeal)
            .await
            .detail
            .contains("unsealed")
    );
    let health = vault(&plane, "GET", "/v1/sys/health", None, "").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["sealed"], false);

    let write = admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/x",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(write.status, StatusCode::OK);
    assert_eq!(
        data(&admin(&plane, "GET", "/v1/secret/data/app/x", "").await)["data"]["a"],
        "1"
    );

    // Seal takes the admin token, and then data is 503 again.
    assert_eq!(
        vault(&plane, "PUT", "/v1/sys/seal", None, "").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin(&plane, "PUT", "/v1/sys/seal", "").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin(&plane, "GET", "/v1/secret/data/app/x", "")
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let status = vault(&plane, "GET", "/v1/sys/seal-status", None, "").await;
    assert_eq!(
        (status.status, status.json()["sealed"].clone()),
        (StatusCode::OK, Value::Bool(true))
    );
}

#[tokio::test]
async fn rotation_and_key_status_take_the_admin_token() {
    let plane = crate::secrets::start_secrets().await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/r",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(
        vault(&plane, "PUT", "/v1/sys/rotate", None, "")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let before = admin(&plane, "GET", "/v1/sys/key-status", "").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.json()["term"], 1);
    assert_eq!(
        admin(&plane, "PUT", "/v1/sys/rotate", "").await.status,
        StatusCode::NO_CONTENT
    );
    let after = admin(&plane, "GET", "/v1/sys/key-status", "").await;
    assert_eq!(after.json()["term"], 2);
    assert_eq!(after.json()["data"]["term"], 2);
    // The secret written under the old key still reads.
    assert_eq!(
        data(&admin(&plane, "GET", "/v1/secret/data/app/r", "").await)["data"]["a"],
        "1"
    );
}
