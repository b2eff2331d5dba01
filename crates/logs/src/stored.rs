//! Rows as read back: a stored event, and a link of the audit chain.

use rampart_events::RecordKind;

/// An event as stored: its ingest sequence number and its record JSON, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Ingest order; the cursor of `after=SEQ` and tailing.
    pub seq: i64,
    /// The event id (UUIDv7).
    pub id: String,
    pub time_ms: i64,
    pub kind: RecordKind,
    /// `EventRecord.json` as ingested.
    pub json: String,
}
