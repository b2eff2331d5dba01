//! How a [`LogStore`](crate::LogStore) batches, checkpoints, queues and forgets.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditSigner;

/// Settings of a [`LogStore`](crate::LogStore). `Default` gives the values of `docs/logs.md`.
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Sign a checkpoint after this many chained records (default 1 000).
    pub checkpoint_every: u64,
    /// Sign a checkpoint this often when the head moved (default 10 s).
    pub checkpoint_interval: Duration,
    /// The audit key; without one, no checkpoints are written.
    pub signer: Option<Arc<AuditSigner>>,
    /// The audit keys of the other collectors writing to the same database (several control
    /// planes on one PostgreSQL): their checkpoints verify too.
    pub trusted_keys: Vec<crate::audit::AuditKey>,
    /// Most batches waiting for the writer (default 64); beyond it `try_ingest` is `Busy`.
    pub queue: usize,
    /// Most records waiting for the writer (default 65 536); beyond it `try_ingest` is `Busy`.
    pub queue_records: usize,
    /// What retention keeps.
    pub retention: Retention,
    /// How often the background retention task runs (default 60 s; the first run is one period
    /// after opening).
    pub retention_every: Duration,
    /// Most connections for readers (queries, audit reads, retention); default 4.
    pub max_connections: u32,
    /// How long opening may take to reach the database (default 10 s).
    pub connect_timeout: Duration,
}

/// What retention keeps; see [`LogStore::enforce_retention`](crate::LogStore::enforce_retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Access records older than this are deleted (default 30 days).
    pub max_age: Duration,
    /// The oldest access records are deleted while the log is larger (default 1 GiB).
    pub max_bytes: u64,
    /// Chained records are deleted, as a prefix ending at a checkpoint, once that checkpoint is
    /// older than this (default 365 days).
    pub audit_max_age: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for LogStoreOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            signer: None,
            trusted_keys: Vec::new(),
            queue: 64,
            queue_records: 65_536,
            retention: Retention::default(),
            retention_every: Duration::from_secs(60),
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_age: 30 * DAY,
            max_bytes: 1 << 30,
            audit_max_age: 365 * DAY,
        }
    }
}
