//! The background sweep: endpoints whose heartbeats stopped leave the snapshot within a
//! fraction of the ttl, expired revocations leave it too, and old records are pruned.

use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::Mesh;

/// The slowest and fastest sweep, whatever the ttl.
const MAX_INTERVAL: Duration = Duration::from_secs(5);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long the records of issued SVIDs are kept after they expire (for `GET
/// /v1/identity/svids`).
const SVID_RECORD_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// How often those records are pruned.
const SVID_PRUNE_INTERVAL: Duration = Duration::from_secs(600);

// === impl Mesh ===

impl Mesh {
    /// Sweeps every quarter of the ttl (within 100 ms to 5 s) until the task is aborted.
    pub(crate) fn spawn_sweeper(&self) -> JoinHandle<()> {
        let mesh = self.clone();
        let interval = (self.inner.ttl / 4).clamp(MIN_INTERVAL, MAX_INTERVAL);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pruned_svids: Option<tokio::time::Instant> = None;
            loop {
                let now = ticks.tick().await;
                mesh.sweep().await;
                if pruned_svids.is_none_or(|at| now.duration_since(at) >= SVID_PRUNE_INTERVAL) {
                    pruned_svids = Some(now);
                    mesh.prune_svid_records().await;
                }
            }
        })
    }

    /// Prunes stale endpoints and expired revocations, and publishes the result.
    async fn sweep(&self) {
        let inner = &self.inner;
        let now = SystemTime::now();
        let stale = now.checked_sub(inner.ttl).unwrap_or(SystemTime::UNIX_EPOCH);
        match inner.store.prune_workload_endpoints(stale).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(endpoints = n, "mesh: endpoints without heartbeat removed"),
            Err(error) => tracing::warn!(%error, "mesh: cannot prune stale endpoints"),
        }
        if let Err(error) = inner.store.prune_revocations(now).await {
            tracing::warn!(%error, "mesh: cannot prune expired revocations");
        }
        if let Err(error) = self.refresh().await {
            tracing::warn!(%error, "mesh: cannot rebuild the snapshot");
        }
    }

    async fn prune_svid_records(&self) {
        let before = SystemTime::now()
            .checked_sub(SVID_RECORD_RETENTION)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match self.inner.store.prune_issued_svids(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(svids = n, "records of long-expired SVIDs pruned"),
            Err(error) => tracing::warn!(%error, "cannot prune the records of expired SVIDs"),
        }
    }
}
