//! Ingress listeners: accept, TLS, HTTP/1.1 behind the framing guard or HTTP/2, timeouts, and
//! graceful drain.

use crate::framing::{FramingGuard, HeadClock, RejectSink, Rejection};
use crate::handler;
use crate::idle::{Activity, Idle};
use crate::mesh::{MeshPeer, MeshRt};
use crate::overload::{Door, RequestGate};
use crate::shared::{ConnInfo, Shared};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use rampart_events::SecurityKind;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const H2_MAX_STREAMS: u32 = 256;
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Lifecycle of a gateway's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Finish in-flight requests, accept nothing new, close idle connections.
    Draining,
    /// The drain deadline passed: close everything now.
    Closing,
}

/// One ingress listener's fixed settings.
pub struct ListenerRt {
    pub name: Arc<str>,
    pub tls: Option<TlsAcceptor>,
    pub h2c: bool,
    /// Set on mesh listeners: mutual TLS with the mesh's current configuration.
    pub mesh: Option<Arc<MeshRt>>,
    /// This listener's connection bounds (`gateway.overload`).
    pub door: Arc<Door>,
    /// The gateway-wide bound on requests in flight, shared by every listener.
    pub requests: Arc<RequestGate>,
}

/// A connection after its TLS handshake (if any).
// Unboxed on purpose: the stream ends up inside the connection's future either way, and boxing
// would add an allocation per connection.
#[allow(clippy::large_enum_variant)]
enum Accepted<IO> {
    Plain(IO),
    Tls(TlsStream<IO>),
}

/// Counts open connections, for drain.
#[derive(Debug, Default)]
pub struct Open(AtomicUsize);

struct OpenGuard(Arc<Open>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Open {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn enter(self: &Arc<Self>) -> OpenGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        OpenGuard(self.clone())
    }
}

