//! The collector-side NATS consumer group: every collector binds the same durable pull consumer,
//! fetches batches, hands them to an [`EventIngest`] and acknowledges only after the commit.
//!
//! Each message goes to one collector at a time; a message a crashed collector held comes back
//! after `ack_wait` to another one, and the store drops it if it was already committed.

use super::{NatsOptions, SUBJECT_PREFIX};
use crate::sink::EventIngest;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use rampart_events::EventRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a collector consumes the stream.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// The durable consumer every collector binds (default `collectors`).
    pub consumer: String,
    /// Most messages per fetch (default 1 000).
    pub batch_max: usize,
    /// How long a fetch waits for a full batch before taking what came (default 100 ms).
    pub fetch_wait: Duration,
    /// Time a fetched message may stay unacknowledged before it is redelivered (default 30 s).
    pub ack_wait: Duration,
    /// Unacknowledged messages across all collectors (default 10 000).
    pub max_ack_pending: i64,
    /// Redelivery delay of a batch the store could not take (default 1 s).
    pub retry_delay: Duration,
}

/// A running collector: its task and its counters.
pub struct NatsCollector {
    task: JoinHandle<()>,
    stats: Arc<Stats>,
}

/// What a collector has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorCounts {
    /// Messages fetched (including redeliveries and invalid ones).
    pub consumed: u64,
    /// Records the store newly stored.
    pub stored: u64,
    /// Records the store already had.
    pub duplicates: u64,
    /// Messages that are not valid records; terminated, never redelivered.
    pub rejected: u64,
    /// Batches the store refused; redelivered later.
    pub ingest_errors: u64,
    /// Whether the consumer is bound (connected, stream and consumer exist).
    pub bound: bool,
}

#[derive(Default)]
struct Stats {
    consumed: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    ingest_errors: AtomicU64,
    bound: AtomicBool,
}

/// Back-off between attempts to connect or bind.
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Consecutive failed fetches after which the consumer is bound again.
const REBIND_AFTER_FAILURES: u32 = 10;

// === impl CollectorOptions ===

impl Default for CollectorOptions {
    fn default() -> Self {
        Self {
            consumer: "collectors".to_string(),
            batch_max: 1000,
            fetch_wait: Duration::from_millis(100),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 10_000,
            retry_delay: Duration::from_secs(1),
        }
    }
}

// === impl NatsCollector ===

impl NatsCollector {
    /// Starts a collector task: it connects (retrying with back-off until `shutdown`), binds the
    /// durable consumer (creating the stream and the consumer when missing) and ingests until
    /// `shutdown` turns true, finishing the batch in hand first.
    pub fn run(
        nats: NatsOptions,
        options: CollectorOptions,
        ingest: Arc<dyn EventIngest>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(collect(nats, options, ingest, shutdown, stats.clone()));
        Self { task, stats }
    }

    pub fn counts(&self) -> CollectorCounts {
        let s = &self.stats;
        CollectorCounts {
            consumed: s.consumed.load(Ordering::Relaxed),
            stored: s.stored.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            ingest_errors: s.ingest_errors.load(Ordering::Relaxed),
            bound: s.bound.load(Ordering::Relaxed),
        }
    }

