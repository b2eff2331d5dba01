//! The PostgreSQL statements of the secrets store (see `migrations/postgres/0006_secrets.sql`).

use super::PgStore;
use crate::records::secret_columns::{secret_meta_columns, secret_version_columns};
use crate::records::{SecretMetaRecord, SecretVersionRecord, SecretWrite, prefix_successor};

/// The metadata and one version (`$2`, or the current one when NULL) of path `$1`.
const READ_SQL: &str = "SELECT m.path, m.current_version, m.oldest_version, m.max_versions, \
     m.cas_required, m.delete_version_after_secs, m.custom_metadata, m.created_at_ms, \
     m.updated_at_ms, v.path, v.version, v.created_at_ms, v.deleted_at_ms, v.destroyed, \
     v.kek_id, v.wrapped_dek, v.ciphertext \
     FROM secret_meta m LEFT JOIN secret_versions v \
     ON v.path = m.path AND v.version = COALESCE($2, m.current_version) \
     WHERE m.path = $1";

/// Creates the metadata row, or replaces one that has no version yet (the CAS of `expected 0`).
const INSERT_META_SQL: &str = concat!(
    "INSERT INTO secret_meta (",
    secret_meta_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (path) DO UPDATE SET current_version = excluded.current_version, \
     oldest_version = excluded.oldest_version, max_versions = excluded.max_versions, \
     cas_required = excluded.cas_required, \
     delete_version_after_secs = excluded.delete_version_after_secs, \
     custom_metadata = excluded.custom_metadata, created_at_ms = excluded.created_at_ms, \
     updated_at_ms = excluded.updated_at_ms \
     WHERE secret_meta.current_version = 0"
);

/// Replaces the metadata row if its current version is still `$10`.
const UPDATE_META_CAS_SQL: &str = "UPDATE secret_meta SET current_version = $2, \
     oldest_version = $3, max_versions = $4, cas_required = $5, \
     delete_version_after_secs = $6, custom_metadata = $7, created_at_ms = $8, \
     updated_at_ms = $9 WHERE path = $1 AND current_version = $10";

