//! The one writer task of a [`LogStore`](crate::LogStore): it drains the bounded ingest queue,
//! coalesces the waiting batches into one transaction, drops duplicate ids, links chained records
//! to the audit head, signs checkpoints, and publishes what it stored.

pub(crate) mod txn;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rampart_events::{EventRecord, IngestOutcome};
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::audit::{AuditSigner, Checkpoint, CheckpointBody, HASH_LEN, link_hash};
use crate::error::{LogError, sql};
use crate::query::now_ms;
use crate::store::Db;
use crate::stored::StoredEvent;
use txn::{Inserted, Link, NewRow, ROWS_PER_INSERT, WriteTxn};

/// Most records one transaction takes from the queue.
const MAX_TXN_RECORDS: usize = 50_000;

/// A request to the writer.
pub(crate) enum Msg {
    Ingest(Job),
    Checkpoint(oneshot::Sender<Result<Option<Checkpoint>, LogError>>),
}

/// One caller's batch, its reply, and its share of the queue (released when done).
pub(crate) struct Job {
    pub(crate) records: Vec<EventRecord>,
    pub(crate) reply: oneshot::Sender<Result<IngestOutcome, LogError>>,
    pub(crate) _permit: OwnedSemaphorePermit,
}

pub(crate) struct Writer {
    pub(crate) db: Db,
    pub(crate) events: broadcast::Sender<Arc<StoredEvent>>,
    pub(crate) signer: Option<Arc<AuditSigner>>,
    pub(crate) checkpoint_every: u64,
    pub(crate) checkpoint_interval: Duration,
}

/// The rows of one transaction, with the index of the job each came from.
struct Plan<'a> {
    rows: Vec<NewRow<'a>>,
    owners: Vec<usize>,
    outcomes: Vec<IngestOutcome>,
}

// === impl Writer ===

