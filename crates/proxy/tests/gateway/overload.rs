//! Overload protection of the door (`docs/overload.md`): connection bounds per client address
//! and per listener, and load shedding beyond `max_concurrent_requests`.

use crate::support::{Gw, get, metric, one_route};
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(5);

/// A connection to `addr` from source address `from` (any loopback address works on Linux).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends a GET on `tcp` and reads what comes back until the gateway closes or answers.
async fn try_get(mut tcp: TcpStream) -> String {
    let _ = tcp
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the gateway neither answered nor closed");
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the metric sample reaches `at_least`; returns its last value.
async fn wait_metric(gw: &Gw, name: &str, labels: &[(&str, &str)], at_least: f64) -> f64 {
    let mut last = 0.0;
    for _ in 0..100 {
        last = metric(&gw.metrics().await, name, labels).unwrap_or(0.0);
        if last >= at_least {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test]
async fn a_flood_from_one_address_does_not_starve_another_client() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&format!(
        "overload: {{ max_connections_per_ip: 4 }}\n{}",
        one_route(up.addr())
    ))
    .await;
    // The flooder holds 40 connections open from 127.0.0.2.
    let mut flood = Vec::new();
    for _ in 0..40 {
        flood.push(connect_from("127.0.0.2", gw.http()).await);
    }
    let refused = wait_metric(
        &gw,
        "rampart_connections_refused_total",
        &[("listener", "http"), ("reason", "per_ip_limit")],
        36.0,
    )
    .await;
    assert!(refused >= 36.0, "refused {refused}");
    let ev = gw.security(SecurityKind::RateLimited).await;
    assert!(ev.detail.contains("per_ip_limit"), "{}", ev.detail);
    // Another client keeps being served while the flood is held.
    for _ in 0..10 {
        let r = get(gw.http(), "/").await;
        assert_eq!(r.status, 200);
    }
    // A further connection from the flooder is closed without an answer.
    let reply = try_get(connect_from("127.0.0.2", gw.http()).await).await;
    assert!(!reply.contains("200"), "{reply}");
    drop(flood);
    // Its places come back once its connections close.
    let mut served = false;
    for _ in 0..100 {
        let reply = try_get(connect_from("127.0.0.2", gw.http()).await).await;
        if reply.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the flooder's address was never admitted again");
}

#[tokio::test]
async fn a_listener_refuses_connections_beyond_max_connections() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        // (Naming `listeners:` here means the harness adds none: declare `http` too.)
        "listeners: [{{ name: http, address: \"127.0.0.1:0\" }}]\noverload: {{ listeners: {{ http: {{ max_connections: 3 }} }} }}\n{}",
        one_route(up.addr())
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(gw.http()).await.unwrap());
    }
    let reply = try_get(TcpStream::connect(gw.http()).await.unwrap()).await;
    assert!(reply.is_empty(), "{reply}");
    let full = wait_metric(
        &gw,
        "rampart_connections_refused_total",
        &[("listener", "http"), ("reason", "listener_full")],
        1.0,
    )
    .await;
    assert!(full >= 1.0);
    drop(held);
    let mut served = false;
    for _ in 0..100 {
        let reply = try_get(TcpStream::connect(gw.http()).await.unwrap()).await;
        if reply.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the listener never admitted a connection again");
}

#[tokio::test]
async fn requests_beyond_max_concurrent_requests_are_shed_with_503() {
    let up = RecordingUpstream::builder()
        .delay(Duration::from_millis(1500))
        .start();
    let mut gw = Gw::start(&format!(
        "overload: {{ max_concurrent_requests: 2 }}\n{}",
        one_route(up.addr())
    ))
    .await;
    let addr = gw.http();
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { get(addr, "/").await.status }))
        .collect();
    assert!(
        up.wait_for(2, WAIT).await,
        "the slow requests never arrived"
    );
    let shed = get(addr, "/").await;
    assert_eq!(shed.status, 503);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(shed.text().contains("overloaded"), "{}", shed.text());
    let ev = gw.access(|e| e.status == 503).await;
    assert_eq!(ev.reason, Some("overloaded"));
    assert_eq!(up.count(), 2, "a shed request reached the upstream");
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    assert_eq!(get(addr, "/").await.status, 200);
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_requests_shed_total",
            &[("reason", "overloaded")]
        ),
        Some(1.0)
    );
}
