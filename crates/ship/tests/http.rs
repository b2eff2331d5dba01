//! The HTTPS sink against a real local TLS server: the request it sends (path, headers, zstd
//! body) and how it reads each kind of answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_ship::{Batch, Delivered, EventSink, HttpSink, SinkError, TlsSource};
use rampart_testkit::TestCa;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// Status, headers and body of the scripted answer.
type Answer = (u16, Vec<(String, String)>, String);

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// An HTTPS server on 127.0.0.1 answering every request with `status`, `headers` and `body`.
async fn serve(ca: &TestCa, status: u16, headers: &[(&str, &str)], body: &str) -> Server {
    let cert = ca.issue(&["127.0.0.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(cert.server_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer: Arc<Answer> = Arc::new((
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body.to_string(),
    ));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, log, answer) = (acceptor.clone(), log.clone(), answer.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (log, answer) = (log.clone(), answer.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes().to_vec();
                        log.lock().unwrap().push(Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            headers: parts.headers,
                            body,
                        });
                        let mut res = http::Response::builder().status(answer.0);
                        for (k, v) in &answer.1 {
                            res = res.header(k, v);
                        }
                        Ok::<_, Infallible>(
                            res.body(Full::new(Bytes::from(answer.2.clone()))).unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server {
        url: format!("https://{addr}"),
        seen,
    }
}

fn tls(ca: &TestCa) -> TlsSource {
    let config = ca.client_config();
    Arc::new(move || config.clone())
}

fn batch() -> Batch {
    Batch {
        lines: vec![
            Bytes::from_static(br#"{"event.id":"a","n":1}"#),
            Bytes::from_static(br#"{"event.id":"b","n":2}"#),
            Bytes::from_static(br#"{"event.id":"c","n":3}"#),
        ],
        ids: vec!["a".into(), "b".into(), "c".into()],
    }
}

#[tokio::test]
async fn posts_zstd_ndjson_and_reads_the_counts() {
    let ca = TestCa::new();
    let server = serve(
        &ca,
        200,
        &[("content-type", "application/json")],
        r#"{"stored":2,"duplicates":1,"rejected":0}"#,
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let config = ca.client_config();
    let source: TlsSource = Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        config.clone()
    });
    let sink = HttpSink::new(&server.url, source).unwrap();
    assert_eq!(sink.name(), "http");
    let got = sink.deliver(&batch()).await.unwrap();
    assert_eq!(
        got,
        Delivered {
            stored: 2,
            duplicates: 1,
            rejected: 0
        }
    );
    sink.deliver(&batch()).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the TLS source is asked every time"
    );

    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/events/ingest");
    assert_eq!(req.headers["content-type"], "application/x-ndjson");
    assert_eq!(req.headers["content-encoding"], "zstd");
    assert!(req.headers.get("authorization").is_none());
    let plain = zstd::decode_all(&req.body[..]).unwrap();
    let want = batch()
        .lines
        .iter()
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(String::from_utf8(plain).unwrap(), want);
}

#[tokio::test]
async fn service_unavailable_is_busy_with_retry_after() {
    let ca = TestCa::new();
    let server = serve(&ca, 503, &[("retry-after", "7")], "queue full").await;
    let sink = HttpSink::new(&server.url, tls(&ca)).unwrap();
    match sink.deliver(&batch()).await {
        Err(SinkError::Busy { retry_after }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("expected busy, got {other:?}"),
    }
    let server = serve(&ca, 429, &[], "").await;
    let sink = HttpSink::new(&server.url, tls(&ca)).unwrap();
    assert!(matches!(
        sink.deliver(&batch()).await,
        Err(SinkError::Busy { retry_after: None })
    ));
}

#[tokio::test]
async fn unauthorized_is_a_refusal_with_the_status_and_a_body_excerpt() {
    let ca = TestCa::new();
    let server = serve(&ca, 401, &[], "no client certificate").await;
    let sink = HttpSink::new(&server.url, tls(&ca))
        .unwrap()
        .with_bearer("s3cret-admin-token")
        .unwrap();
    assert!(!format!("{sink:?}").contains("s3cret"));
    match sink.deliver(&batch()).await {
        Err(SinkError::Refused(msg)) => {
            assert!(msg.contains("401"), "{msg}");
            assert!(msg.contains("no client certificate"), "{msg}");
            assert!(!msg.contains("s3cret"));
        }
        other => panic!("expected refused, got {other:?}"),
    }
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].headers["authorization"],
        "Bearer s3cret-admin-token"
    );
}

#[tokio::test]
async fn a_garbled_success_answer_is_not_taken_as_delivered() {
    let ca = TestCa::new();
    let server = serve(&ca, 200, &[], "<html>proxy</html>").await;
    let sink = HttpSink::new(&server.url, tls(&ca)).unwrap();
    assert!(matches!(
        sink.deliver(&batch()).await,
        Err(SinkError::Refused(_))
    ));
}

#[tokio::test]
async fn no_listener_or_an_untrusted_server_is_unreachable() {
    let ca = TestCa::new();
    let port = rampart_testkit::free_port();
    let sink = HttpSink::new(&format!("https://127.0.0.1:{port}"), tls(&ca)).unwrap();
    assert!(matches!(
        sink.deliver(&batch()).await,
        Err(SinkError::Unreachable(_))
    ));
    let server = serve(&ca, 200, &[], r#"{"stored":3,"duplicates":0}"#).await;
    let stranger = TestCa::new();
    let sink = HttpSink::new(&server.url, tls(&stranger)).unwrap();
    match sink.deliver(&batch()).await {
        Err(SinkError::Unreachable(msg)) => assert!(msg.to_lowercase().contains("cert"), "{msg}"),
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_tls_config_is_used_for_the_next_delivery() {
    let ca = TestCa::new();
    let server = serve(&ca, 200, &[], r#"{"stored":3,"duplicates":0,"rejected":0}"#).await;
    let stranger = TestCa::new();
    let current = Arc::new(Mutex::new(stranger.client_config()));
    let shared = current.clone();
    let source: TlsSource = Arc::new(move || shared.lock().unwrap().clone());
    let sink = HttpSink::new(&server.url, source).unwrap();
    assert!(sink.deliver(&batch()).await.is_err());
    *current.lock().unwrap() = ca.client_config();
    assert_eq!(sink.deliver(&batch()).await.unwrap().stored, 3);
}

#[test]
fn only_https_urls_are_accepted() {
    let ca = TestCa::new();
    for bad in [
        "http://127.0.0.1:1",
        "not a url",
        "https://127.0.0.1:1/?q=1",
        "/path",
    ] {
        assert!(HttpSink::new(bad, tls(&ca)).is_err(), "{bad}");
    }
    let sink = HttpSink::new("https://collector:8443/base/", tls(&ca)).unwrap();
    assert_eq!(
        sink.endpoint().to_string(),
        "https://collector:8443/base/v1/events/ingest"
    );
}
