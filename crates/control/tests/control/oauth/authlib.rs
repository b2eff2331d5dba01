//! Python's `authlib`, a standard OAuth2 client library, does discovery and the
//! client-credentials grant (basic and post) against the running control plane.

use std::{path::Path, process::Command, time::SystemTime};

use rampart_token::{Jwks, Policy, VerifyingKeys, peek_header, verify};

use super::{create_client, jwks};
use crate::support::start;

#[tokio::test]
async fn authlib_discovers_and_gets_tokens() {
    let plane = start().await;
    let created = create_client(&plane, &["orders.read", "orders.write"], Some("orders")).await;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/control/oauth/authlib_client.py");
    let url = plane.url.clone();
    let ca = plane.ca_path.clone();
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&url)
            .arg(&ca)
            .arg(&id)
            .arg(&secret)
            .output()
            .expect("python3 runs (scripts/test installs authlib)")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "authlib client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let published: Jwks = jwks(&plane).await;
    let keys = VerifyingKeys::from_jwks(&published);
    let mut policy = Policy::new(plane.url.clone());
    policy.audiences = vec!["orders".to_owned()];
    policy.required_scopes = vec!["orders.read".to_owned()];
    for method in ["client_secret_basic", "client_secret_post"] {
        let answer = &out[method];
        assert_eq!(answer["token_type"], "Bearer", "{method}: {answer}");
        assert_eq!(answer["scope"], "orders.read");
        let token = answer["access_token"].as_str().unwrap();
        let kid = peek_header(token).unwrap().kid.unwrap();
        assert!(
            out["jwks_kids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == &kid)
        );
        let verified = verify(token, &keys, &policy, SystemTime::now()).unwrap();
        assert_eq!(
            verified.client_id.as_deref(),
            Some(created.client.client_id.as_str())
        );
    }
}
