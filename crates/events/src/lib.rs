//! Rampart's typed events and the in-process event bus that carries them from producers
//! (proxies, control plane) to consumers (JSON-lines sink, the event log, exporters), and the
//! record form (envelope with a unique id) in which events are shipped and stored. The bus is bounded: a consumer that falls behind loses the oldest events and the loss
//! is counted, never silent. This crate does no policy and no networking.

mod bus;
mod jsonl;
mod model;
mod record;

pub use bus::{EventBus, Subscription};
pub use jsonl::JsonLinesSink;
pub use model::{
    AccessEvent, AdminEvent, AuthzRecord, Decision, Event, Outcome, SecurityEvent, SecurityKind,
    ShadowRecord,
};
pub use record::{
    ACCESS_ACTION, EventRecord, IngestOutcome, MAX_RECORD_BYTES, Origin, RecordError, RecordKind,
    SCHEMA_VERSION, new_id,
};
