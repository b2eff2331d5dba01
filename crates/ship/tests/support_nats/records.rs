//! Test records of every shippable kind, and an in-memory [`EventIngest`] that de-duplicates by
//! id like the real store and counts how often each id was offered.

#![allow(dead_code)]

use rampart_events::{
    AdminEvent, Event, EventRecord, Origin, Outcome, SecurityEvent, SecurityKind,
};
use rampart_ship::{Batch, BoxFuture, EventIngest};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn origin() -> Origin {
    Origin {
        component: "gateway".into(),
        name: "edge".into(),
        identity: Some("spiffe://test/ns/default/sa/edge".into()),
    }
}

/// `n` records alternating admin and security events, each with a fresh id.
pub fn records(n: usize) -> Vec<EventRecord> {
    (0..n)
        .map(|i| {
            let event = if i % 2 == 0 {
                Event::Admin(
                    AdminEvent::new(
                        "policy.apply",
                        "control",
                        "admin-token",
                        format!("v{i}"),
                        Outcome::Success,
                    )
                    .with_detail(format!("change {i}")),
                )
            } else {
                Event::Security(SecurityEvent::new(
                    SecurityKind::RateLimited,
                    "orders",
                    Some("127.0.0.1:5000".parse().expect("address")),
                    format!("burst {i}"),
                ))
            };
            EventRecord::from_event(&event, &origin())
        })
        .collect()
}

pub fn batch(records: &[EventRecord]) -> Batch {
    Batch {
        lines: records.iter().map(|r| r.json.clone().into()).collect(),
        ids: records.iter().map(|r| r.id.clone()).collect(),
    }
}

/// Stores by id like the real store; `offered` counts every time an id reached `ingest`.
/// Clones share the state; each may have its own ingest delay.
#[derive(Default, Clone)]
pub struct MemoryStore {
    pub inner: Arc<Mutex<StoreState>>,
    /// Slows ingest down, to keep batches in flight.
    pub delay: Option<Duration>,
    /// This many ingest calls fail (shared by the clones), as a store that is down would.
    pub fail_next: Arc<AtomicU32>,
}

#[derive(Default)]
pub struct StoreState {
    pub stored: HashMap<String, String>,
    pub offered: HashMap<String, u32>,
    pub ingests: u64,
}

impl MemoryStore {
    /// Another view of the same store whose ingest first sleeps `delay`.
    pub fn with_delay(&self, delay: Duration) -> Self {
        Self {
            inner: self.inner.clone(),
            delay: Some(delay),
            fail_next: self.fail_next.clone(),
        }
    }

    pub fn stored_len(&self) -> usize {
        self.inner.lock().expect("store lock").stored.len()
    }
}

impl EventIngest for MemoryStore {
    fn ingest(
        &self,
        batch: Vec<EventRecord>,
    ) -> BoxFuture<'_, Result<rampart_events::IngestOutcome, String>> {
        Box::pin(async move {
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            let failing = self
                .fail_next
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
            let mut state = self.inner.lock().expect("store lock");
            state.ingests += 1;
            if failing {
                return Err("store is down".to_string());
            }
            let mut outcome = rampart_events::IngestOutcome::default();
            for record in batch {
                *state.offered.entry(record.id.clone()).or_default() += 1;
                match state.stored.entry(record.id) {
                    std::collections::hash_map::Entry::Occupied(_) => outcome.duplicates += 1,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(record.json);
                        outcome.stored += 1;
                    }
                }
            }
            Ok(outcome)
        })
    }
}
