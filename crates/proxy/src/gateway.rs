//! Starting, reloading and stopping a gateway.

use crate::authz::{AuthzRt, PolicyState};
use crate::error::ProxyError;
use crate::mesh::{MeshContext, MeshRt};
use crate::metrics::Metrics;
use crate::server::{self, ListenerRt, Open, Phase};
use crate::shared::{RequestIds, Shared};
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use rampart_config::{Config, Listener};
use rampart_events::{EventBus, JsonLinesSink, SecurityKind};
use rampart_identity::{LocalCa, SniResolver};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Entry point of the data plane.
#[derive(Debug)]
pub struct Gateway;

/// What a gateway needs besides its configuration.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Names this gateway in events and metrics.
    pub name: String,
    pub bus: EventBus,
    /// Issues certificates for TLS listeners that list none.
    pub local_ca: Option<Arc<LocalCa>>,
    /// Mesh membership: required by mesh listeners and mesh clusters.
    pub mesh: Option<MeshContext>,
}

/// A running gateway.
#[derive(Debug)]
pub struct GatewayHandle {
    shared: Arc<Shared>,
    listeners: Vec<(String, SocketAddr)>,
    admin: SocketAddr,
    egress: Option<SocketAddr>,
    resolvers: Vec<(String, Arc<SniResolver>)>,
    options: GatewayOptions,
    config: Mutex<Config>,
    version: AtomicU64,
    phase: watch::Sender<Phase>,
    open: Arc<Open>,
    _sink: Option<JsonLinesSink>,
}

// === impl Gateway ===

impl Gateway {
    /// Binds every listener and starts serving `config`, with no policy set installed
    /// (authorization off, or everything denied when `config` has a `policy` section until
    /// [`GatewayHandle::set_policy`]).
    pub async fn start(
        config: &Config,
        options: GatewayOptions,
    ) -> Result<GatewayHandle, ProxyError> {
        Self::start_with_policy(config, options, PolicyState::off()).await
    }

    /// Binds every listener and starts serving `config` with `policy` installed before any
    /// listener accepts: no request sees the gateway without its policy set.
    pub async fn start_with_policy(
        config: &Config,
        options: GatewayOptions,
        policy: PolicyState,
    ) -> Result<GatewayHandle, ProxyError> {
        rampart_identity::install_default_provider();
        let metrics = Metrics::new();
        let mesh = match &options.mesh {
            Some(ctx) => Some(Arc::new(MeshRt::new(
                ctx.clone(),
                metrics.clone(),
                options.bus.clone(),
                Arc::from(options.name.as_str()),
            )?)),
            None => None,
        };
        let snapshot = Snapshot::compile(config, 1, None, &metrics, mesh.as_ref())?;
        snapshot.attach_events(&options.bus, &Arc::from(options.name.as_str()));
        let authz = AuthzRt::new(&metrics);
        let initial = policy.enforced.is_some() || policy.shadow.is_some();
        authz.install(policy);
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            bus: options.bus.clone(),
            metrics,
            source: Arc::from(options.name.as_str()),
            ids: RequestIds::new(),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            mesh,
            authz,
            shed: std::sync::OnceLock::new(),
        });
        let g = &config.gateway;
        let sink = match &g.access_log {
            Some(path) => Some(JsonLinesSink::spawn(&options.bus, path).await.map_err(
                |source| ProxyError::AccessLog {
                    path: path.display().to_string(),
                    source,
                },
            )?),
            None => None,
        };
        if initial {
            policy_applied(&shared);
        }
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let open = Arc::new(Open::default());
        let mut listeners = Vec::new();
        let mut resolvers = Vec::new();
        let mut bound = Vec::new();
        let requests = Arc::new(crate::overload::RequestGate::new(
            &g.overload,
            &shared.metrics,
        ));
        for l in &g.listeners {
            let tcp = bind(l.address).await?;
            let tls = match &l.tls {
                None => None,
                Some(_) => {
                    let resolver = Arc::new(listener_certs(l, options.local_ca.as_deref())?);
                    let cfg = rampart_identity::server_config(
                        resolver.clone(),
                        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                    )
                    .map_err(|source| ProxyError::Tls {
                        listener: l.name.clone(),
                        source,
                    })?;
                    resolvers.push((l.name.clone(), resolver));
                    Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
                }
            };
            let mesh = match l.mesh {
                true => Some(
                    shared
                        .mesh
                        .clone()
                        .ok_or_else(|| ProxyError::NoMesh(format!("listener `{}`", l.name)))?,
                ),
                false => None,
            };
            listeners.push((l.name.clone(), tcp.local_addr().unwrap_or(l.address)));
            bound.push((
                tcp,
                Arc::new(ListenerRt {
                    name: Arc::from(l.name.as_str()),
                    tls,
                    h2c: l.h2c,
                    mesh,
                    door: Arc::new(crate::overload::Door::new(
                        &l.name,
                        &g.overload,
                        &shared.metrics,
                    )),
                    requests: requests.clone(),
                }),
            ));
        }
        let admin_tcp = bind(config.admin.listen).await?;
        let admin = admin_tcp.local_addr().unwrap_or(config.admin.listen);
        let egress_tcp = match &g.egress {
            Some(e) => Some(bind(e.address).await?),
            None => None,
        };
        let egress = egress_tcp.as_ref().and_then(|t| t.local_addr().ok());

        for (tcp, rt) in bound {
            tokio::spawn(server::accept_loop(
                tcp,
                rt,
                shared.clone(),
                phase_rx.clone(),
                open.clone(),
            ));
        }
        if let Some(tcp) = egress_tcp {
            tokio::spawn(crate::egress::accept_loop(
                tcp,
                shared.clone(),
                phase_rx.clone(),
            ));
        }
        tokio::spawn(crate::admin::serve(
            admin_tcp,
            shared.clone(),
            phase_rx.clone(),
        ));
        tokio::spawn(housekeeping(Arc::downgrade(&shared)));
        shared.ready.store(true, Ordering::Release);
        Ok(GatewayHandle {
            shared,
            listeners,
            admin,
            egress,
            resolvers,
            options,
            config: Mutex::new(config.clone()),
            version: AtomicU64::new(1),
            phase: phase_tx,
            open,
            _sink: sink,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind { addr, source })
}

