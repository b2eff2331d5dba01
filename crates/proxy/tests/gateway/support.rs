//! The harness: a gateway started from YAML with its event subscription, and small clients.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_config::Config;
use rampart_events::{AccessEvent, Event, EventBus, SecurityEvent, SecurityKind, Subscription};
use rampart_identity::LocalCa;
use rampart_proxy::{Gateway, GatewayHandle, GatewayOptions, MeshContext};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Longest any single client exchange may take before the test fails (not hangs).
pub const EXCHANGE: Duration = Duration::from_secs(10);
/// How long to wait for an event that should come.
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// A running gateway, the config it was started with, and a subscription to its events.
pub struct Gw {
    pub handle: GatewayHandle,
    pub config: Config,
    pub events: Subscription,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An HTTP/1.1 client connection, kept open across requests.
pub struct H1 {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

/// An HTTP/2 client connection.
pub struct H2 {
    tx: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

// === config ===

/// A full configuration around `gateway` (the body of the `gateway:` section, indentation
/// removed). Without a `listeners:` key, one plaintext listener `http` is added.
pub fn config(gateway: &str) -> Config {
    let mut body = String::new();
    if !gateway.contains("listeners:") {
        body.push_str("listeners: [{ name: http, address: \"127.0.0.1:0\" }]\n");
    }
    body.push_str(&dedent(gateway));
    let indented: String = body.lines().map(|l| format!("  {l}\n")).collect();
    let yaml = format!(
        "admin: {{ listen: \"127.0.0.3:0\" }}\ncontrol: {{ listen: \"127.0.0.5:0\" }}\ngateway:\n{indented}"
    );
    rampart_config::from_str("test", &yaml)
        .unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
}

/// A gateway body with one cluster `up` (at `upstream`) and one catch-all route `all`.
pub fn one_route(upstream: SocketAddr) -> String {
    format!(
        "clusters: [{{ name: up, endpoints: [\"{upstream}\"] }}]\nroutes: [{{ name: all, cluster: up }}]\n"
    )
}

/// Removes the indentation common to all non-blank lines.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .fold(String::new(), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        })
}

// === impl Gw ===

impl Gw {
    pub async fn start(gateway: &str) -> Self {
        Self::start_config(config(gateway), None).await
    }

    pub async fn start_config(config: Config, local_ca: Option<Arc<LocalCa>>) -> Self {
        Self::start_with(config, local_ca, None).await
    }

    /// A gateway that is a mesh member with `mesh`.
    pub async fn start_mesh(config: Config, mesh: MeshContext) -> Self {
        Self::start_with(config, None, Some(mesh)).await
    }

    async fn start_with(
        config: Config,
        local_ca: Option<Arc<LocalCa>>,
        mesh: Option<MeshContext>,
    ) -> Self {
        let bus = EventBus::new(16 * 1024);
        let events = bus.subscribe();
        let options = GatewayOptions {
            name: "test-gateway".into(),
            bus: bus.clone(),
            local_ca,
            mesh,
        };
        let handle = Gateway::start(&config, options)
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"));
        Self {
            handle,
            config,
            events,
        }
    }

    /// The plaintext listener named `http`.
    pub fn http(&self) -> SocketAddr {
        self.listener("http")
    }

    pub fn listener(&self, name: &str) -> SocketAddr {
        self.handle
            .listener_addr(name)
            .unwrap_or_else(|| panic!("no listener `{name}`"))
    }

    pub fn admin(&self) -> SocketAddr {
        self.handle.admin_addr()
    }

    /// The next security event of `kind` (others are skipped); panics after a few seconds.
    pub async fn security(&mut self, kind: SecurityKind) -> SecurityEvent {
        let found = tokio::time::timeout(EVENT_WAIT, async {
            while let Some(ev) = self.events.recv().await {
                if let Event::Security(s) = &*ev
                    && s.kind == kind
                {
                    return Some(s.clone());
                }
            }
            None
        })
        .await;
        found
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no {kind:?} event"))
    }

    /// The next access event that satisfies `pred`; panics after a few seconds.
    pub async fn access(&mut self, pred: impl Fn(&AccessEvent) -> bool) -> AccessEvent {
        let found = tokio::time::timeout(EVENT_WAIT, async {
            while let Some(ev) = self.events.recv().await {
                if let Event::Access(a) = &*ev
                    && pred(a)
                {
                    return Some((**a).clone());
                }
            }
            None
        })
        .await;
        found
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no matching access event"))
    }

    /// Security events of `kind` already published (does not wait).
    pub fn pending_security(&mut self, kind: SecurityKind) -> usize {
        let mut n = 0;
        while let Some(ev) = self.events.try_recv() {
            if matches!(&*ev, Event::Security(s) if s.kind == kind) {
                n += 1;
            }
        }
        n
    }

    /// `/metrics` of the admin listener.
    pub async fn metrics(&self) -> String {
        let r = get(self.admin(), "/metrics").await;
        assert_eq!(r.status, 200);
        r.text()
    }
}

/// The value of the sample `name{labels…}` in Prometheus text, if present.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

// === clients ===

/// `GET path` on a fresh HTTP/1.1 connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, Request::get(path).body(Full::default()).unwrap()).await
}

/// One request on a fresh HTTP/1.1 connection (`Host: localhost` unless the request has one).
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    tokio::time::timeout(EXCHANGE, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        H1::handshake(tcp).await.send(req).await
    })
    .await
    .unwrap_or_else(|_| panic!("no response from {addr} within {EXCHANGE:?}"))
}

pub async fn collect(resp: Response<Incoming>) -> Reply {
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_else(|e| panic!("response body failed: {e}"));
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

// === impl H1 ===

impl H1 {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::handshake(TcpStream::connect(addr).await.unwrap()).await
    }

    pub async fn handshake<IO>(io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self { tx }
    }

    pub async fn send(&mut self, mut req: Request<Full<Bytes>>) -> Reply {
        if !req.headers().contains_key(header::HOST) {
            req.headers_mut()
                .insert(header::HOST, http::HeaderValue::from_static("localhost"));
        }
        tokio::time::timeout(EXCHANGE, async {
            self.tx.ready().await.unwrap();
            collect(self.tx.send_request(req).await.unwrap()).await
        })
        .await
        .expect("no response in time")
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Request::get(path).body(Full::default()).unwrap())
            .await
    }

    /// Whether the server still accepts requests on this connection.
    pub fn is_open(&self) -> bool {
        !self.tx.is_closed()
    }
}

// === impl H2 ===

impl H2 {
    pub async fn handshake<IO>(io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .unwrap();
        tokio::spawn(conn);
        Self { tx }
    }

    /// `GET` of an absolute URI (h2 carries the authority in `:authority`).
    pub async fn get(&mut self, uri: &str) -> Reply {
        let req = Request::get(uri).body(Full::default()).unwrap();
        tokio::time::timeout(EXCHANGE, async {
            self.tx.ready().await.unwrap();
            collect(self.tx.send_request(req).await.unwrap()).await
        })
        .await
        .expect("no h2 response in time")
    }
}

// === impl Reply ===

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (what a `RecordingUpstream` answers).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// The body of the first response in a raw reply (everything after its head), as text.
pub fn raw_body(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
