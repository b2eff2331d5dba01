//! The control plane's side of the event pipeline (`docs/logs.md`): the collector that stores
//! the control plane's own events and those proxies ship to it, and the exporters that copy
//! stored events elsewhere. SQL lives in `rampart-logs`; transports in `rampart-ship`.

mod exports;
mod ingest;
mod local;

use std::sync::Arc;

use rampart_events::{EventBus, Origin};
use rampart_logs::LogStore;
use tokio::task::JoinHandle;

pub use exports::Exports;
pub use ingest::IngestReply;
pub(crate) use ingest::{BatchError, MAX_BODY_BYTES};

/// The event log as the control plane serves it.
pub struct EventLog {
    store: Arc<LogStore>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").finish_non_exhaustive()
    }
}

// === impl EventLog ===

impl EventLog {
    /// Starts storing every event published on `bus` (written down with `origin`) in `store`.
    pub fn start(bus: &EventBus, store: LogStore, origin: Origin) -> Self {
        let store = Arc::new(store);
        let local = local::spawn(bus, store.clone(), origin);
        Self {
            store,
            tasks: vec![local],
        }
    }

    /// Runs `task` for as long as the event log (an exporter, a consumer group member).
    pub fn attach(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// Shares the log with the API.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
