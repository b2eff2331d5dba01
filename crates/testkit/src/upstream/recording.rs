use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{StatusCode, Version};
use rustls::ServerConfig;
use tokio::task::JoinHandle;

mod serve;

/// A real HTTP server (HTTP/1.1 and h2c; h2 or HTTP/1.1 over TLS when configured) that records
/// every request and answers with a JSON description of it:
/// `{"upstream","method","path","version","headers":{name: value},"body_len"}` (repeated headers
/// are joined with `", "`), plus the header `x-upstream: <name>`.
pub struct RecordingUpstream {
    addr: SocketAddr,
    config: Arc<Config>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Options for a [`RecordingUpstream`]; see [`RecordingUpstream::builder`].
pub struct RecordingUpstreamBuilder {
    config: Config,
}

/// One request as the upstream received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/a/b?c=d`.
    pub path: String,
    pub version: Version,
    /// Every header in arrival order; names are lowercase (as hyper gives them).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// False while the body is still arriving, or if it ended in an error (client gone, bad
    /// framing); `body` then holds what had arrived.
    pub body_complete: bool,
    pub peer: SocketAddr,
}

struct Config {
    name: String,
    delay: Duration,
    status: StatusCode,
    body_size: Option<usize>,
    tls: Option<Arc<ServerConfig>>,
}

#[derive(Default)]
struct Shared {
    /// Requests with a sequence number, so a body that finishes later updates its own entry.
    requests: Mutex<Vec<(u64, Recorded)>>,
    next_seq: AtomicU64,
    connections: AtomicUsize,
}

// === impl RecordingUpstream ===

impl RecordingUpstream {
    /// Starts a plain upstream named `upstream` that answers 200 at once.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn builder() -> RecordingUpstreamBuilder {
        RecordingUpstreamBuilder {
            config: Config {
                name: "upstream".to_owned(),
                delay: Duration::ZERO,
                status: StatusCode::OK,
                body_size: None,
                tls: None,
            },
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// `http://127.0.0.1:<port>`, or `https://…` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Every request received since start (or the last [`clear`](Self::clear)), in order. A
    /// request is recorded as soon as its head arrives, before its body.
    pub fn requests(&self) -> Vec<Recorded> {
        let requests = self.shared.requests.lock().unwrap();
        requests.iter().map(|(_, r)| r.clone()).collect()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// TCP connections accepted (before any TLS handshake).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Forgets the recorded requests and resets the connection count.
    pub fn clear(&self) {
        self.shared.requests.lock().unwrap().clear();
        self.shared.connections.store(0, Ordering::SeqCst);
    }

    /// Waits until at least `n` requests are recorded; false if `timeout` passes first.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        super::poll_until(timeout, || self.count() >= n).await
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === impl RecordingUpstreamBuilder ===

impl RecordingUpstreamBuilder {
    /// The value of the `x-upstream` response header (default `upstream`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Waits this long after recording a request before answering it.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.config.delay = delay;
        self
    }

    /// Answers every request with this status (default 200).
    pub fn status(mut self, code: u16) -> Self {
        self.config.status =
            StatusCode::from_u16(code).unwrap_or_else(|_| panic!("`{code}` is not a status"));
        self
    }

    /// Answers with `size` bytes of `x` (text/plain) instead of the JSON description.
    pub fn body_size(mut self, size: usize) -> Self {
        self.config.body_size = Some(size);
        self
    }

    /// Serves TLS with this config (ALPN decides between h2 and HTTP/1.1).
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.config.tls = Some(config);
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving; needs a Tokio runtime.
    pub fn start(self) -> RecordingUpstream {
        let listener = super::bind_local();
        let addr = listener.local_addr().expect("listener address");
        let config = Arc::new(self.config);
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(serve::accept_loop(listener, config.clone(), shared.clone()));
        RecordingUpstream {
            addr,
            config,
            shared,
            task,
        }
    }
}

// === impl Recorded ===

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_all(name).into_iter().next()
    }

    /// The first value of header `name`, if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

#[cfg(test)]
mod tests;
