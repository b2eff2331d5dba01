//! The SQLite statements of the secrets store (see `migrations/sqlite/0006_secrets.sql`).

use super::SqliteStore;
use crate::records::secret_columns::{secret_meta_columns, secret_version_columns};
use crate::records::{SecretMetaRecord, SecretVersionRecord, SecretWrite, prefix_successor};

/// The metadata and one version (`?2`, or the current one when NULL) of path `?1`.
const READ_SQL: &str = "SELECT m.path, m.current_version, m.oldest_version, m.max_versions, \
     m.cas_required, m.delete_version_after_secs, m.custom_metadata, m.created_at_ms, \
     m.updated_at_ms, v.path, v.version, v.created_at_ms, v.deleted_at_ms, v.destroyed, \
     v.kek_id, v.wrapped_dek, v.ciphertext \
     FROM secret_meta m LEFT JOIN secret_versions v \
     ON v.path = m.path AND v.version = COALESCE(?2, m.current_version) \
     WHERE m.path = ?1";

/// Creates the metadata row, or replaces one that has no version yet (the CAS of `expected 0`).
macro_rules! insert_meta_sql {
    () => {
        concat!(
            " INSERT INTO secret_meta (",
            secret_meta_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (path) DO UPDATE SET current_version = excluded.current_version, \
             oldest_version = excluded.oldest_version, max_versions = excluded.max_versions, \
             cas_required = excluded.cas_required, \
             delete_version_after_secs = excluded.delete_version_after_secs, \
             custom_metadata = excluded.custom_metadata, created_at_ms = excluded.created_at_ms, \
             updated_at_ms = excluded.updated_at_ms \
             WHERE secret_meta.current_version = 0 RETURNING current_version; COMMIT"
        )
    };
}

/// Replaces the metadata row if its current version is still `$10`.
macro_rules! update_meta_cas_sql {
    () => {
        " UPDATE secret_meta SET current_version = $2, \
         oldest_version = $3, max_versions = $4, cas_required = $5, \
         delete_version_after_secs = $6, custom_metadata = $7, created_at_ms = $8, \
         updated_at_ms = $9 WHERE path = $1 AND current_version = $10 \
         RETURNING current_version; COMMIT"
    };
}

/// Inserts the version if `$cond` (the compare-and-set) holds (an existing row fails the
/// batch), then prunes below `$18` only if it was inserted.
macro_rules! write_head_sql {
    ($cond:literal) => {
        concat!(
            "BEGIN IMMEDIATE; INSERT INTO secret_versions (",
            secret_version_columns!(),
            ") SELECT $1, $11, $12, $13, $14, $15, $16, $17 WHERE ",
            $cond,
            "; DELETE FROM secret_versions WHERE changes() = 1 AND path = $1 AND version < $18;"
        )
    };
}

/// A whole write of a first version as one batch: one round trip to the connection's thread.
/// Under the write lock the version's condition and the metadata statement's see the same
/// row, so both apply or neither; the metadata statement returns a row when they did. The
/// batch names its parameters `$N`: SQLite numbers them per statement without gaps, and sqlx
/// binds `$N` to the N-th argument in every statement (`?N` would leave gaps that stop sqlx's
/// binding early).
const WRITE_NEW_SQL: &str = concat!(
    write_head_sql!("COALESCE((SELECT current_version FROM secret_meta WHERE path = $1), 0) = 0"),
    insert_meta_sql!()
);

/// A whole write of the next version as one batch (see [`WRITE_NEW_SQL`]).
const WRITE_CAS_SQL: &str = concat!(
    write_head_sql!("(SELECT current_version FROM secret_meta WHERE path = $1) = $10"),
    update_meta_cas_sql!()
);

// === impl SqliteStore ===

impl SqliteStore {
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
            " FROM secret_meta WHERE path = ?1"
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
            "SELECT path, version, created_at_ms, deleted_at_ms, destroyed, kek_id, x'', x'' \
             FROM secret_versions WHERE path = ?1 ORDER BY version",
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

