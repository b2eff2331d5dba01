//! The read side and the retention deletes, written once for both backends: `on_pool!` expands
//! each body for SQLite (`?` placeholders) and for PostgreSQL (`$n`).

use std::str::FromStr;

use rampart_events::RecordKind;
use sqlx::{AssertSqlSafe, Row};

use super::Db;
use crate::audit::{Checkpoint, CheckpointBody, HASH_LEN};
use crate::chain_rows::{ChainRow, RowColumns};
use crate::error::{LogError, sql};
use crate::query::{Bind, Query};
use crate::stored::StoredEvent;
use crate::writer::to_hash;

/// Runs `$body` with `$pool` bound to the backend's reader pool and `$pg` to whether it is
/// PostgreSQL.
macro_rules! on_pool {
    ($db:expr, $pool:ident, $pg:ident => $body:expr) => {
        match $db {
            Db::Sqlite(d) => {
                let $pool = &d.pool;
                let $pg = false;
                $body
            }
            Db::Postgres(d) => {
                let $pool = &d.pool;
                let $pg = true;
                $body
            }
        }
    };
}

/// Binds a query's values in order.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }};
}

// === impl Db ===

impl Db {
    pub(crate) async fn query(&self, query: &Query) -> Result<Vec<StoredEvent>, LogError> {
        on_pool!(self, pool, pg => {
            let mut s = query.where_clause(pg);
            s.push(if query.after.is_some() {
                " ORDER BY seq ASC LIMIT "
            } else {
                " ORDER BY seq DESC LIMIT "
            })
            .bind(Bind::Int(i64::from(query.limit)));
            let text = format!("SELECT seq, id, time_ms, kind, body FROM events{}", s.text);
            let rows = bind_all!(sqlx::query(AssertSqlSafe(text)), s.binds)
                .fetch_all(pool)
                .await
                .map_err(sql("query events"))?;
            rows.iter()
                .map(|row| {
                    let kind: String = row.try_get(3).map_err(sql("decode event"))?;
                    Ok(StoredEvent {
                        seq: row.try_get(0).map_err(sql("decode event"))?,
                        id: row.try_get(1).map_err(sql("decode event"))?,
                        time_ms: row.try_get(2).map_err(sql("decode event"))?,
                        kind: RecordKind::from_str(&kind).map_err(|()| {
                            LogError::Corrupt(format!("stored kind `{kind}` is unknown"))
                        })?,
                        json: row.try_get(4).map_err(sql("decode event"))?,
                    })
                })
                .collect()
        })
    }