/// Accepts connections until the phase leaves `Running`.
pub async fn accept_loop(
    listener: TcpListener,
    rt: Arc<ListenerRt>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    open: Arc<Open>,
) {
    let active = shared
        .metrics
        .gauge("rampart_connections_active", &[("listener", &rt.name)]);
    let total = shared
        .metrics
        .counter("rampart_connections_total", &[("listener", &rt.name)]);
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() != Phase::Running {
                    return;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    total.increment(1);
                    // Over a bound: close at once and keep accepting, so the backlog drains.
                    let permit = match rt.door.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refused) => {
                            drop(stream);
                            if let Some(n) = rt.door.report() {
                                shared.security(
                                    SecurityKind::RateLimited,
                                    Some(peer),
                                    format!("connection refused: {} ({n} since the last report)", refused.reason()),
                                );
                            }
                            continue;
                        }
                    };
                    let guard = open.enter();
                    let (rt, shared, phase, active) = (rt.clone(), shared.clone(), phase.clone(), active.clone());
                    tokio::spawn(async move {
                        active.increment(1.0);
                        serve(stream, peer, &rt, shared, phase).await;
                        active.decrement(1.0);
                        drop(guard);
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = %rt.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    rt: &ListenerRt,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
) {
    let _ = stream.set_nodelay(true);
    let snap = shared.snapshot.load_full();
    let timeouts = snap.timeouts.clone();
    let head_limits = snap.head_limits;
    drop(snap);
    let activity = Activity::new();
    let io = Idle::new(stream, activity.clone());
    let header_read = timeouts.header_read.0;
    let Some((accepted, mesh_peer)) = handshake(io, peer, rt, &shared, header_read).await else {
        return;
    };
    let client_cert = match &accepted {
        Accepted::Tls(tls) => tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| Arc::from(leaf.as_ref())),
        Accepted::Plain(_) => None,
    };
    let info = Arc::new(ConnInfo {
        peer,
        listener: rt.name.clone(),
        tls: matches!(accepted, Accepted::Tls(_)),
        peer_id: mesh_peer.as_ref().map(|p| (p.id.clone(), p.header.clone())),
        client_cert,
    });
    let sink: Arc<dyn RejectSink> = Arc::new(GuardSink {
        shared: shared.clone(),
        peer,
    });
    let svc_shared = shared.clone();
    let requests = rt.requests.clone();
    let svc = service_fn(move |req| {
        let (info, shared) = (info.clone(), svc_shared.clone());
        // Load shedding: the place is held until the response head is ready.
        let permit = requests.enter();
        async move {
            let Some(_permit) = permit else {
                return Ok(handler::overloaded(&req, &info, &shared));
            };
            handler::handle(req, info, shared).await
        }
    });
    let idle = timeouts.idle.0;
    let max_buf = (head_limits.max_header_bytes + head_limits.max_uri_bytes + 1024).max(8192);

    // The header-read timeout is enforced by `drive` from the guard's clock, not by hyper: hyper
    // starts its timer as soon as a response is sent, so it would close idle keep-alive
    // connections (and report them as slow attacks) after `header_read` instead of `idle`.
    let clock = HeadClock::new();
    let plain = Deadlines { idle, head: None };
    let guarded = Deadlines {
        idle,
        head: Some((clock.clone(), header_read)),
    };
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(max_buf)
        .max_headers(head_limits.max_header_count.max(1))
        // The framing guard ends the read side after refusing a head; requests pipelined before
        // that head must still get their responses (then the guard's 400), not be cancelled
        // as if the client had gone away.
        .half_close(true)
        .keep_alive(true);
    // h2 limits, the same whether h2 comes by ALPN or as h2c.
    let h2_header_list =
        u32::try_from(head_limits.max_header_bytes + head_limits.max_uri_bytes).unwrap_or(u32::MAX);
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(h2_header_list)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_TIMEOUT);

    let serving = async {
        match accepted {
            Accepted::Tls(tls) if tls.get_ref().1.alpn_protocol() == Some(b"h2") => {
                drive(
                    h2.serve_connection(TokioIo::new(tls), svc),
                    phase,
                    activity,
                    plain,
                )
                .await
            }
            Accepted::Tls(tls) => {
                let io = FramingGuard::new(tls, head_limits, Some(sink)).with_head_clock(clock);
                drive(
                    h1.serve_connection(TokioIo::new(io), svc),
                    phase,
                    activity,
                    guarded,
                )
                .await
            }
            Accepted::Plain(io) if rt.h2c => {
                let io = FramingGuard::new(io, head_limits, Some(sink)).with_head_clock(clock);
                let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                auto.http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(None)
                    .max_buf_size(max_buf)
                    .max_headers(head_limits.max_header_count.max(1))
                    .half_close(true);
                auto.http2()
                    .timer(TokioTimer::new())
                    .max_header_list_size(h2_header_list)
                    .max_concurrent_streams(H2_MAX_STREAMS)
                    .keep_alive_interval(Some(H2_PING_INTERVAL))
                    .keep_alive_timeout(H2_PING_TIMEOUT);
                drive(
                    auto.serve_connection(TokioIo::new(io), svc),
                    phase,
                    activity,
                    guarded,
                )
                .await
            }
            Accepted::Plain(io) => {
                let io = FramingGuard::new(io, head_limits, Some(sink)).with_head_clock(clock);
                drive(
                    h1.serve_connection(TokioIo::new(io), svc),
                    phase,
                    activity,
                    guarded,
                )
                .await
            }
        }
    };
    let result = match mesh_peer {
        // A revoked peer's connection ends at once, requests in flight or not.
        Some(p) => tokio::select! {
            r = serving => r,
            () = p.registration.closed() => Err("mesh peer revoked".into()),
        },
        None => serving.await,
    };
    if let Err(e) = result {
        note_connection_error(&shared, peer, &e);
    }
}

