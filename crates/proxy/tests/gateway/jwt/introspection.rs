//! Revocation honoured on a route (`introspection`): after local verification the gateway asks
//! the issuer's introspection endpoint (RFC 7662, found by discovery) whether the token is still
//! active, authenticating with `client_secret_basic`, caching answers briefly; a revoked token
//! is refused once the cached answer lapses, and an endpoint that cannot answer refuses all.

use super::idp::Idp;
use super::{call, described};
use base64::Engine as _;
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// A client secret file (0600) in `dir`, and the `introspection` line naming it.
fn introspection(dir: &tempfile::TempDir, cache: &str) -> (PathBuf, String) {
    let path = dir.path().join("introspection-secret");
    std::fs::write(&path, "s3cr3t/+=\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let line = format!(
        "introspection: {{ client_id: \"gateway\", client_secret_file: \"{}\", cache: {cache} }}",
        path.display()
    );
    (path, line)
}

/// `gateway` of the jwt tests with `introspection` added to its one issuer.
async fn introspecting_gateway(
    idp: &Idp,
    upstream: std::net::SocketAddr,
    line: &str,
) -> crate::support::Gw {
    let issuer = format!(
        "{{ issuer: \"{}\", ca: \"{}\", {line} }}",
        idp.issuer,
        idp.ca.display()
    );
    super::gateway_with(&issuer, upstream, &[]).await
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_the_cached_answer_lapses() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, line) = introspection(&dir, "1s");
    let upstream = RecordingUpstream::start();
    let mut gw = introspecting_gateway(&idp, upstream.addr(), &line).await;
    let token = idp.token();

    let r = call(&gw, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(idp.introspections(), 1);
    // client_secret_basic with the form-encoded id and secret (RFC 6749 2.3.1).
    let expected = base64::engine::general_purpose::STANDARD.encode("gateway:s3cr3t%2F%2B%3D");
    assert_eq!(idp.introspection_auth(), Some(format!("Basic {expected}")));

    // The answer is reused for the same token.
    assert_eq!(call(&gw, Some(&token)).await.status, 200);
    assert_eq!(idp.introspections(), 1);

    idp.revoke(&token);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(&gw, Some(&token)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(described(&r), "token_inactive");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let ev = gw.security(SecurityKind::TokenRejected).await;
    assert_eq!(ev.detail, "token_inactive");
    assert_eq!(upstream.count(), 2);

    // Another token of the same client is still active.
    assert_eq!(call(&gw, Some(&idp.token())).await.status, 200);
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_fails_closed() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, line) = introspection(&dir, "10s");
    let upstream = RecordingUpstream::start();
    let mut gw = introspecting_gateway(&idp, upstream.addr(), &line).await;
    // Keys are fetched (and cached) by the first good request.
    assert_eq!(call(&gw, Some(&idp.token())).await.status, 200);

    idp.fail_introspection(true);
    let r = call(&gw, Some(&idp.token())).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(described(&r), "introspection_unavailable");
    let ev = gw.security(SecurityKind::TokenRejected).await;
    assert_eq!(ev.detail, "introspection_unavailable");
    assert!(!ev.detail.contains("s3cr3t"));
    assert_eq!(upstream.count(), 1);

    // Failures are not cached: the same token passes once the endpoint answers again.
    let token = idp.token();
    assert_eq!(call(&gw, Some(&token)).await.status, 401);
    idp.fail_introspection(false);
    assert_eq!(call(&gw, Some(&token)).await.status, 200);
}

#[tokio::test]
async fn a_secret_file_others_can_read_is_refused() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (path, line) = introspection(&dir, "10s");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let upstream = RecordingUpstream::start();
    let issuer = format!(
        "{{ issuer: \"{}\", ca: \"{}\", {line} }}",
        idp.issuer,
        idp.ca.display()
    );
    let yaml = format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\n\
         routes:\n\
         - name: api\n\
         \x20 cluster: up\n\
         \x20 auth: {{ jwt: {{ issuers: [{issuer}] }} }}\n",
        upstream.addr()
    );
    let options = rampart_proxy::GatewayOptions {
        name: "test-gateway".into(),
        bus: rampart_events::EventBus::new(16),
        local_ca: None,
        mesh: None,
    };
    let Err(err) = rampart_proxy::Gateway::start(&crate::support::config(&yaml), options).await
    else {
        panic!("a gateway started with a secret file others can read");
    };
    let err = err.to_string();
    assert!(err.contains("0600") && !err.contains("s3cr3t"), "{err}");
}
