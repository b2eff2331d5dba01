//! The mesh's part of [`Store`]: issued SVIDs, revocations, workload endpoints and CA
//! generations.

use std::time::SystemTime;

use super::{Backend, Store};
use crate::error::StoreError;
use crate::postgres;
use crate::records::{
    CaGenerationRecord, IssuedSvidRecord, RevocationRecord, WorkloadEndpointRecord,
};
use crate::sqlite;

// === impl Store ===

impl Store {
    /// Records an issued SVID (its serial must be new); `svid.revoked_at` is ignored.
    pub async fn insert_issued_svid(&self, svid: &IssuedSvidRecord) -> Result<(), StoreError> {
        dispatch!(self, "insert_issued_svid", |b| b.insert_issued_svid(svid))
    }

    /// The issued SVID with `serial`, if recorded.
    pub async fn issued_svid(&self, serial: &str) -> Result<Option<IssuedSvidRecord>, StoreError> {
        dispatch!(self, "issued_svid", |b| b.issued_svid(serial))
    }

    /// The `limit` most recently issued SVIDs, of `spiffe_id` only when given, newest first.
    pub async fn list_issued_svids(
        &self,
        spiffe_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IssuedSvidRecord>, StoreError> {
        dispatch!(self, "list_issued_svids", |b| b
            .list_issued_svids(spiffe_id, limit))
    }

    /// The issued SVIDs that are neither expired at `now` nor revoked, of `spiffe_id` only
    /// when given, newest first.
    pub async fn live_svids(
        &self,
        spiffe_id: Option<&str>,
        now: SystemTime,
    ) -> Result<Vec<IssuedSvidRecord>, StoreError> {
        dispatch!(self, "live_svids", |b| b.live_svids(spiffe_id, now))
    }

    /// Forgets the SVIDs that expired strictly before `expired_before`; returns how many.
    pub async fn prune_issued_svids(&self, expired_before: SystemTime) -> Result<u64, StoreError> {
        dispatch!(self, "prune_issued_svids", |b| b
            .prune_issued_svids(expired_before))
    }

    /// Revokes `revocation.serial`: records the revocation and marks the issued SVID with that
    /// serial (if recorded) revoked, in one transaction. Idempotent: returns whether the serial
    /// was not revoked before (a repeated call changes nothing).
    pub async fn insert_revocation(
        &self,
        revocation: &RevocationRecord,
    ) -> Result<bool, StoreError> {
        dispatch!(self, "insert_revocation", |b| b
            .insert_revocation(revocation))
    }

    /// The revocations whose certificate has not expired at `now`, ordered by serial.
    pub async fn list_revocations(
        &self,
        now: SystemTime,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        dispatch!(self, "list_revocations", |b| b.list_revocations(now))
    }

    /// Forgets the revocations whose certificate has expired at `now` (an expired certificate
    /// is refused anyway); returns how many. The mark on the issued SVID stays.
    pub async fn prune_revocations(&self, now: SystemTime) -> Result<u64, StoreError> {
        dispatch!(self, "prune_revocations", |b| b.prune_revocations(now))
    }

    /// Inserts the endpoint, or updates the one with the same `(spiffe_id, instance)`: every
    /// field but `registered_at`, which keeps the first registration's time.
    pub async fn upsert_workload_endpoint(
        &self,
        endpoint: &WorkloadEndpointRecord,
    ) -> Result<(), StoreError> {
        dispatch!(self, "upsert_workload_endpoint", |b| b
            .upsert_workload_endpoint(endpoint))
    }

    /// Forgets one endpoint; returns whether it was known.
    pub async fn delete_workload_endpoint(
        &self,
        spiffe_id: &str,
        instance: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, "delete_workload_endpoint", |b| b
            .delete_workload_endpoint(spiffe_id, instance))
    }

    /// The endpoints last seen at or after `seen_since`, ordered by namespace, service,
    /// SPIFFE id and instance.
    pub async fn list_workload_endpoints(
        &self,
        seen_since: SystemTime,
    ) -> Result<Vec<WorkloadEndpointRecord>, StoreError> {
        dispatch!(self, "list_workload_endpoints", |b| b
            .list_workload_endpoints(seen_since))
    }

    /// Forgets every endpoint last seen strictly before `older_than`; returns how many.
    pub async fn prune_workload_endpoints(
        &self,
        older_than: SystemTime,
    ) -> Result<u64, StoreError> {
        dispatch!(self, "prune_workload_endpoints", |b| b
            .prune_workload_endpoints(older_than))
    }

    /// Inserts the CA generation, or replaces every field of the one with the same number.
    pub async fn upsert_ca_generation(
        &self,
        generation: &CaGenerationRecord,
    ) -> Result<(), StoreError> {
        dispatch!(self, "upsert_ca_generation", |b| b
            .upsert_ca_generation(generation))
    }

    /// Every CA generation, by number.
    pub async fn list_ca_generations(&self) -> Result<Vec<CaGenerationRecord>, StoreError> {
        dispatch!(self, "list_ca_generations", |b| b.list_ca_generations())
    }

    /// Makes `generation` the only active one, atomically; returns `false` (and changes
    /// nothing) when it does not exist.
    pub async fn activate_ca_generation(&self, generation: u32) -> Result<bool, StoreError> {
        dispatch!(self, "activate_ca_generation", |b| b
            .activate_ca_generation(generation))
    }
}
