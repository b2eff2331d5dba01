//! The local collector: the control plane's own bus (and, under `rampart up`, the in-process
//! gateway's) into the event log, in batches, without dropping what the log is slow to take.
//! Access events on that bus come from the in-process gateway and are recorded as observed by
//! it (`observer.type = gateway`, `observer.name` = its name), the rest as the control plane's.

use std::{sync::Arc, time::Duration};

use rampart_events::{Event, EventBus, EventRecord, Origin};
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
        let mut gateway: Option<Origin> = None;
        while let Some(event) = sub.recv().await {
            batch.push(record(&event, &origin, &mut gateway));
            while batch.len() < BATCH {
                match sub.try_recv() {
                    Some(event) => batch.push(record(&event, &origin, &mut gateway)),
                    None => break,
                }
            }
            store_batch(&store, std::mem::take(&mut batch)).await;
        }
    })
}

/// The `service.name` of the control plane's own events.
const CONTROL_SOURCE: &str = "rampart-control";

/// Writes `event` down: the control plane's own events as the control plane's, anything else
/// (access and security events of the in-process gateway) as observed by the gateway that
/// published it (`gateway` caches its origin).
fn record(event: &Event, control: &Origin, gateway: &mut Option<Origin>) -> EventRecord {
    let source = match event {
        Event::Access(a) => &a.source,
        Event::Security(s) => &s.source,
        Event::Admin(a) => &a.source,
    };
    if source == CONTROL_SOURCE {
        return EventRecord::from_event(event, control);
    }
    let origin = match gateway {
        Some(o) if o.name == *source => o,
        _ => gateway.insert(Origin {
            component: "gateway".to_owned(),
            name: source.clone(),
            identity: None,
        }),
    };
    EventRecord::from_event(event, origin)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_events::{AccessEvent, Decision, SecurityEvent, SecurityKind};
    use std::time::SystemTime;

    fn control() -> Origin {
        Origin {
            component: "control".to_owned(),
            name: "rampart".to_owned(),
            identity: None,
        }
    }

    fn access(source: &str) -> Event {
        Event::Access(Box::new(AccessEvent {
            time: SystemTime::now(),
            request_id: "r1".to_owned(),
            source: source.to_owned(),
            listener: "http".to_owned(),
            client: ([127, 0, 0, 1], 5000).into(),
            principal: None,
            method: "GET".to_owned(),
            host: "localhost".to_owned(),
            path: "/".to_owned(),
            status: 200,
            bytes_in: 0,
            bytes_out: 0,
            duration_us: 1,
            upstream_duration_us: None,
            route: None,
            upstream: None,
            decision: Decision::Allow,
            reason: None,
            authz: None,
        }))
    }

    fn observer(record: &EventRecord) -> (String, String) {
        let v: serde_json::Value = serde_json::from_str(&record.json).unwrap();
        (
            v["observer.type"].as_str().unwrap().to_owned(),
            v["observer.name"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn gateway_events_are_the_gateways_and_the_rest_the_control_planes() {
        let mut cache = None;
        let r = record(&access("edge"), &control(), &mut cache);
        assert_eq!(observer(&r), ("gateway".to_owned(), "edge".to_owned()));
        let r = record(&access("gateway"), &control(), &mut cache);
        assert_eq!(observer(&r), ("gateway".to_owned(), "gateway".to_owned()));
        let security = Event::Security(SecurityEvent::new(
            SecurityKind::SvidIssued,
            "rampart-control",
            None,
            "issued".to_owned(),
        ));
        let r = record(&security, &control(), &mut cache);
        assert_eq!(observer(&r), ("control".to_owned(), "rampart".to_owned()));
        let denied = Event::Security(SecurityEvent::new(
            SecurityKind::PolicyDenied,
            "gateway",
            None,
            "denied".to_owned(),
        ));
        let r = record(&denied, &control(), &mut cache);
        assert_eq!(observer(&r), ("gateway".to_owned(), "gateway".to_owned()));
    }
}