impl Writer {
    /// Runs until every sender is gone, then signs a last checkpoint if the head moved.
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let period = self.checkpoint_interval.max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::Checkpoint(reply)) => {
                        let _ = reply.send(self.checkpoint().await);
                    }
                    Some(Msg::Ingest(job)) => self.drain(job, &mut rx).await,
                },
                _ = tick.tick(), if self.signer.is_some() => {
                    if let Err(error) = self.checkpoint().await {
                        tracing::warn!(%error, "periodic audit checkpoint failed");
                    }
                }
            }
        }
        if self.signer.is_some()
            && let Err(error) = self.checkpoint().await
        {
            tracing::warn!(%error, "final audit checkpoint failed");
        }
    }

    /// Takes `first` and whatever else is queued (up to [`MAX_TXN_RECORDS`]) into one commit.
    async fn drain(&self, first: Job, rx: &mut mpsc::Receiver<Msg>) {
        let mut total = first.records.len();
        let mut jobs = vec![first];
        let mut checkpoint = None;
        while total < MAX_TXN_RECORDS {
            match rx.try_recv() {
                Ok(Msg::Ingest(job)) => {
                    total += job.records.len();
                    jobs.push(job);
                }
                Ok(Msg::Checkpoint(reply)) => {
                    checkpoint = Some(reply);
                    break;
                }
                Err(_) => break,
            }
        }
        let result = match &self.db {
            Db::Sqlite(db) => match db.begin().await {
                Ok(txn) => self.write(txn, &jobs).await,
                Err(e) => Err(sql("begin ingest")(e)),
            },
            Db::Postgres(db) => match db.begin().await {
                Ok(txn) => self.write(txn, &jobs).await,
                Err(e) => Err(sql("begin ingest")(e)),
            },
        };
        match result {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::warn!(%error, records = total, "event log ingest failed");
                for job in jobs {
                    let _ = job.reply.send(Err(error.share()));
                }
            }
        }
        if let Some(reply) = checkpoint {
            let _ = reply.send(self.checkpoint().await);
        }
    }

    /// One transaction: dedup, link, insert, move the head, maybe checkpoint, commit, publish.
    async fn write<T: WriteTxn>(
        &self,
        mut txn: T,
        jobs: &[Job],
    ) -> Result<Vec<IngestOutcome>, LogError> {
        let mut plan = Plan::new(jobs);
        let head = self.link(&mut txn, &mut plan).await?;
        let publish = self.events.receiver_count() > 0;
        let (times, stored) = insert_all(&mut txn, &mut plan, publish).await?;
        let mut checkpoint = None;
        if let Some((chain_seq, hash)) = head {
            txn.set_head(chain_seq, &hash)
                .await
                .map_err(sql("move audit head"))?;
            checkpoint = self.maybe_checkpoint(&mut txn, chain_seq, hash).await?;
        }
        txn.commit().await.map_err(sql("commit ingest"))?;
        self.committed(&plan, &times, stored, checkpoint.is_some());
        Ok(plan.outcomes)
    }

    /// Drops chained records already stored, then gives the rest their links. Returns the new
    /// head when it moved.
    async fn link<T: WriteTxn>(
        &self,
        txn: &mut T,
        plan: &mut Plan<'_>,
    ) -> Result<Option<(i64, [u8; HASH_LEN])>, LogError> {
        let chained: Vec<&str> = plan
            .rows
            .iter()
            .filter(|r| r.rec.is_chained())
            .map(|r| r.rec.id.as_str())
            .collect();
        if chained.is_empty() {
            return Ok(None);
        }
        let (start, hash) = txn.lock_head().await.map_err(sql("lock audit head"))?;
        let mut hash = to_hash(&hash, "audit_head.hash")?;
        let existing = txn
            .existing_ids(&chained)
            .await
            .map_err(sql("find stored ids"))?;
        if !existing.is_empty() {
            plan.drop_rows(|row| row.rec.is_chained() && existing.contains(&row.rec.id));
        }
        let mut seq = start;
        for row in plan.rows.iter_mut().filter(|r| r.rec.is_chained()) {
            seq += 1;
            let next = link_hash(&hash, row.rec.json.as_bytes());
            row.link = Some(Link {
                chain_seq: seq,
                prev: hash,
                hash: next,
            });
            hash = next;
        }
        Ok((seq != start).then_some((seq, hash)))
    }

    /// Signs a checkpoint in `txn` when `checkpoint_every` chained records passed since the last.
    async fn maybe_checkpoint<T: WriteTxn>(
        &self,
        txn: &mut T,
        chain_seq: i64,
        hash: [u8; HASH_LEN],
    ) -> Result<Option<Checkpoint>, LogError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let last = txn
            .last_checkpoint_seq()
            .await
            .map_err(sql("read last checkpoint"))?;
        let every = i64::try_from(self.checkpoint_every.max(1)).unwrap_or(i64::MAX);
        if chain_seq - last < every {
            return Ok(None);
        }
        let cp = sign(signer, chain_seq, hash);
        txn.insert_checkpoint(&cp)
            .await
            .map_err(sql("insert checkpoint"))?;
        Ok(Some(cp))
    }

    /// A checkpoint of the current head, unless there is no signer or it did not move.
    pub(crate) async fn checkpoint(&self) -> Result<Option<Checkpoint>, LogError> {
        match &self.db {
            Db::Sqlite(db) => {
                self.checkpoint_in(db.begin().await.map_err(sql("begin checkpoint"))?)
                    .await
            }
            Db::Postgres(db) => {
                self.checkpoint_in(db.begin().await.map_err(sql("begin checkpoint"))?)
                    .await
            }
        }
    }

    async fn checkpoint_in<T: WriteTxn>(&self, mut txn: T) -> Result<Option<Checkpoint>, LogError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let (chain_seq, hash) = txn.lock_head().await.map_err(sql("lock audit head"))?;
        let last = txn
            .last_checkpoint_seq()
            .await
            .map_err(sql("read last checkpoint"))?;
        if chain_seq <= last {
            return Ok(None);
        }
        let cp = sign(signer, chain_seq, to_hash(&hash, "audit_head.hash")?);
        txn.insert_checkpoint(&cp)
            .await
            .map_err(sql("insert checkpoint"))?;
        txn.commit().await.map_err(sql("commit checkpoint"))?;
        metrics::counter!("rampart_audit_checkpoints_total").increment(1);
        Ok(Some(cp))
    }

    /// Metrics and the in-process tail, after a commit.
    fn committed(
        &self,
        plan: &Plan<'_>,
        times: &[i64],
        mut stored: Vec<StoredEvent>,
        checkpoint: bool,
    ) {
        let (ok, dup) = plan
            .outcomes
            .iter()
            .fold((0, 0), |(s, d), o| (s + o.stored, d + o.duplicates));
        metrics::counter!("rampart_events_ingested_total").increment(ok);
        metrics::counter!("rampart_events_duplicates_total").increment(dup);
        if checkpoint {
            metrics::counter!("rampart_audit_checkpoints_total").increment(1);
        }
        let now = now_ms();
        let lag = metrics::histogram!("rampart_events_ingest_lag_seconds");
        for time_ms in times {
            lag.record((now - time_ms).max(0) as f64 / 1000.0);
        }
        stored.sort_by_key(|e| e.seq);
        for event in stored {
            // No receivers left is fine: nobody is tailing.
            let _ = self.events.send(Arc::new(event));
        }
    }
}