/// The certificates of a TLS listener: its files, or one issued by the local CA.
fn listener_certs(l: &Listener, ca: Option<&LocalCa>) -> Result<SniResolver, ProxyError> {
    let entries = cert_entries(l, ca)?;
    SniResolver::new(entries).map_err(|source| ProxyError::Tls {
        listener: l.name.clone(),
        source,
    })
}

fn cert_entries(
    l: &Listener,
    ca: Option<&LocalCa>,
) -> Result<rampart_identity::SniEntries, ProxyError> {
    let tls_err = |source| ProxyError::Tls {
        listener: l.name.clone(),
        source,
    };
    let files = l
        .tls
        .as_ref()
        .map(|t| t.certificates.as_slice())
        .unwrap_or_default();
    if files.is_empty() {
        let ca = ca.ok_or_else(|| ProxyError::NoCertificate(l.name.clone()))?;
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        if !l.address.ip().is_unspecified() && !l.address.ip().is_loopback() {
            names.push(l.address.ip().to_string());
        }
        let ck = ca.issue_server_cert(&names).map_err(tls_err)?;
        // SNI carries host names only; clients that connect by IP get the default certificate.
        names.retain(|n| n.parse::<std::net::IpAddr>().is_err());
        return Ok(vec![(names, ck)]);
    }
    files
        .iter()
        .map(|f| {
            let ck = rampart_identity::load_certified_key(&f.cert, &f.key).map_err(tls_err)?;
            Ok((rampart_identity::certificate_names(&ck), ck))
        })
        .collect()
}

/// The `PolicyApplied` security event of the sets installed now.
fn policy_applied(shared: &Shared) {
    let (enforced, shadow) = shared.authz.versions();
    let describe = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    shared.security(
        SecurityKind::PolicyApplied,
        None,
        format!(
            "policy installed: enforced version {}, shadow version {}",
            describe(enforced),
            describe(shadow)
        ),
    );
}

async fn housekeeping(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.snapshot.load().housekeep();
        shared
            .metrics
            .counter("rampart_events_dropped_total", &[])
            .absolute(shared.bus.dropped());
    }
}

// === impl GatewayHandle ===

impl GatewayHandle {
    /// Sheds every request with 503 while `gate` is up: the event spool's gate in `block`
    /// mode (see `docs/logs.md`). Only the first call takes effect.
    pub fn shed_while(&self, gate: Arc<dyn crate::ShedGate>) {
        let _ = self.shared.shed.set(gate);
    }

    /// Whether the listener named `name` terminates TLS.
    pub fn is_tls(&self, name: &str) -> bool {
        self.resolvers.iter().any(|(n, _)| n == name)
    }

