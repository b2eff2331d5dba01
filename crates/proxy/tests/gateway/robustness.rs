//! Hostile input never takes the gateway down: after each, a normal request still works.

use crate::support::{Gw, H2, get};
use rampart_testkit::{RecordingUpstream, send_raw};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

async fn gateway(up: &RecordingUpstream) -> Gw {
    Gw::start(&format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:0\", h2c: true }}]\n{}",
        crate::support::one_route(up.addr())
    ))
    .await
}

async fn still_serving(gw: &Gw, after: &str) {
    let r = get(gw.http(), "/still-alive").await;
    assert_eq!(r.status, 200, "after {after}: {}", r.text());
}

#[tokio::test]
async fn garbage_and_truncated_requests() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;

    let mut seed: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", noise),
        (
            "a TLS hello on a plaintext port",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
        ),
        ("text without structure", b"hello there\r\n\r\n".to_vec()),
        ("a lone CRLF flood", b"\r\n".repeat(10_000)),
        ("NULs", vec![0u8; 1000]),
    ];
    for (what, bytes) in &inputs {
        let reply = send_raw(gw.http(), bytes, WAIT).await;
        assert!(
            !reply.statuses().iter().any(|s| (200..300).contains(s)),
            "{what}: {reply:?}"
        );
        still_serving(&gw, what).await;
    }

    // Half a request, then the client goes away.
    for half in [
        &b"GET /half HTTP/1.1\r\nHost: loc"[..],
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    ] {
        let mut s = TcpStream::connect(gw.http()).await.unwrap();
        s.write_all(half).await.unwrap();
        drop(s);
        still_serving(&gw, "a half request").await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        up.requests()
            .iter()
            .filter(|r| r.path != "/still-alive")
            .all(|r| !r.body_complete),
        "{:?}",
        up.requests()
    );
}

#[tokio::test]
async fn a_header_flood() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let mut flood = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..10_000 {
        flood.extend_from_slice(format!("X-Flood-{i}: v\r\n").as_bytes());
    }
    flood.extend_from_slice(b"\r\n");
    let reply = send_raw(gw.http(), &flood, WAIT).await;
    assert_eq!(reply.status(), Some(431), "{reply:?}");
    still_serving(&gw, "a header flood").await;
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn junk_h2_frames() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let frames: Vec<(&str, Vec<u8>)> = vec![
        (
            "a frame far over the size limit",
            b"\x00\xff\xff\x00\x00\x00\x00\x00\x01".to_vec(),
        ),
        (
            "HEADERS with a garbage block",
            b"\x00\x00\x05\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff\xff".to_vec(),
        ),
        (
            "DATA on stream 0",
            b"\x00\x00\x03\x00\x00\x00\x00\x00\x00abc".to_vec(),
        ),
        (
            "an unknown frame type",
            b"\x00\x00\x03\xee\x00\x00\x00\x00\x01abc".to_vec(),
        ),
        (
            "WINDOW_UPDATE of zero",
            b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        ),
        (
            "SETTINGS with a bad length",
            b"\x00\x00\x05\x04\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00".to_vec(),
        ),
        (
            "RST_STREAM flood",
            b"\x00\x00\x04\x03\x00\x00\x00\x00\x01\x00\x00\x00\x08".repeat(2000),
        ),
        ("no SETTINGS, just noise", vec![0xAB; 512]),
    ];
    for (what, frame) in &frames {
        let mut bytes = preface.to_vec();
        if !what.starts_with("no SETTINGS") {
            bytes.extend_from_slice(settings);
        }
        bytes.extend_from_slice(frame);
        let reply = send_raw(gw.http(), &bytes, Duration::from_secs(2)).await;
        // Unknown frame types must be ignored (RFC 9113 §4.1); everything else is a
        // connection error that ends the connection.
        if !what.starts_with("an unknown") {
            assert!(
                reply.closed,
                "{what}: the connection was left open: {reply:?}"
            );
        }
        still_serving(&gw, what).await;
    }
    // And a real h2c client is still served.
    let mut h2 = H2::handshake(TcpStream::connect(gw.http()).await.unwrap()).await;
    assert_eq!(h2.get("http://localhost/h2-after-junk").await.status, 200);
}