// === impl Plan ===

impl<'a> Plan<'a> {
    /// Every record of `jobs` once (the first of equal ids); later copies count as duplicates.
    fn new(jobs: &'a [Job]) -> Self {
        let total = jobs.iter().map(|j| j.records.len()).sum();
        let mut seen = HashSet::with_capacity(total);
        let mut plan = Plan {
            rows: Vec::with_capacity(total),
            owners: Vec::with_capacity(total),
            outcomes: vec![IngestOutcome::default(); jobs.len()],
        };
        for (owner, job) in jobs.iter().enumerate() {
            for rec in &job.records {
                if seen.insert(rec.id.as_str()) {
                    plan.rows.push(NewRow { rec, link: None });
                    plan.owners.push(owner);
                } else {
                    plan.outcomes[owner].duplicates += 1;
                }
            }
        }
        plan
    }

    /// Removes the rows `drop` selects, counting each as a duplicate of its job.
    fn drop_rows(&mut self, drop: impl Fn(&NewRow<'_>) -> bool) {
        let mut keep_rows = Vec::with_capacity(self.rows.len());
        let mut keep_owners = Vec::with_capacity(self.rows.len());
        for (row, owner) in self.rows.drain(..).zip(self.owners.drain(..)) {
            if drop(&row) {
                self.outcomes[owner].duplicates += 1;
            } else {
                keep_rows.push(row);
                keep_owners.push(owner);
            }
        }
        self.rows = keep_rows;
        self.owners = keep_owners;
    }
}

/// Inserts the plan's rows in chunks, counting each job's stored and duplicate records.
/// Returns the event times of the stored records and, when `publish`, the stored events.
async fn insert_all<T: WriteTxn>(
    txn: &mut T,
    plan: &mut Plan<'_>,
    publish: bool,
) -> Result<(Vec<i64>, Vec<StoredEvent>), LogError> {
    let mut stored = Vec::new();
    let mut times = Vec::with_capacity(plan.rows.len());
    for (rows, owners) in plan
        .rows
        .chunks(ROWS_PER_INSERT)
        .zip(plan.owners.chunks(ROWS_PER_INSERT))
    {
        let inserted = txn
            .insert(rows, publish)
            .await
            .map_err(sql("insert events"))?;
        let seqs: HashMap<&str, i64> = match &inserted {
            Inserted::Count(n) if *n == rows.len() as u64 => HashMap::new(),
            Inserted::Count(n) => {
                return Err(LogError::Corrupt(format!(
                    "{n} of {} rows inserted without a record of which",
                    rows.len()
                )));
            }
            Inserted::Rows(list) => list.iter().map(|(seq, id)| (id.as_str(), *seq)).collect(),
        };
        let all = matches!(inserted, Inserted::Count(_));
        for (row, &owner) in rows.iter().zip(owners) {
            let seq = seqs.get(row.rec.id.as_str()).copied();
            if !all && seq.is_none() {
                if row.link.is_some() {
                    return Err(LogError::Corrupt(format!(
                        "chained record `{}` was stored by another writer behind the head lock",
                        row.rec.id
                    )));
                }
                plan.outcomes[owner].duplicates += 1;
                continue;
            }
            plan.outcomes[owner].stored += 1;
            times.push(row.rec.time_ms);
            if let (true, Some(seq)) = (publish, seq) {
                stored.push(stored_event(seq, row.rec));
            }
        }
    }
    Ok((times, stored))
}

fn sign(signer: &AuditSigner, chain_seq: i64, head_hash: [u8; HASH_LEN]) -> Checkpoint {
    signer.sign(CheckpointBody {
        chain_seq,
        head_hash,
        count: chain_seq,
        time_ms: now_ms(),
    })
}

fn stored_event(seq: i64, rec: &EventRecord) -> StoredEvent {
    StoredEvent {
        seq,
        id: rec.id.clone(),
        time_ms: rec.time_ms,
        kind: rec.kind,
        json: rec.json.clone(),
    }
}

/// A stored hash as an array, or `Corrupt` naming the column.
pub(crate) fn to_hash(bytes: &[u8], what: &str) -> Result<[u8; HASH_LEN], LogError> {
    <[u8; HASH_LEN]>::try_from(bytes)
        .map_err(|_| LogError::Corrupt(format!("{what} is {} bytes, not {HASH_LEN}", bytes.len())))
}
