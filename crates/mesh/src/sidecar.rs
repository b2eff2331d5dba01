//! The sidecar: the agent's identity and tasks driving a gateway in sidecar shape.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime},
};

use rampart_control::api::MeshSnapshot;
use rampart_core::spiffe::SpiffeId;
use rampart_policy::Distribution;
use rampart_proxy::{Gateway, GatewayHandle, GatewayOptions};
use tokio::task::JoinHandle;

use crate::{
    DataDir, MeshError, Origin, SidecarOptions,
    agent::Agent,
    events, policy, register, renew,
    shape::{INBOUND, OUTBOUND, SidecarShape},
    startup, vitals, watch,
};

/// Entry point of the sidecar.
#[derive(Debug)]
pub struct Sidecar;

/// A running sidecar.
pub struct SidecarHandle {
    agent: Arc<Agent>,
    gateway: Arc<GatewayHandle>,
    tasks: Vec<JoinHandle<()>>,
    instance: String,
    advertised: String,
    origin: Origin,
    /// Ships the sidecar's events to the collector.
    shipper: Option<rampart_ship::ShipperHandle>,
}

// === impl Sidecar ===

impl Sidecar {
    /// Obtains the identity (kept SVID or join token), starts the gateway in sidecar shape
    /// from the last known snapshot, then renewal, registration and the mesh watch; returns
    /// once the first snapshot is applied or [`SidecarOptions::first_snapshot_wait`] passed.
    ///
    /// Resuming with a kept SVID but no usable kept snapshot (none, corrupt, another trust
    /// domain), it takes one from the control plane within that wait before binding anything,
    /// or fails with [`MeshError::NoSnapshot`]: no snapshot, no traffic.
    pub async fn start(options: SidecarOptions) -> Result<SidecarHandle, MeshError> {
        options.check()?;
        rampart_identity::install_default_provider();
        let (agent, origin, kept_policy) = prepare(&options).await?;
        let resumed_snapshot = kept_policy.is_some();
        let gateway = Arc::new(start_gateway(&agent, &options).await?);
        // Only this function sets it, once.
        let _ = agent.gateway.set(Arc::downgrade(&gateway));
        // The gateway denies every request until a policy is installed (fail closed); with a
        // kept snapshot, its policy is installed now, before anything else runs.
        if let Some(policy) = &kept_policy {
            policy::install(&agent, policy).await;
        }
        let shipper =
            events::start(&agent, &options.events, &gateway, &options.workload.service).await?;
        let inbound = gateway.listener_addr(INBOUND).unwrap_or(options.inbound);
        let advertised = options
            .advertise
            .clone()
            .unwrap_or_else(|| advertised(inbound));
        let instance = instance_id(&options.workload.service, &advertised);
        let tasks = vec![
            tokio::spawn(renew::run(agent.clone())),
            tokio::spawn(register::run(
                agent.clone(),
                instance.clone(),
                advertised.clone(),
            )),
            tokio::spawn(watch::run(agent.clone())),
            tokio::spawn(policy::report_shadow(agent.clone())),
            tokio::spawn(vitals::run(agent.clone())),
        ];
        // Without a kept snapshot the outbound listener knows no service yet: give the
        // watch a moment. With one, serve from it at once (the control plane may be down).
        if !resumed_snapshot {
            first_snapshot(&agent, options.first_snapshot_wait).await;
        }
        Ok(SidecarHandle {
            agent,
            gateway,
            tasks,
            instance,
            advertised,
            origin,
            shipper: Some(shipper),
        })
    }
}

// === impl SidecarHandle ===

impl SidecarHandle {
    /// The sidecar's SPIFFE id.
    pub fn spiffe_id(&self) -> SpiffeId {
        self.agent.svid.spiffe_id()
    }

    /// The serial of the SVID in use.
    pub fn serial(&self) -> String {
        self.agent.svid.serial()
    }

    /// Where the identity came from at start.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The id under which the inbound listener is registered.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The `host:port` registered for the inbound listener.
    pub fn advertised(&self) -> &str {
        &self.advertised
    }

