//! The PostgreSQL backend, selected by a `postgres://` URL: several collectors may share one
//! database, so the chain head is locked (`FOR UPDATE`) by every transaction that extends it.

use std::collections::HashSet;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row, Transaction};

use crate::audit::{Checkpoint, HASH_LEN};
use crate::error::LogError;
use crate::migrations;
use crate::options::LogStoreOptions;
use crate::writer::txn::{Inserted, NewRow, WriteTxn, insert_sql};

pub(crate) const NAME: &str = "postgres";

#[derive(Clone)]
pub(crate) struct PgDb {
    pub(crate) pool: PgPool,
}

/// An ingest transaction (READ COMMITTED; the head row lock serialises chain extensions).
pub(crate) struct PgTxn(Transaction<'static, Postgres>);

// === impl PgDb ===

impl PgDb {
    /// Connects once (so a refused connection reports its cause), migrates, then builds a pool
    /// (its readers plus the writer's connection).
    pub(crate) async fn open(
        connect: PgConnectOptions,
        opts: &LogStoreOptions,
        url: &str,
    ) -> Result<Self, LogError> {
        let connect_err = |source| LogError::Connect {
            backend: NAME,
            url: url.to_owned(),
            source,
        };
        let mut conn =
            tokio::time::timeout(opts.connect_timeout, PgConnection::connect_with(&connect))
                .await
                .map_err(|_| connect_err(sqlx::Error::PoolTimedOut))?
                .map_err(connect_err)?;
        let migrated = migrations::migrator(migrations::POSTGRES)
            .run(&mut conn)
            .await;
        if let Err(error) = conn.close().await {
            tracing::debug!(%error, "closing the migration connection failed");
        }
        migrated.map_err(|source| LogError::Migrate {
            backend: NAME,
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1) + 1)
            .acquire_timeout(opts.connect_timeout)
            .connect_lazy_with(connect);
        Ok(Self { pool })
    }

    pub(crate) async fn begin(&self) -> sqlx::Result<PgTxn> {
        Ok(PgTxn(self.pool.begin().await?))
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// An estimate of the bytes the live rows take: rows × their average size (sampled from the
    /// newest 1 000) × (1 + index/table ratio). `pg_total_relation_size` alone would not shrink
    /// after a delete (until VACUUM FULL), and retention would then delete everything.
    pub(crate) async fn live_bytes(&self) -> sqlx::Result<u64> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM events)::FLOAT8,
                    COALESCE((SELECT AVG(pg_column_size(e.*)) FROM
                        (SELECT * FROM events ORDER BY seq DESC LIMIT 1000) e), 0)::FLOAT8,
                    pg_indexes_size('events')::FLOAT8,
                    GREATEST(pg_table_size('events'), 1)::FLOAT8",
        )
        .fetch_one(&self.pool)
        .await?;
        let (rows, avg, index, table): (f64, f64, f64, f64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        // 28 bytes of tuple header and line pointer per row.
        let estimate = rows * (avg + 28.0) * (1.0 + index / table);
        Ok(if estimate.is_finite() && estimate > 0.0 {
            estimate as u64
        } else {
            0
        })
    }
}

// === impl PgTxn ===

impl WriteTxn for PgTxn {
    async fn lock_head(&mut self) -> sqlx::Result<(i64, Vec<u8>)> {
        let row = sqlx::query("SELECT chain_seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *self.0)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn existing_ids(&mut self, ids: &[&str]) -> sqlx::Result<HashSet<String>> {
        let ids: Vec<&str> = ids.to_vec();
        let rows = sqlx::query("SELECT id FROM events WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
    }

    async fn insert(&mut self, rows: &[NewRow<'_>], returning: bool) -> sqlx::Result<Inserted> {
        let mut q = sqlx::query(AssertSqlSafe(insert_sql(rows.len(), true, true)));
        for row in rows {
            let r = row.rec;
            q = q
                .bind(r.id.as_str())
                .bind(r.time_ms)
                .bind(r.kind.as_str())
                .bind(r.action.as_str())
                .bind(r.service.as_str())
                .bind(r.principal.as_deref())
                .bind(r.decision.as_deref())
                .bind(r.status.map(i32::from))
                .bind(r.json.as_str())
                .bind(row.link.map(|l| l.chain_seq))
                .bind(row.link.as_ref().map(|l| &l.prev[..]))
                .bind(row.link.as_ref().map(|l| &l.hash[..]));
        }
        // Several writers may share the database: `RETURNING` tells which rows this one stored.
        let _ = returning;
        let out = q.fetch_all(&mut *self.0).await?;
        out.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<sqlx::Result<_>>()
            .map(Inserted::Rows)
    }

    async fn set_head(&mut self, chain_seq: i64, hash: &[u8; HASH_LEN]) -> sqlx::Result<()> {
        sqlx::query("UPDATE audit_head SET chain_seq = $1, hash = $2 WHERE id = 1")
            .bind(chain_seq)
            .bind(&hash[..])
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn last_checkpoint_seq(&mut self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(chain_seq), 0)::BIGINT FROM audit_checkpoints")
            .fetch_one(&mut *self.0)
            .await
    }

    async fn insert_checkpoint(&mut self, cp: &Checkpoint) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (chain_seq, head_hash, count, time_ms, key_id, signature)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(cp.body.chain_seq)
        .bind(&cp.body.head_hash[..])
        .bind(cp.body.count)
        .bind(cp.body.time_ms)
        .bind(cp.key_id.as_str())
        .bind(cp.signature.as_slice())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn commit(self) -> sqlx::Result<()> {
        self.0.commit().await
    }
}
