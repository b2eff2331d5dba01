//! What every handler and middleware shares.

use std::{sync::Arc, time::Duration};

use rampart_events::EventBus;
use rampart_identity::{LocalCa, TrustBundle};
use rampart_store::Store;
use tokio::{sync::Semaphore, time::Instant};

use super::{ControlOptions, Limits, auth::FailureLimiter};
use crate::{
    AdminToken, JoinTokens,
    api::{Health, HealthState},
    registry::Registry,
};

/// How long the health check waits for the store.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A key nobody sets: reading it is the cheapest query that proves the store answers.
const PROBE_KEY: &str = "control.health_probe";

pub(crate) type SharedState = Arc<AppState>;

pub(crate) struct AppState {
    pub(crate) token: AdminToken,
    pub(crate) store: Store,
    pub(crate) bus: EventBus,
    pub(crate) registry: Registry,
    pub(crate) join_tokens: JoinTokens,
    /// Signs workload SVIDs.
    pub(crate) ca: Arc<LocalCa>,
    pub(crate) svid_ttl: Duration,
    /// The roots workloads trust, handed out with their SVIDs and checked on renewal.
    pub(crate) bundle: TrustBundle,
    pub(crate) version: String,
    pub(crate) started: Instant,
    pub(crate) failures: FailureLimiter,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
}

// === impl AppState ===

impl AppState {
    pub(crate) fn new(
        options: ControlOptions,
        registry: Registry,
        join_tokens: JoinTokens,
        bundle: TrustBundle,
        limits: &Limits,
    ) -> SharedState {
        Arc::new(Self {
            token: options.token,
            store: options.store,
            bus: options.bus,
            registry,
            join_tokens,
            ca: options.ca,
            svid_ttl: options.svid_ttl,
            bundle,
            version: options.version,
            started: Instant::now(),
            failures: FailureLimiter::new(limits.max_auth_failures, limits.auth_failure_window),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            request_timeout: limits.request_timeout,
        })
    }

    /// The control plane's health, with a cheap query to the store.
    pub(crate) async fn health(&self) -> Health {
        let probe = tokio::time::timeout(STORE_CHECK_TIMEOUT, self.store.get_meta(PROBE_KEY));
        let status = match probe.await {
            Ok(Ok(_)) => HealthState::Ok,
            Ok(Err(error)) => {
                tracing::warn!(%error, "health check: the store failed");
                HealthState::Degraded
            }
            Err(_) => {
                tracing::warn!("health check: the store did not answer in time");
                HealthState::Degraded
            }
        };
        Health {
            status,
            version: self.version.clone(),
            store: self.store.backend_name().to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }
}
