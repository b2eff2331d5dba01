//! Dry-run (shadow) disagreements: what proxies record when the shadow set would decide a
//! request differently from the enforced one, and the summary the control plane builds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One kind of disagreement, counted. Proxies aggregate by everything but `count`,
/// `first_seen` and `last_seen`, and send batches of entries to the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowEntry {
    /// The shadow set's version.
    pub shadow_version: u64,
    /// Who called: the service name of a workload, `client:<id>`, `user:<sub>` or
    /// `anonymous`.
    pub from: String,
    /// What was called: the service name (mesh) or the route's service (gateway).
    pub to: String,
    /// The Cedar action (`GET`, …).
    pub action: String,
    /// What the enforced set decided.
    pub enforced_allowed: bool,
    /// What the shadow set would decide.
    pub shadow_allowed: bool,
    /// The shadow decision's determining policies (empty on default deny).
    pub policies: Vec<String>,
    /// One path that produced this disagreement (normalised), as an example.
    pub sample_path: String,
    /// How many requests.
    pub count: u64,
    /// Unix seconds of the first and last request counted.
    pub first_seen: i64,
    /// Unix seconds of the last request counted.
    pub last_seen: i64,
}

impl ShadowEntry {
    /// The aggregation key: everything that names the disagreement.
    pub fn key(&self) -> ShadowKey {
        ShadowKey {
            shadow_version: self.shadow_version,
            from: self.from.clone(),
            to: self.to.clone(),
            action: self.action.clone(),
            enforced_allowed: self.enforced_allowed,
            shadow_allowed: self.shadow_allowed,
            policies: self.policies.clone(),
        }
    }

    /// One line for people, e.g. `37 requests from orders → billing (GET) would now be
    /// denied, by policy p7 (e.g. /invoices/1)`.
    pub fn sentence(&self) -> String {
        let would = if self.shadow_allowed {
            "allowed"
        } else {
            "denied"
        };
        let by = match self.policies.len() {
            0 if !self.shadow_allowed => ", by default deny (no permit matches)".to_owned(),
            0 => String::new(),
            1 => format!(", by policy {}", self.policies[0]),
            _ => format!(", by policies {}", self.policies.join(", ")),
        };
        let noun = if self.count == 1 {
            "request"
        } else {
            "requests"
        };
        format!(
            "{} {noun} from {} → {} ({}) would now be {would}{by} (e.g. {})",
            self.count, self.from, self.to, self.action, self.sample_path
        )
    }
}

/// See [`ShadowEntry::key`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShadowKey {
    /// Shadow version.
    pub shadow_version: u64,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Action.
    pub action: String,
    /// Enforced decision.
    pub enforced_allowed: bool,
    /// Shadow decision.
    pub shadow_allowed: bool,
    /// Shadow policies.
    pub policies: Vec<String>,
}

/// Disagreements merged from any number of batches.
#[derive(Debug, Clone, Default)]
pub struct ShadowReport {
    entries: BTreeMap<ShadowKey, ShadowEntry>,
}

impl ShadowReport {
    /// Merges one entry: counts add up, the first/last times widen.
    pub fn add(&mut self, entry: ShadowEntry) {
        match self.entries.get_mut(&entry.key()) {
            Some(e) => {
                e.count = e.count.saturating_add(entry.count);
                e.first_seen = e.first_seen.min(entry.first_seen);
                if entry.last_seen >= e.last_seen {
                    e.last_seen = entry.last_seen;
                    e.sample_path = entry.sample_path;
                }
            }
            None => {
                self.entries.insert(entry.key(), entry);
            }
        }
    }

    /// Drops entries of other shadow versions than `version`.
    pub fn retain_version(&mut self, version: Option<u64>) {
        self.entries
            .retain(|k, _| Some(k.shadow_version) == version);
    }

    /// The entries, most frequent first.
    pub fn entries(&self) -> Vec<ShadowEntry> {
        let mut v: Vec<ShadowEntry> = self.entries.values().cloned().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key().cmp(&b.key())));
        v
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes every entry out, leaving the report empty.
    pub fn drain(&mut self) -> Vec<ShadowEntry> {
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(count: u64, last: i64, path: &str) -> ShadowEntry {
        ShadowEntry {
            shadow_version: 3,
            from: "orders".into(),
            to: "billing".into(),
            action: "GET".into(),
            enforced_allowed: true,
            shadow_allowed: false,
            policies: vec!["p7".into()],
            sample_path: path.into(),
            count,
            first_seen: last - 1,
            last_seen: last,
        }
    }

    #[test]
    fn merges_counts_and_renders_a_sentence() {
        let mut r = ShadowReport::default();
        r.add(entry(30, 100, "/a"));
        r.add(entry(7, 105, "/b"));
        let mut other = entry(1, 90, "/c");
        other.to = "db".into();
        r.add(other);
        let e = r.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].count, 37);
        assert_eq!(e[0].first_seen, 99);
        assert_eq!(e[0].last_seen, 105);
        assert_eq!(
            e[0].sentence(),
            "37 requests from orders → billing (GET) would now be denied, by policy p7 (e.g. /b)"
        );
        r.retain_version(Some(4));
        assert!(r.is_empty());
    }
}