    /// The bound address of the listener named `name` (useful with port 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    pub fn egress_addr(&self) -> Option<SocketAddr> {
        self.egress
    }

    /// The version of the configuration being served (1 at start, +1 per accepted reload).
    pub fn config_version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Serves `config` from now on, or refuses it and keeps the current one. Listener
    /// addresses cannot change without a restart; routes, clusters, limits, timeouts and
    /// certificates can.
    pub fn reload(&self, config: &Config) -> Result<u64, ProxyError> {
        let result = self.try_reload(config);
        match &result {
            Ok(v) => {
                self.shared
                    .metrics
                    .counter("rampart_config_reloads_total", &[("result", "accepted")])
                    .increment(1);
                self.shared.security(
                    SecurityKind::ConfigApplied,
                    None,
                    format!("configuration version {v} applied"),
                );
            }
            Err(e) => {
                self.shared
                    .metrics
                    .counter("rampart_config_reloads_total", &[("result", "refused")])
                    .increment(1);
                self.shared
                    .security(SecurityKind::ConfigRejected, None, e.to_string());
            }
        }
        result
    }

    fn try_reload(&self, config: &Config) -> Result<u64, ProxyError> {
        let mut current = self
            .config
            .lock()
            .map_err(|_| ProxyError::Config("reload state poisoned".into()))?;
        let addrs = |c: &Config| {
            (
                c.gateway
                    .listeners
                    .iter()
                    .map(|l| (l.name.clone(), l.address, l.tls.is_some(), l.h2c, l.mesh))
                    .collect::<Vec<_>>(),
                c.admin.listen,
                c.gateway.egress.as_ref().map(|e| e.address),
                c.gateway.access_log.clone(),
            )
        };
        if addrs(config) != addrs(&current) {
            return Err(ProxyError::Config(
                "listener, admin, egress or access-log settings changed: these need a restart"
                    .into(),
            ));
        }
        let version = self.version.load(Ordering::Acquire) + 1;
        let previous = self.shared.snapshot.load_full();
        let next = Snapshot::compile(
            config,
            version,
            Some(&previous),
            &self.shared.metrics,
            self.shared.mesh.as_ref(),
        )?;
        next.attach_events(&self.shared.bus, &self.shared.source);
        // Certificates: load all first, so a bad file changes nothing.
        let mut new_certs = Vec::new();
        for (name, resolver) in &self.resolvers {
            let Some(l) = config.gateway.listeners.iter().find(|l| &l.name == name) else {
                continue;
            };
            if l.tls.as_ref().is_some_and(|t| !t.certificates.is_empty()) {
                new_certs.push((
                    resolver.clone(),
                    cert_entries(l, self.options.local_ca.as_deref())?,
                    name.clone(),
                ));
            }
        }
        for (resolver, entries, name) in new_certs {
            resolver
                .replace(entries)
                .map_err(|source| ProxyError::Tls {
                    listener: name,
                    source,
                })?;
        }
        let next = Arc::new(next);
        self.shared.snapshot.store(next.clone());
        previous.retire_pools(&next);
        self.version.store(version, Ordering::Release);
        *current = config.clone();
        Ok(version)
    }

    /// Applies a change of the mesh context: the SVID, the trust bundle, the revocation list
    /// or the directory. When any of the first three changed, the mesh TLS configurations are
    /// rebuilt (fresh session caches, so no stale session resumes), mesh clusters get new
    /// connection pools (the old ones are flushed), and open inbound mesh connections whose
    /// peer is now revoked are closed. Mesh clusters take their endpoints from the directory
    /// as it is now. The configuration version does not change.
    pub fn mesh_changed(&self) -> Result<(), ProxyError> {
        let Some(mesh) = &self.shared.mesh else {
            return Err(ProxyError::NoMesh("`mesh_changed`".into()));
        };
        // The configuration lock keeps a concurrent reload from compiling from a stale snapshot.
        let current = self
            .config
            .lock()
            .map_err(|_| ProxyError::Config("reload state poisoned".into()))?;
        let rebuilt = mesh.refresh()?;
        let previous = self.shared.snapshot.load_full();
        let next = Arc::new(Snapshot::compile(
            &current,
            previous.version,
            Some(&previous),
            &self.shared.metrics,
            Some(mesh),
        )?);
        next.attach_events(&self.shared.bus, &self.shared.source);
        self.shared.snapshot.store(next.clone());
        previous.retire_pools(&next);
        let closed = mesh.close_revoked();
        tracing::debug!(rebuilt, closed, "mesh change applied");
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish for up to `deadline`, then closes
    /// whatever is left.
    pub async fn shutdown(self, deadline: Duration) {
        self.shared.draining.store(true, Ordering::Release);
        let _ = self.phase.send(Phase::Draining);
        let until = tokio::time::Instant::now() + deadline;
        while self.open.count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.phase.send(Phase::Closing);
    }

    /// Installs the policy sets that decide requests from now on (requests in flight finish on
    /// the sets they started with). Compile them with [`PolicyState::compile`] off the async
    /// threads first; keep the current state when compiling fails.
    pub fn set_policy(&self, state: PolicyState) {
        self.shared.authz.install(state);
        policy_applied(&self.shared);
    }

    /// The version of the enforced policy set, if one is installed.
    pub fn policy_version(&self) -> Option<u64> {
        self.shared.authz.version()
    }

    /// Drains the shadow ledger: the dry-run disagreements counted since the last call.
    pub fn take_shadow_entries(&self) -> Vec<rampart_policy::ShadowEntry> {
        self.shared.authz.take_shadow_entries()
    }

    /// Metrics text, as served on `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.shared.metrics.render()
    }
}