    /// The gateway in sidecar shape.
    pub fn gateway(&self) -> &GatewayHandle {
        &self.gateway
    }

    /// The bound address of the mesh listener.
    pub fn inbound_addr(&self) -> Option<SocketAddr> {
        self.gateway.listener_addr(INBOUND)
    }

    /// The bound address of the listener the workload calls through.
    pub fn outbound_addr(&self) -> Option<SocketAddr> {
        self.gateway.listener_addr(OUTBOUND)
    }

    /// The bound address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.gateway.admin_addr()
    }

    /// What the event shipper did so far (spooled, shipped, dropped, pending).
    pub fn event_stats(&self) -> Option<rampart_ship::ShipStats> {
        self.shipper.as_ref().map(|s| s.stats())
    }

    /// Waits until every event spooled so far is acknowledged by the collector.
    pub async fn flush_events(&self, timeout: Duration) -> bool {
        match &self.shipper {
            Some(s) => s.flush(timeout).await,
            None => true,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.agent.dir.path()
    }

    /// Renews the SVID now, out of schedule (the schedule goes on from the new SVID).
    pub async fn renew_now(&self) -> Result<(), MeshError> {
        renew::renew_once(&self.agent).await
    }

    /// Stops renewal and the watch, withdraws the registration, then lets in-flight requests
    /// finish for up to `drain`.
    pub async fn shutdown(self, drain: Duration) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        register::deregister(&self.agent, &self.instance).await;
        match Arc::try_unwrap(self.gateway) {
            Ok(gateway) => gateway.shutdown(drain).await,
            Err(_) => tracing::warn!("the gateway is still in use; it stops with the process"),
        }
        // What is still unsent stays in the spool for the next start.
        if let Some(shipper) = self.shipper {
            let _ = shipper.flush(EVENT_FLUSH).await;
            shipper.shutdown().await;
        }
    }
}

/// How long a stopping sidecar waits for its last events to be acknowledged.
const EVENT_FLUSH: Duration = Duration::from_secs(2);

impl std::fmt::Debug for SidecarHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarHandle")
            .field("spiffe_id", &self.spiffe_id().to_string())
            .field("instance", &self.instance)
            .field("advertised", &self.advertised)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

// === helpers ===

/// The agent, with its identity obtained and the kept snapshot (if any) applied; where the
/// identity came from, and the kept snapshot's policy (`None`: no snapshot was kept).
async fn prepare(
    options: &SidecarOptions,
) -> Result<(Arc<Agent>, Origin, Option<Distribution>), MeshError> {
    let dir = DataDir::open(&options.data_dir)?;
    let start = startup::obtain(
        &options.control_url,
        options.join_token.as_ref(),
        &options.workload,
        &dir,
        options.bootstrap_patience,
    )
    .await?;
    let shape = SidecarShape {
        namespace: options.workload.namespace.clone(),
        app: options.app.clone(),
        inbound: options.inbound,
        outbound: options.outbound,
        admin: options.admin,
        inbound_jwt: options.inbound_jwt.clone(),
    };
    let agent = Arc::new(Agent::new(
        options.control_url.clone(),
        start.identity.pin,
        start.identity.svid,
        start.identity.bundle,
        dir,
        shape,
        options.bus.clone(),
    ));
    let mut snapshot = start.snapshot;
    let mut no_snapshot = start.no_snapshot;
    if let Some(kept) = &snapshot {
        match agent.apply(kept) {
            Ok(_) => agent.vitals.snapshot(
                kept.version,
                agent
                    .dir
                    .snapshot_saved_at()
                    .unwrap_or_else(SystemTime::now),
            ),
            Err(e) => {
                tracing::error!(error = %e, "the kept mesh snapshot is not usable; it is not used");
                no_snapshot = format!("the kept one is not usable: {e}");
                snapshot = None;
            }
        }
    }
    // Resuming (the control plane may be down) with nothing to serve from: one snapshot from
    // the control plane now, or no start at all.
    if snapshot.is_none() && start.origin == Origin::Persisted {
        let wait = options.first_snapshot_wait;
        let fetched = fetch_snapshot(&agent, wait)
            .await
            .and_then(|s| agent.apply(&s).map(|_| s))
            .map_err(|e| MeshError::NoSnapshot {
                why: no_snapshot,
                wait,
                cause: e.to_string(),
            })?;
        agent.vitals.reachable(true);
        agent.vitals.snapshot(fetched.version, SystemTime::now());
        if let Err(e) = agent.dir.save_snapshot(&fetched) {
            tracing::warn!(error = %e, "cannot keep the mesh snapshot");
        }
        snapshot = Some(fetched);
    }
    let kept_policy = snapshot.map(|s| s.policy);
    Ok((agent, start.origin, kept_policy))
}

