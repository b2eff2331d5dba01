//! The proxies known to the control plane: heartbeats in, statuses out, over the store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_store::{ProxyRecord, Store};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    ControlError,
    api::{Heartbeat, ProxyStatus},
};

/// The shortest interval between the heartbeats of an in-process proxy.
const MIN_BEAT: Duration = Duration::from_millis(50);

/// The registry of proxies. Cheap to clone; every clone shares the store.
///
/// A proxy is *connected* while its last heartbeat is younger than the ttl. Records are kept
/// after that, so that `rampart status` can show a proxy that went away.
#[derive(Clone, Debug)]
pub struct Registry {
    store: Store,
    ttl: Duration,
}

/// The registration of a proxy running in this process (the gateway of `rampart up`): it
/// heartbeats through the store, without HTTP, every third of the ttl until dropped.
#[derive(Debug)]
pub struct LocalProxy {
    record: watch::Sender<ProxyRecord>,
    task: JoinHandle<()>,
    registry: Registry,
}

// === impl Registry ===

impl Registry {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// How long a heartbeat keeps a proxy connected.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Records a heartbeat from a remote proxy, seen now.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), ControlError> {
        heartbeat
            .check()
            .map_err(|reason| ControlError::InvalidHeartbeat { reason })?;
        let started_at = UNIX_EPOCH + Duration::from_millis(heartbeat.started_at_ms);
        let record = ProxyRecord {
            id: heartbeat.id.clone(),
            kind: heartbeat.kind.as_str().to_owned(),
            name: heartbeat.name.clone(),
            version: heartbeat.version.clone(),
            address: heartbeat.address.clone(),
            config_version: heartbeat.config_version.clone(),
            started_at,
            last_seen: SystemTime::now(),
        };
        Ok(self.store.upsert_proxy(&record).await?)
    }

    /// Forgets proxy `id`; whether it was known.
    pub async fn remove(&self, id: &str) -> Result<bool, ControlError> {
        Ok(self.store.remove_proxy(id).await?)
    }

    /// Every known proxy, ordered by id, with whether it is connected now.
    pub async fn proxies(&self) -> Result<Vec<ProxyStatus>, ControlError> {
        let now = SystemTime::now();
        let records = self.store.list_proxies().await?;
        Ok(records
            .iter()
            .map(|record| status(record, now, self.ttl))
            .collect())
    }

    /// Registers a proxy of this process (seen now) and keeps it connected until the returned
    /// [`LocalProxy`] is dropped. Must be called inside a tokio runtime.
    pub async fn register_local(
        &self,
        mut record: ProxyRecord,
    ) -> Result<LocalProxy, ControlError> {
        record.last_seen = SystemTime::now();
        self.store.upsert_proxy(&record).await?;
        let (tx, rx) = watch::channel(record);
        let task = tokio::spawn(beat(self.clone(), rx));
        Ok(LocalProxy {
            record: tx,
            task,
            registry: self.clone(),
        })
    }

    fn beat_interval(&self) -> Duration {
        (self.ttl / 3).max(MIN_BEAT)
    }
}

// === impl LocalProxy ===

impl LocalProxy {
    /// Reports that the proxy now runs configuration `version` (stored at once).
    pub fn set_config_version(&self, version: &str) {
        self.record
            .send_modify(|r| r.config_version = version.to_owned());
    }

    /// Stops heartbeating and forgets the proxy, e.g. on a clean shutdown.
    pub async fn deregister(self) -> Result<(), ControlError> {
        self.task.abort();
        let id = self.record.borrow().id.clone();
        self.registry.remove(&id).await.map(drop)
    }
}

impl Drop for LocalProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === helpers ===

async fn beat(registry: Registry, mut rx: watch::Receiver<ProxyRecord>) {
    let mut ticks = tokio::time::interval(registry.beat_interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = rx.changed() => if changed.is_err() { return },
        }
        let mut record = rx.borrow_and_update().clone();
        record.last_seen = SystemTime::now();
        if let Err(error) = registry.store.upsert_proxy(&record).await {
            tracing::warn!(%error, id = %record.id, "cannot record the local proxy's heartbeat");
        }
    }
}

fn status(record: &ProxyRecord, now: SystemTime, ttl: Duration) -> ProxyStatus {
    // A heartbeat stamped in the future (clock steps, millisecond rounding) is fresh.
    let age = now.duration_since(record.last_seen).unwrap_or_default();
    let uptime = (record.last_seen)
        .duration_since(record.started_at)
        .unwrap_or_default();
    ProxyStatus {
        id: record.id.clone(),
        kind: record.kind.clone(),
        name: record.name.clone(),
        version: record.version.clone(),
        address: record.address.clone(),
        config_version: record.config_version.clone(),
        started_at_ms: unix_ms(record.started_at),
        last_seen_ms: unix_ms(record.last_seen),
        connected: age < ttl,
        last_seen_age_ms: millis(age),
        uptime_secs: uptime.as_secs(),
    }
}

/// Milliseconds since the unix epoch, negative before it, saturating.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
