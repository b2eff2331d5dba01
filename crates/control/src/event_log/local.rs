//! The local collector: the control plane's own bus (and, under `rampart up`, the in-process
//! gateway's) into the event log, in batches, without dropping what the log is slow to take.

use std::{sync::Arc, time::Duration};

use rampart_events::{EventBus, EventRecord, Origin};
use rampart_logs::{LogError, LogStore};
use tokio::task::JoinHandle;

/// Most events stored in one batch.
const BATCH: usize = 4096;
/// How long a busy or failing log is waited for before the batch is tried again.
const RETRY: Duration = Duration::from_millis(200);

pub(super) fn spawn(bus: &EventBus, store: Arc<LogStore>, origin: Origin) -> JoinHandle<()> {
    let mut sub = bus.subscribe();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(event) = sub.recv().await {
            batch.push(EventRecord::from_event(&event, &origin));
            while batch.len() < BATCH {
                match sub.try_recv() {
                    Some(event) => batch.push(EventRecord::from_event(&event, &origin)),
                    None => break,
                }
            }
            store_batch(&store, std::mem::take(&mut batch)).await;
        }
    })
}

/// Stores `batch`, retrying while the log is busy or failing: the bus's own bound (and its
/// counted losses) is the only place events can be lost.
async fn store_batch(store: &LogStore, batch: Vec<EventRecord>) {
    let mut failures = 0u32;
    loop {
        match store.ingest(batch.clone()).await {
            Ok(_) => return,
            Err(LogError::Closed) => {
                tracing::error!(
                    events = batch.len(),
                    "the event log has stopped; events not stored"
                );
                return;
            }
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::warn!(%error, events = batch.len(), "cannot store events yet; retrying");
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}
