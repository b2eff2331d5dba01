//! The accept loop and request handler behind a [`RecordingUpstream`](super::RecordingUpstream).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{Config, Recorded, Shared};

pub(super) async fn accept_loop(listener: TcpListener, config: Arc<Config>, shared: Arc<Shared>) {
    // Connections live in this set, so aborting this task (on drop) ends them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    conns.spawn(serve(tcp, peer, config.clone(), shared.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(tcp: TcpStream, peer: SocketAddr, config: Arc<Config>, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let tls = config.tls.clone();
    let service = service_fn(move |req| handle(req, peer, config.clone(), shared.clone()));
    let builder = auto::Builder::new(TokioExecutor::new());
    // Connection errors (a gateway resetting, bad framing) just end the connection.
    let _ = match tls {
        Some(tls) => match TlsAcceptor::from(tls).accept(tcp).await {
            Ok(stream) => {
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
            }
            Err(_) => return,
        },
        None => builder.serve_connection(TokioIo::new(tcp), service).await,
    };
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    config: Arc<Config>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, mut body) = req.into_parts();
    let mut recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        version: parts.version,
        headers: (parts.headers.iter())
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: Vec::new(),
        body_complete: false,
        peer,
    };
    let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
    shared.push(seq, recorded.clone());
    recorded.body_complete = true;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => recorded
                .body
                .extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Err(_) => {
                recorded.body_complete = false;
                break;
            }
        }
    }
    shared.update(seq, recorded.clone());
    if !config.delay.is_zero() {
        tokio::time::sleep(config.delay).await;
    }
    Ok(respond(&recorded, &config))
}

fn respond(recorded: &Recorded, config: &Config) -> Response<Full<Bytes>> {
    let (content_type, body) = match config.body_size {
        Some(size) => ("text/plain", Bytes::from(vec![b'x'; size])),
        None => ("application/json", describe(recorded, &config.name)),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = config.status;
    let headers = response.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static(content_type));
    let name = http::HeaderValue::from_str(&config.name).expect("upstream name is a header value");
    headers.insert("x-upstream", name);
    response
}

fn describe(recorded: &Recorded, name: &str) -> Bytes {
    let mut headers = serde_json::Map::new();
    for (n, v) in &recorded.headers {
        let v = String::from_utf8_lossy(v);
        match headers.get_mut(n) {
            Some(serde_json::Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&v);
            }
            _ => {
                headers.insert(n.clone(), v.into());
            }
        }
    }
    let json = serde_json::json!({
        "upstream": name,
        "method": recorded.method,
        "path": recorded.path,
        "version": format!("{:?}", recorded.version),
        "headers": headers,
        "body_len": recorded.body.len(),
    });
    Bytes::from(json.to_string())
}

// === impl Shared ===

impl Shared {
    fn push(&self, seq: u64, recorded: Recorded) {
        self.requests.lock().unwrap().push((seq, recorded));
    }

    /// Replaces entry `seq`, unless a `clear()` dropped it meanwhile.
    fn update(&self, seq: u64, recorded: Recorded) {
        let mut requests = self.requests.lock().unwrap();
        if let Some((_, slot)) = requests.iter_mut().rev().find(|(s, _)| *s == seq) {
            *slot = recorded;
        }
    }
}
