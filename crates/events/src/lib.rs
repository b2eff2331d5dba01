//! Rampart's typed events and the in-process event bus that carries them from producers
//! (proxies, control plane) to consumers (JSON-lines sink now; store, detector and exporters
//! later). The bus is bounded: a consumer that falls behind loses the oldest events and the loss
//! is counted, never silent. This crate does no policy and no networking.

mod bus;
mod jsonl;
mod model;

pub use bus::{EventBus, Subscription};
pub use jsonl::JsonLinesSink;
pub use model::{
    AccessEvent, AuthzRecord, Decision, Event, SecurityEvent, SecurityKind, ShadowRecord,
};