    /// Stops the task at once, as a crash would: fetched, unacknowledged messages are
    /// redelivered to the other collectors after `ack_wait`.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Waits for the task to end (after `shutdown`, or [`abort`](Self::abort)).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn collect(
    nats: NatsOptions,
    options: CollectorOptions,
    ingest: Arc<dyn EventIngest>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
) {
    let mut delay = RECONNECT_MIN;
    loop {
        let consumer = tokio::select! {
            _ = wait_true(&mut shutdown) => return,
            bound = bind(&nats, &options) => bound,
        };
        match consumer {
            Ok(consumer) => {
                stats.bound.store(true, Ordering::Relaxed);
                delay = RECONNECT_MIN;
                if consume(&consumer, &options, &*ingest, &mut shutdown, &stats).await {
                    return;
                }
                // The consumer or the stream went away (deleted, server reset): bind again.
                stats.bound.store(false, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(%error, consumer = %options.consumer, "nats collector not bound; retrying");
                if sleep_or_shutdown(delay, &mut shutdown).await {
                    return;
                }
                delay = (delay * 2).min(RECONNECT_MAX);
            }
        }
    }
}

async fn bind(nats: &NatsOptions, options: &CollectorOptions) -> Result<PullConsumer, String> {
    let js = nats.connect().await.map_err(|e| e.to_string())?;
    let stream = nats.ensure_stream(&js).await.map_err(|e| e.to_string())?;
    let config = pull::Config {
        durable_name: Some(options.consumer.clone()),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: options.ack_wait,
        max_ack_pending: options.max_ack_pending,
        filter_subject: format!("{SUBJECT_PREFIX}.>"),
        ..Default::default()
    };
    stream
        .get_or_create_consumer(&options.consumer, config)
        .await
        .map_err(|e| {
            super::NatsError::Consumer {
                consumer: options.consumer.clone(),
                reason: e.to_string(),
            }
            .to_string()
        })
}

/// Fetches and ingests until shutdown (true) or until fetches keep failing (false, to bind
/// again). The client reconnects by itself; a failed fetch is retried after a pause.
async fn consume(
    consumer: &PullConsumer,
    options: &CollectorOptions,
    ingest: &dyn EventIngest,
    shutdown: &mut watch::Receiver<bool>,
    stats: &Stats,
) -> bool {
    let mut failures = 0;
    while failures < REBIND_AFTER_FAILURES {
        let fetched = tokio::select! {
            _ = wait_true(shutdown) => return true,
            fetched = fetch(consumer, options) => fetched,
        };
        match fetched {
            Ok(messages) => {
                failures = 0;
                if !messages.is_empty() {
                    handle(messages, options, ingest, shutdown, stats).await;
                }
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "nats fetch failed");
                if sleep_or_shutdown(RECONNECT_MIN * failures, shutdown).await {
                    return true;
                }
            }
        }
    }
    false
}

async fn fetch(
    consumer: &PullConsumer,
    options: &CollectorOptions,
) -> Result<Vec<Message>, String> {
    let mut batch = consumer
        .batch()
        .max_messages(options.batch_max)
        .expires(options.fetch_wait)
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        match message {
            Ok(message) => messages.push(message),
            // Messages already taken still get handled; the rest come back after `ack_wait`.
            Err(error) if !messages.is_empty() => {
                tracing::warn!(%error, "nats batch ended early");
                break;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
    Ok(messages)
}

/// Parses a fetched batch, terminates invalid messages, ingests the rest and acknowledges them
/// only after the store committed them (or asks for a delayed redelivery if it did not).
async fn handle(
    messages: Vec<Message>,
    options: &CollectorOptions,
    ingest: &dyn EventIngest,
    shutdown: &mut watch::Receiver<bool>,
    stats: &Stats,
) {
    let consumed = messages.len() as u64;
    stats.consumed.fetch_add(consumed, Ordering::Relaxed);
    metrics::counter!("rampart_events_consumed_total", "transport" => "nats").increment(consumed);
    let mut records = Vec::with_capacity(messages.len());
    let mut valid = Vec::with_capacity(messages.len());
    for message in messages {
        match EventRecord::parse(&message.payload) {
            Ok(record) => {
                records.push(record);
                valid.push(message);
            }
            Err(error) => {
                tracing::warn!(%error, subject = %message.subject, "invalid record on nats; terminated");
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("rampart_events_rejected_total", "transport" => "nats")
                    .increment(1);
                ack_all(std::slice::from_ref(&message), AckKind::Term).await;
            }
        }
    }
    if records.is_empty() {
        return;
    }
    match ingest.ingest(records).await {
        Ok(outcome) => {
            stats.stored.fetch_add(outcome.stored, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(outcome.duplicates, Ordering::Relaxed);
            ack_all(&valid, AckKind::Ack).await;
        }
        Err(error) => {
            tracing::warn!(%error, records = valid.len(), "event store refused a nats batch; redelivery later");
            stats.ingest_errors.fetch_add(1, Ordering::Relaxed);
            ack_all(&valid, AckKind::Nak(Some(options.retry_delay))).await;
            // Other messages would likely fail the same way: pause instead of spinning.
            sleep_or_shutdown(options.retry_delay, shutdown).await;
        }
    }
}

/// Acknowledgement failures are logged only: the message comes back after `ack_wait` and the
/// store drops it as a duplicate.
async fn ack_all(messages: &[Message], kind: AckKind) {
    for message in messages {
        if let Err(error) = message.ack_with(kind).await {
            tracing::warn!(%error, "nats acknowledgement failed");
        }
    }
}

/// Resolves once `shutdown` is true; never if its sender is gone without saying so.
async fn wait_true(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps for `delay`; true when shutdown came first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = wait_true(shutdown) => true,
        _ = tokio::time::sleep(delay) => false,
    }
}
