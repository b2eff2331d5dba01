use super::*;
use crate::certs::TestCa;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Sender = http1::SendRequest<Full<Bytes>>;

async fn h1(addr: SocketAddr) -> (Sender, SocketAddr, JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, local, driver)
}

fn post(uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::post(uri)
        .header("host", "upstream.test")
        .header("x-test", "1")
        .header("x-test", "2")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

async fn json(response: Response<Incoming>) -> serde_json::Value {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn records_http1_requests() {
    let upstream = RecordingUpstream::start();
    let (mut send, local, _driver) = h1(upstream.addr()).await;
    let response = send.send_request(post("/a?b=c", b"hello")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream"], "upstream");
    let described = json(response).await;
    assert_eq!(described["method"], "POST");
    assert_eq!(described["path"], "/a?b=c");
    assert_eq!(described["body_len"], 5);
    assert_eq!(described["headers"]["x-test"], "1, 2");
    assert_eq!(described["headers"]["host"], "upstream.test");

    let recorded = &upstream.requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/a?b=c")
    );
    assert_eq!(recorded.version, Version::HTTP_11);
    assert_eq!(recorded.header_all("X-Test"), [b"1", b"2"]);
    assert_eq!(recorded.header_str("host"), Some("upstream.test"));
    assert_eq!(
        (recorded.body.as_slice(), recorded.body_complete),
        (&b"hello"[..], true)
    );
    assert_eq!(recorded.peer, local);

    send.send_request(post("/second", b"")).await.unwrap();
    assert_eq!((upstream.count(), upstream.connections()), (2, 1));
    upstream.clear();
    assert_eq!((upstream.count(), upstream.connections()), (0, 0));
}

#[tokio::test]
async fn records_h2c_requests() {
    let upstream = RecordingUpstream::start();
    let tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    let (mut send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("http://upstream.test/h2?x=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(json(response).await["version"], "HTTP/2.0");
    let recorded = &upstream.requests()[0];
    assert_eq!(recorded.version, Version::HTTP_2);
    assert_eq!(recorded.path, "/h2?x=1");
}

#[tokio::test]
async fn builder_options_shape_the_answer() {
    let upstream = RecordingUpstream::builder()
        .name("blue")
        .status(503)
        .body_size(10)
        .delay(Duration::from_millis(200))
        .start();
    let (mut send, _, _driver) = h1(upstream.addr()).await;
    let start = std::time::Instant::now();
    let response = send.send_request(post("/", b"")).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-upstream"], "blue");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"xxxxxxxxxx");
    assert_eq!(upstream.name(), "blue");
}

#[tokio::test]
async fn serves_tls() {
    let ca = TestCa::new();
    let cert = ca.issue(&["localhost"]);
    let upstream = RecordingUpstream::builder()
        .tls(cert.server_config())
        .start();
    assert!(upstream.url().starts_with("https://127.0.0.1:"));
    let tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(ca.client_config())
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut send, conn) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let response = send.send_request(post("/secure", b"")).await.unwrap();
    assert_eq!(json(response).await["path"], "/secure");
    assert_eq!((upstream.count(), upstream.connections()), (1, 1));
}

#[tokio::test]
async fn records_the_head_before_the_body_arrives() {
    let upstream = RecordingUpstream::start();
    let mut tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    tcp.write_all(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    assert!(upstream.wait_for(1, Duration::from_secs(5)).await);
    assert!(!upstream.requests()[0].body_complete);
    drop(tcp);
    let broken = || {
        let r = &upstream.requests()[0];
        r.body == b"abc" && !r.body_complete
    };
    assert!(super::super::poll_until(Duration::from_secs(5), broken).await);
}

#[tokio::test]
async fn drop_stops_listener_and_connections() {
    let upstream = RecordingUpstream::start();
    let addr = upstream.addr();
    let (mut send, _, driver) = h1(addr).await;
    send.send_request(post("/", b"")).await.unwrap();
    drop(upstream);
    tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .unwrap()
        .unwrap();
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .unwrap();
}
