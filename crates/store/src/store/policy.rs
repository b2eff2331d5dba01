//! The versioned policy sets' part of [`Store`].

use super::{Backend, Store};
use crate::error::StoreError;
use crate::postgres;
use crate::records::PolicyVersionRecord;
use crate::sqlite;

// === impl Store ===

impl Store {
    /// Appends `version` to the history in one transaction that assigns it the next version
    /// number (returned; `version.version` is ignored). Storing an enforced set also marks any
    /// running dry run `dry-run-cleared`: enforcing ends the dry run.
    pub async fn insert_policy_version(
        &self,
        version: &PolicyVersionRecord,
    ) -> Result<i64, StoreError> {
        dispatch!(self, "insert_policy_version", |b| b
            .insert_policy_version(version))
    }

    /// The newest enforced set, if any.
    pub async fn latest_enforced_policy(&self) -> Result<Option<PolicyVersionRecord>, StoreError> {
        dispatch!(self, "latest_enforced_policy", |b| b
            .latest_enforced_policy())
    }

    /// The set running in dry-run mode: the newest `dry-run` version newer than the newest
    /// enforced one (a cleared dry run is `dry-run-cleared`, so never current).
    pub async fn current_shadow_policy(&self) -> Result<Option<PolicyVersionRecord>, StoreError> {
        dispatch!(self, "current_shadow_policy", |b| b.current_shadow_policy())
    }

    /// Stops the running dry run (its mode becomes `dry-run-cleared`); returns whether one ran.
    pub async fn clear_policy_dry_run(&self) -> Result<bool, StoreError> {
        dispatch!(self, "clear_policy_dry_run", |b| b.clear_policy_dry_run())
    }

    /// The `limit` newest versions, newest first.
    pub async fn list_policy_versions(
        &self,
        limit: u32,
    ) -> Result<Vec<PolicyVersionRecord>, StoreError> {
        dispatch!(self, "list_policy_versions", |b| b
            .list_policy_versions(limit))
    }

    /// Version `version`, if recorded.
    pub async fn policy_version(
        &self,
        version: i64,
    ) -> Result<Option<PolicyVersionRecord>, StoreError> {
        dispatch!(self, "policy_version", |b| b.policy_version(version))
    }

    /// The newest version seeded from the configuration file (whatever its mode), if any.
    pub async fn latest_config_policy(&self) -> Result<Option<PolicyVersionRecord>, StoreError> {
        dispatch!(self, "latest_config_policy", |b| b.latest_config_policy())
    }
}
