//! The SQLite backend: its own file (`events.db`) in WAL mode, one writer connection and a small
//! reader pool, and its SQL.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};

use crate::audit::{Checkpoint, HASH_LEN};
use crate::error::LogError;
use crate::migrations;
use crate::options::LogStoreOptions;
use crate::writer::txn::{Inserted, NewRow, ROWS_PER_INSERT, WriteTxn, insert_sql};

pub(crate) const NAME: &str = "sqlite";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the WAL is copied back into the database.
pub(crate) const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL frames (pages) beyond which a checkpoint waits for the writer: 64 K frames, 256 MiB.
const WAL_RESTART_FRAMES: i64 = 65_536;

#[derive(Clone)]
pub(crate) struct SqliteDb {
    /// Readers: queries, audit reads, retention.
    pub(crate) pool: SqlitePool,
    /// The ingest writer's one connection, kept warm.
    writer: SqlitePool,
}

/// An ingest transaction (`BEGIN IMMEDIATE`: the write lock is taken up front, so the head read
/// at its start is still the head at commit).
pub(crate) struct SqliteTxn {
    txn: Transaction<'static, Sqlite>,
    /// The largest `seq` before this transaction's first insert: every row it inserts has a
    /// larger one (AUTOINCREMENT, and no other writer while it holds the lock).
    watermark: Option<i64>,
}

// === impl SqliteDb ===

impl SqliteDb {
    /// Opens (creating it and its directory if missing) the database file at `path`.
    pub(crate) async fn open(
        path: &Path,
        opts: &LogStoreOptions,
        url: &str,
    ) -> Result<Self, LogError> {
        let connect_err = |source| LogError::Connect {
            backend: NAME,
            url: url.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| connect_err(sqlx::Error::Io(e)))?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // The statement journal of multi-row inserts stays in memory, not in a temp file.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(connect_err)?;
        migrations::migrator(migrations::SQLITE)
            .run(&pool)
            .await
            .map_err(|source| LogError::Migrate {
                backend: NAME,
                source,
            })?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            // 32 MiB page cache: the indexes' hot pages stay in memory between batches. No
            // automatic checkpoints on the writer: `checkpoint_wal` copies the WAL back from
            // another connection, off the ingest path.
            .connect_lazy_with(
                connect
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", "0"),
            );
        Ok(Self { pool, writer })
    }

    pub(crate) async fn begin(&self) -> sqlx::Result<SqliteTxn> {
        Ok(SqliteTxn {
            txn: self.writer.begin_with("BEGIN IMMEDIATE").await?,
            watermark: None,
        })
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Copies the WAL back into the database without blocking the writer (`PASSIVE`); when the
    /// WAL has grown past [`WAL_RESTART_FRAMES`] anyway, waits for the writer (`RESTART`) so it
    /// starts over from the beginning of the file.
    pub(crate) async fn checkpoint_wal(&self) -> sqlx::Result<()> {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        let frames: i64 = row.try_get(1)?;
        if frames > WAL_RESTART_FRAMES {
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .fetch_one(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Bytes in use: pages not on the free list.
    pub(crate) async fn live_bytes(&self) -> sqlx::Result<u64> {
        let row = sqlx::query(
            "SELECT (SELECT page_count FROM pragma_page_count()) - \
                    (SELECT freelist_count FROM pragma_freelist_count()), \
                    (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&self.pool)
        .await?;
        let pages: i64 = row.try_get(0)?;
        let size: i64 = row.try_get(1)?;
        Ok(u64::try_from(pages.saturating_mul(size)).unwrap_or(0))
    }
}

// === impl SqliteTxn ===

impl SqliteTxn {
    async fn watermark(&mut self) -> sqlx::Result<i64> {
        if let Some(w) = self.watermark {
            return Ok(w);
        }
        let w = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *self.txn)
            .await?;
        self.watermark = Some(w);
        Ok(w)
    }

    /// `(seq, id)` of the rows among `rows` this transaction inserted.
    async fn inserted_since(
        &mut self,
        rows: &[NewRow<'_>],
        watermark: i64,
    ) -> sqlx::Result<Vec<(i64, String)>> {
        let marks = vec!["?"; rows.len()].join(", ");
        let sql = format!("SELECT seq, id FROM events WHERE seq > ? AND id IN ({marks})");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(watermark);
        for row in rows {
            q = q.bind(row.rec.id.as_str());
        }
        let out = q.fetch_all(&mut *self.txn).await?;
        out.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}

impl WriteTxn for SqliteTxn {
    async fn lock_head(&mut self) -> sqlx::Result<(i64, Vec<u8>)> {
        let row = sqlx::query("SELECT chain_seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *self.txn)
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn existing_ids(&mut self, ids: &[&str]) -> sqlx::Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT id FROM events WHERE id IN ({marks})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *self.txn).await? {
                found.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(found)
    }

    async fn insert(&mut self, rows: &[NewRow<'_>], returning: bool) -> sqlx::Result<Inserted> {
        let mut q = sqlx::query(AssertSqlSafe(insert_sql(rows.len(), false, returning)));
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
        if !returning {
            // Rows come back one by one from the connection's thread: skip them when unused,
            // and find out which rows were new only when some were not.
            let watermark = self.watermark().await?;
            let n = q.execute(&mut *self.txn).await?.rows_affected();
            if n == rows.len() as u64 {
                return Ok(Inserted::Count(n));
            }
            return self
                .inserted_since(rows, watermark)
                .await
                .map(Inserted::Rows);
        }
        let out = q.fetch_all(&mut *self.txn).await?;
        out.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<sqlx::Result<_>>()
            .map(Inserted::Rows)
    }

    async fn set_head(&mut self, chain_seq: i64, hash: &[u8; HASH_LEN]) -> sqlx::Result<()> {
        sqlx::query("UPDATE audit_head SET chain_seq = ?, hash = ? WHERE id = 1")
            .bind(chain_seq)
            .bind(&hash[..])
            .execute(&mut *self.txn)
            .await?;
        Ok(())
    }

    async fn last_checkpoint_seq(&mut self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(chain_seq), 0) FROM audit_checkpoints")
            .fetch_one(&mut *self.txn)
            .await
    }

    async fn insert_checkpoint(&mut self, cp: &Checkpoint) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (chain_seq, head_hash, count, time_ms, key_id, signature)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(cp.body.chain_seq)
        .bind(&cp.body.head_hash[..])
        .bind(cp.body.count)
        .bind(cp.body.time_ms)
        .bind(cp.key_id.as_str())
        .bind(cp.signature.as_slice())
        .execute(&mut *self.txn)
        .await?;
        Ok(())
    }

    async fn commit(self) -> sqlx::Result<()> {
        self.txn.commit().await
    }
}