const INSERT_VERSION_SQL: &str = concat!(
    "INSERT INTO secret_versions (",
    secret_version_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

// === impl PgStore ===

impl PgStore {
    pub(crate) async fn secret_read(
        &self,
        path: &str,
        version: Option<i64>,
    ) -> sqlx::Result<Option<(SecretMetaRecord, Option<SecretVersionRecord>)>> {
        let row = sqlx::query(READ_SQL)
            .bind(path)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let meta = SecretMetaRecord::from_row(&row)?;
        let version = SecretVersionRecord::from_row_at(&row, 9)?;
        Ok(Some((meta, version)))
    }

    pub(crate) async fn secret_meta(&self, path: &str) -> sqlx::Result<Option<SecretMetaRecord>> {
        let sql = concat!(
            "SELECT ",
            secret_meta_columns!(),
            " FROM secret_meta WHERE path = $1"
        );
        let row = sqlx::query(sql)
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(SecretMetaRecord::from_row).transpose()
    }

    pub(crate) async fn secret_versions(
        &self,
        path: &str,
    ) -> sqlx::Result<Vec<SecretVersionRecord>> {
        let rows = sqlx::query(
            "SELECT path, version, created_at_ms, deleted_at_ms, destroyed, kek_id, ''::bytea, ''::bytea \
             FROM secret_versions WHERE path = $1 ORDER BY version",
        )
        .bind(path)
        .fetch_all(&self.pool)
        .await?;
        let versions = rows
            .iter()
            .map(|row| SecretVersionRecord::from_row_at(row, 0))
            .collect::<sqlx::Result<Vec<_>>>()?;
        Ok(versions.into_iter().flatten().collect())
    }

    pub(crate) async fn secret_write(&self, w: &SecretWrite) -> sqlx::Result<bool> {
        // Both meta statements lock the row and re-check `current_version` on its newest
        // committed state, so of concurrent writers with one expectation exactly one matches.
        let mut tx = self.pool.begin().await?;
        let m = &w.meta;
        let sql = if w.expected_current == 0 {
            INSERT_META_SQL
        } else {
            UPDATE_META_CAS_SQL
        };
        let mut query = sqlx::query(sql)
            .bind(&m.path)
            .bind(m.current_version)
            .bind(m.oldest_version)
            .bind(m.max_versions)
            .bind(m.cas_required)
            .bind(m.delete_version_after_secs)
            .bind(&m.custom_metadata)
            .bind(m.created_at_ms)
            .bind(m.updated_at_ms);
        if w.expected_current != 0 {
            query = query.bind(w.expected_current);
        }
        let meta = query.execute(&mut *tx).await?;
        if meta.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let v = &w.version;
        let inserted = sqlx::query(INSERT_VERSION_SQL)
            .bind(&v.path)
            .bind(v.version)
            .bind(v.created_at_ms)
            .bind(v.deleted_at_ms)
            .bind(v.destroyed)
            .bind(v.kek_id)
            .bind(&v.wrapped_dek)
            .bind(&v.ciphertext)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                tx.rollback().await?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        if w.prune_below > 0 {
            sqlx::query("DELETE FROM secret_versions WHERE path = $1 AND version < $2")
                .bind(&v.path)
                .bind(w.prune_below)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn secret_put_meta(&self, m: &SecretMetaRecord) -> sqlx::Result<bool> {
        if self.secret_update_settings(m).await? {
            return Ok(true);
        }
        let sql = concat!(
            "INSERT INTO secret_meta (",
            secret_meta_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (path) DO NOTHING"
        );
        let inserted = sqlx::query(sql)
            .bind(&m.path)
            .bind(m.current_version)
            .bind(m.oldest_version)
            .bind(m.max_versions)
            .bind(m.cas_required)
            .bind(m.delete_version_after_secs)
            .bind(&m.custom_metadata)
            .bind(m.created_at_ms)
            .bind(m.updated_at_ms)
            .execute(&self.pool)
            .await?;
        if inserted.rows_affected() > 0 {
            return Ok(false);
        }
        // Created by a concurrent writer between the two statements: update it after all.
        self.secret_update_settings(m).await
    }

    async fn secret_update_settings(&self, m: &SecretMetaRecord) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE secret_meta SET max_versions = $2, cas_required = $3, \
             delete_version_after_secs = $4, custom_metadata = $5, updated_at_ms = $6 \
             WHERE path = $1",
        )
        .bind(&m.path)
        .bind(m.max_versions)
        .bind(m.cas_required)
        .bind(m.delete_version_after_secs)
        .bind(&m.custom_metadata)
        .bind(m.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn secret_set_deleted(
        &self,
        path: &str,
        versions: &[i64],
        deleted_at_ms: Option<i64>,
    ) -> sqlx::Result<u64> {
        if versions.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE secret_versions SET deleted_at_ms = $3 \
             WHERE path = $1 AND version = ANY($2) \
             AND NOT destroyed AND (deleted_at_ms IS NULL) = ($3 IS NOT NULL)",
        )
        .bind(path)
        .bind(versions)
        .bind(deleted_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn secret_destroy(&self, path: &str, versions: &[i64]) -> sqlx::Result<u64> {
        if versions.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE secret_versions SET destroyed = TRUE, wrapped_dek = ''::bytea, ciphertext = ''::bytea \
             WHERE path = $1 AND version = ANY($2) AND NOT destroyed",
        )
        .bind(path)
        .bind(versions)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn secret_delete_all(&self, path: &str) -> sqlx::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let versions = sqlx::query("DELETE FROM secret_versions WHERE path = $1")
            .bind(path)
            .execute(&mut *tx)
            .await?;
        let meta = sqlx::query("DELETE FROM secret_meta WHERE path = $1")
            .bind(path)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(versions.rows_affected() + meta.rows_affected() > 0)
    }

    pub(crate) async fn secret_list(&self, prefix: &str) -> sqlx::Result<Vec<String>> {
        // A range, not LIKE: `%` and `_` in the prefix are plain characters. `path` is
        // COLLATE "C", so the range compares bytes.
        match prefix_successor(prefix) {
            Some(upper) => {
                sqlx::query_scalar(
                    "SELECT path FROM secret_meta WHERE path >= $1 AND path < $2 ORDER BY path",
                )
                .bind(prefix)
                .bind(upper)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar("SELECT path FROM secret_meta WHERE path >= $1 ORDER BY path")
                    .bind(prefix)
                    .fetch_all(&self.pool)
                    .await
            }
        }
    }

    pub(crate) async fn secret_keyring(&self) -> sqlx::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT blob FROM secret_keyring WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn secret_put_keyring(
        &self,
        blob: &[u8],
        expected: Option<&[u8]>,
    ) -> sqlx::Result<bool> {
        let done = match expected {
            None => {
                sqlx::query(
                    "INSERT INTO secret_keyring (id, blob) VALUES (1, $1) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(blob)
                .execute(&self.pool)
                .await?
            }
            Some(expected) => {
                sqlx::query("UPDATE secret_keyring SET blob = $1 WHERE id = 1 AND blob = $2")
                    .bind(blob)
                    .bind(expected)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn secret_seal_config(&self) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT config FROM secret_seal_config WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn secret_put_seal_config(&self, json: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO secret_seal_config (id, config) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET config = excluded.config",
        )
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn secret_config(&self) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT config FROM secret_config WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn secret_put_config(&self, json: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO secret_config (id, config) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET config = excluded.config",
        )
        .bind(json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn secret_versions_by_kek(
        &self,
        kek_id: i64,
        limit: u32,
    ) -> sqlx::Result<Vec<(String, i64, Vec<u8>)>> {
        sqlx::query_as(
            "SELECT path, version, wrapped_dek FROM secret_versions \
             WHERE kek_id = $1 AND NOT destroyed ORDER BY path, version LIMIT $2",
        )
        .bind(kek_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
    }

    pub(crate) async fn secret_rewrap_dek(
        &self,
        path: &str,
        version: i64,
        old_kek_id: i64,
        new_kek_id: i64,
        wrapped_dek: &[u8],
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE secret_versions SET kek_id = $4, wrapped_dek = $5 \
             WHERE path = $1 AND version = $2 AND kek_id = $3 AND NOT destroyed",
        )
        .bind(path)
        .bind(version)
        .bind(old_kek_id)
        .bind(new_kek_id)
        .bind(wrapped_dek)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
