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
    /// The revoked serials of the current snapshot, for the checks on the control plane's own
    /// routes.
    revocations: SharedRevocations,
    /// Rebuilds one at a time, so that versions follow the store's order of changes.
    rebuild: Mutex<()>,
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
                revocations: SharedRevocations::default(),
                rebuild: Mutex::new(()),
            }),
        };
        mesh.refresh().await?;
        Ok(mesh)
    }

    /// The current snapshot and every later one.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MeshSnapshot>> {
        self.inner.tx.subscribe()
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
            if snapshot::same_content(current, &next) {
                return false;
            }
            let version = current.version.saturating_add(1);
            *current = Arc::new(MeshSnapshot { version, ..next });
            tracing::debug!(version, "mesh snapshot changed");
            true
        });
        Ok(())
    }
}
