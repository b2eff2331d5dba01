//! The agent's shared state, read and updated by its tasks (renewal, registration, watch):
//! the identity, what the gateway checks peers against, and the way to the control plane.

use std::sync::{Arc, Mutex, Weak};

use rampart_config::{Config, MeshTarget, PolicyConfig};
use rampart_control::{ControlClient, ControlError, api::MeshSnapshot};
use rampart_events::EventBus;
use rampart_identity::{
    RevocationList, SharedRevocations, SharedTrustBundle, SvidSource, TrustBundle,
};
use rampart_proxy::{GatewayHandle, MeshContext, MeshDirectory};
use tokio::sync::watch;

use crate::{DataDir, MeshError, bootstrap::control_alpn, encoding, shape::SidecarShape};

/// Everything the agent's tasks share.
pub(crate) struct Agent {
    pub control_url: String,
    /// The control plane's CA fingerprint, pinned on every connection to it.
    pub pin: String,
    pub svid: Arc<SvidSource>,
    pub bundle: SharedTrustBundle,
    pub revocations: SharedRevocations,
    pub directory: MeshDirectory,
    pub dir: DataDir,
    pub shape: SidecarShape,
    /// Set once the gateway runs; weak, so that shutdown can take the gateway back.
    pub gateway: std::sync::OnceLock<Weak<GatewayHandle>>,
    /// Where the agent publishes what the gateway does not (a refused policy set).
    pub bus: EventBus,
    /// The policy sets installed in the gateway; one install at a time.
    pub policy: tokio::sync::Mutex<crate::policy::Installed>,
    /// Whether the gateway's configuration requires a policy set (fail closed when none is
    /// installed): true until the first snapshot's policy is installed, then whether that
    /// policy enforces a set.
    policy_required: std::sync::atomic::AtomicBool,
    /// The services the gateway's configuration has routes for.
    targets: Mutex<Vec<MeshTarget>>,
    /// An mTLS client presenting the SVID of the given serial.
    client: Mutex<Option<(String, ControlClient)>>,
    /// How many snapshots have been applied.
    applied: watch::Sender<u64>,
    /// The serial of the last SVID found refused, logged and remembered once.
    refused: Mutex<String>,
    /// What the identity-budget and control-plane gauges are computed from.
    pub vitals: crate::vitals::Vitals,
}

/// What applying a snapshot changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The set of services changed: the gateway needs a new configuration.
    pub services: bool,
    /// The agent's own SVID is on the revocation list.
    pub own_revoked: bool,
}

// === impl Agent ===

impl Agent {
    pub fn new(
        control_url: String,
        pin: String,
        svid: Arc<SvidSource>,
        bundle: TrustBundle,
        dir: DataDir,
        shape: SidecarShape,
        bus: EventBus,
    ) -> Self {
        Self {
            control_url,
            pin,
            svid,
            bundle: bundle.shared(),
            revocations: SharedRevocations::default(),
            directory: MeshDirectory::new(),
            dir,
            shape,
            gateway: std::sync::OnceLock::new(),
            bus,
            policy: tokio::sync::Mutex::new(crate::policy::Installed::default()),
            policy_required: std::sync::atomic::AtomicBool::new(true),
            targets: Mutex::new(Vec::new()),
            client: Mutex::new(None),
            applied: watch::channel(0).0,
            refused: Mutex::new(String::new()),
            vitals: crate::vitals::Vitals::default(),
        }
    }

    /// The parts of the state the gateway reads.
    pub fn mesh_context(&self) -> MeshContext {
        MeshContext {
            svid: self.svid.clone(),
            bundle: self.bundle.clone(),
            revocations: self.revocations.clone(),
            directory: self.directory.clone(),
        }
    }

