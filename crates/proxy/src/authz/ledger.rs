//! The shadow ledger: dry-run disagreements counted by kind until drained
//! ([`GatewayHandle::take_shadow_entries`](crate::GatewayHandle::take_shadow_entries)).
//!
//! Bounded: at most [`MAX_KEYS`] distinct kinds are kept between drains; disagreements of new
//! kinds beyond that are counted in `rampart_policy_shadow_dropped_total` and dropped.

use crate::metrics::Metrics;
use metrics::Counter;
use rampart_policy::{ShadowEntry, ShadowKey};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many distinct disagreement kinds the ledger holds between drains.
pub const MAX_KEYS: usize = 10_000;

/// Disagreements by kind.
#[derive(Debug)]
pub struct ShadowLedger {
    entries: Mutex<HashMap<ShadowKey, ShadowEntry>>,
    dropped: Counter,
}

impl ShadowLedger {
    /// An empty ledger counting its overflow in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            dropped: metrics.counter("rampart_policy_shadow_dropped_total", &[]),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ShadowKey, ShadowEntry>> {
        // The map is valid after any panic elsewhere (every update is a single step).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one disagreement: merged into its kind's entry (the latest sample path kept).
    pub fn record(&self, entry: ShadowEntry) {
        let key = entry.key();
        let mut entries = self.lock();
        if let Some(e) = entries.get_mut(&key) {
            e.count = e.count.saturating_add(entry.count);
            e.first_seen = e.first_seen.min(entry.first_seen);
            e.last_seen = e.last_seen.max(entry.last_seen);
            e.sample_path = entry.sample_path;
        } else if entries.len() < MAX_KEYS {
            entries.insert(key, entry);
        } else {
            drop(entries);
            self.dropped.increment(entry.count);
        }
    }

    /// Drops entries of any other shadow version than `version`.
    pub fn retain_version(&self, version: Option<u64>) {
        self.lock().retain(|k, _| Some(k.shadow_version) == version);
    }

    /// Takes every entry out, most frequent first.
    pub fn take(&self) -> Vec<ShadowEntry> {
        let taken = std::mem::take(&mut *self.lock());
        let mut v: Vec<ShadowEntry> = taken.into_values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.from.cmp(&b.from)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(from: &str, path: &str, at: i64) -> ShadowEntry {
        ShadowEntry {
            shadow_version: 2,
            from: from.into(),
            to: "billing".into(),
            action: "GET".into(),
            enforced_allowed: true,
            shadow_allowed: false,
            policies: vec![],
            sample_path: path.into(),
            count: 1,
            first_seen: at,
            last_seen: at,
        }
    }

    #[test]
    fn merges_by_kind_and_drains() {
        let l = ShadowLedger::new(&Metrics::new());
        l.record(entry("orders", "/a", 10));
        l.record(entry("orders", "/b", 12));
        l.record(entry("web", "/c", 11));
        let taken = l.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].from, "orders");
        assert_eq!(taken[0].count, 2);
        assert_eq!((taken[0].first_seen, taken[0].last_seen), (10, 12));
        assert_eq!(taken[0].sample_path, "/b");
        assert!(l.take().is_empty());
    }

    #[test]
    fn is_bounded_and_counts_the_overflow() {
        let metrics = Metrics::new();
        let l = ShadowLedger::new(&metrics);
        for i in 0..MAX_KEYS + 5 {
            l.record(entry(&format!("svc-{i}"), "/", 1));
        }
        // Known kinds still count when full.
        l.record(entry("svc-0", "/", 2));
        let text = metrics.render();
        assert!(
            text.contains("rampart_policy_shadow_dropped_total 5"),
            "{text}"
        );
        let taken = l.take();
        assert_eq!(taken.len(), MAX_KEYS);
        assert_eq!(taken[0].count, 2);
    }

    #[test]
    fn a_new_shadow_version_drops_the_old_entries() {
        let l = ShadowLedger::new(&Metrics::new());
        l.record(entry("orders", "/a", 1));
        l.retain_version(Some(3));
        assert!(l.take().is_empty());
    }
}
