//! State shared by every connection of one gateway.

use crate::authz::AuthzRt;
use crate::mesh::MeshRt;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use http::HeaderValue;
use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One gateway's live state.
#[derive(Debug)]
pub struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub bus: EventBus,
    pub metrics: Metrics,
    /// Names this gateway in events.
    pub source: Arc<str>,
    pub ids: RequestIds,
    pub ready: AtomicBool,
    pub draining: AtomicBool,
    /// The gateway's mesh membership, when it has one.
    pub mesh: Option<Arc<MeshRt>>,
    /// The installed policy sets and the shadow ledger.
    pub authz: AuthzRt,
    /// Raised while the event spool is full in `block` mode: requests are shed with 503
    /// (see `docs/logs.md`). Set once by [`crate::GatewayHandle::shed_while`].
    pub shed: std::sync::OnceLock<Arc<dyn ShedGate>>,
}

/// The event pipeline's gate: up while events cannot be spooled (`block` mode).
pub trait ShedGate: Send + Sync + std::fmt::Debug {
    /// Whether requests must be shed now. Called on every request: keep it one atomic load.
    fn is_blocked(&self) -> bool;
    /// Counts one shed request (the proxy counts the metric).
    fn note_shed(&self);
}

/// What the request path knows about the connection a request came on.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub listener: Arc<str>,
    pub tls: bool,
    /// The SPIFFE id of a mesh peer (the principal of its requests), and the same as the
    /// `x-rampart-peer-id` value sent upstream.
    pub peer_id: Option<(Arc<str>, HeaderValue)>,
    /// The DER of the client's leaf certificate on TLS connections that presented one (mesh
    /// listeners): what certificate-bound tokens (`cnf.x5t#S256`) are checked against.
    pub client_cert: Option<Arc<[u8]>>,
}

/// Unique request ids: a random per-process prefix and a counter (no syscall per request).
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

// === impl Shared ===

impl Shared {
    /// Publishes a security event and counts it.
    pub fn security(
        &self,
        kind: SecurityKind,
        client: Option<SocketAddr>,
        detail: impl Into<String>,
    ) {
        if self.bus.has_subscribers() {
            self.bus.publish(Event::Security(SecurityEvent::new(
                kind,
                &self.source,
                client,
                detail,
            )));
        }
    }
}

// === impl RequestIds ===

impl RequestIds {
    pub fn new() -> Self {
        let mut b = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut b);
        Self {
            prefix: u64::from_le_bytes(b),
            next: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut out = [0u8; 32];
        for (i, word) in [self.prefix, n].into_iter().enumerate() {
            for j in 0..16 {
                out[i * 16 + j] = HEX[((word >> (60 - 4 * j)) & 0xf) as usize];
            }
        }
        out.iter().map(|b| char::from(*b)).collect()
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}