/// The TLS handshake of TLS and mesh listeners (bounded by `timeout`); `None` when it failed
/// (counted, and for mesh listeners reported).
async fn handshake<IO>(
    io: IO,
    peer: SocketAddr,
    rt: &ListenerRt,
    shared: &Shared,
    timeout: Duration,
) -> Option<(Accepted<IO>, Option<MeshPeer>)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(mesh) = &rt.mesh {
        let (tls, mesh_peer) = crate::mesh::accept(mesh, io, peer, &rt.name, timeout).await?;
        return Some((Accepted::Tls(tls), Some(mesh_peer)));
    }
    let Some(acceptor) = &rt.tls else {
        return Some((Accepted::Plain(io), None));
    };
    match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => Some((Accepted::Tls(tls), None)),
        failed => {
            if let Ok(Err(e)) = &failed {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            shared
                .metrics
                .counter(
                    "rampart_tls_handshake_errors_total",
                    &[("listener", &rt.name)],
                )
                .increment(1);
            None
        }
    }
}

/// The timeouts [`drive`] enforces on a connection.
pub struct Deadlines {
    /// Keep-alive idle time before a graceful close.
    pub idle: Duration,
    /// The framing guard's clock and the header-read timeout (HTTP/1 connections).
    pub head: Option<(HeadClock, Duration)>,
}

/// Runs a connection until it ends, the gateway drains, it stays idle too long, or a request
/// head takes too long to arrive (slowloris: the connection is dropped at once).
pub async fn drive<C>(
    conn: C,
    mut phase: watch::Receiver<Phase>,
    activity: Activity,
    deadlines: Deadlines,
) -> Result<(), String>
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let Deadlines { idle, head } = deadlines;
    let mut conn = pin!(conn);
    let period = match &head {
        Some((_, header_read)) => (idle / 4).min(*header_read / 4),
        None => idle / 4,
    };
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut graceful = false;
    let mut watch = activity.watch();
    loop {
        tokio::select! {
            r = conn.as_mut() => return r.map_err(|e| e.to_string()),
            changed = phase.changed(), if !graceful || *phase.borrow() != Phase::Closing => {
                match (changed, *phase.borrow()) {
                    (Err(_), _) | (_, Phase::Closing) => return Ok(()),
                    (_, Phase::Draining) => {
                        graceful = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    (_, Phase::Running) => {}
                }
            }
            _ = tick.tick() => {
                if let Some((clock, header_read)) = &head
                    && clock.waiting_for().is_some_and(|w| w >= *header_read)
                {
                    return Err("request head read timeout".into());
                }
                if !graceful && watch.idle_for() >= idle {
                    graceful = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn note_connection_error(shared: &Shared, peer: SocketAddr, e: &str) {
    if e.contains("timeout") {
        shared
            .metrics
            .counter(
                "rampart_hygiene_rejections_total",
                &[("reason", "header_read_timeout"), ("route", "none")],
            )
            .increment(1);
        shared.security(
            SecurityKind::HygieneRejected,
            Some(peer),
            "header_read_timeout",
        );
    } else if e.contains("parse") || e.contains("invalid") {
        shared
            .metrics
            .counter(
                "rampart_hygiene_rejections_total",
                &[("reason", "malformed"), ("route", "none")],
            )
            .increment(1);
        shared.security(
            SecurityKind::HygieneRejected,
            Some(peer),
            "malformed_request",
        );
    }
    tracing::debug!(%peer, error = %e, "connection ended with an error");
}

/// Reports requests the framing guard refused.
struct GuardSink {
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl RejectSink for GuardSink {
    fn rejected(&self, r: &Rejection) {
        self.shared
            .metrics
            .counter(
                "rampart_hygiene_rejections_total",
                &[("reason", r.reason), ("route", "none")],
            )
            .increment(1);
        self.shared
            .security(SecurityKind::HygieneRejected, Some(self.peer), r.reason);
    }
}
