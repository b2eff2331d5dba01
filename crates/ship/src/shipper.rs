//! The shipper: one task writes every event from the bus into the spool (write-ahead), another
//! drains the spool oldest first through an [`EventSink`], moving the cursor only after the sink
//! acknowledged, retrying the same batch with jittered exponential back-off otherwise.
//! At-least-once: a lost acknowledgement means the batch is sent again and the store drops the
//! duplicates. See `docs/logs.md`, "Transport".

mod backoff;
mod sender;
mod writer;

use crate::sink::EventSink;
use crate::spool::{Position, Spool, SpoolConfig, SpoolError, SpoolGate};
use rampart_events::{EventBus, Origin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Batch sizes and back-off of a shipper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipperOptions {
    /// Most records per delivered batch (default 1 000).
    pub batch_max_records: usize,
    /// Most bytes of record JSON per delivered batch (default 1 MiB).
    pub batch_max_bytes: usize,
    /// First retry delay (default 100 ms); doubles per failure, with jitter.
    pub backoff_min: Duration,
    /// Longest retry delay (default 5 s), unless the receiver asks for longer (`Retry-After`).
    pub backoff_max: Duration,
}

/// Starts shippers. See the module documentation.
#[derive(Debug)]
pub struct Shipper;

/// A running shipper. Dropping it stops its tasks (what was spooled stays on disk).
#[derive(Debug)]
pub struct ShipperHandle {
    shared: Arc<Shared>,
    gate: SpoolGate,
    stop: watch::Sender<bool>,
    flush: mpsc::Sender<oneshot::Sender<Position>>,
    writer: JoinHandle<()>,
    sender: JoinHandle<()>,
}

/// What a shipper did since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipStats {
    /// Records written to the spool.
    pub spooled: u64,
    /// Records the sink acknowledged as stored or duplicate.
    pub shipped: u64,
    /// Records dropped because the spool was full (`drop_oldest`).
    pub dropped: u64,
    /// Records the receiver refused as invalid (not retried).
    pub rejected: u64,
    /// Records spooled and not yet acknowledged (approximate).
    pub pending_records: u64,
    pub pending_bytes: u64,
    /// Spool read/write failures.
    pub io_errors: u64,
    /// Whether the spool gate is up (`block` mode, full).
    pub blocked: bool,
    /// The last delivery or spool error, if any.
    pub last_error: Option<String>,
    /// When the sink last acknowledged a batch.
    pub last_delivery: Option<SystemTime>,
}

/// Why a shipper or a sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the shipper must be started inside a Tokio runtime")]
    NoRuntime,
    #[error("invalid collector url `{url}`: {reason}")]
    Url { url: String, reason: String },
}

/// State both tasks and the handle share.
#[derive(Debug)]
struct Shared {
    spool: Mutex<Spool>,
    shipped: AtomicU64,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_delivery: Mutex<Option<SystemTime>>,
    /// Signalled when records were spooled (wakes the sender).
    data: Notify,
    /// Signalled when acknowledgements freed space (wakes a blocked writer).
    space: Notify,
    /// The spool's cursor after each acknowledgement (for `flush`).
    acked: watch::Sender<Position>,
}

// === impl ShipperOptions ===

impl Default for ShipperOptions {
    fn default() -> Self {
        Self {
            batch_max_records: 1000,
            batch_max_bytes: 1024 * 1024,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

// === impl Shipper ===

impl Shipper {
    /// Opens the spool in `spool.dir` (resuming what is pending there), subscribes to `bus`, and
    /// starts the writer and sender tasks on the current Tokio runtime.
    pub fn spawn(
        bus: &EventBus,
        origin: Origin,
        spool: SpoolConfig,
        sink: Arc<dyn EventSink>,
        opts: ShipperOptions,
    ) -> Result<ShipperHandle, ShipError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShipError::NoRuntime)?;
        let spool = Spool::open(spool, origin.clone())?;
        let gate = spool.gate();
        let (acked, _) = watch::channel(spool.cursor());
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            shipped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_delivery: Mutex::new(None),
            data: Notify::new(),
            space: Notify::new(),
            acked,
        });
        let (stop, stop_rx) = watch::channel(false);
        let (flush, flush_rx) = mpsc::channel(16);
        let writer = runtime.spawn(writer::run(
            bus.subscribe(),
            origin,
            shared.clone(),
            stop_rx.clone(),
            flush_rx,
        ));
        let sender = runtime.spawn(sender::run(shared.clone(), sink, opts, stop_rx));
        Ok(ShipperHandle {
            shared,
            gate,
            stop,
            flush,
            writer,
            sender,
        })
    }
}

// === impl ShipperHandle ===

impl ShipperHandle {
    /// The gate the proxy's request path checks (`block` mode).
    pub fn gate(&self) -> SpoolGate {
        self.gate.clone()
    }

    pub fn stats(&self) -> ShipStats {
        let spool = self.shared.spool().stats();
        ShipStats {
            spooled: spool.spooled,
            shipped: self.shared.shipped.load(Ordering::Relaxed),
            dropped: spool.dropped,
            rejected: self.shared.rejected.load(Ordering::Relaxed),
            pending_records: spool.pending_records,
            pending_bytes: spool.pending_bytes,
            io_errors: spool.io_errors,
            blocked: spool.blocked,
            last_error: lock(&self.shared.last_error).clone(),
            last_delivery: *lock(&self.shared.last_delivery),
        }
    }

    /// Waits until every event published on the bus before this call has been spooled and
    /// acknowledged by the sink. `false` if that did not happen within `timeout`.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, rx) = oneshot::channel();
        let target = if self.flush.send(tx).await.is_ok() {
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(pos)) => pos,
                Ok(Err(_)) => self.shared.spool().head_position(),
                Err(_) => return false,
            }
        } else {
            self.shared.spool().head_position()
        };
        let mut acked = self.shared.acked.subscribe();
        matches!(
            tokio::time::timeout_at(deadline, acked.wait_for(|p| *p >= target)).await,
            Ok(Ok(_))
        )
    }

    /// Stops both tasks: the writer spools what the bus already holds and syncs; a delivery in
    /// flight is abandoned (it is sent again by the next shipper on this spool).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.writer.await;
        let _ = self.sender.await;
        let shared = self.shared;
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = shared.spool().sync() {
                tracing::warn!(error = %e, "cannot sync the event spool at shutdown");
            }
        })
        .await;
    }
}

// === impl Shared ===

impl Shared {
    fn spool(&self) -> MutexGuard<'_, Spool> {
        lock(&self.spool)
    }

    fn set_error(&self, error: String) {
        *lock(&self.last_error) = Some(error);
    }
}

/// Locks a mutex, taking over the data of a holder that panicked (the data stays consistent:
/// every critical section here leaves it valid at each step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
