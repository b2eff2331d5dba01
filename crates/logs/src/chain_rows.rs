//! One stored link of the audit chain, as handed to `audit::verify` and `audit::export`.

/// A chained record as stored: its place in the chain, its link hashes and its body.
///
/// `hash == audit::link_hash(prev_hash, body)` and `prev_hash` is the previous row's `hash`
/// (`audit::GENESIS` for `chain_seq` 1) unless the trail was altered. After retention removed a
/// prefix, the first row's `prev_hash` is the `head_hash` of the oldest kept checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRow {
    pub chain_seq: i64,
    pub event_id: String,
    /// Not checked to be 32 bytes: a verifier reports a wrong length as a modified record.
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// `EventRecord.json` as ingested.
    pub body: String,
    /// The indexed columns as stored, which queries read: verification checks them against
    /// the body, since the chain covers the body only.
    pub columns: RowColumns,
}

/// The indexed columns of a stored record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowColumns {
    pub time_ms: i64,
    pub kind: String,
    pub action: String,
    pub service: String,
    pub principal: Option<String>,
    pub decision: Option<String>,
    pub status: Option<i64>,
}

impl From<ChainRow> for crate::audit::ChainEntry {
    fn from(row: ChainRow) -> Self {
        Self {
            chain_seq: row.chain_seq,
            event_id: row.event_id,
            prev_hash: row.prev_hash,
            hash: row.hash,
            body: row.body,
        }
    }
}
