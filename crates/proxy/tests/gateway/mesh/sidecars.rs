//! Two gateways in sidecar shape: A's outbound listener → mesh cluster → B's inbound mesh
//! listener → the app. The app learns A's identity from B, and only from B.

use super::support::{
    Ca, Member, client_config, id, inbound_sidecar, outbound_sidecar, route_orders_to,
};
use crate::support::{H1, H2, metric, send};
use http::Request;
use http_body_util::Full;
use rampart_testkit::RecordingUpstream;

fn to_orders(path: &str) -> Request<Full<bytes::Bytes>> {
    Request::get(path)
        .header("host", "orders")
        .header(
            "x-rampart-peer-id",
            "spiffe://mesh.test/ns/default/sa/admin",
        )
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn the_app_sees_the_callers_spiffe_id() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let mut gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_b.listener("inbound"));
    let gw_a = outbound_sidecar(&a, 8).await;

    // The caller's spoofed identity header is dropped by A; B sets the real one.
    let r = send(gw_a.listener("outbound"), to_orders("/orders/1")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = app.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/orders/1");
    let ids = seen[0].header_all("x-rampart-peer-id");
    assert_eq!(ids, [id("web").to_string().as_bytes()]);
    let event = gw_b.access(|e| e.listener == "inbound").await;
    assert_eq!(
        event.principal.as_deref(),
        Some(id("web").to_string().as_str())
    );
    assert_eq!(event.status, 200);

    // Hosts that no route matches are not forwarded anywhere.
    let r = send(
        gw_a.listener("outbound"),
        Request::get("/")
            .header("host", "billing")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(app.count(), 1);
    let m = gw_a.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_mesh_handshakes_total",
            &[("side", "outbound"), ("kind", "full")]
        ),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test]
async fn a_direct_mesh_client_gets_h2_and_its_id_forwarded() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let web = ca.issue("web");
    let tls = super::support::connect(
        gw_b.listener("inbound"),
        client_config(&web, "orders", ca.bundle(), &[b"h2"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = H2::handshake(tls).await;
    let r = h2.get("https://orders/h2").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        app.requests()[0].header_str("x-rampart-peer-id"),
        Some(id("web").to_string().as_str())
    );
}

#[tokio::test]
async fn mesh_endpoints_follow_the_directory() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    let gw_a = outbound_sidecar(&a, 8).await;

    // No sidecar known yet: a clear 503, nothing forwarded.
    let r = send(gw_a.listener("outbound"), to_orders("/")).await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("no_endpoint"), "{}", r.text());

    route_orders_to(&a, gw_b.listener("inbound"));
    gw_a.handle.mesh_changed().unwrap();
    let r = send(gw_a.listener("outbound"), to_orders("/")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The service leaves the directory: 503 again.
    a.ctx.directory.set("default", "orders", Vec::new());
    gw_a.handle.mesh_changed().unwrap();
    let r = send(gw_a.listener("outbound"), to_orders("/")).await;
    assert_eq!(r.status, 503);
    assert_eq!(app.count(), 1);
}

#[tokio::test]
async fn an_endpoint_with_another_identity_is_refused() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    // The directory says `orders`, but the sidecar there is `billing`.
    let billing = Member::new(&ca.issue("billing"), ca.bundle());
    let gw_billing = inbound_sidecar(&billing, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_billing.listener("inbound"));
    let gw_a = outbound_sidecar(&a, 8).await;

    let r = send(gw_a.listener("outbound"), to_orders("/")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(app.count(), 0, "the request reached the wrong service");
    let m = gw_a.metrics().await;
    assert!(
        metric(
            &m,
            "rampart_mesh_refusals_total",
            &[("side", "outbound"), ("reason", "wrong_identity")]
        )
        .is_some_and(|v| v >= 1.0),
        "{m}"
    );
}

#[tokio::test]
async fn second_connections_resume_their_session() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_b.listener("inbound"));
    // No idle connection kept: every request handshakes again.
    let gw_a = outbound_sidecar(&a, 0).await;
    let mut client = H1::connect(gw_a.listener("outbound")).await;
    for _ in 0..3 {
        let r = client.send(to_orders("/")).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (ma, mb) = (gw_a.metrics().await, gw_b.metrics().await);
    let count = |m: &str, side: &str, kind: &str| {
        metric(
            m,
            "rampart_mesh_handshakes_total",
            &[("side", side), ("kind", kind)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count(&ma, "outbound", "full"), 1.0, "{ma}");
    assert_eq!(count(&ma, "outbound", "resumed"), 2.0, "{ma}");
    assert_eq!(count(&mb, "inbound", "resumed"), 2.0, "{mb}");
    // Every resumed connection still carried the caller's id.
    for r in app.requests() {
        assert_eq!(
            r.header_str("x-rampart-peer-id"),
            Some(id("web").to_string().as_str())
        );
    }

    // A mesh change that rebuilds TLS (a new SVID) starts from an empty session cache.
    let renewed = ca.issue("web");
    a.ctx
        .svid
        .replace(renewed.chain.clone(), renewed.key.clone_key())
        .unwrap();
    gw_a.handle.mesh_changed().unwrap();
    let r = client.send(to_orders("/")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ma = gw_a.metrics().await;
    assert_eq!(count(&ma, "outbound", "full"), 2.0, "{ma}");
    assert_eq!(count(&ma, "outbound", "resumed"), 2.0, "{ma}");
}
