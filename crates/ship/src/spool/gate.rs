//! The spool gate: the one bit the proxy's request path reads to know that the spool is full in
//! `block` mode, and the counter of requests it shed meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Raised while a `block`-mode spool is full. Cheap to clone and to check on every request.
#[derive(Clone, Debug, Default)]
pub struct SpoolGate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    blocked: AtomicBool,
    shed: AtomicU64,
}

// === impl SpoolGate ===

impl SpoolGate {
    /// Whether the proxy must shed requests (answer 503) because events cannot be spooled.
    pub fn is_blocked(&self) -> bool {
        self.inner.blocked.load(Ordering::Relaxed)
    }

    /// Records one request shed because the gate was up (for the `events_blocked` alarm). The
    /// proxy counts it in its own `rampart_requests_shed_total{reason="event_spool_full"}`.
    pub fn note_shed(&self) {
        self.inner.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests shed since start.
    pub fn shed(&self) -> u64 {
        self.inner.shed.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, blocked: bool) {
        self.inner.blocked.store(blocked, Ordering::Relaxed);
    }
}
