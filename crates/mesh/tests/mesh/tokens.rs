//! Sidecars check tokens too: a sidecar started with `inbound_jwt` refuses a mesh call that
//! carries no bearer token (401), admits one with a token of the control plane's authorization
//! server (200, the claims handed to the app), and admits a certificate-bound token only from
//! the sidecar whose SVID it is bound to.

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use rampart_control::api::{CreateOAuthClient, OAuthClientAuth};
use rampart_mesh::{Sidecar, SidecarHandle, inbound_jwt};
use rampart_testkit::{RawReply, RecordingUpstream, send_raw};

use crate::support::{TRUST_DOMAIN, eventually, plane};

/// Gets a client_credentials token for `b.read` from `issuer`'s token endpoint (found by
/// discovery) with Python's requests: with the client secret, or over mTLS with the SVID in
/// `svid_dir` when `secret` is empty.
/// Runs off the runtime: the control plane answering it is in this process.
async fn token(issuer: &str, ca: &Path, client_id: &str, secret: &str, svid_dir: &Path) -> String {
    const SCRIPT: &str = r#"
import sys, requests
issuer, ca, client_id, secret, svid, key = sys.argv[1:7]
meta = requests.get(issuer + "/.well-known/openid-configuration", verify=ca, timeout=10).json()
form = {"grant_type": "client_credentials", "scope": "b.read"}
if secret:
    r = requests.post(meta["token_endpoint"], data=form, auth=(client_id, secret), verify=ca, timeout=10)
else:
    form["client_id"] = client_id
    r = requests.post(meta["token_endpoint"], data=form, cert=(svid, key), verify=ca, timeout=10)
r.raise_for_status()
print(r.json()["access_token"])
"#;
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        SCRIPT,
        issuer,
        ca.to_str().unwrap(),
        client_id,
        secret,
    ])
    .arg(svid_dir.join("svid.pem"))
    .arg(svid_dir.join("svid-key.pem"));
    let out =
        tokio::task::spawn_blocking(move || cmd.output().expect("python3 with requests runs"))
            .await
            .unwrap();
    assert!(
        out.status.success(),
        "token request failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `GET path` to service `b` through `from`'s outbound listener, with `token` as a bearer.
async fn call_b(from: &SidecarHandle, path: &str, token: Option<&str>) -> RawReply {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: b\r\n{auth}Connection: close\r\n\r\n");
    let addr: SocketAddr = from.outbound_addr().unwrap();
    send_raw(addr, req.as_bytes(), Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_sidecar_with_inbound_jwt_demands_a_token_bound_to_the_caller() {
    let plane = plane(Duration::from_secs(3600)).await;
    let ca = plane.root_of_generation(1);
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let app_c = RecordingUpstream::builder().name("app-c").start();
    let mut options = plane.options("b", app_b.addr()).await;
    options.inbound_jwt = Some(inbound_jwt(
        &plane.url,
        Some(ca.clone()),
        vec!["b".to_owned()],
        vec!["b.read".to_owned()],
    ));
    let b = Sidecar::start(options).await.unwrap();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    let c = Sidecar::start(plane.options("c", app_c.addr()).await)
        .await
        .unwrap();

    // Without a token, the mesh call reaches B's sidecar (it answers) but not B.
    eventually(Duration::from_secs(10), "A reaches B's sidecar", || async {
        call_b(&a, "/no-token", None).await.status() == Some(401)
    })
    .await;
    let refused = call_b(&a, "/no-token", None).await;
    assert!(
        refused
            .text()
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"rampart\""),
        "{}",
        refused.text()
    );
    assert_eq!(app_b.count(), 0);

    // A token from a client secret passes; B sees the verified claims and the caller's SVID.
    let created = plane
        .admin
        .create_oauth_client(&CreateOAuthClient {
            name: "caller".to_owned(),
            scopes: vec!["b.read".to_owned()],
            auth: OAuthClientAuth::Secret,
            jwk: None,
            tls_subject: None,
            audience: Some("b".to_owned()),
        })
        .await
        .unwrap();
    let secret = created.client_secret.clone().unwrap();
    let bearer = token(
        &plane.url,
        &ca,
        &created.client.client_id,
        &secret,
        a.data_dir(),
    )
    .await;
    let r = call_b(&a, "/with-token", Some(&bearer)).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
    let seen = app_b.requests().last().cloned().unwrap();
    assert!(seen.header_str("x-rampart-claims").is_some());
    assert_eq!(
        seen.header_str("x-rampart-peer-id"),
        Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a").as_str())
    );
    // A forged token is refused.
    let r = call_b(&a, "/forged", Some(&format!("{bearer}x"))).await;
    assert_eq!(r.status(), Some(401));

    // A token bound to A's SVID (tls_client_auth) passes from A, not from C.
    let bound_client = plane
        .admin
        .create_oauth_client(&CreateOAuthClient {
            name: "a-bound".to_owned(),
            scopes: vec!["b.read".to_owned()],
            auth: OAuthClientAuth::Tls,
            jwk: None,
            tls_subject: Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a")),
            audience: Some("b".to_owned()),
        })
        .await
        .unwrap();
    let bound = token(
        &plane.url,
        &ca,
        &bound_client.client.client_id,
        "",
        a.data_dir(),
    )
    .await;
    let r = call_b(&a, "/bound", Some(&bound)).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
    let before = app_b.count();
    eventually(Duration::from_secs(10), "C reaches B's sidecar", || async {
        call_b(&c, "/no-token", None).await.status() == Some(401)
    })
    .await;
    let r = call_b(&c, "/stolen", Some(&bound)).await;
    assert_eq!(r.status(), Some(401), "{r:?}");
    assert_eq!(app_b.count(), before);

    for s in [a, b, c] {
        s.shutdown(Duration::from_secs(1)).await;
    }
}
