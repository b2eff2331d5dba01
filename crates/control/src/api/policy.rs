//! The policy admin API (`docs/policy.md`, "Distribution"): the versioned Cedar sets, their
//! history, dry runs and the shadow reports of the proxies.

use rampart_policy::{PolicySource, ShadowEntry};
use serde::{Deserialize, Serialize};

/// `GET /v1/policy`: the enforced set and the set in dry run, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// `None`: authorization is off (no set was ever configured or applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced: Option<PolicyVersionInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<PolicyVersionInfo>,
}

/// One released set, as [`PolicyStatus`] shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionInfo {
    pub version: u64,
    /// [`PolicySource::digest`] of `source`.
    pub digest: String,
    pub author: String,
    /// Unix milliseconds.
    pub created_at: u64,
    pub message: String,
    pub source: PolicySource,
}

/// `POST /v1/policy`: validates, records and distributes a set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyPolicy {
    pub source: PolicySource,
    /// When `source.segments` is empty: keep the segments of the enforced set.
    #[serde(default)]
    pub segments_from_current: bool,
    /// Who applies it: 1 to 128 characters.
    pub author: String,
    /// Why: at most 4096 characters.
    #[serde(default)]
    pub message: String,
    /// Install it as the shadow set (evaluated, never enforced) instead of enforcing it.
    #[serde(default)]
    pub dry_run: bool,
}

/// The `200` answer of `POST /v1/policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyApplied {
    /// The new version, or the current one when `unchanged`.
    pub version: u64,
    pub digest: String,
    /// Unified diff against the enforced set before it (empty when equal).
    pub diff: String,
    /// The set equals the one already in force in that mode: nothing was recorded.
    pub unchanged: bool,
}

/// The `422` answer of `POST /v1/policy`: the set does not compile; nothing was recorded and
/// the enforced set is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRejection {
    /// A summary for people.
    pub error: String,
    /// `invalid_policy`.
    pub code: String,
    /// One line per problem: `file:line:col [policy id]: message`.
    pub problems: Vec<String>,
}

/// One entry of `GET /v1/policy/history` (an array, newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHistoryEntry {
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: u64,
    pub author: String,
    pub message: String,
    /// `enforce`, `dry-run` or `dry-run-cleared`.
    pub mode: String,
    pub digest: String,
    /// `config` (from the configuration file) or `api`.
    pub origin: String,
    /// Lines added by the diff.
    pub added: u64,
    /// Lines removed by the diff.
    pub removed: u64,
}

/// `GET /v1/policy/versions/{n}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionDetail {
    pub version: u64,
    /// Unix milliseconds.
    pub created_at: u64,
    pub author: String,
    pub message: String,
    pub mode: String,
    pub digest: String,
    pub origin: String,
    /// Unified diff against the enforced set before it.
    pub diff: String,
    pub source: PolicySource,
}

/// `POST /v1/policy/shadow`: a proxy's dry-run disagreements since its last report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowBatch {
    pub entries: Vec<ShadowEntry>,
}

/// `GET /v1/policy/dry-run-report`: the disagreements of the current dry run, merged from
/// every proxy, most frequent first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunReport {
    /// `None` when no dry run is running.
    pub shadow_version: Option<u64>,
    pub entries: Vec<ShadowEntry>,
}
