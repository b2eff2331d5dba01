//! The proxy-side NATS sink: publishes each record of a batch to `rampart.events.<kind>` with
//! `Nats-Msg-Id` = event id, pipelined, and answers only once every publish is acknowledged.

use super::{NatsError, NatsOptions, SUBJECT_PREFIX};
use crate::sink::{Batch, BoxFuture, Delivered, EventSink, SinkError};
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self};
use rampart_events::EventRecord;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;

/// Publishes in flight per batch before the oldest acknowledgement is awaited.
const WINDOW: usize = 256;

/// The context's cap on unacknowledged publishes; above [`WINDOW`] so one delivery never waits
/// on a permit its own unawaited acknowledgements hold.
pub(crate) const MAX_ACK_INFLIGHT: usize = 4 * WINDOW;

/// How long a shipper should wait when the stream refuses for its limits.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// An [`EventSink`] publishing to a JetStream stream.
pub struct NatsSink {
    js: jetstream::Context,
    /// One delivery at a time, so concurrent batches cannot starve each other of ack permits.
    serial: Mutex<()>,
}

// === impl NatsSink ===

impl NatsSink {
    /// Connects and makes sure the stream exists.
    pub async fn connect(options: &NatsOptions) -> Result<Self, NatsError> {
        let js = options.connect().await?;
        options.ensure_stream(&js).await?;
        Ok(Self {
            js,
            serial: Mutex::new(()),
        })
    }

    async fn deliver_batch(&self, batch: &Batch) -> Result<Delivered, SinkError> {
        let _one_at_a_time = self.serial.lock().await;
        let mut delivered = Delivered::default();
        let mut pending: VecDeque<PublishAckFuture> = VecDeque::with_capacity(WINDOW);
        for line in &batch.lines {
            // The record is checked as the collector will check it: an invalid one would only
            // be refused there, so it is refused here and never retried.
            let record = match EventRecord::parse(line) {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(%error, "invalid record not published to NATS");
                    delivered.rejected += 1;
                    continue;
                }
            };
            if pending.len() >= WINDOW
                && let Some(ack) = pending.pop_front()
            {
                count_ack(ack, &mut delivered).await?;
            }
            let subject = format!("{SUBJECT_PREFIX}.{}", record.kind.as_str());
            let publish = PublishMessage::build()
                .payload(line.clone())
                .message_id(&record.id);
            let ack = self
                .js
                .send_publish(subject, publish)
                .await
                .map_err(publish_error)?;
            pending.push_back(ack);
        }
        while let Some(ack) = pending.pop_front() {
            count_ack(ack, &mut delivered).await?;
        }
        Ok(delivered)
    }
}

impl EventSink for NatsSink {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivered, SinkError>> {
        Box::pin(self.deliver_batch(batch))
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

async fn count_ack(ack: PublishAckFuture, delivered: &mut Delivered) -> Result<(), SinkError> {
    let ack = ack.await.map_err(publish_error)?;
    if ack.duplicate {
        delivered.duplicates += 1;
    } else {
        delivered.stored += 1;
    }
    Ok(())
}

fn publish_error(error: async_nats::jetstream::context::PublishError) -> SinkError {
    match error.kind() {
        PublishErrorKind::MaxAckPending => SinkError::Busy {
            retry_after: Some(BUSY_RETRY),
        },
        // Stream limits with `discard: new` (bytes, messages) are a full stream: back-pressure.
        PublishErrorKind::Other if error.to_string().contains("maximum") => SinkError::Busy {
            retry_after: Some(BUSY_RETRY),
        },
        _ => SinkError::Unreachable(format!("nats publish: {error}")),
    }
}
