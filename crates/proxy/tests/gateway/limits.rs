//! Limits at the door: header count and size, URI length, body size (declared and streamed),
//! and bodies within limits arriving intact on both the buffered and the streaming path.

use crate::support::{Gw, send};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rampart_testkit::{RecordingUpstream, send_raw};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// Routes: `/small` (1 KiB bodies), `/medium` (64 KiB), anything else (default 10 MiB). Bodies
/// up to 4 KiB are buffered; longer ones stream.
async fn gateway(up: &RecordingUpstream) -> Gw {
    Gw::start(&format!(
        r#"
        limits: {{ max_header_count: 20, max_header_bytes: 2KiB, max_uri_bytes: 256, request_buffer_bytes: 4KiB }}
        clusters: [{{ name: up, endpoints: ["{}"] }}]
        routes:
          - {{ name: small, match: {{ path_prefix: /small }}, cluster: up, max_body_bytes: 1KiB }}
          - {{ name: medium, match: {{ path_prefix: /medium }}, cluster: up, max_body_bytes: 64KiB }}
          - {{ name: all, cluster: up }}
        "#,
        up.addr()
    ))
    .await
}

fn head_with(extra: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

/// A body of `n` bytes that is not all the same byte, so reordering or loss would show.
fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36])
        .collect()
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn post_chunked(path: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    out.extend_from_slice(&chunked(body, chunk));
    out
}

#[tokio::test]
async fn too_many_headers_is_431() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let headers: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = send_raw(gw.http(), &head_with(&headers), WAIT).await;
    assert_eq!(reply.status(), Some(431), "{reply:?}");
    // Exactly at the limit is fine (18 + Host + Connection = 20).
    let headers: String = (0..18).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = send_raw(gw.http(), &head_with(&headers), WAIT).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn too_many_header_bytes_is_431() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let big = format!("X-Big: {}\r\n", "b".repeat(3000));
    let reply = send_raw(gw.http(), &head_with(&big), WAIT).await;
    assert_eq!(reply.status(), Some(431), "{reply:?}");
    // Spread over several headers, still too much.
    let spread: String = (0..4)
        .map(|i| format!("X-S{i}: {}\r\n", "s".repeat(700)))
        .collect();
    let reply = send_raw(gw.http(), &head_with(&spread), WAIT).await;
    assert_eq!(reply.status(), Some(431), "{reply:?}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn too_long_a_uri_is_414() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "u".repeat(300)
    );
    let reply = send_raw(gw.http(), long.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(414), "{reply:?}");
    // A huge request line with no end in sight is cut off too, without waiting for its end.
    let endless = format!("GET /{}", "u".repeat(20_000));
    let reply = send_raw(gw.http(), endless.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(414), "{reply:?}");
    assert!(reply.closed);
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_declared_body_over_the_route_limit_is_413() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    // Head only: the gateway must answer from the declared length, without waiting for a body.
    let head = b"POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n";
    let reply = send_raw(gw.http(), head, WAIT).await;
    assert_eq!(reply.status(), Some(413), "{reply:?}");
    assert!(reply.closed, "{reply:?}");

    // With the body sent along (the client does not wait for an answer).
    let mut req =
        b"POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n".to_vec();
    req.extend_from_slice(&pattern(5000));
    let reply = send_raw(gw.http(), &req, WAIT).await;
    assert_eq!(reply.status(), Some(413), "{reply:?}");
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_on_the_buffered_path() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    // 3 KiB against a 1 KiB limit: found out while buffering (buffer is 4 KiB).
    let reply = send_raw(
        gw.http(),
        &post_chunked("/small", &pattern(3000), 500),
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(413), "{reply:?}");
    assert_eq!(
        up.count(),
        0,
        "the upstream must not see a request refused while buffering"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_on_the_streaming_path() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    // 200 KiB against a 64 KiB limit: the first 4 KiB are buffered, then the body streams and
    // the limit is hit on the way.
    let reply = send_raw(
        gw.http(),
        &post_chunked("/medium", &pattern(200 * 1024), 8192),
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(413), "{reply:?}");
    for r in up.requests() {
        assert!(
            r.body.len() <= 64 * 1024,
            "the upstream got {} bytes",
            r.body.len()
        );
        assert!(
            !r.body_complete,
            "a cut-off body must not look complete upstream"
        );
    }
}

#[tokio::test]
async fn bodies_within_limits_arrive_intact() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    let cases: [(&str, usize); 4] = [
        ("buffered", 3000),
        ("streamed", 40_000),
        ("exactly the limit", 64 * 1024),
        ("empty", 0),
    ];
    for (what, size) in cases {
        up.clear();
        let body = pattern(size);

        // Content-Length.
        let req = Request::post("/medium/cl")
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let r = send(gw.http(), req).await;
        assert_eq!(r.status, 200, "{what} (CL): {}", r.text());
        let seen = up.requests().pop().unwrap();
        assert!(seen.body_complete, "{what} (CL)");
        assert_eq!(seen.body.len(), size, "{what} (CL)");
        assert!(seen.body == body, "{what} (CL): body changed on the way");

        // Chunked, in uneven chunks.
        let reply = send_raw(
            gw.http(),
            &post_chunked("/medium/chunked", &body, 1000),
            WAIT,
        )
        .await;
        assert_eq!(reply.status(), Some(200), "{what} (chunked): {reply:?}");
        let seen = up.requests().pop().unwrap();
        assert!(seen.body_complete, "{what} (chunked)");
        assert_eq!(seen.body.len(), size, "{what} (chunked)");
        assert!(
            seen.body == body,
            "{what} (chunked): body changed on the way"
        );
    }
}

#[tokio::test]
async fn a_large_body_streams_through_on_a_keep_alive_connection() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    // 1 MiB (default route limit 10 MiB), then a second request on the same connection.
    let body = pattern(1024 * 1024);
    let mut conn = crate::support::H1::connect(gw.http()).await;
    let r = conn
        .send(
            Request::post("/big")
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = conn.get("/after").await;
    assert_eq!(r.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].body == body);
    assert_eq!(seen[1].path, "/after");
}

#[tokio::test]
async fn a_client_still_sending_a_refused_body_gets_its_413() {
    let up = RecordingUpstream::start();
    let gw = gateway(&up).await;
    // 4 MiB announced and sent against a 1 KiB limit: the gateway answers before the body is in.
    for _ in 0..5 {
        let req = Request::post("/small/big")
            .body(Full::new(Bytes::from(pattern(4 * 1024 * 1024))))
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(gw.http()).await.unwrap();
        let (mut tx, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = req;
        req.headers_mut()
            .insert("host", http::HeaderValue::from_static("localhost"));
        let resp = tokio::time::timeout(WAIT, tx.send_request(req))
            .await
            .expect("no answer");
        match resp {
            Ok(r) => assert_eq!(r.status(), 413),
            Err(e) => panic!("the client got no 413 but: {e}"),
        }
    }
    assert_eq!(up.count(), 0);
}
