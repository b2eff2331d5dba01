//! The two seams of the transport: where a shipper delivers batches ([`EventSink`]) and where a
//! collector-side consumer hands them to the event log ([`EventIngest`]).

use bytes::Bytes;
use rampart_events::{EventRecord, IngestOutcome};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so the traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One batch of records in the order they were spooled: each entry is one record's JSON (one
/// line, no newline). `ids[i]` is the `event.id` of `lines[i]`.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub lines: Vec<Bytes>,
    pub ids: Vec<String>,
}

/// What the receiver acknowledged for a whole batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Records newly stored (or newly accepted by the stream).
    pub stored: u64,
    /// Records the receiver already had (re-deliveries).
    pub duplicates: u64,
    /// Records the receiver refused as invalid; they are not retried.
    pub rejected: u64,
}

/// Why a batch was not delivered. Every variant but `Rejected` is retried later.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The receiver asked to slow down (HTTP 429/503 with `Retry-After`, or stream limits).
    #[error("receiver is busy (retry after {retry_after:?})")]
    Busy { retry_after: Option<Duration> },
    /// The receiver could not be reached or the connection failed mid-way.
    #[error("receiver unreachable: {0}")]
    Unreachable(String),
    /// The receiver refused the batch as a whole (authentication, a 4xx other than 429); the
    /// shipper keeps the batch and retries with back-off, and raises an alarm.
    #[error("receiver refused the batch: {0}")]
    Refused(String),
}

/// Where a shipper delivers batches: the collector over HTTPS, or a NATS JetStream stream.
pub trait EventSink: Send + Sync + 'static {
    /// Delivers one batch. `Ok` only once the receiver has durably taken every record of it
    /// (stored, or known as a duplicate); then the shipper may forget the batch.
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivered, SinkError>>;

    /// A short name for logs and metrics (`http`, `nats`).
    fn name(&self) -> &'static str;
}

/// Where a collector-side consumer (the NATS consumer group) hands records: the event log.
pub trait EventIngest: Send + Sync + 'static {
    /// Stores a batch, dropping records whose id is already stored. `Ok` once committed.
    fn ingest(&self, batch: Vec<EventRecord>) -> BoxFuture<'_, Result<IngestOutcome, String>>;
}
