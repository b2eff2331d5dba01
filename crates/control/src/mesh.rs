//! The mesh as the control plane sees it: the registry of workload endpoints, the revoked
//! serials and the trust bundle, published as a versioned [`MeshSnapshot`] through a watch
//! channel that every `/v1/mesh/watch` stream (and an in-process gateway) follows.
//!
//! The store is the source of truth; every change (a new or moved endpoint, a deregistration,
//! an expiry found by the sweep, a revocation, a bundle change) rebuilds the snapshot from it,
//! and the version grows only when the content differs, so watchers hear of real changes
//! only, at once.

mod snapshot;
mod sweep;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{RevocationList, SharedRevocations, SharedTrustBundle};
use rampart_policy::Distribution;
use rampart_store::{Store, WorkloadEndpointRecord};
use rustls::pki_types::CertificateDer;
use tokio::sync::{Mutex, watch};

use crate::{ControlError, api::MeshSnapshot, registry::unix_ms};

/// The mesh state. Cheap to clone; clones share everything.
#[derive(Clone)]
pub(crate) struct Mesh {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    trust_domain: TrustDomain,
    bundle: SharedTrustBundle,
    /// An endpoint not heard from within this leaves the snapshot.
    ttl: Duration,
    tx: watch::Sender<Arc<MeshSnapshot>>,
    /// The policy every proxy runs, carried in the snapshot.
    policy: watch::Receiver<Distribution>,
    /// The revoked serials of the current snapshot, for the checks on the control plane's own
    /// routes.
    revocations: SharedRevocations,
    /// Rebuilds one at a time, so that versions follow the store's order of changes.
    rebuild: Mutex<()>,
    /// The last snapshot as one JSON line, encoded once for every watcher (a large policy
    /// set makes it megabytes).
    encoded: std::sync::Mutex<Option<(u64, bytes::Bytes)>>,
}

// === impl Mesh ===

impl Mesh {
    /// The mesh of `store`, with a first snapshot built from it.
    ///
    /// Versions start at the current unix time in milliseconds, so that they also grow across
    /// restarts of the control plane.
    pub(crate) async fn new(
        store: Store,
        trust_domain: TrustDomain,
        bundle: SharedTrustBundle,
        ttl: Duration,
        policy: watch::Receiver<Distribution>,
    ) -> Result<Self, ControlError> {
        let start = u64::try_from(unix_ms(SystemTime::now())).unwrap_or(0);
        let empty = snapshot::empty(&trust_domain, start);
        let (tx, _) = watch::channel(Arc::new(empty));
        let mesh = Self {
            inner: Arc::new(Inner {
                store,
                trust_domain,
                bundle,
                ttl,
                tx,
                policy,
                revocations: SharedRevocations::default(),
                rebuild: Mutex::new(()),
                encoded: std::sync::Mutex::new(None),
            }),
        };
        mesh.refresh().await?;
        Ok(mesh)
    }

    /// The current snapshot and every later one.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MeshSnapshot>> {
        self.inner.tx.subscribe()
    }

    /// `snapshot` as one line of newline-delimited JSON, encoded once per version.
    pub(crate) fn encoded(&self, snapshot: &MeshSnapshot) -> Option<bytes::Bytes> {
        let mut cached = self.inner.encoded.lock().ok()?;
        if let Some((version, line)) = cached.as_ref()
            && *version == snapshot.version
        {
            return Some(line.clone());
        }
        match serde_json::to_vec(snapshot) {
            Ok(mut json) => {
                json.push(b'\n');
                let line = bytes::Bytes::from(json);
                // A slow watcher's older snapshot does not evict the newest.
                if cached.as_ref().is_none_or(|(v, _)| *v < snapshot.version) {
                    *cached = Some((snapshot.version, line.clone()));
                }
                Some(line)
            }
            Err(error) => {
                tracing::error!(%error, "mesh watch: cannot encode the snapshot");
                None
            }
        }
    }

    /// How long a registration lasts without a heartbeat.
    pub(crate) fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The revoked serials, swapped on every change.
    pub(crate) fn revocations(&self) -> &SharedRevocations {
        &self.inner.revocations
    }

    /// Whether `leaf` is revoked (an unparsable certificate counts as revoked).
    pub(crate) fn is_revoked(&self, leaf: &CertificateDer<'_>) -> bool {
        self.inner.revocations.load().is_cert_revoked(leaf)
    }

    /// Registers (or refreshes) the instance `instance` of the workload `id` at `address`.
    pub(crate) async fn register(
        &self,
        id: &SpiffeId,
        (namespace, service): (&str, &str),
        instance: &str,
        address: &str,
    ) -> Result<(), ControlError> {
        let now = SystemTime::now();
        let record = WorkloadEndpointRecord {
            spiffe_id: id.to_string(),
            instance: instance.to_owned(),
            service: service.to_owned(),
            namespace: namespace.to_owned(),
            address: address.to_owned(),
            registered_at: now,
            last_seen: now,
        };
        self.inner.store.upsert_workload_endpoint(&record).await?;
        self.refresh().await
    }

    /// Removes the instance `instance` of `id`; whether it was registered.
    pub(crate) async fn deregister(
        &self,
        id: &SpiffeId,
        instance: &str,
    ) -> Result<bool, ControlError> {
        let removed = self
            .inner
            .store
            .delete_workload_endpoint(&id.to_string(), instance)
            .await?;
        if removed {
            self.refresh().await?;
        }
        Ok(removed)
    }

    /// Follows the policy distribution: every change rebuilds the snapshot at once, so that
    /// a new set reaches every watcher without waiting for another mesh change.
    pub(crate) fn spawn_policy_follower(&self) -> tokio::task::JoinHandle<()> {
        let mesh = self.clone();
        let mut policy = self.inner.policy.clone();
        tokio::spawn(async move {
            while policy.changed().await.is_ok() {
                if let Err(error) = mesh.refresh().await {
                    tracing::error!(%error, "mesh snapshot not rebuilt after a policy change");
                }
            }
        })
    }

    /// Rebuilds the snapshot from the store and the bundle, and publishes it (with the next
    /// version) when it differs from the current one.
    pub(crate) async fn refresh(&self) -> Result<(), ControlError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.rebuild.lock().await;
        let now = SystemTime::now();
        let since = now.checked_sub(inner.ttl).unwrap_or(SystemTime::UNIX_EPOCH);
        let endpoints = inner.store.list_workload_endpoints(since).await?;
        let revocations = inner.store.list_revocations(now).await?;
        let bundle = inner.bundle.load();
        let next = snapshot::build(&inner.trust_domain, &bundle, &revocations, &endpoints);
        inner
            .revocations
            .store(RevocationList::new(next.revoked_serials.iter().cloned()));
        inner.tx.send_if_modified(|current| {
            let policy = inner.policy.borrow();
            if snapshot::same_content(current, &next)
                && snapshot::same_policy(&current.policy, &policy)
            {
                return false;
            }
            let version = current.version.saturating_add(1);
            // Cloned only on a change: a large set is not copied on every heartbeat.
            let policy = match snapshot::same_policy(&current.policy, &policy) {
                true => current.policy.clone(),
                false => policy.clone(),
            };
            *current = Arc::new(MeshSnapshot {
                version,
                policy,
                ..next
            });
            tracing::debug!(version, "mesh snapshot changed");
            true
        });
        Ok(())
    }
}