    /// One batch (`BEGIN IMMEDIATE` … `COMMIT`) on the writer connection, in a task of its
    /// own: a caller that stops waiting cannot cut the batch short and leave the transaction
    /// open. On an error the transaction is rolled back (or the connection closed).
    pub(crate) async fn secret_write(&self, w: &SecretWrite) -> sqlx::Result<bool> {
        let (m, v) = (&w.meta, &w.version);
        let sql = if w.expected_current == 0 {
            WRITE_NEW_SQL
        } else {
            WRITE_CAS_SQL
        };
        let query = sqlx::query(sql)
            .bind(m.path.clone())
            .bind(m.current_version)
            .bind(m.oldest_version)
            .bind(m.max_versions)
            .bind(m.cas_required)
            .bind(m.delete_version_after_secs)
            .bind(m.custom_metadata.clone())
            .bind(m.created_at_ms)
            .bind(m.updated_at_ms)
            .bind(w.expected_current)
            .bind(v.version)
            .bind(v.created_at_ms)
            .bind(v.deleted_at_ms)
            .bind(v.destroyed)
            .bind(v.kek_id)
            .bind(v.wrapped_dek.clone())
            .bind(v.ciphertext.clone())
            .bind(w.prune_below);
        let writer = self.writer.clone();
        let task = tokio::spawn(async move {
            let mut conn = writer.acquire().await?;
            match query.fetch_all(&mut *conn).await {
                Ok(inserted) => Ok(!inserted.is_empty()),
                Err(error) => {
                    if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                        // No transaction open (BEGIN failed), or an unusable connection: do
                        // not reuse it either way.
                        conn.close_on_drop();
                    }
                    match error {
                        sqlx::Error::Database(e) if e.is_unique_violation() => Ok(false),
                        error => Err(error),
                    }
                }
            }
        });
        task.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    pub(crate) async fn secret_put_meta(&self, m: &SecretMetaRecord) -> sqlx::Result<bool> {
        if self.secret_update_settings(m).await? {
            return Ok(true);
        }
        let sql = concat!(
            "INSERT INTO secret_meta (",
            secret_meta_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (path) DO NOTHING"
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
            .execute(&self.writer)
            .await?;
        if inserted.rows_affected() > 0 {
            return Ok(false);
        }
        // Created by a concurrent writer between the two statements: update it after all.
        self.secret_update_settings(m).await
    }

    async fn secret_update_settings(&self, m: &SecretMetaRecord) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE secret_meta SET max_versions = ?2, cas_required = ?3, \
             delete_version_after_secs = ?4, custom_metadata = ?5, updated_at_ms = ?6 \
             WHERE path = ?1",
        )
        .bind(&m.path)
        .bind(m.max_versions)
        .bind(m.cas_required)
        .bind(m.delete_version_after_secs)
        .bind(&m.custom_metadata)
        .bind(m.updated_at_ms)
        .execute(&self.writer)
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
            "UPDATE secret_versions SET deleted_at_ms = ?3 \
             WHERE path = ?1 AND version IN (SELECT value FROM json_each(?2)) \
             AND destroyed = 0 AND (deleted_at_ms IS NULL) = (?3 IS NOT NULL)",
        )
        .bind(path)
        .bind(json_list(versions))
        .bind(deleted_at_ms)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn secret_destroy(&self, path: &str, versions: &[i64]) -> sqlx::Result<u64> {
        if versions.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE secret_versions SET destroyed = 1, wrapped_dek = x'', ciphertext = x'' \
             WHERE path = ?1 AND version IN (SELECT value FROM json_each(?2)) AND destroyed = 0",
        )
        .bind(path)
        .bind(json_list(versions))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn secret_delete_all(&self, path: &str) -> sqlx::Result<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let versions = sqlx::query("DELETE FROM secret_versions WHERE path = ?1")
            .bind(path)
            .execute(&mut *tx)
            .await?;
        let meta = sqlx::query("DELETE FROM secret_meta WHERE path = ?1")
            .bind(path)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(versions.rows_affected() + meta.rows_affected() > 0)
    }

    pub(crate) async fn secret_list(&self, prefix: &str) -> sqlx::Result<Vec<String>> {
        // A range, not LIKE: `%` and `_` in the prefix are plain characters.
        match prefix_successor(prefix) {
            Some(upper) => {
                sqlx::query_scalar(
                    "SELECT path FROM secret_meta WHERE path >= ?1 AND path < ?2 ORDER BY path",
                )
                .bind(prefix)
                .bind(upper)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar("SELECT path FROM secret_meta WHERE path >= ?1 ORDER BY path")
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
                    "INSERT INTO secret_keyring (id, blob) VALUES (1, ?1) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(blob)
                .execute(&self.pool)
                .await?
            }
            Some(expected) => {
                sqlx::query("UPDATE secret_keyring SET blob = ?1 WHERE id = 1 AND blob = ?2")
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
            "INSERT INTO secret_seal_config (id, config) VALUES (1, ?1) \
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
            "INSERT INTO secret_config (id, config) VALUES (1, ?1) \
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
             WHERE kek_id = ?1 AND destroyed = 0 ORDER BY path, version LIMIT ?2",
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
            "UPDATE secret_versions SET kek_id = ?4, wrapped_dek = ?5 \
             WHERE path = ?1 AND version = ?2 AND kek_id = ?3 AND destroyed = 0",
        )
        .bind(path)
        .bind(version)
        .bind(old_kek_id)
        .bind(new_kek_id)
        .bind(wrapped_dek)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// `versions` as a JSON array, for `json_each`: one prepared statement for any list length.
fn json_list(versions: &[i64]) -> String {
    let items: Vec<String> = versions.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}
