//! What every handler and middleware shares.

use std::{sync::Arc, time::Duration};

use rampart_events::EventBus;
use rampart_store::Store;
use tokio::{
    sync::{Semaphore, watch},
    time::Instant,
};

use super::{Limits, auth::FailureLimiter};
use crate::{
    AdminToken, JoinTokens,
    api::{Health, HealthState},
    authority::Authority,
    oauth::AuthServer,
    policy::PolicyService,
    registry::Registry,
    secrets::SecretsApi,
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
    /// Issues, records and revokes SVIDs; holds the CA set and the mesh.
    pub(crate) authority: Arc<Authority>,
    /// The OAuth2 authorization server.
    pub(crate) oauth: Arc<AuthServer>,
    /// The versioned policy sets and the dry-run report.
    pub(crate) policy: PolicyService,
    /// The secrets store's engine, policy decisions and audit.
    pub(crate) secrets: SecretsApi,
    pub(crate) version: String,
    pub(crate) started: Instant,
    pub(crate) failures: FailureLimiter,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) request_timeout: Duration,
    /// Turns true when the server shuts down: long-lived streams end on it.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The event log, once attached ([`crate::ControlHandle::attach_event_log`]); until then
    /// the log and ingest routes answer 503.
    pub(crate) event_log: EventLogSlot,
}

/// Where the event log is attached after start.
pub(crate) type EventLogSlot = Arc<std::sync::OnceLock<Arc<crate::EventLog>>>;

/// What [`AppState::new`] takes from the caller's options.
pub(crate) struct Parts {
    pub(crate) token: AdminToken,
    pub(crate) store: Store,
    pub(crate) bus: EventBus,
    pub(crate) version: String,
    pub(crate) oauth: Arc<AuthServer>,
    pub(crate) policy: PolicyService,
    pub(crate) secrets: SecretsApi,
}

// === impl AppState ===

impl AppState {
    pub(crate) fn new(
        parts: Parts,
        registry: Registry,
        join_tokens: JoinTokens,
        authority: Arc<Authority>,
        limits: &Limits,
        shutdown: watch::Receiver<bool>,
        event_log: EventLogSlot,
    ) -> SharedState {
        Arc::new(Self {
            token: parts.token,
            store: parts.store,
            bus: parts.bus,
            registry,
            join_tokens,
            authority,
            oauth: parts.oauth,
            policy: parts.policy,
            secrets: parts.secrets,
            version: parts.version,
            started: Instant::now(),
            failures: FailureLimiter::new(limits.max_auth_failures, limits.auth_failure_window),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            request_timeout: limits.request_timeout,
            shutdown,
            event_log,
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
