//! The gateway as a mesh member: its own SVID, the trust bundle and revocation list it checks
//! peers against, and the directory of the other services' sidecars.
//!
//! Mesh listeners require a client SVID and make the peer's SPIFFE id the request's principal;
//! mesh clusters reach a service's sidecars over mutual TLS and accept only the service's id.
//! A resumed TLS session skips certificate verification, so every mesh connection, both ways,
//! is checked again after its handshake ([`rampart_identity::check_peer`]). The TLS
//! configurations are rebuilt (with fresh session caches) whenever the SVID, the bundle or the
//! revocation list changes: each rebuild is a new *generation*, and mesh clusters built for an
//! older generation are replaced, their idle connections dropped.

mod cluster;
mod connector;
mod conns;
mod directory;
mod inbound;
mod refusal;

pub use cluster::MeshBinding;
pub use connector::MeshConnector;
pub use directory::MeshDirectory;
pub use inbound::{MeshPeer, accept};

use crate::error::ProxyError;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use conns::Conns;
use metrics::Counter;
use rampart_config::MeshTarget;
use rampart_core::spiffe::SpiffeId;
use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use rampart_identity::{
    RevocationList, SharedRevocations, SharedTrustBundle, SvidSource, TrustBundle,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// ALPN of mesh listeners, in preference order.
const INBOUND_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// What a gateway needs to take part in the mesh. Every part is shared: the owner (the mesh
/// agent) updates them in place and then calls
/// [`GatewayHandle::mesh_changed`](crate::GatewayHandle::mesh_changed).
#[derive(Debug, Clone)]
pub struct MeshContext {
    /// This workload's own SVID, presented on both sides of every mesh connection.
    pub svid: Arc<SvidSource>,
    /// The roots peers' SVIDs must chain to.
    pub bundle: SharedTrustBundle,
    /// Serials refused even when their certificate is otherwise valid.
    pub revocations: SharedRevocations,
    /// The sidecars of each service, for mesh clusters that list no endpoints.
    pub directory: MeshDirectory,
}

/// Which end of a mesh connection the gateway is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A mesh listener accepted the connection.
    Inbound,
    /// A mesh cluster opened it.
    Outbound,
}

/// The mesh as the data plane runs it: the context, the current TLS generation and the open
/// inbound connections.
#[derive(Debug)]
pub struct MeshRt {
    ctx: MeshContext,
    state: ArcSwap<TlsState>,
    conns: Arc<Conns>,
    metrics: Metrics,
    bus: EventBus,
    source: Arc<str>,
    /// The service of the gateway's own SVID (fixed for the workload's life): the resource of
    /// requests on mesh listeners. Empty when the id is not a workload id.
    service: String,
    /// `rampart_mesh_handshakes_total`, by side (inbound, outbound) and kind (full, resumed).
    handshakes: [[Counter; 2]; 2],
}

/// One generation of mesh TLS, and the inputs it was built from.
struct TlsState {
    generation: u64,
    acceptor: TlsAcceptor,
    serial: String,
    bundle: Arc<TrustBundle>,
    revocations: Arc<RevocationList>,
}

// === impl MeshRt ===