/// The control plane's current snapshot, retried until `wait` has passed.
async fn fetch_snapshot(agent: &Agent, wait: Duration) -> Result<MeshSnapshot, MeshError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        let attempt = async {
            let mut stream = agent.control()?.watch_mesh().await?;
            match stream.next().await {
                Some(Ok(snapshot)) => Ok(snapshot),
                Some(Err(e)) => Err(MeshError::from(e)),
                None => Err(MeshError::BadAnswer {
                    what: "mesh watch",
                    reason: "it ended before the first snapshot".to_owned(),
                }),
            }
        };
        let e = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(snapshot)) => return Ok(snapshot),
            Ok(Err(e)) if agent.refused(&e) => return Err(e),
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(MeshError::BadAnswer {
                    what: "mesh watch",
                    reason: "no snapshot in time".to_owned(),
                });
            }
        };
        let delay = backoff.next_delay();
        if tokio::time::Instant::now() + delay >= deadline {
            return Err(e);
        }
        tokio::time::sleep(delay).await;
    }
}

/// Waits up to `limit` for the watch to apply a snapshot.
async fn first_snapshot(agent: &Agent, limit: Duration) {
    let mut applied = agent.applied();
    let first = applied.wait_for(|n| *n > 0);
    if tokio::time::timeout(limit, first).await.is_err() {
        tracing::warn!("no mesh snapshot yet; serving and retrying");
    }
}

async fn start_gateway(
    agent: &Agent,
    options: &SidecarOptions,
) -> Result<GatewayHandle, MeshError> {
    // Requires a policy set until the first snapshot's is installed: inbound requests are
    // denied (fail closed) until then.
    let config = agent.gateway_config();
    let gateway_options = GatewayOptions {
        name: format!("sidecar-{}", options.workload.service),
        bus: options.bus.clone(),
        local_ca: None,
        mesh: Some(agent.mesh_context()),
    };
    Ok(Gateway::start(&config, gateway_options).await?)
}

/// `addr` as peers reach it: an unspecified IP becomes the loopback address of its family.
fn advertised(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// A registry id for this sidecar, stable across restarts at the same address (a restart
/// replaces its own entry rather than leaving a stale one): `<service>@<address>`, with every
/// character the registry does not take (all but letters, digits and `._:@-`) replaced by `-`.
fn instance_id(service: &str, advertised: &str) -> String {
    format!("{service}@{advertised}")
        .chars()
        .map(|c| {
            let kept = c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-');
            if kept { c } else { '-' }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_advertised_as_loopback() {
        assert_eq!(
            advertised("0.0.0.0:15006".parse().unwrap()),
            "127.0.0.1:15006"
        );
        assert_eq!(advertised("[::]:15006".parse().unwrap()), "[::1]:15006");
        assert_eq!(advertised("10.1.2.3:80".parse().unwrap()), "10.1.2.3:80");
    }

    #[test]
    fn instance_ids_hold_only_safe_characters() {
        assert_eq!(
            instance_id("orders", "127.0.0.1:15006"),
            "orders@127.0.0.1:15006"
        );
        assert_eq!(instance_id("a/b", "[::1]:1"), "a-b@-::1-:1");
    }
}
