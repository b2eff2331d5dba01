//! [`LogStore`]: the public face of the event log. It owns the backend, the writer task and the
//! retention task.

mod postgres;
mod reads;
mod sqlite;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rampart_events::{EventRecord, IngestOutcome};
use tokio::sync::{Semaphore, TryAcquireError, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::audit::{AuditKey, AuditSigner, Checkpoint, HASH_LEN, StartPoint};
use crate::chain_rows::ChainRow;
use crate::error::LogError;
use crate::options::{LogStoreOptions, Retention};
use crate::query::Query;
use crate::retention::{self, RetentionReport};
use crate::stored::StoredEvent;
use crate::url::{self, Target};
use crate::writer::{Job, Msg, Writer};

/// Newly stored records kept for slow in-process tail subscribers before they lag.
const TAIL_CAPACITY: usize = 4096;

/// The event log.
///
/// ```text
/// LogStore::open(url, LogStoreOptions) -> Result<LogStore, LogError>
/// ingest(Vec<EventRecord>) / try_ingest(...)   -> Result<IngestOutcome, LogError>
/// query(&Query) / query_after(seq, &Query)     -> Result<Vec<StoredEvent>, LogError>
/// count(&Query) -> u64, subscribe() -> broadcast::Receiver<Arc<StoredEvent>>
/// checkpoint_now(), chain_rows(from, limit), checkpoints(), audit_head(), audit_start(),
/// audit_keys()
/// enforce_retention(now) -> RetentionReport, close()
/// ```
///
/// Dropping it stops the retention task; the writer finishes the queued batches, signs a last
/// checkpoint and stops. [`LogStore::close`] waits for that.
pub struct LogStore {
    db: Db,
    tx: Option<mpsc::Sender<Msg>>,
    permits: Arc<Semaphore>,
    queue_records: usize,
    events: broadcast::Sender<Arc<StoredEvent>>,
    signer: Option<Arc<AuditSigner>>,
    /// Other processes' audit keys trusted for verification (`LogStoreOptions::trusted_keys`).
    trusted: Vec<AuditKey>,
    retention: Retention,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Retention, and on SQLite the WAL checkpoints; aborted on drop.
    background: Vec<JoinHandle<()>>,
}

/// The backend.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

// === impl LogStore ===

impl LogStore {
    /// Opens `sqlite://PATH` (creating the file and its directory) or `postgres://…`, applies the
    /// migrations, and starts the writer and retention tasks (on the current Tokio runtime).
    pub async fn open(url: &str, opts: LogStoreOptions) -> Result<Self, LogError> {
        let redacted = url::redact(url);
        let db = match url::parse(url)? {
            Target::SqliteFile(path) => {
                Db::Sqlite(sqlite::SqliteDb::open(&path, &opts, &redacted).await?)
            }
            Target::Postgres(connect) => {
                Db::Postgres(postgres::PgDb::open(*connect, &opts, &redacted).await?)
            }
        };
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let (events, _) = broadcast::channel(TAIL_CAPACITY);
        let writer = Writer {
            db: db.clone(),
            events: events.clone(),
            signer: opts.signer.clone(),
            checkpoint_every: opts.checkpoint_every,
            checkpoint_interval: opts.checkpoint_interval,
        };
        let writer = tokio::spawn(writer.run(rx));
        let mut background = vec![tokio::spawn(retention_loop(
            db.clone(),
            opts.retention,
            opts.retention_every,
        ))];
        if let Db::Sqlite(lite) = &db {
            background.push(tokio::spawn(wal_loop(lite.clone())));
        }
        let queue_records = opts.queue_records.clamp(1, Semaphore::MAX_PERMITS);
        Ok(Self {
            db,
            tx: Some(tx),
            permits: Arc::new(Semaphore::new(queue_records)),
            queue_records,
            events,
            signer: opts.signer,
            trusted: opts.trusted_keys,
            retention: opts.retention,
            writer: Mutex::new(Some(writer)),
            background,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => sqlite::NAME,
            Db::Postgres(_) => postgres::NAME,
        }
    }

    /// Stores `batch` (waiting for room in the queue, then for the commit). Records whose id is
    /// stored already, or that repeat an id earlier in the batch, are dropped and counted.
    pub async fn ingest(&self, batch: Vec<EventRecord>) -> Result<IngestOutcome, LogError> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let tx = self.tx.as_ref().ok_or(LogError::Closed)?;
        let permit = Arc::clone(&self.permits)
            .acquire_many_owned(self.permits_for(&batch))
            .await
            .map_err(|_| LogError::Closed)?;
        let (reply, done) = oneshot::channel();
        tx.send(Msg::Ingest(Job {
            records: batch,
            reply,
            _permit: permit,
        }))
        .await
        .map_err(|_| LogError::Closed)?;
        done.await.map_err(|_| LogError::Closed)?
    }

    /// Like [`ingest`](Self::ingest), but fails at once with [`LogError::Busy`] when the queue
    /// is full (the collector answers 503 with `Retry-After`).
    pub async fn try_ingest(&self, batch: Vec<EventRecord>) -> Result<IngestOutcome, LogError> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let tx = self.tx.as_ref().ok_or(LogError::Closed)?;
        let permit =
            match Arc::clone(&self.permits).try_acquire_many_owned(self.permits_for(&batch)) {
                Ok(permit) => permit,
                Err(TryAcquireError::NoPermits) => return Err(LogError::Busy),
                Err(TryAcquireError::Closed) => return Err(LogError::Closed),
            };
        let (reply, done) = oneshot::channel();
        tx.try_send(Msg::Ingest(Job {
            records: batch,
            reply,
            _permit: permit,
        }))
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LogError::Busy,
            mpsc::error::TrySendError::Closed(_) => LogError::Closed,
        })?;
        done.await.map_err(|_| LogError::Closed)?
    }

    /// Signs a checkpoint of the current head now. `None` without a signer, or when the head
    /// has not moved since the last checkpoint.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, LogError> {
        let tx = self.tx.as_ref().ok_or(LogError::Closed)?;
        let (reply, done) = oneshot::channel();
        tx.send(Msg::Checkpoint(reply))
            .await
            .map_err(|_| LogError::Closed)?;
        done.await.map_err(|_| LogError::Closed)?
    }

    /// Records matching `query`: newest first, or oldest first after `query.after`.
    pub async fn query(&self, query: &Query) -> Result<Vec<StoredEvent>, LogError> {
        self.db.query(query).await
    }

    /// Records matching `query` stored after `seq`, oldest first (tailing across processes).
    pub async fn query_after(&self, seq: i64, query: &Query) -> Result<Vec<StoredEvent>, LogError> {
        self.db.query(&query.clone().after(seq)).await
    }

    /// How many records match `query` (its `limit` is ignored).
    pub async fn count(&self, query: &Query) -> Result<u64, LogError> {
        self.db.count(query).await
    }

    /// Every record stored by this process from now on, in `seq` order. A receiver that falls
    /// more than 4 096 records behind gets `RecvError::Lagged` and should re-query with `after=`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// Runs retention as of `now` (the background task does this every `retention_every`).
    pub async fn enforce_retention(&self, now: SystemTime) -> Result<RetentionReport, LogError> {
        retention::enforce(&self.db, &self.retention, now).await
    }

    /// Up to `limit` chained records from `from_chain_seq` on, in chain order.
    pub async fn chain_rows(
        &self,
        from_chain_seq: i64,
        limit: i64,
    ) -> Result<Vec<ChainRow>, LogError> {
        self.db.chain_rows(from_chain_seq, limit).await
    }

    /// Every stored checkpoint, in chain order.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, LogError> {
        self.db.checkpoints().await
    }

    /// The chain's head `(chain_seq, hash)`; `None` while the chain is empty.
    pub async fn audit_head(&self) -> Result<Option<(i64, [u8; HASH_LEN])>, LogError> {
        self.db.audit_head().await
    }

    /// Where the stored chain begins: `GENESIS` unless retention removed a prefix, then the
    /// kept checkpoint the first stored record links to. A gap no checkpoint covers also gives
    /// `GENESIS`, so verification reports the missing records.
    pub async fn audit_start(&self) -> Result<StartPoint, LogError> {
        let first = self.chain_rows(0, 1).await?.first().map(|r| r.chain_seq);
        let anchor = match first {
            Some(1) => return Ok(StartPoint::GENESIS),
            Some(first) => first - 1,
            None => match self.audit_head().await? {
                Some((head, _)) => head,
                None => return Ok(StartPoint::GENESIS),
            },
        };
        let checkpoints = self.checkpoints().await?;
        Ok(checkpoints
            .iter()
            .find(|cp| cp.body.chain_seq == anchor)
            .map_or(StartPoint::GENESIS, |cp| StartPoint {
                chain_seq: anchor,
                hash: cp.body.head_hash,
            }))
    }

    /// The public keys checkpoints may be signed with: this process's signer's and the other
    /// collectors' it was told to trust.
    pub fn audit_keys(&self) -> Vec<AuditKey> {
        let mut keys: Vec<AuditKey> = self.signer.iter().map(|s| s.key().clone()).collect();
        for key in &self.trusted {
            if !keys.iter().any(|k| k.key_id == key.key_id) {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// Stops taking batches, waits for the writer to finish the queued ones (and sign a last
    /// checkpoint), and closes the connections.
    pub async fn close(mut self) {
        self.tx = None;
        for task in &self.background {
            task.abort();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(Err(error)) = match writer {
            Some(writer) => Some(writer.await),
            None => None,
        } {
            tracing::warn!(%error, "event log writer task failed");
        }
        match &self.db {
            Db::Sqlite(db) => db.close().await,
            Db::Postgres(db) => db.close().await,
        }
    }

    /// A batch's share of the queue (a batch larger than the whole queue takes all of it).
    fn permits_for(&self, batch: &[EventRecord]) -> u32 {
        u32::try_from(batch.len().min(self.queue_records)).unwrap_or(u32::MAX)
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

// === impl Db ===

impl Db {
    pub(crate) async fn live_bytes(&self) -> Result<u64, LogError> {
        match self {
            Db::Sqlite(db) => db.live_bytes().await,
            Db::Postgres(db) => db.live_bytes().await,
        }
        .map_err(crate::error::sql("measure size"))
    }
}

async fn wal_loop(db: sqlite::SqliteDb) {
    let mut tick = tokio::time::interval(sqlite::WAL_CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = db.checkpoint_wal().await {
            tracing::debug!(%error, "event log WAL checkpoint failed");
        }
    }
}

async fn retention_loop(db: Db, retention: Retention, every: std::time::Duration) {
    let every = every.max(std::time::Duration::from_secs(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = retention::enforce(&db, &retention, SystemTime::now()).await {
            tracing::warn!(%error, "event log retention failed");
        }
    }
}
