//! The SQLite statements of the mesh tables (see `migrations/sqlite/0003_mesh.sql`).

use std::time::SystemTime;

use super::SqliteStore;
use crate::records::{
    CaGenerationRecord, IssuedSvidRecord, RevocationRecord, WorkloadEndpointRecord,
};
use crate::time::to_millis;

use crate::records::mesh_columns::{
    endpoint_columns, generation_columns, revocation_columns, svid_columns,
};

// === impl SqliteStore ===

impl SqliteStore {
    pub(crate) async fn insert_issued_svid(&self, s: &IssuedSvidRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO issued_svids (serial, spiffe_id, issued_at_ms, expires_at_ms, how,
                renewed_from, ca_fingerprint, revoked_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&s.serial)
        .bind(&s.spiffe_id)
        .bind(to_millis(s.issued_at))
        .bind(to_millis(s.expires_at))
        .bind(&s.how)
        .bind(s.renewed_from.as_deref())
        .bind(&s.ca_fingerprint)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn issued_svid(&self, serial: &str) -> sqlx::Result<Option<IssuedSvidRecord>> {
        let sql = concat!(
            "SELECT ",
            svid_columns!(),
            " FROM issued_svids WHERE serial = ?"
        );
        let row = sqlx::query(sql)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(IssuedSvidRecord::from_row).transpose()
    }

    pub(crate) async fn list_issued_svids(
        &self,
        spiffe_id: Option<&str>,
        limit: u32,
    ) -> sqlx::Result<Vec<IssuedSvidRecord>> {
        let sql = concat!(
            "SELECT ",
            svid_columns!(),
            " FROM issued_svids
             WHERE (? IS NULL OR spiffe_id = ?)
             ORDER BY issued_at_ms DESC, serial DESC LIMIT ?"
        );
        let rows = sqlx::query(sql)
            .bind(spiffe_id)
            .bind(spiffe_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(IssuedSvidRecord::from_row).collect()
    }

    pub(crate) async fn live_svids(
        &self,
        spiffe_id: Option<&str>,
        now: SystemTime,
    ) -> sqlx::Result<Vec<IssuedSvidRecord>> {
        let sql = concat!(
            "SELECT ",
            svid_columns!(),
            " FROM issued_svids
             WHERE expires_at_ms > ? AND revoked_at_ms IS NULL AND (? IS NULL OR spiffe_id = ?)
             ORDER BY issued_at_ms DESC, serial DESC"
        );
        let rows = sqlx::query(sql)
            .bind(to_millis(now))
            .bind(spiffe_id)
            .bind(spiffe_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(IssuedSvidRecord::from_row).collect()
    }

    pub(crate) async fn prune_issued_svids(&self, expired_before: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM issued_svids WHERE expires_at_ms < ?")
            .bind(to_millis(expired_before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The revocation and the mark on the issued SVID land together.
    pub(crate) async fn insert_revocation(&self, r: &RevocationRecord) -> sqlx::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO revocations (serial, spiffe_id, revoked_at_ms, expires_at_ms, reason)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING",
        )
        .bind(&r.serial)
        .bind(&r.spiffe_id)
        .bind(to_millis(r.revoked_at))
        .bind(to_millis(r.expires_at))
        .bind(&r.reason)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        sqlx::query(
            "UPDATE issued_svids SET revoked_at_ms = ? WHERE serial = ? AND revoked_at_ms IS NULL",
        )
        .bind(to_millis(r.revoked_at))
        .bind(&r.serial)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    pub(crate) async fn list_revocations(
        &self,
        now: SystemTime,
    ) -> sqlx::Result<Vec<RevocationRecord>> {
        let sql = concat!(
            "SELECT ",
            revocation_columns!(),
            " FROM revocations WHERE expires_at_ms > ? ORDER BY serial"
        );
        let rows = sqlx::query(sql)
            .bind(to_millis(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(RevocationRecord::from_row).collect()
    }

    pub(crate) async fn prune_revocations(&self, now: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM revocations WHERE expires_at_ms <= ?")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn upsert_workload_endpoint(
        &self,
        e: &WorkloadEndpointRecord,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO workload_endpoints (spiffe_id, instance, service, namespace, address,
                registered_at_ms, last_seen_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (spiffe_id, instance) DO UPDATE SET
                service = excluded.service, namespace = excluded.namespace,
                address = excluded.address, last_seen_ms = excluded.last_seen_ms",
        )
        .bind(&e.spiffe_id)
        .bind(&e.instance)
        .bind(&e.service)
        .bind(&e.namespace)
        .bind(&e.address)
        .bind(to_millis(e.registered_at))
        .bind(to_millis(e.last_seen))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_workload_endpoint(
        &self,
        spiffe_id: &str,
        instance: &str,
    ) -> sqlx::Result<bool> {
        let done =
            sqlx::query("DELETE FROM workload_endpoints WHERE spiffe_id = ? AND instance = ?")
                .bind(spiffe_id)
                .bind(instance)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn list_workload_endpoints(
        &self,
        seen_since: SystemTime,
    ) -> sqlx::Result<Vec<WorkloadEndpointRecord>> {
        let sql = concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM workload_endpoints WHERE last_seen_ms >= ?
             ORDER BY namespace, service, spiffe_id, instance"
        );
        let rows = sqlx::query(sql)
            .bind(to_millis(seen_since))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(WorkloadEndpointRecord::from_row).collect()
    }

    pub(crate) async fn prune_workload_endpoints(
        &self,
        older_than: SystemTime,
    ) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM workload_endpoints WHERE last_seen_ms < ?")
            .bind(to_millis(older_than))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn upsert_ca_generation(&self, g: &CaGenerationRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO ca_generations (generation, fingerprint, not_after_ms, created_at_ms,
                trusted, active)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (generation) DO UPDATE SET
                fingerprint = excluded.fingerprint, not_after_ms = excluded.not_after_ms,
                created_at_ms = excluded.created_at_ms, trusted = excluded.trusted,
                active = excluded.active",
        )
        .bind(i64::from(g.generation))
        .bind(&g.fingerprint)
        .bind(to_millis(g.not_after))
        .bind(to_millis(g.created_at))
        .bind(g.trusted)
        .bind(g.active)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_ca_generations(&self) -> sqlx::Result<Vec<CaGenerationRecord>> {
        let sql = concat!(
            "SELECT ",
            generation_columns!(),
            " FROM ca_generations ORDER BY generation"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(CaGenerationRecord::from_row).collect()
    }

    /// One statement: the generation becomes active and every other one inactive, or, when it
    /// does not exist, nothing changes.
    pub(crate) async fn activate_ca_generation(&self, generation: u32) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE ca_generations SET active = (generation = ?)
             WHERE EXISTS (SELECT 1 FROM ca_generations WHERE generation = ?)",
        )
        .bind(i64::from(generation))
        .bind(i64::from(generation))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
