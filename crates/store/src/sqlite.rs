//! The SQLite backend: an embedded file in WAL mode (or a private in-memory database) and its SQL.

mod mesh;
mod oauth;
mod policy;
mod secrets;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;
use crate::migrations;
use crate::records::{ConfigVersion, JoinTokenRecord, ProxyRecord, Redeemed, refusal};
use crate::store::{POOL_ACQUIRE_TIMEOUT, StoreOptions, connect_within};
use crate::time::to_millis;

pub(crate) const NAME: &str = "sqlite";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// One connection for the secrets writes: SQLite runs one write transaction at a time
    /// anyway, so writers queue here (in order, without the busy handler's sleeps), and the
    /// connection's page cache stays warm between writes. The same pool as `pool` in memory.
    writer: SqlitePool,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database file at `path`.
    pub(crate) async fn open_file(
        path: &Path,
        options: &StoreOptions,
        url: &str,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| StoreError::Connect {
                    backend: NAME,
                    url: url.to_owned(),
                    source: sqlx::Error::Io(e),
                })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // Only applies when the file is created: 8 KiB pages keep a 1 KiB secret version
            // (ciphertext + wrapped key) inside its B-tree cell instead of an overflow page.
            .page_size(8192)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            // A larger page cache (16 MiB) than the default 2 MiB: the secrets' B-tree pages
            // stay in memory between writes and prunes.
            .connect_lazy_with(connect.clone().pragma("cache_size", "-16384"));
        let pool = connect_within(NAME, url, options, pool.connect_with(connect)).await?;
        Self::migrate(pool, Some(writer)).await
    }

    /// Opens a private in-memory database that lives as long as the store.
    pub(crate) async fn open_memory(options: &StoreOptions, url: &str) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Connect {
                backend: NAME,
                url: url.to_owned(),
                source,
            })?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // One connection that is never recycled: the database vanishes with its last connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT);
        let pool = connect_within(NAME, url, options, pool.connect_with(connect)).await?;
        Self::migrate(pool, None).await
    }

    /// Migrates through `pool`; `writer` (else `pool`) becomes the secrets writer.
    async fn migrate(pool: SqlitePool, writer: Option<SqlitePool>) -> Result<Self, StoreError> {
        migrations::migrator(migrations::SQLITE)
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: NAME,
                source,
            })?;
        let writer = writer.unwrap_or_else(|| pool.clone());
        Ok(Self { pool, writer })
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    pub(crate) async fn upsert_proxy(&self, p: &ProxyRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO proxies (id, kind, name, version, address, config_version, started_at_ms, last_seen_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET
                kind = excluded.kind, name = excluded.name, version = excluded.version,
                address = excluded.address, config_version = excluded.config_version,
                started_at_ms = excluded.started_at_ms, last_seen_ms = excluded.last_seen_ms",
        )
        .bind(&p.id)
        .bind(&p.kind)
        .bind(&p.name)
        .bind(&p.version)
        .bind(&p.address)
        .bind(&p.config_version)
        .bind(to_millis(p.started_at))
        .bind(to_millis(p.last_seen))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_proxies(&self) -> sqlx::Result<Vec<ProxyRecord>> {
        let rows = sqlx::query(
            "SELECT id, kind, name, version, address, config_version, started_at_ms, last_seen_ms
             FROM proxies ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ProxyRecord::from_row).collect()
    }

    pub(crate) async fn remove_proxy(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM proxies WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn prune_proxies(&self, older_than: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM proxies WHERE last_seen_ms < ?")
            .bind(to_millis(older_than))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn put_meta(&self, key: &str, value: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn meta(&self, key: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn delete_meta(&self, key: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM meta WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn record_config_version(&self, v: &ConfigVersion) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO config_versions (hash, source, applied_at_ms, accepted, error)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&v.hash)
        .bind(&v.source)
        .bind(to_millis(v.applied_at))
        .bind(v.accepted)
        .bind(v.error.as_deref())
        .fetch_one(&self.pool)
        .await
    }

    pub(crate) async fn list_config_versions(
        &self,
        limit: u32,
    ) -> sqlx::Result<Vec<ConfigVersion>> {
        let rows = sqlx::query(
            "SELECT id, hash, source, applied_at_ms, accepted, error
             FROM config_versions ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ConfigVersion::from_row).collect()
    }

    pub(crate) async fn insert_join_token(&self, t: &JoinTokenRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO join_tokens (id, secret_hash, trust_domain, namespace, service,
                created_at_ms, expires_at_ms, used_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.secret_hash)
        .bind(&t.trust_domain)
        .bind(&t.namespace)
        .bind(&t.service)
        .bind(to_millis(t.created_at))
        .bind(to_millis(t.expires_at))
        .bind(t.used_at.map(to_millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One atomic `UPDATE … RETURNING`: of concurrent redeemers, exactly one matches.
    pub(crate) async fn redeem_join_token(
        &self,
        id: &str,
        secret_hash: &str,
        now: SystemTime,
    ) -> sqlx::Result<Redeemed> {
        let now = to_millis(now);
        let row = sqlx::query(
            "UPDATE join_tokens SET used_at_ms = ?
             WHERE id = ? AND secret_hash = ? AND used_at_ms IS NULL AND expires_at_ms > ?
             RETURNING id, secret_hash, trust_domain, namespace, service, created_at_ms, expires_at_ms, used_at_ms",
        )
        .bind(now)
        .bind(id)
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return JoinTokenRecord::from_row(&row).map(Redeemed::Accepted);
        }
        let state: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT used_at_ms, expires_at_ms FROM join_tokens WHERE id = ? AND secret_hash = ?",
        )
        .bind(id)
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(refusal(state, now))
    }

    pub(crate) async fn list_join_tokens(&self) -> sqlx::Result<Vec<JoinTokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, secret_hash, trust_domain, namespace, service, created_at_ms, expires_at_ms, used_at_ms FROM join_tokens ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(JoinTokenRecord::from_row).collect()
    }
}
