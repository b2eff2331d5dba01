//! The sender task: reads the oldest unacknowledged batch from the spool, delivers it through
//! the sink, and moves the cursor only after `Ok`; on an error it retries the same batch after a
//! jittered, growing delay (or the receiver's `Retry-After`).

use super::ShipperOptions;
use super::backoff::Backoff;
use super::{Shared, lock};
use crate::sink::EventSink;
use crate::spool::SpoolBatch;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How long to sleep with nothing to send before looking again anyway.
const IDLE: Duration = Duration::from_secs(1);

pub(super) async fn run(
    shared: Arc<Shared>,
    sink: Arc<dyn EventSink>,
    opts: ShipperOptions,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(opts.backoff_min, opts.backoff_max);
    loop {
        if *stop.borrow() {
            return;
        }
        let task = shared.clone();
        let (records, bytes) = (opts.batch_max_records, opts.batch_max_bytes);
        let read = tokio::task::spawn_blocking(move || task.spool().read_batch(records, bytes))
            .await
            .unwrap_or(Ok(None));
        let wait = match read {
            Ok(Some(batch)) => {
                if !deliver(&shared, sink.as_ref(), &batch, &mut backoff, &mut stop).await {
                    return;
                }
                continue;
            }
            Ok(None) => IDLE,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event spool");
                shared.set_error(e.to_string());
                backoff.next(None)
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = shared.data.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Delivers one batch until the sink takes it; `false` when stopped first.
async fn deliver(
    shared: &Arc<Shared>,
    sink: &dyn EventSink,
    batch: &SpoolBatch,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    if !batch.batch.lines.is_empty() {
        loop {
            let result = tokio::select! {
                _ = stop.changed() => return false,
                r = sink.deliver(&batch.batch) => r,
            };
            match result {
                Ok(done) => {
                    let shipped = done.stored + done.duplicates;
                    if done.rejected > 0 {
                        tracing::warn!(
                            sink = sink.name(),
                            rejected = done.rejected,
                            "receiver rejected event records as invalid; not retried"
                        );
                        shared.rejected.fetch_add(done.rejected, Ordering::Relaxed);
                    }
                    shared.shipped.fetch_add(shipped, Ordering::Relaxed);
                    metrics::counter!("rampart_events_shipped_total").increment(shipped);
                    *lock(&shared.last_delivery) = Some(SystemTime::now());
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    let retry_after = match &e {
                        crate::sink::SinkError::Busy { retry_after } => *retry_after,
                        _ => None,
                    };
                    let delay = backoff.next(retry_after);
                    let records = batch.batch.lines.len();
                    if matches!(e, crate::sink::SinkError::Refused(_)) {
                        tracing::error!(sink = sink.name(), error = %e, retry_in = ?delay, records, "receiver refuses events; retrying");
                    } else {
                        tracing::warn!(sink = sink.name(), error = %e, retry_in = ?delay, records, "event delivery failed; retrying");
                    }
                    shared.set_error(e.to_string());
                    tokio::select! {
                        _ = stop.changed() => return false,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
    let task = shared.clone();
    let (end, consumed) = (batch.end, batch.consumed);
    let acked = tokio::task::spawn_blocking(move || {
        let mut spool = task.spool();
        let r = spool.ack(end, consumed);
        (r, spool.cursor())
    })
    .await;
    match acked {
        Ok((result, cursor)) => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot record the event spool cursor");
                shared.set_error(e.to_string());
            }
            shared.acked.send_replace(cursor);
            shared.space.notify_one();
        }
        Err(e) => tracing::error!(error = %e, "event spool acknowledgement failed"),
    }
    true
}
