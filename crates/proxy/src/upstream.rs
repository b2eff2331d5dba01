//! A lean per-endpoint pool of HTTP/1.1 upstream connections, built on
//! `hyper::client::conn::http1`.
//!
//! Idle connections wait in a small stack; a request takes the most recent ready one, or
//! connects (plain, TLS or mesh mTLS) and hands the connection to a task of its own. A
//! connection goes back to the stack only once its response body has been read to the end; a
//! body dropped early drops the connection with it. A request that a reused connection gave back unsent (the upstream had
//! just closed it) is retried once on a fresh connection.

use crate::body::UpstreamBody;
use crate::mesh::MeshConnector;
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::service::Service as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a connection may sit idle in the pool before it is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (TCP, TLS or the connect timeout).
    #[error("connecting upstream failed")]
    Connect(#[source] BoxError),
    /// The request or its response failed on an HTTP/1.1 connection.
    #[error("upstream request failed")]
    Request(#[source] hyper::Error),
    /// A failure of the pooled client used for h2 clusters.
    #[error("upstream request failed")]
    Legacy(#[source] hyper_util::client::legacy::Error),
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        match self {
            UpstreamError::Connect(_) => true,
            UpstreamError::Request(_) => false,
            UpstreamError::Legacy(e) => e.is_connect(),
        }
    }
}

/// The idle HTTP/1.1 connections of one endpoint, and how to make more.
#[derive(Debug)]
pub struct H1Pool {
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    connector: Connector,
    connect_timeout: Duration,
    builder: http1::Builder,
    /// Set by [`H1Pool::flush`]: connections coming back are closed instead of kept.
    retired: AtomicBool,
}

/// How an [`H1Pool`] opens connections.
#[derive(Debug)]
enum Connector {
    /// Plain or TLS; `target` (`scheme://authority/`) is what the connector is called with.
    Http {
        connector: TowerToHyperService<HttpsConnector<HttpConnector>>,
        target: Uri,
    },
    /// Mutual TLS to a mesh sidecar, its peer checked.
    Mesh(MeshConnector),
}

#[derive(Debug)]
struct Idle {
    sender: http1::SendRequest<UpstreamBody>,
    since: Instant,
}

// === impl H1Pool ===

impl H1Pool {
    pub fn new(
        connector: HttpsConnector<HttpConnector>,
        target: Uri,
        max_idle: usize,
        connect_timeout: Duration,
    ) -> Self {
        let connector = Connector::Http {
            connector: TowerToHyperService::new(connector),
            target,
        };
        Self::with_connector(connector, max_idle, connect_timeout)
    }

    /// A pool of mesh connections to one sidecar.
    pub fn mesh(connector: MeshConnector, max_idle: usize, connect_timeout: Duration) -> Self {
        Self::with_connector(Connector::Mesh(connector), max_idle, connect_timeout)
    }

    fn with_connector(connector: Connector, max_idle: usize, connect_timeout: Duration) -> Self {
        let mut builder = http1::Builder::new();
        builder.title_case_headers(false);
        Self {
            idle: Mutex::new(Vec::with_capacity(max_idle.min(64))),
            max_idle,
            connector,
            connect_timeout,
            builder,
            retired: AtomicBool::new(false),
        }
    }

    /// Drops the idle connections, and from now on those that come back: the pool's TLS
    /// settings are outdated (a new SVID, bundle or revocation list). Requests in flight finish.
    pub fn flush(&self) {
        self.retired.store(true, Ordering::Release);
        self.lock().clear();
    }

    /// Sends `req` (origin-form, `Host` already set) on a pooled or a fresh connection.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let (mut sender, mut reused) = match self.checkout() {
            Some(s) => (s, true),
            None => (self.connect().await?, false),
        };
        loop {
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        pool: self.clone(),
                        sender,
                    };
                    return Ok(resp.map(|inner| PooledBody {
                        inner,
                        lease: Some(lease),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => {
                        tracing::debug!(error = %e.into_error(), "pooled upstream connection closed; retrying");
                        req = back;
                        reused = false;
                        sender = self.connect().await?;
                    }
                    _ => return Err(UpstreamError::Request(e.into_error())),
                },
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently idled connection ready for a request; drops closed and stale ones, keeps
    /// those still finishing a previous exchange.
    fn checkout(&self) -> Option<http1::SendRequest<UpstreamBody>> {
        let mut idle = self.lock();
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let entry = &idle[i];
            if entry.sender.is_ready() {
                if entry.since.elapsed() < IDLE_TIMEOUT {
                    return Some(idle.swap_remove(i).sender);
                }
                idle.swap_remove(i);
            } else if entry.sender.is_closed() {
                idle.swap_remove(i);
            }
        }
        None
    }

    fn checkin(&self, sender: http1::SendRequest<UpstreamBody>) {
        if sender.is_closed() || self.retired.load(Ordering::Acquire) {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<http1::SendRequest<UpstreamBody>, UpstreamError> {
        let timed_out = |_| UpstreamError::Connect("connect timed out".into());
        match &self.connector {
            Connector::Http { connector, target } => {
                let io = tokio::time::timeout(self.connect_timeout, connector.call(target.clone()))
                    .await
                    .map_err(timed_out)?
                    .map_err(UpstreamError::Connect)?;
                self.handshake(io).await
            }
            Connector::Mesh(mesh) => {
                let io = tokio::time::timeout(self.connect_timeout, mesh.connect())
                    .await
                    .map_err(timed_out)?
                    .map_err(UpstreamError::Connect)?;
                self.handshake(TokioIo::new(io)).await
            }
        }
    }

    async fn handshake<IO>(&self, io: IO) -> Result<http1::SendRequest<UpstreamBody>, UpstreamError>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = self
            .builder
            .handshake(io)
            .await
            .map_err(|e| UpstreamError::Connect(Box::new(e)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }
}

/// A connection lent to one exchange.
#[derive(Debug)]
struct Lease {
    pool: Arc<H1Pool>,
    sender: http1::SendRequest<UpstreamBody>,
}

/// A response body from a pooled connection; gives the connection back once read to its end.
#[derive(Debug)]
pub struct PooledBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(l) = self.lease.take() {
            l.pool.checkin(l.sender);
        }
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &polled {
            None => this.release(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.release(),
            Some(Ok(_)) => {}
            Some(Err(_)) => this.lease = None,
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
