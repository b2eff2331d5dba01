//! The control-plane server: an axum router of per-module routes behind authentication and
//! load limits, served over TLS (h1 and h2 by ALPN) by its own accept loop.

mod audit_trail;
mod auth;
mod listener;
mod load;
mod peer;
mod reply;
mod routes;
mod state;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_events::EventBus;
use rampart_identity::{LocalCa, SharedRevocations, SharedTrustBundle, TrustBundle};
use rampart_policy::{Distribution, ShadowEntry};
use rampart_secrets::Secrets;
use rampart_store::{ProxyRecord, Store};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use crate::{
    AdminToken, ControlError, JoinTokens,
    api::{MeshSnapshot, SvidIssued},
    authority::{Authority, How},
    ca_set::CaSet,
    mesh::Mesh,
    oauth::{AuthServer, OAuthSettings},
    policy::{EnforcedEngine, PolicyService},
    registry::{LocalProxy, Registry},
    secrets::SecretsApi,
};

/// How long a workload endpoint stays registered without a heartbeat, unless told otherwise.
pub const DEFAULT_WORKLOAD_TTL: Duration = Duration::from_secs(30);

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
    /// Generation 1 of the workload CA: the CA of the control plane's own serving
    /// certificate. Join tokens carry the SHA-256 of its certificate (DER), which workloads
    /// pin on first contact, and keep doing so after a rollover (the serving certificate stays
    /// with it); it signs SVIDs until another generation is activated.
    pub ca: Arc<LocalCa>,
    /// Where CA rollover creates generation `n` (`<ca_dir>/gen-<n>/`) and finds it again on
    /// restart; without it, rollover is refused.
    pub ca_dir: Option<PathBuf>,
    /// The trust bundle of the workloads: the same shared bundle given to the TLS client
    /// verifier of [`tls`](Self::tls) (e.g. built with [`workload_bundle`]). The control plane
    /// sets it to the roots of the trusted CA generations on start and updates it in place at
    /// each rollover step, so renewals and mesh routes verify against every trusted root.
    pub bundle: SharedTrustBundle,
    /// How long an issued SVID is valid (e.g. [`rampart_identity::DEFAULT_SVID_TTL`]);
    /// workloads renew at half-life.
    pub svid_ttl: Duration,
    /// A workload endpoint not heard from within this leaves the mesh (e.g.
    /// [`DEFAULT_WORKLOAD_TTL`]); sidecars re-register every third of it.
    pub workload_ttl: Duration,
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
    /// The OAuth issuer URL of the tokens this control plane signs.
    issuer: String,
    registry: Registry,
    join_tokens: JoinTokens,
    authority: Arc<Authority>,
    policy: PolicyService,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
    /// Rebuilds the mesh snapshot on every policy change.
    policy_follower: JoinHandle<()>,
    /// Compiles every new enforced policy set for the secrets API's decisions.
    enforced_follower: JoinHandle<()>,
    event_log: state::EventLogSlot,
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
        Self::start_with_oauth(options, limits, OAuthSettings::default()).await
    }

    /// Like [`ControlPlane::start_with`], with the OAuth2 authorization server's settings.
    pub async fn start_with_oauth(
        options: ControlOptions,
        limits: Limits,
        oauth: OAuthSettings,
    ) -> Result<ControlHandle, ControlError> {
        Self::start_with_policy(options, limits, oauth, None).await
    }

    /// Like [`ControlPlane::start_with_oauth`], with the configuration's `policy` section
    /// (`docs/policy.md`, "Distribution"): the configured set is compiled (an invalid one
    /// fails the start with [`ControlError::Policy`]) and recorded as a new enforced version
    /// when it differs from the last version that came from the configuration. Without a
    /// section, the sets applied through the API (if any) stay in force; with none ever
    /// applied, authorization is off.
    pub async fn start_with_policy(
        options: ControlOptions,
        limits: Limits,
        oauth: OAuthSettings,
        policy: Option<rampart_config::PolicyConfig>,
    ) -> Result<ControlHandle, ControlError> {
        Self::start_with_secrets(options, limits, oauth, policy, None).await
    }

    /// Like [`ControlPlane::start_with_policy`], serving the secrets store `secrets` through
    /// the Vault-compatible API (`/v1/secret/…`, `/v1/sys/…`, `/v1/auth/token/lookup-self`;
    /// `docs/secrets.md`). Without it those routes answer `404`.
    pub async fn start_with_secrets(
        options: ControlOptions,
        limits: Limits,
        oauth: OAuthSettings,
        policy: Option<rampart_config::PolicyConfig>,
        secrets: Option<Secrets>,
    ) -> Result<ControlHandle, ControlError> {
        let bind_err = |source| ControlError::Bind {
            addr: options.listen,
            source,
        };
        let listener = TcpListener::bind(options.listen).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;

        let policy =
            PolicyService::load(options.store.clone(), options.bus.clone(), policy).await?;
        let registry = Registry::new(options.store.clone(), options.proxy_ttl);
        let join_tokens = JoinTokens::new(
            options.store.clone(),
            options.bus.clone(),
            options.trust_domain.clone(),
            options.ca.cert_der(),
        );
        let authority = authority(&options, policy.subscribe(), secrets.as_ref()).await?;
        let issuer = oauth
            .issuer
            .clone()
            .unwrap_or_else(|| format!("https://{local_addr}"));
        let oauth = Arc::new(
            AuthServer::new(
                options.store.clone(),
                &issuer,
                oauth.access_token_ttl,
                oauth.secrets_audience.as_deref(),
                secrets.as_ref(),
            )
            .await?,
        );
        let issuer = oauth.issuer.clone();
        let acceptor = TlsAcceptor::from(options.tls.clone());
        let (enforced, enforced_follower) = EnforcedEngine::follow(policy.subscribe()).await;
        let secrets = SecretsApi {
            secrets,
            engine: enforced,
            bus: options.bus.clone(),
        };
        let parts = state::Parts {
            oauth,
            policy: policy.clone(),
            secrets,
            token: options.token,
            store: options.store,
            bus: options.bus,
            version: options.version,
        };
        let (shutdown, signal) = watch::channel(false);
        let event_log = state::EventLogSlot::default();
        let state = state::AppState::new(
            parts,
            registry.clone(),
            join_tokens.clone(),
            authority.clone(),
            &limits,
            signal.clone(),
            event_log.clone(),
        );
        let app = routes::router(state, &limits);
        let sweeper = authority.mesh().spawn_sweeper();
        let policy_follower = authority.mesh().spawn_policy_follower();
        let task = tokio::spawn(listener::serve(listener, acceptor, app, limits, signal));
        tracing::info!(addr = %local_addr, "control plane listening");
        Ok(ControlHandle {
            local_addr,
            issuer,
            registry,
            join_tokens,
            authority,
            policy,
            shutdown,
            task: Some(task),
            sweeper,
            policy_follower,
            enforced_follower,
            event_log,
        })
    }
}

