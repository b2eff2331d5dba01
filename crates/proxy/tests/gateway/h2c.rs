//! HTTP/2 with prior knowledge on a plaintext listener that allows it (`h2c: true`).

use crate::support::{Gw, H1, H2, one_route};
use rampart_testkit::RecordingUpstream;
use tokio::net::TcpStream;

fn h2c_gateway(upstream: std::net::SocketAddr, h2c: bool) -> String {
    format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:0\", h2c: {h2c} }}]\n{}",
        one_route(upstream)
    )
}

#[tokio::test]
async fn h2c_is_served_when_enabled_and_http11_still_works() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&h2c_gateway(up.addr(), true)).await;

    let mut h2 = H2::handshake(TcpStream::connect(gw.http()).await.unwrap()).await;
    for i in 0..3 {
        let r = h2.get(&format!("http://localhost/h2c/{i}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.version, http::Version::HTTP_2);
        assert!(r.header("x-request-id").is_some());
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].path, "/h2c/2");
    assert_eq!(seen[0].header_str("host"), Some("localhost"));

    let mut h1 = H1::connect(gw.http()).await;
    assert_eq!(h1.get("/h1").await.status, 200);
    assert_eq!(up.count(), 4);
}

#[tokio::test]
async fn h2c_is_refused_when_not_enabled() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&h2c_gateway(up.addr(), false)).await;
    let reply = rampart_testkit::send_raw(
        gw.http(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(reply.closed, "{reply:?}");
    assert!(
        !reply.statuses().iter().any(|s| (200..300).contains(s)),
        "{reply:?}"
    );
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn h2c_request_bodies_arrive_and_limits_apply() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:0\", h2c: true }}]\nlimits: {{ request_buffer_bytes: 4KiB }}\nclusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes:\n  - {{ name: small, match: {{ path_prefix: /small }}, cluster: up, max_body_bytes: 1KiB }}\n  - {{ name: all, cluster: up }}\n",
        up.addr()
    ))
    .await;
    let (mut tx, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(TcpStream::connect(gw.http()).await.unwrap()),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let post = |path: &str, n: usize| {
        http::Request::post(format!("http://localhost{path}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(vec![b'z'; n])))
            .unwrap()
    };
    let r = crate::support::collect(tx.send_request(post("/big", 100_000)).await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(up.requests()[0].body.len(), 100_000);
    let r = crate::support::collect(tx.send_request(post("/small", 5000)).await.unwrap()).await;
    assert_eq!(r.status, 413);
    assert_eq!(up.count(), 1);
    // The connection is still usable after a refused stream.
    tx.ready().await.unwrap();
    let r = crate::support::collect(tx.send_request(post("/big", 10)).await.unwrap()).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn h2c_enforces_the_same_header_limits_as_h2_over_tls() {
    use http_body_util::Full;
    let up = RecordingUpstream::start();
    let gw = Gw::start(&h2c_gateway(up.addr(), true)).await;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(gw.http()).await.unwrap());
    let (mut tx, conn) = hyper::client::conn::http2::handshake::<_, _, Full<bytes::Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        io,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("http://localhost/big")
        .header("x-big", "v".repeat(64 * 1024))
        .body(Full::default())
        .unwrap();
    // Either a 431 answer or a refused stream; never a forwarded request.
    if let Ok(resp) = tx.send_request(req).await {
        assert_eq!(resp.status(), 431);
    }
    assert_eq!(
        up.count(),
        0,
        "an oversized h2c head never reaches the upstream"
    );
    let mut h2 = H2::handshake(TcpStream::connect(gw.http()).await.unwrap()).await;
    assert_eq!(h2.get("http://localhost/small").await.status, 200);
}
