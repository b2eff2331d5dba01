//! Moves events between processes, never losing one silently.
//!
//! Owns: the proxy-side on-disk spool (bounded, `block` or `drop_oldest` when full), the shipper
//! that drains it to a sink with at-least-once delivery (HTTPS with mTLS to the collector, or
//! NATS JetStream), the collector-side NATS consumer group, and the OTLP log exporter.
//! Must not: store or query events (that is `rampart-logs`), decide anything about requests, or
//! know the control plane's types. The contract is `docs/logs.md`.

pub mod http;
pub mod nats;
pub mod otlp;
mod shipper;
mod sink;
pub mod spool;

pub use http::{HttpSink, TlsSource};
pub use nats::{
    CollectorCounts, CollectorOptions, NatsCollector, NatsError, NatsOptions, NatsSink, NatsTls,
};
pub use otlp::{ExportCounts, OtlpError, OtlpExporter, OtlpOptions, OtlpSender};
pub use shipper::{ShipError, ShipStats, Shipper, ShipperHandle, ShipperOptions};
pub use sink::{Batch, BoxFuture, Delivered, EventIngest, EventSink, SinkError};
pub use spool::{Spool, SpoolConfig, SpoolGate, SpoolStats, WhenFull};
