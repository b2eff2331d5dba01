//! Who a mesh listener refuses: a certificate from another CA, an expired SVID, no
//! certificate, plaintext, garbage; and gateways that lack a mesh identity.

use super::support::{Ca, Member, client_config, h1_client, id, inbound_sidecar, refused};
use crate::support::{Gw, metric};
use rampart_events::SecurityKind;
use rampart_identity::{SpiffeServerVerifier, crypto_provider};
use rampart_testkit::RecordingUpstream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn clients_without_a_valid_svid_are_refused() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let mut gw = inbound_sidecar(&b, app.addr()).await;
    let addr = gw.listener("inbound");

    // The baseline: a valid SVID of this mesh is served.
    let mut ok = h1_client(
        addr,
        client_config(&ca.issue("web"), "orders", ca.bundle(), &[]),
    )
    .await;
    assert_eq!(ok.get("/").await.status, 200);

    // Another CA, same trust domain and id: not in the bundle.
    let other = Ca::new();
    let foreign = client_config(&other.issue("web"), "orders", ca.bundle(), &[]);
    assert!(refused(addr, foreign).await, "a foreign SVID was served");
    let ev = gw.security(SecurityKind::AuthFailed).await;
    assert!(ev.detail.contains("untrusted"), "{}", ev.detail);

    // Expired.
    let expired = client_config(&ca.issue_expired("web"), "orders", ca.bundle(), &[]);
    assert!(refused(addr, expired).await, "an expired SVID was served");
    let ev = gw.security(SecurityKind::AuthFailed).await;
    assert!(ev.detail.contains("expired"), "{}", ev.detail);

    // No client certificate at all.
    let anonymous = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(SpiffeServerVerifier::new(id("orders"), ca.bundle()))
        .with_no_client_auth();
    assert!(
        refused(addr, anonymous).await,
        "an anonymous client was served"
    );
    let ev = gw.security(SecurityKind::AuthFailed).await;
    assert!(ev.detail.contains("no_certificate"), "{}", ev.detail);

    assert_eq!(app.count(), 1, "only the valid client reached the app");
    let m = gw.metrics().await;
    for reason in ["untrusted", "expired", "no_certificate"] {
        assert_eq!(
            metric(
                &m,
                "rampart_mesh_refusals_total",
                &[("side", "inbound"), ("reason", reason)]
            ),
            Some(1.0),
            "{reason}: {m}"
        );
    }
    // The valid client's connection was not disturbed.
    assert_eq!(ok.get("/again").await.status, 200);
}

#[tokio::test]
async fn plaintext_and_garbage_are_refused() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw = inbound_sidecar(&b, app.addr()).await;
    let addr = gw.listener("inbound");

    let exchange = |bytes: &'static [u8]| async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        // The gateway closes the connection (after a TLS alert at most).
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
            .await
            .expect("the connection was not closed")
            .ok();
        out
    };
    let reply = exchange(b"GET / HTTP/1.1\r\nHost: orders\r\n\r\n").await;
    assert!(!reply.starts_with(b"HTTP/"), "plaintext was answered");
    let reply = exchange(b"\x16\x03\x01\x00\x05garbage-and-a-truncated-hello").await;
    assert!(!reply.starts_with(b"HTTP/"));
    // A client that sends nothing and leaves.
    drop(TcpStream::connect(addr).await.unwrap());

    assert_eq!(app.count(), 0);
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_mesh_refusals_total",
            &[("side", "inbound"), ("reason", "not_tls")]
        ),
        Some(1.0),
        "{m}"
    );
    // Still serving.
    let mut ok = h1_client(
        addr,
        client_config(&ca.issue("web"), "orders", ca.bundle(), &[]),
    )
    .await;
    assert_eq!(ok.get("/").await.status, 200);
}

#[tokio::test]
async fn mesh_settings_need_a_mesh_identity() {
    let listener = crate::support::config(
        r#"
        listeners: [{ name: inbound, address: "127.0.0.1:0", mesh: true }]
        clusters: [{ name: app, endpoints: ["127.0.0.1:9"] }]
        routes: [{ name: r, cluster: app }]
        "#,
    );
    let start = rampart_proxy::Gateway::start(
        &listener,
        rampart_proxy::GatewayOptions {
            name: "t".into(),
            bus: rampart_events::EventBus::new(16),
            local_ca: None,
            mesh: None,
        },
    )
    .await;
    match start {
        Err(e @ rampart_proxy::ProxyError::NoMesh(_)) => {
            assert!(e.to_string().contains("listener `inbound`"), "{e}");
        }
        other => panic!("started without a mesh identity: {other:?}"),
    }

    // A plain gateway refuses a reload that adds a mesh cluster, and keeps serving.
    let app = RecordingUpstream::start();
    let gw = Gw::start(&crate::support::one_route(app.addr())).await;
    let with_mesh = crate::support::config(
        r#"
        clusters: [{ name: orders, mesh: { service: orders } }]
        routes: [{ name: all, cluster: orders }]
        "#,
    );
    let e = gw.handle.reload(&with_mesh).unwrap_err();
    assert!(e.to_string().contains("cluster `orders`"), "{e}");
    assert!(gw.handle.mesh_changed().is_err());
    assert_eq!(crate::support::get(gw.http(), "/").await.status, 200);
}
