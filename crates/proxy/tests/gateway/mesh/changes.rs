//! Reacting to mesh changes: a revocation closes the revoked peer's open connections and
//! refuses its new ones at once; a replaced SVID loses no request; a reload keeps the mesh.

use super::support::{
    Ca, Member, client_config, h1_client, inbound_sidecar, outbound_sidecar, refused,
    route_orders_to,
};
use crate::support::{H1, metric, send};
use http::Request;
use http_body_util::Full;
use rampart_events::SecurityKind;
use rampart_identity::RevocationList;
use rampart_testkit::RecordingUpstream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn to_orders() -> Request<Full<bytes::Bytes>> {
    Request::get("/")
        .header("host", "orders")
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn a_revoked_peer_is_cut_off_within_a_second() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let mut gw = inbound_sidecar(&b, app.addr()).await;
    let addr = gw.listener("inbound");
    let web = ca.issue("web");
    let other = ca.issue("web");
    let mut revoked_conn = h1_client(addr, client_config(&web, "orders", ca.bundle(), &[])).await;
    let mut kept_conn = h1_client(addr, client_config(&other, "orders", ca.bundle(), &[])).await;
    assert_eq!(revoked_conn.get("/").await.status, 200);
    assert_eq!(kept_conn.get("/").await.status, 200);

    let start = Instant::now();
    b.ctx.revocations.store(RevocationList::new([web.serial()]));
    gw.handle.mesh_changed().unwrap();
    while revoked_conn.is_open() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the revoked peer's keep-alive connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // New connections with the revoked SVID are refused, at once.
    assert!(refused(addr, client_config(&web, "orders", ca.bundle(), &[])).await);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let ev = gw.security(SecurityKind::AuthFailed).await;
    assert!(ev.detail.contains("revoked"), "{}", ev.detail);

    // Another SVID of the same service is not affected.
    assert!(kept_conn.is_open());
    assert_eq!(kept_conn.get("/still").await.status, 200);
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_mesh_connections_closed_total",
            &[("reason", "revoked")]
        ),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test]
async fn a_revoked_server_is_no_longer_used() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let orders = ca.issue("orders");
    let b = Member::new(&orders, ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_b.listener("inbound"));
    let gw_a = outbound_sidecar(&a, 8).await;
    let mut client = H1::connect(gw_a.listener("outbound")).await;
    assert_eq!(client.send(to_orders()).await.status, 200);

    // A learns that B's SVID is revoked: its pooled connection to B must not be reused.
    a.ctx
        .revocations
        .store(RevocationList::new([orders.serial()]));
    gw_a.handle.mesh_changed().unwrap();
    let r = client.send(to_orders()).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(app.count(), 1);
}

#[tokio::test]
async fn replacing_svids_under_load_loses_no_request() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_b.listener("inbound"));
    let gw_a = outbound_sidecar(&a, 8).await;
    let outbound = gw_a.listener("outbound");

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut client = H1::connect(outbound).await;
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let r = client.send(to_orders()).await;
                assert_eq!(r.status, 200, "request {sent} failed: {}", r.text());
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let renewed = ca.issue("web");
        a.ctx
            .svid
            .replace(renewed.chain.clone(), renewed.key.clone_key())
            .unwrap();
        gw_a.handle.mesh_changed().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let renewed = ca.issue("orders");
        b.ctx
            .svid
            .replace(renewed.chain.clone(), renewed.key.clone_key())
            .unwrap();
        gw_b.handle.mesh_changed().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert!(total > 40, "only {total} requests went through");
    assert_eq!(app.count(), total as usize);
    // Each new generation started over with full handshakes.
    let m = gw_a.metrics().await;
    let full = metric(
        &m,
        "rampart_mesh_handshakes_total",
        &[("side", "outbound"), ("kind", "full")],
    );
    assert!(full.is_some_and(|n| n >= 4.0), "{m}");
}

#[tokio::test]
async fn a_reload_keeps_the_mesh() {
    let ca = Ca::new();
    let app = RecordingUpstream::start();
    let b = Member::new(&ca.issue("orders"), ca.bundle());
    let gw_b = inbound_sidecar(&b, app.addr()).await;
    let a = Member::new(&ca.issue("web"), ca.bundle());
    route_orders_to(&a, gw_b.listener("inbound"));
    let gw_a = outbound_sidecar(&a, 8).await;
    assert_eq!(
        send(gw_a.listener("outbound"), to_orders()).await.status,
        200
    );

    let mut next = gw_a.config.clone();
    next.gateway.routes[0]
        .headers
        .request_add
        .insert("x-reloaded".into(), "yes".into());
    assert_eq!(gw_a.handle.reload(&next).unwrap(), 2);
    assert_eq!(
        send(gw_a.listener("outbound"), to_orders()).await.status,
        200
    );
    assert_eq!(app.requests()[1].header_str("x-reloaded"), Some("yes"));

    // Turning a listener into a mesh listener needs a restart.
    let mut relisten = gw_b.config.clone();
    relisten.gateway.listeners[0].mesh = false;
    assert!(gw_b.handle.reload(&relisten).is_err());
    assert_eq!(
        send(gw_a.listener("outbound"), to_orders()).await.status,
        200
    );
}
