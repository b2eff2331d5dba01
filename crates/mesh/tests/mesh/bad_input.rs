//! Bad input on a sidecar's mTLS port: garbage, plaintext HTTP and truncated TLS handshakes are
//! closed without an answer, counted and reported, and the sidecar keeps serving its peers,
//! also while it happens.

use std::{net::SocketAddr, time::Duration};

use rampart_events::{Event, EventBus, SecurityKind};
use rampart_mesh::Sidecar;
use rampart_testkit::{RecordingUpstream, send_raw};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, timeout_at},
};

use crate::support::{
    call, counter, eventually,
    load::{Load, Worker},
    plane,
};

const LIMIT: Duration = Duration::from_secs(10);

/// What the server did with one connection.
#[derive(Debug)]
struct Exchange {
    reply: Vec<u8>,
    closed: bool,
}

/// Connects to `addr`, writes `bytes`, ends its side of the connection, and reads until the
/// server closes it (or 5 s pass).
async fn send_and_close(addr: SocketAddr, bytes: &[u8]) -> Exchange {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading everything: a failed write is part of the test.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut reply = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                return Exchange {
                    reply,
                    closed: false,
                };
            }
            Ok(Ok(0) | Err(_)) => {
                return Exchange {
                    reply,
                    closed: true,
                };
            }
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
        }
    }
}

/// The first bytes of a TLS 1.3 ClientHello: a handshake record announcing 200 bytes, of
/// which only the message header, the legacy version and the random arrive.
fn truncated_client_hello() -> Vec<u8> {
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0xc8];
    hello.extend([0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]);
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37)));
    hello
}

/// A whole handshake record whose ClientHello message claims more bytes than ever come.
fn short_client_hello_message() -> Vec<u8> {
    let mut body = vec![0x01, 0x00, 0x01, 0x00, 0x03, 0x03];
    body.extend([0x5a; 32]);
    body.extend([0x00, 0x00, 0x02, 0x13, 0x01]);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, body.len() as u8];
    record.extend(body);
    record
}

/// Whether `reply` holds nothing but, at most, one TLS alert record (a refusal, no data).
fn at_most_an_alert(reply: &[u8]) -> bool {
    reply.is_empty() || (reply.len() == 7 && reply[0] == 0x15)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_mesh_port_is_refused_without_harm() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let bus = EventBus::new(64 * 1024);
    let mut events = bus.subscribe();
    let mut options_b = plane.options("b", app_b.addr()).await;
    options_b.bus = bus;
    let b = Sidecar::start(options_b).await.unwrap();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    eventually(LIMIT, "a route from A to B", || async {
        call(&a, "b", "/warm-up").await.status() == Some(200)
    })
    .await;

    // A keeps calling B while the bad input arrives.
    let start = Instant::now();
    let app_before = app_b.count();
    let out_a = a.outbound_addr().unwrap();
    let load = Load::start(vec![
        Worker::new("kept", out_a, "b", true).paced(Duration::from_millis(1)),
        Worker::new("fresh", out_a, "b", false).paced(Duration::from_millis(5)),
    ]);
    load.hold(
        Duration::from_millis(100),
        20,
        LIMIT,
        "load before the bad input",
    )
    .await;

    let inbound = b.inbound_addr().unwrap();
    let garbage: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("garbage", garbage),
        ("zeros", vec![0; 64]),
        (
            "plaintext HTTP",
            b"GET / HTTP/1.1\r\nHost: b\r\n\r\n".to_vec(),
        ),
        ("truncated ClientHello", truncated_client_hello()),
        ("short ClientHello message", short_client_hello_message()),
    ];
    for (what, bytes) in &cases {
        let exchange = send_and_close(inbound, bytes).await;
        assert!(exchange.closed, "{what}: the connection stayed open");
        assert!(
            at_most_an_alert(&exchange.reply),
            "{what}: answered {:?}",
            String::from_utf8_lossy(&exchange.reply)
        );
    }
    // A handshake that stops half way, its connection left open, does not hold B up either.
    let stalled = tokio::spawn(async move {
        send_raw(inbound, &truncated_client_hello(), Duration::from_secs(1)).await
    });
    load.hold(
        Duration::from_millis(300),
        50,
        LIMIT,
        "load after the bad input",
    )
    .await;
    let stalled = stalled.await.unwrap();
    assert!(stalled.bytes.is_empty(), "{stalled:?}");
    let report = load.stop().await;
    assert!(
        report.failures().is_empty(),
        "{}",
        report.describe_failures(start)
    );
    let from_load = report.successes();
    assert_eq!(
        app_b.count() - app_before,
        from_load,
        "only A's requests reached B's app"
    );
    assert_eq!(call(&a, "b", "/after").await.status(), Some(200));

    // Each bad connection is counted as a refusal on B's admin `/metrics`, by reason ...
    let admin = b.admin_addr();
    let metrics = send_raw(
        admin,
        b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(metrics.status(), Some(200), "{metrics:?}");
    let metrics = metrics.text();
    let refusals = |reason: &str| {
        counter(
            &metrics,
            "rampart_mesh_refusals_total",
            &["side=\"inbound\"", &format!("reason=\"{reason}\"")],
        )
    };
    let total = counter(
        &metrics,
        "rampart_mesh_refusals_total",
        &["side=\"inbound\""],
    );
    assert!(total >= cases.len() as u64, "{metrics}");
    // Garbage, zeros and plaintext are not TLS; the truncated handshakes end early.
    assert!(refusals("not_tls") >= 3, "{metrics}");
    assert!(refusals("handshake_failed") >= 2, "{metrics}");

    // ... and reported as an `AuthFailed` security event naming the client.
    let mut refused = 0;
    while let Some(event) = events.try_recv() {
        if let Event::Security(security) = event.as_ref()
            && security.kind == SecurityKind::AuthFailed
            && security.detail.contains("mesh inbound connection refused")
        {
            assert_eq!(security.client.map(|c| c.ip()), Some(inbound.ip()));
            refused += 1;
        }
    }
    assert!(refused >= cases.len(), "{refused} refusal events");
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}