    /// The services the gateway's configuration routes to.
    pub fn targets(&self) -> Vec<MeshTarget> {
        self.targets.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The gateway's configuration: the routes of the mesh's services, and a `policy` section
    /// (an empty one: the sets come from snapshots) while a policy set is required.
    pub fn gateway_config(&self) -> Config {
        let mut config = self.shape.config(&self.targets());
        if self.policy_required() {
            config.policy = Some(PolicyConfig::default());
        }
        config
    }

    /// Whether the gateway's configuration requires a policy set.
    pub fn policy_required(&self) -> bool {
        self.policy_required
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Sets [`Agent::policy_required`]; whether it changed.
    pub fn set_policy_required(&self, required: bool) -> bool {
        self.policy_required
            .swap(required, std::sync::atomic::Ordering::AcqRel)
            != required
    }

    /// Waits for the number of applied snapshots to change.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// A client of the control plane that presents the current SVID. Rebuilt after each
    /// renewal, so that no pooled connection or resumed session carries an older one.
    pub fn control(&self) -> Result<ControlClient, MeshError> {
        let serial = self.svid.serial();
        let mut cached = self.client.lock().map_err(|_| MeshError::Options {
            reason: "control client state poisoned".to_owned(),
        })?;
        if let Some((s, client)) = cached.as_ref()
            && *s == serial
        {
            return Ok(client.clone());
        }
        let tls = rampart_identity::pinned_client_config(
            &self.pin,
            control_alpn(),
            Some(self.svid.clone()),
        )?;
        let client = ControlClient::from_tls_config(&self.control_url, None, tls)?;
        *cached = Some((serial, client.clone()));
        Ok(client)
    }

    /// Whether `e` is the control plane refusing this sidecar's SVID (`401` over mutual TLS:
    /// revoked, expired or no longer trusted); if so, see [`Agent::mark_refused`].
    pub fn refused(&self, e: &MeshError) -> bool {
        let refused = matches!(e, MeshError::Control(ControlError::Unauthorized { .. }));
        if refused {
            self.mark_refused("the control plane refuses it");
        }
        refused
    }

    /// Notes that the current SVID is refused (`why`): logged as an error the first time for
    /// each SVID, and remembered in the data directory so that a restart does not resume with
    /// it but asks for a new join token.
    pub fn mark_refused(&self, why: &str) {
        let serial = self.svid.serial();
        let Ok(mut last) = self.refused.lock() else {
            return;
        };
        if *last == serial {
            return;
        }
        tracing::error!(
            %serial,
            "this sidecar's SVID is refused ({why}: revoked, expired or no longer trusted); \
             it cannot renew or follow the mesh, and peers refuse it; restart it with a new join token"
        );
        if let Err(e) = self.dir.save_refused(&serial) {
            tracing::warn!(error = %e, "cannot note the refusal in the data directory");
        }
        *last = serial;
    }

    /// The running gateway, unless it has stopped.
    pub fn gateway(&self) -> Option<Arc<GatewayHandle>> {
        self.gateway.get().and_then(Weak::upgrade)
    }

    /// Makes `snapshot` the state the gateway serves from: bundle, revocations, directory
    /// and, when the set of services changed, the configuration. Parts that did not change
    /// are left alone, so that TLS session caches survive a snapshot that changes only the
    /// directory. A bundle that cannot be used is refused and the current one kept.
    ///
    /// A snapshot of another trust domain is refused whole.
    pub fn apply(&self, snapshot: &MeshSnapshot) -> Result<Applied, MeshError> {
        let own = self.svid.spiffe_id();
        if snapshot.trust_domain != own.trust_domain().as_str() {
            return Err(MeshError::BadAnswer {
                what: "mesh snapshot",
                reason: format!(
                    "it is for trust domain `{}`, this sidecar is in `{}`",
                    snapshot.trust_domain,
                    own.trust_domain()
                ),
            });
        }
        self.apply_bundle(snapshot);
        let revoked = RevocationList::new(snapshot.revoked_serials.iter().cloned());
        let own_revoked = revoked.is_revoked(&self.svid.serial());
        if *self.revocations.load() != revoked {
            self.revocations.store(revoked);
        }
        self.directory.replace(snapshot.services.iter().map(|s| {
            let endpoints = s.endpoints.iter().map(|e| e.address.clone()).collect();
            ((s.namespace.clone(), s.service.clone()), endpoints)
        }));
        let mut targets: Vec<MeshTarget> = snapshot
            .services
            .iter()
            .map(|s| MeshTarget {
                service: s.service.clone(),
                namespace: s.namespace.clone(),
            })
            .collect();
        targets.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
        targets.dedup();
        let services = match self.targets.lock() {
            Ok(mut current) if *current != targets => {
                *current = targets;
                true
            }
            _ => false,
        };
        self.applied.send_modify(|n| *n += 1);
        Ok(Applied {
            services,
            own_revoked,
        })
    }

    fn apply_bundle(&self, snapshot: &MeshSnapshot) {
        if snapshot.bundle_pem.is_empty() {
            tracing::warn!(
                version = snapshot.version,
                "the snapshot has an empty trust bundle; keeping the current one"
            );
            return;
        }
        let trust_domain = self.svid.spiffe_id().trust_domain().clone();
        match encoding::bundle(trust_domain, &snapshot.bundle_pem) {
            Ok(next) if next.roots() != self.bundle.load().roots() => {
                self.bundle.store(Arc::new(next));
                tracing::info!(version = snapshot.version, "trust bundle updated");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                version = snapshot.version,
                error = %e,
                "the snapshot's trust bundle is not usable; keeping the current one"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
