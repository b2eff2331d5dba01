//! The OTLP log exporter: records stored by the event log go out as OTLP logs over
//! HTTP/protobuf (`POST {endpoint}/v1/logs`), in batches.
//!
//! Owns: a bounded queue callers feed without ever waiting ([`OtlpSender::export`]; a full
//! queue drops the record and counts it), batching (up to `batch_max` records or every
//! `flush_interval`), the encoding and the bounded retries. Must not: slow down or fail ingest.
//! Metrics: `rampart_events_exported_total{exporter="otlp"}`,
//! `rampart_events_export_dropped_total{exporter="otlp"}` (queue full),
//! `rampart_events_export_failed_total{exporter="otlp"}` (given up after retries or refused).

mod client;
mod encode;

use bytes::Bytes;
use client::OtlpClient;
use rampart_events::EventRecord;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Where and how to export.
#[derive(Clone)]
pub struct OtlpOptions {
    /// The collector's base URL (`http://127.0.0.1:4318`); logs go to `{endpoint}/v1/logs`.
    pub endpoint: String,
    /// Extra request headers (e.g. an API key); their values are never printed.
    pub headers: Vec<(String, String)>,
    /// Per attempt, connecting included (default 10 s).
    pub timeout: Duration,
    /// Most records per request (default 512).
    pub batch_max: usize,
    /// A partial batch is sent after this long (default 1 s).
    pub flush_interval: Duration,
    /// Records waiting to be exported; beyond it they are dropped and counted (default 8 192).
    pub queue: usize,
    /// Retries of a batch on 429/502/503/504 or a connection failure (default 5).
    pub max_retries: u32,
    /// The resource's `service.name` (default `rampart`).
    pub service_name: String,
}

/// Why the exporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("invalid OTLP endpoint `{0}`: {1}")]
    Endpoint(String, String),
    #[error("invalid OTLP header `{0}`")]
    Header(String),
    #[error("cannot set up TLS for OTLP: {0}")]
    Tls(String),
}

/// A running exporter.
pub struct OtlpExporter {
    sender: OtlpSender,
    task: JoinHandle<()>,
}

/// The cheap, cloneable handle that feeds the exporter.
#[derive(Clone)]
pub struct OtlpSender {
    tx: mpsc::Sender<EventRecord>,
    stats: Arc<Stats>,
}

/// What the exporter has done so far, in records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Accepted by the OTLP receiver.
    pub exported: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Given up after the retries, or refused by the receiver.
    pub failed: u64,
}

#[derive(Default)]
struct Stats {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

const EXPORTER: &str = "otlp";

// === impl OtlpOptions ===

impl OtlpOptions {
    /// Options for `endpoint` with the defaults.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            batch_max: 512,
            flush_interval: Duration::from_secs(1),
            queue: 8192,
            max_retries: 5,
            service_name: "rampart".to_string(),
        }
    }
}

impl fmt::Debug for OtlpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "**REDACTED**"))
            .collect();
        f.debug_struct("OtlpOptions")
            .field("endpoint", &self.endpoint)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("batch_max", &self.batch_max)
            .field("flush_interval", &self.flush_interval)
            .field("queue", &self.queue)
            .field("max_retries", &self.max_retries)
            .field("service_name", &self.service_name)
            .finish()
    }
}

// === impl OtlpExporter ===

impl OtlpExporter {
    /// Starts the export task. It stops when `shutdown` turns true (sending what is queued
    /// first) or when every sender, this exporter's included, is dropped.
    pub fn spawn(options: OtlpOptions, shutdown: watch::Receiver<bool>) -> Result<Self, OtlpError> {
        let client = OtlpClient::new(&options)?;
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let stats = Arc::new(Stats::default());
        let exporter = Exporter {
            client,
            batch_max: options.batch_max.max(1),
            service_name: options.service_name,
            stats: stats.clone(),
        };
        let task = tokio::spawn(exporter.run(rx, options.flush_interval, shutdown));
        Ok(Self {
            sender: OtlpSender { tx, stats },
            task,
        })
    }

    /// A handle to feed records in.
    pub fn sender(&self) -> OtlpSender {
        self.sender.clone()
    }

    pub fn counts(&self) -> ExportCounts {
        self.sender.counts()
    }

    /// Drops this exporter's sender and waits for the task (it ends once the other senders are
    /// dropped too, or on shutdown), returning the final counts.
    pub async fn finish(self) -> ExportCounts {
        let Self { sender, task } = self;
        let stats = sender.stats.clone();
        drop(sender);
        let _ = task.await;
        OtlpSender::counts_of(&stats)
    }
}

// === impl OtlpSender ===

impl OtlpSender {
    /// Queues a record without waiting; false (and counted as dropped) when the queue is full
    /// or the exporter has stopped.
    pub fn export(&self, record: EventRecord) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(_) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("rampart_events_export_dropped_total", "exporter" => EXPORTER)
                    .increment(1);
                false
            }
        }
    }

    pub fn counts(&self) -> ExportCounts {
        Self::counts_of(&self.stats)
    }

    fn counts_of(stats: &Stats) -> ExportCounts {
        ExportCounts {
            exported: stats.exported.load(Ordering::Relaxed),
            dropped: stats.dropped.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
        }
    }
}

/// The task's state.
struct Exporter {
    client: OtlpClient,
    batch_max: usize,
    service_name: String,
    stats: Arc<Stats>,
}

impl Exporter {
    async fn run(
        self,
        mut rx: mpsc::Receiver<EventRecord>,
        flush_interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut batch = Vec::with_capacity(self.batch_max);
        let mut tick = tokio::time::interval(flush_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = rx.recv() => match received {
                    Some(record) => {
                        batch.push(record);
                        if batch.len() >= self.batch_max {
                            self.flush(&mut batch).await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.flush(&mut batch).await;
                    }
                }
                _ = wait_true(&mut shutdown) => {
                    // What is already queued still goes out; the queue is bounded.
                    rx.close();
                    while let Some(record) = rx.recv().await {
                        batch.push(record);
                        if batch.len() >= self.batch_max {
                            self.flush(&mut batch).await;
                        }
                    }
                    break;
                }
            }
        }
        if !batch.is_empty() {
            self.flush(&mut batch).await;
        }
    }

    async fn flush(&self, batch: &mut Vec<EventRecord>) {
        let records = std::mem::take(batch);
        let count = records.len() as u64;
        let body = encode::encode_request(&self.service_name, &records, now_ns());
        match self.client.send(Bytes::from(body)).await {
            Ok(()) => {
                self.stats.exported.fetch_add(count, Ordering::Relaxed);
                metrics::counter!("rampart_events_exported_total", "exporter" => EXPORTER)
                    .increment(count);
            }
            Err(error) => {
                tracing::warn!(%error, records = count, "otlp export failed; batch dropped");
                self.stats.failed.fetch_add(count, Ordering::Relaxed);
                metrics::counter!("rampart_events_export_failed_total", "exporter" => EXPORTER)
                    .increment(count);
            }
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Resolves once `shutdown` is true; never if its sender is gone without saying so.
async fn wait_true(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
