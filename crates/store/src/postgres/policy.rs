//! The PostgreSQL statements of the policy versions (see
//! `migrations/postgres/0005_policy_versions.sql`).

use super::PgStore;
use crate::records::policy_columns::policy_columns;
use crate::records::{
    POLICY_MODE_DRY_RUN, POLICY_MODE_DRY_RUN_CLEARED, POLICY_MODE_ENFORCE, POLICY_ORIGIN_CONFIG,
    PolicyVersionRecord,
};
use crate::time::to_millis;

/// The current shadow: the newest uncleared dry run newer than the newest enforced set.
const SHADOW_SQL: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM policy_versions WHERE mode = 'dry-run' AND version > \
     COALESCE((SELECT MAX(version) FROM policy_versions WHERE mode = 'enforce'), 0) \
     ORDER BY version DESC LIMIT 1"
);

/// The newest version of one mode.
const LATEST_MODE_SQL: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM policy_versions WHERE mode = $1 ORDER BY version DESC LIMIT 1"
);

/// The newest version of one origin.
const LATEST_ORIGIN_SQL: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM policy_versions WHERE origin = $1 ORDER BY version DESC LIMIT 1"
);

// === impl PgStore ===

impl PgStore {
    pub(crate) async fn insert_policy_version(&self, v: &PolicyVersionRecord) -> sqlx::Result<i64> {
        // One writer at a time assigns the next number; an enforced set ends any dry run.
        let mut tx = self.pool.begin().await?;
        sqlx::query("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions")
                .fetch_one(&mut *tx)
                .await?;
        if v.mode == POLICY_MODE_ENFORCE {
            sqlx::query("UPDATE policy_versions SET mode = $1 WHERE mode = $2")
                .bind(POLICY_MODE_DRY_RUN_CLEARED)
                .bind(POLICY_MODE_DRY_RUN)
                .execute(&mut *tx)
                .await?;
        }
        let sql = concat!(
            "INSERT INTO policy_versions (",
            policy_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(sql)
            .bind(next)
            .bind(to_millis(v.created_at))
            .bind(&v.author)
            .bind(&v.message)
            .bind(&v.mode)
            .bind(&v.digest)
            .bind(&v.source)
            .bind(&v.diff)
            .bind(&v.origin)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    pub(crate) async fn latest_enforced_policy(&self) -> sqlx::Result<Option<PolicyVersionRecord>> {
        self.one_row(LATEST_MODE_SQL, POLICY_MODE_ENFORCE).await
    }

    pub(crate) async fn latest_config_policy(&self) -> sqlx::Result<Option<PolicyVersionRecord>> {
        self.one_row(LATEST_ORIGIN_SQL, POLICY_ORIGIN_CONFIG).await
    }

    pub(crate) async fn current_shadow_policy(&self) -> sqlx::Result<Option<PolicyVersionRecord>> {
        let row = sqlx::query(SHADOW_SQL).fetch_optional(&self.pool).await?;
        row.as_ref().map(PolicyVersionRecord::from_row).transpose()
    }

    pub(crate) async fn clear_policy_dry_run(&self) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE policy_versions SET mode = $1 WHERE mode = $2")
            .bind(POLICY_MODE_DRY_RUN_CLEARED)
            .bind(POLICY_MODE_DRY_RUN)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn list_policy_versions(
        &self,
        limit: u32,
    ) -> sqlx::Result<Vec<PolicyVersionRecord>> {
        let sql = concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policy_versions ORDER BY version DESC LIMIT $1"
        );
        let rows = sqlx::query(sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(PolicyVersionRecord::from_row).collect()
    }

    pub(crate) async fn policy_version(
        &self,
        version: i64,
    ) -> sqlx::Result<Option<PolicyVersionRecord>> {
        let sql = concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policy_versions WHERE version = $1"
        );
        let row = sqlx::query(sql)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(PolicyVersionRecord::from_row).transpose()
    }

    async fn one_row(
        &self,
        sql: &'static str,
        value: &str,
    ) -> sqlx::Result<Option<PolicyVersionRecord>> {
        let row = sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(PolicyVersionRecord::from_row).transpose()
    }
}
