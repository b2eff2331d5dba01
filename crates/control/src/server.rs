//! The control-plane server: an axum router of per-module routes behind authentication and
//! load limits, served over TLS (h1 and h2 by ALPN) by its own accept loop.

mod auth;
mod listener;
mod load;
mod reply;
mod routes;
mod state;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rampart_core::spiffe::TrustDomain;
use rampart_events::EventBus;
use rampart_identity::{LocalCa, TrustBundle};
use rampart_store::{ProxyRecord, Store};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use crate::{
    AdminToken, ControlError, JoinTokens,
    registry::{LocalProxy, Registry},
};

/// Starts the control plane.
#[derive(Debug)]
pub struct ControlPlane;

/// What the control plane needs to run.
#[derive(Debug)]
pub struct ControlOptions {
    /// Where the API listens, e.g. `127.0.0.1:7400` (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The server's TLS configuration; give it [`server_alpn`] to offer h2 and HTTP/1.1.
    ///
    /// For SVID renewal (`POST /v1/identity/svid/renew`) it must ask for optional client
    /// certificates, e.g. with [`rampart_identity::server_config_with_client_auth`] and
    /// [`rampart_identity::SpiffeClientVerifier::optional`]; without them every renewal is
    /// refused with `401`.
    pub tls: Arc<rustls::ServerConfig>,
    /// The only credential the API accepts.
    pub token: AdminToken,
    pub store: Store,
    /// Where authentication failures are published.
    pub bus: EventBus,
    /// A proxy is connected while its last heartbeat is younger than this.
    pub proxy_ttl: Duration,
    /// The version reported by `/v1/health`.
    pub version: String,
    /// The trust domain of the workload identities this control plane hands out.
    pub trust_domain: TrustDomain,
    /// The CA that signs workload SVIDs. Join tokens carry the SHA-256 of its certificate
    /// (DER), which workloads pin; its root is the trust bundle handed to workloads.
    pub ca: Arc<LocalCa>,
    /// How long an issued SVID is valid (e.g. [`rampart_identity::DEFAULT_SVID_TTL`]);
    /// workloads renew at half-life.
    pub svid_ttl: Duration,
}

/// Bounds on what one client, and all of them together, can make the server do.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A TLS handshake not finished by then is dropped.
    pub handshake_timeout: Duration,
    /// An HTTP/1 request head not received by then (also between keep-alive requests) ends the
    /// connection.
    pub header_read_timeout: Duration,
    /// A request not answered by then gets `503`.
    pub request_timeout: Duration,
    /// Connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests handled at once; more get `503` at once.
    pub max_in_flight: usize,
    /// Concurrent streams per h2 connection.
    pub max_h2_streams: u32,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// Failed authentications one client address (an IPv6 /64) may make per window before
    /// every request from it gets `429` until the window ends.
    pub max_auth_failures: u32,
    pub auth_failure_window: Duration,
    /// How long [`ControlHandle::shutdown`] lets requests in progress finish.
    pub drain_timeout: Duration,
}

/// A running control plane. Dropping it stops the server at once; [`ControlHandle::shutdown`]
/// stops it gracefully.
#[derive(Debug)]
pub struct ControlHandle {
    local_addr: SocketAddr,
    registry: Registry,
    join_tokens: JoinTokens,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// The ALPN protocols the control plane serves, in preference order: `h2`, `http/1.1`.
pub fn server_alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// The trust bundle of the workloads `ca` issues SVIDs to: its root, for `trust_domain`.
/// Give the same bundle to the TLS verifier of [`ControlOptions::tls`].
pub fn workload_bundle(
    ca: &LocalCa,
    trust_domain: &TrustDomain,
) -> Result<TrustBundle, ControlError> {
    let mut bundle = TrustBundle::new(trust_domain.clone());
    bundle
        .add(ca.root_der().clone())
        .map_err(ControlError::Svid)?;
    Ok(bundle)
}

// === impl ControlPlane ===

impl ControlPlane {
    /// Binds `options.listen` and serves the API with default [`Limits`].
    pub async fn start(options: ControlOptions) -> Result<ControlHandle, ControlError> {
        Self::start_with(options, Limits::default()).await
    }

    /// Like [`ControlPlane::start`], with explicit limits.
    pub async fn start_with(
        options: ControlOptions,
        limits: Limits,
    ) -> Result<ControlHandle, ControlError> {
        let bind_err = |source| ControlError::Bind {
            addr: options.listen,
            source,
        };
        let listener = TcpListener::bind(options.listen).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;

        let registry = Registry::new(options.store.clone(), options.proxy_ttl);
        let join_tokens = JoinTokens::new(
            options.store.clone(),
            options.bus.clone(),
            options.trust_domain.clone(),
            options.ca.cert_der(),
        );
        let bundle = workload_bundle(&options.ca, &options.trust_domain)?;
        let acceptor = TlsAcceptor::from(options.tls.clone());
        let state = state::AppState::new(
            options,
            registry.clone(),
            join_tokens.clone(),
            bundle,
            &limits,
        );
        let app = routes::router(state, &limits);
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(listener::serve(listener, acceptor, app, limits, signal));
        tracing::info!(addr = %local_addr, "control plane listening");
        Ok(ControlHandle {
            local_addr,
            registry,
            join_tokens,
            shutdown,
            task: Some(task),
        })
    }
}

// === impl ControlHandle ===

impl ControlHandle {
    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The proxy registry the API serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The join tokens the API creates, to redeem them.
    pub fn join_tokens(&self) -> &JoinTokens {
        &self.join_tokens
    }

    /// Registers a proxy of this process; see [`Registry::register_local`].
    pub async fn register_local(&self, record: ProxyRecord) -> Result<LocalProxy, ControlError> {
        self.registry.register_local(record).await
    }

    /// Stops accepting connections, lets requests in progress finish (within the drain
    /// timeout) and returns when the server is gone.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "control plane server task failed");
        }
        tracing::info!(addr = %self.local_addr, "control plane stopped");
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_in_flight: 256,
            max_h2_streams: 64,
            max_body_bytes: 64 * 1024,
            max_auth_failures: 10,
            auth_failure_window: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
        }
    }
}
