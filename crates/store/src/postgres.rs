//! The PostgreSQL backend, selected by a `postgres://` or `postgresql://` URL, and its SQL.

mod mesh;
mod oauth;
mod policy;
mod secrets;

use std::time::SystemTime;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::error::StoreError;
use crate::migrations;
use crate::records::{ConfigVersion, JoinTokenRecord, ProxyRecord, Redeemed, refusal};
use crate::store::{POOL_ACQUIRE_TIMEOUT, StoreOptions, connect_within};
use crate::time::to_millis;

pub(crate) const NAME: &str = "postgres";

#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
}

// === impl PgStore ===

impl PgStore {
    /// Connects once, applies the migrations on that connection, then hands out a pool.
    ///
    /// The first attempt is a single direct connection on purpose: the pool retries a refused
    /// connection until its acquire timeout and then reports only "timed out", hiding the cause.
    pub(crate) async fn open(
        connect: PgConnectOptions,
        options: &StoreOptions,
        url: &str,
    ) -> Result<Self, StoreError> {
        let mut conn =
            connect_within(NAME, url, options, PgConnection::connect_with(&connect)).await?;
        let migrated = migrations::migrator(migrations::POSTGRES)
            .run(&mut conn)
            .await;
        // The pool opens its own connections; a failed close only loses this one.
        if let Err(error) = conn.close().await {
            tracing::debug!(%error, "closing the migration connection failed");
        }
        migrated.map_err(|source| StoreError::Migrate {
            backend: NAME,
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            .connect_lazy_with(connect);
        Ok(Self { pool })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn upsert_proxy(&self, p: &ProxyRecord) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO proxies (id, kind, name, version, address, config_version, started_at_ms, last_seen_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
        let done = sqlx::query("DELETE FROM proxies WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn prune_proxies(&self, older_than: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM proxies WHERE last_seen_ms < $1")
            .bind(to_millis(older_than))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn put_meta(&self, key: &str, value: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn meta(&self, key: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn delete_meta(&self, key: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn record_config_version(&self, v: &ConfigVersion) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO config_versions (hash, source, applied_at_ms, accepted, error)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
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
             FROM config_versions ORDER BY id DESC LIMIT $1",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
            "UPDATE join_tokens SET used_at_ms = $1
             WHERE id = $2 AND secret_hash = $3 AND used_at_ms IS NULL AND expires_at_ms > $4
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
            "SELECT used_at_ms, expires_at_ms FROM join_tokens WHERE id = $1 AND secret_hash = $2",
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
