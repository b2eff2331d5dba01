//! Moves events between processes, never losing one silently.
//!
//! Owns: the proxy-side on-disk spool (bounded, `block` or `drop_oldest` when full), the shipper
//! that drains it to a sink with at-least-once delivery (HTTPS with mTLS to the collector, or
//! NATS JetStream), the collector-side NATS consumer group, and the OTLP log exporter.
//! Must not: store or query events (that is `rampart-logs`), decide anything about requests, or
//! know the control plane's types. The contract is `docs/logs.md`.

mod sink;

pub use sink::{Batch, BoxFuture, Delivered, EventIngest, EventSink, SinkError};