impl MeshRt {
    /// Builds the first TLS generation from `ctx`.
    pub fn new(
        ctx: MeshContext,
        metrics: Metrics,
        bus: EventBus,
        source: Arc<str>,
    ) -> Result<Self, ProxyError> {
        let state = build_state(&ctx, 1)?;
        let handshake = |side, kind| {
            metrics.counter(
                "rampart_mesh_handshakes_total",
                &[("side", side), ("kind", kind)],
            )
        };
        let handshakes = [
            [
                handshake("inbound", "full"),
                handshake("inbound", "resumed"),
            ],
            [
                handshake("outbound", "full"),
                handshake("outbound", "resumed"),
            ],
        ];
        let service = ctx
            .svid
            .spiffe_id()
            .service()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            ctx,
            service,
            state: ArcSwap::from_pointee(state),
            conns: Arc::new(Conns::default()),
            metrics,
            bus,
            source,
            handshakes,
        })
    }

    /// The service of the gateway's own SVID (empty when its id is not a workload id).
    pub fn own_service(&self) -> &str {
        &self.service
    }

    /// The current TLS generation.
    pub fn generation(&self) -> u64 {
        self.state.load().generation
    }

    /// Rebuilds the TLS configurations when the SVID, the bundle or the revocation list changed
    /// since the current generation; returns whether it did.
    pub fn refresh(&self) -> Result<bool, ProxyError> {
        let current = self.state.load_full();
        let unchanged = current.serial == self.ctx.svid.serial()
            && Arc::ptr_eq(&current.bundle, &self.ctx.bundle.load_full())
            && Arc::ptr_eq(&current.revocations, &self.ctx.revocations.load());
        if unchanged {
            return Ok(false);
        }
        let next = build_state(&self.ctx, current.generation + 1)?;
        self.state.store(Arc::new(next));
        Ok(true)
    }

    /// Closes the open inbound connections whose peer's serial is now revoked; returns how many.
    pub fn close_revoked(&self) -> usize {
        let list = self.ctx.revocations.load();
        let closed = self.conns.close_revoked(&list);
        if closed > 0 {
            self.metrics
                .counter(
                    "rampart_mesh_connections_closed_total",
                    &[("reason", "revoked")],
                )
                .increment(closed as u64);
            tracing::info!(closed, "closed mesh connections of revoked peers");
        }
        closed
    }

    /// The SPIFFE id the sidecars of `target` must present: in this gateway's trust domain.
    pub fn expected_id(&self, cluster: &str, target: &MeshTarget) -> Result<SpiffeId, ProxyError> {
        let own = self.ctx.svid.spiffe_id();
        SpiffeId::workload(own.trust_domain(), &target.namespace, &target.service).map_err(|e| {
            ProxyError::Config(format!("cluster `{cluster}`: invalid mesh target: {e}"))
        })
    }

    /// The sidecars of `target` known to the directory.
    pub fn directory_endpoints(&self, target: &MeshTarget) -> Vec<String> {
        self.ctx.directory.get(&target.namespace, &target.service)
    }

    /// The current acceptor of mesh listeners.
    fn acceptor(&self) -> TlsAcceptor {
        self.state.load().acceptor.clone()
    }

    fn count_handshake(&self, side: Side, resumed: bool) {
        self.handshakes[side as usize][usize::from(resumed)].increment(1);
    }

    /// Counts a refused mesh connection and reports it as a security event.
    fn refuse(&self, side: Side, reason: &'static str, client: Option<SocketAddr>, detail: &str) {
        let side_label = match side {
            Side::Inbound => "inbound",
            Side::Outbound => "outbound",
        };
        self.metrics
            .counter(
                "rampart_mesh_refusals_total",
                &[("side", side_label), ("reason", reason)],
            )
            .increment(1);
        tracing::debug!(side = side_label, reason, detail, "mesh connection refused");
        if self.bus.has_subscribers() {
            self.bus.publish(Event::Security(SecurityEvent::new(
                SecurityKind::AuthFailed,
                &self.source,
                client,
                format!("mesh {side_label} connection refused: {reason}: {detail}"),
            )));
        }
    }
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("generation", &self.generation)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// Reads the inputs first, then builds from them, so a change made meanwhile is seen by the
/// next refresh rather than lost.
fn build_state(ctx: &MeshContext, generation: u64) -> Result<TlsState, ProxyError> {
    let serial = ctx.svid.serial();
    let bundle = ctx.bundle.load_full();
    let revocations = ctx.revocations.load();
    let config = rampart_identity::mesh_server_config(
        ctx.svid.clone(),
        ctx.bundle.clone(),
        ctx.revocations.clone(),
        INBOUND_ALPN.iter().map(|p| p.to_vec()).collect(),
    )
    .map_err(ProxyError::MeshTls)?;
    Ok(TlsState {
        generation,
        acceptor: TlsAcceptor::from(Arc::new(config)),
        serial,
        bundle,
        revocations,
    })
}