/// The CA set (loaded from the store and `ca_dir`, its keys from `secrets` when unsealed), the
/// mesh and the authority over both.
async fn authority(
    options: &ControlOptions,
    policy: watch::Receiver<Distribution>,
    secrets: Option<&Secrets>,
) -> Result<Arc<Authority>, ControlError> {
    let cas = CaSet::load(
        options.store.clone(),
        options.trust_domain.clone(),
        options.bundle.clone(),
        options.ca.clone(),
        options.ca_dir.clone(),
        secrets.map(Secrets::platform),
    )
    .await?;
    let mesh = Mesh::new(
        options.store.clone(),
        options.trust_domain.clone(),
        options.bundle.clone(),
        options.workload_ttl,
        policy,
    )
    .await?;
    Ok(Authority::new(
        options.store.clone(),
        options.bus.clone(),
        options.trust_domain.clone(),
        options.svid_ttl,
        options.bundle.clone(),
        cas,
        mesh,
    ))
}

// === impl ControlHandle ===

impl ControlHandle {
    /// Serves `log` through the API: proxies' shipped batches (`POST /v1/events/ingest`), the
    /// log queries and the audit trail. Only the first call takes effect.
    pub fn attach_event_log(&self, log: Arc<crate::EventLog>) {
        let _ = self.event_log.set(log);
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The `iss` of the access tokens this control plane signs (and the base of its OAuth
    /// discovery document).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The proxy registry the API serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The join tokens the API creates, to redeem them.
    pub fn join_tokens(&self) -> &JoinTokens {
        &self.join_tokens
    }

    /// The mesh snapshot now and every change to it, as `GET /v1/mesh/watch` streams it: for
    /// a gateway in this process.
    pub fn mesh_snapshot(&self) -> watch::Receiver<Arc<MeshSnapshot>> {
        self.authority.mesh().subscribe()
    }

    /// The revoked serials of the current snapshot, swapped on every change: for the
    /// verifiers of a gateway in this process.
    pub fn revocations(&self) -> SharedRevocations {
        self.authority.mesh().revocations().clone()
    }

    /// The workload trust bundle (every trusted CA generation), updated in place by rollover.
    pub fn bundle(&self) -> SharedTrustBundle {
        self.authority.bundle().clone()
    }

    /// Issues an SVID for `id` from `csr_der` (a DER CSR for a key the caller keeps) without
    /// HTTP, for a gateway in this process; recorded (how `local`) and revocable like any
    /// other. `id` must be in this control plane's trust domain.
    pub async fn issue_local_svid(
        &self,
        id: &SpiffeId,
        csr_der: &[u8],
    ) -> Result<SvidIssued, ControlError> {
        self.authority.issue(csr_der, id, How::Local, None).await
    }

    /// The policy every proxy runs now and every change to it, as the mesh snapshot carries
    /// it: for a gateway in this process (`GatewayHandle::set_policy` after compiling it off
    /// the async threads). [`Distribution::default`] means authorization is off.
    pub fn policy(&self) -> watch::Receiver<Distribution> {
        self.policy.subscribe()
    }

    /// Merges the dry-run disagreements of a gateway in this process into the report of
    /// `GET /v1/policy/dry-run-report`; entries of another shadow version are dropped.
    pub fn record_shadow(&self, entries: Vec<ShadowEntry>) {
        self.policy.record_shadow(entries);
    }

    /// Registers a proxy of this process; see [`Registry::register_local`].
    pub async fn register_local(&self, record: ProxyRecord) -> Result<LocalProxy, ControlError> {
        self.registry.register_local(record).await
    }

    /// Stops accepting connections, lets requests in progress finish (within the drain
    /// timeout) and returns when the server is gone.
    pub async fn shutdown(mut self) {
        self.sweeper.abort();
        self.policy_follower.abort();
        self.enforced_follower.abort();
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
        self.sweeper.abort();
        self.policy_follower.abort();
        self.enforced_follower.abort();
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