    pub(crate) async fn count(&self, query: &Query) -> Result<u64, LogError> {
        on_pool!(self, pool, pg => {
            let s = query.where_clause(pg);
            let text = format!("SELECT COUNT(*) FROM events{}", s.text);
            let n: i64 = bind_all!(sqlx::query_scalar(AssertSqlSafe(text)), s.binds)
                .fetch_one(pool)
                .await
                .map_err(sql("count events"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    pub(crate) async fn chain_rows(
        &self,
        from: i64,
        limit: i64,
    ) -> Result<Vec<ChainRow>, LogError> {
        on_pool!(self, pool, pg => {
            let rows = sqlx::query(text(pg,
                "SELECT chain_seq, id, prev_hash, hash, body, time_ms, kind, action, service,
                        principal, decision, status FROM events
                 WHERE chain_seq IS NOT NULL AND chain_seq >= ? ORDER BY chain_seq LIMIT ?"))
                .bind(from)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await
                .map_err(sql("read chain"))?;
            rows.iter()
                .map(|row| {
                    Ok(ChainRow {
                        chain_seq: row.try_get(0)?,
                        event_id: row.try_get(1)?,
                        prev_hash: row.try_get::<Option<Vec<u8>>, _>(2)?.unwrap_or_default(),
                        hash: row.try_get::<Option<Vec<u8>>, _>(3)?.unwrap_or_default(),
                        body: row.try_get(4)?,
                        columns: RowColumns {
                            time_ms: row.try_get(5)?,
                            kind: row.try_get(6)?,
                            action: row.try_get(7)?,
                            service: row.try_get(8)?,
                            principal: row.try_get(9)?,
                            decision: row.try_get(10)?,
                            status: row.try_get::<Option<i64>, _>(11).or_else(|_| {
                                row.try_get::<Option<i32>, _>(11).map(|v| v.map(i64::from))
                            })?,
                        },
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(sql("decode chain row"))
        })
    }

    pub(crate) async fn checkpoints(&self) -> Result<Vec<Checkpoint>, LogError> {
        on_pool!(self, pool, pg => {
            let _ = pg;
            let rows = sqlx::query(
                "SELECT chain_seq, head_hash, count, time_ms, key_id, signature
                 FROM audit_checkpoints ORDER BY chain_seq, seq")
                .fetch_all(pool)
                .await
                .map_err(sql("read checkpoints"))?;
            rows.iter()
                .map(|row| {
                    let hash: Vec<u8> = row.try_get(1).map_err(sql("decode checkpoint"))?;
                    Ok(Checkpoint {
                        body: CheckpointBody {
                            chain_seq: row.try_get(0).map_err(sql("decode checkpoint"))?,
                            head_hash: to_hash(&hash, "audit_checkpoints.head_hash")?,
                            count: row.try_get(2).map_err(sql("decode checkpoint"))?,
                            time_ms: row.try_get(3).map_err(sql("decode checkpoint"))?,
                        },
                        key_id: row.try_get(4).map_err(sql("decode checkpoint"))?,
                        signature: row.try_get(5).map_err(sql("decode checkpoint"))?,
                    })
                })
                .collect()
        })
    }

    pub(crate) async fn audit_head(&self) -> Result<Option<(i64, [u8; HASH_LEN])>, LogError> {
        on_pool!(self, pool, pg => {
            let _ = pg;
            let row = sqlx::query("SELECT chain_seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(pool)
                .await
                .map_err(sql("read audit head"))?;
            let Some(row) = row else { return Ok(None) };
            let seq: i64 = row.try_get(0).map_err(sql("decode audit head"))?;
            let hash: Vec<u8> = row.try_get(1).map_err(sql("decode audit head"))?;
            if seq == 0 {
                return Ok(None);
            }
            Ok(Some((seq, to_hash(&hash, "audit_head.hash")?)))
        })
    }

    /// Deletes up to `limit` access records older than `cutoff_ms`.
    pub(crate) async fn delete_access_before(
        &self,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<u64, LogError> {
        on_pool!(self, pool, pg => {
            let done = sqlx::query(text(pg,
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events
                 WHERE chain_seq IS NULL AND time_ms < ? LIMIT ?)"))
                .bind(cutoff_ms)
                .bind(limit)
                .execute(pool)
                .await
                .map_err(sql("delete old access records"))?;
            Ok(done.rows_affected())
        })
    }

    /// Deletes the `limit` oldest access records.
    pub(crate) async fn delete_oldest_access(&self, limit: i64) -> Result<u64, LogError> {
        on_pool!(self, pool, pg => {
            let done = sqlx::query(text(pg,
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events
                 WHERE chain_seq IS NULL ORDER BY seq LIMIT ?)"))
                .bind(limit)
                .execute(pool)
                .await
                .map_err(sql("delete oldest access records"))?;
            Ok(done.rows_affected())
        })
    }

    pub(crate) async fn row_count(&self) -> Result<u64, LogError> {
        on_pool!(self, pool, pg => {
            let _ = pg;
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                .fetch_one(pool)
                .await
                .map_err(sql("count events"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Deletes the chained records up to and including the newest checkpoint signed before
    /// `cutoff_ms`, and the checkpoints before that one (it stays, as the trail's new start).
    pub(crate) async fn prune_audit(&self, cutoff_ms: i64) -> Result<u64, LogError> {
        on_pool!(self, pool, pg => {
            let mut txn = pool.begin().await.map_err(sql("begin audit retention"))?;
            let cut: Option<i64> = sqlx::query_scalar(text(pg,
                "SELECT chain_seq FROM audit_checkpoints WHERE time_ms < ?
                 ORDER BY chain_seq DESC LIMIT 1"))
                .bind(cutoff_ms)
                .fetch_optional(&mut *txn)
                .await
                .map_err(sql("find retention checkpoint"))?;
            let Some(cut) = cut else { return Ok(0) };
            let done = sqlx::query(text(pg,
                "DELETE FROM events WHERE chain_seq IS NOT NULL AND chain_seq <= ?"))
                .bind(cut)
                .execute(&mut *txn)
                .await
                .map_err(sql("delete old chained records"))?;
            sqlx::query(text(pg, "DELETE FROM audit_checkpoints WHERE chain_seq < ?"))
                .bind(cut)
                .execute(&mut *txn)
                .await
                .map_err(sql("delete old checkpoints"))?;
            txn.commit().await.map_err(sql("commit audit retention"))?;
            Ok(done.rows_affected())
        })
    }
}

/// `sql` with its `?` placeholders numbered for PostgreSQL when `pg`.
fn text(pg: bool, sql: &'static str) -> AssertSqlSafe<String> {
    if !pg {
        return AssertSqlSafe(sql.to_owned());
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    AssertSqlSafe(out)
}
