//! The dry-run disagreements reported by every proxy for the current shadow version, merged
//! in a [`ShadowReport`] of bounded size.

use std::collections::HashSet;

use rampart_policy::{ShadowEntry, ShadowKey, ShadowReport};

use crate::api::DryRunReport;

/// The most distinct disagreements kept; later new ones are dropped (counts of known ones
/// still add up).
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// The longest text field of an entry kept; longer entries are dropped.
const MAX_FIELD: usize = 1024;
/// The most policy ids of an entry kept.
const MAX_POLICIES: usize = 64;

/// The merged report of one shadow version.
pub(super) struct Ledger {
    version: Option<u64>,
    report: ShadowReport,
    keys: HashSet<ShadowKey>,
}

// === impl Ledger ===

impl Ledger {
    pub(super) fn new(version: Option<u64>) -> Self {
        Self {
            version,
            report: ShadowReport::default(),
            keys: HashSet::new(),
        }
    }

    /// Forgets everything unless `version` is still the shadow version.
    pub(super) fn retain(&mut self, version: Option<u64>) {
        if self.version != version {
            *self = Self::new(version);
        }
    }

    /// Merges the entries of the shadow version `version`; returns how many were kept.
    pub(super) fn add(&mut self, version: Option<u64>, entries: Vec<ShadowEntry>) -> usize {
        self.retain(version);
        let Some(version) = version else { return 0 };
        let mut kept = 0;
        for entry in entries {
            if entry.shadow_version != version || !sane(&entry) {
                continue;
            }
            let key = entry.key();
            if !self.keys.contains(&key) {
                if self.keys.len() >= MAX_ENTRIES {
                    continue;
                }
                self.keys.insert(key);
            }
            self.report.add(entry);
            kept += 1;
        }
        kept
    }

    /// The report of the shadow version `version`.
    pub(super) fn report(&mut self, version: Option<u64>) -> DryRunReport {
        self.retain(version);
        DryRunReport {
            shadow_version: version,
            entries: self.report.entries(),
        }
    }
}

fn sane(e: &ShadowEntry) -> bool {
    let short = |s: &String| s.len() <= MAX_FIELD;
    short(&e.from)
        && short(&e.to)
        && short(&e.action)
        && short(&e.sample_path)
        && e.policies.len() <= MAX_POLICIES
        && e.policies.iter().all(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, to: &str, count: u64) -> ShadowEntry {
        ShadowEntry {
            shadow_version: version,
            from: "orders".into(),
            to: to.into(),
            action: "GET".into(),
            enforced_allowed: true,
            shadow_allowed: false,
            policies: vec![],
            sample_path: "/x".into(),
            count,
            first_seen: 1,
            last_seen: 2,
        }
    }

    #[test]
    fn keeps_only_the_current_version_and_bounds_distinct_entries() {
        let mut ledger = Ledger::new(Some(3));
        assert_eq!(
            ledger.add(Some(3), vec![entry(3, "a", 2), entry(2, "a", 5)]),
            1
        );
        assert_eq!(ledger.add(Some(3), vec![entry(3, "a", 3)]), 1);
        let report = ledger.report(Some(3));
        assert_eq!(report.entries.len(), 1);
        assert_eq!(report.entries[0].count, 5);

        let many = (0..MAX_ENTRIES + 5)
            .map(|i| entry(3, &format!("s{i}"), 1))
            .collect();
        ledger.add(Some(3), many);
        assert_eq!(ledger.report(Some(3)).entries.len(), MAX_ENTRIES);

        assert!(
            ledger.report(Some(4)).entries.is_empty(),
            "a new dry run starts empty"
        );
        assert_eq!(ledger.add(None, vec![entry(4, "a", 1)]), 0);
    }
}
