//! The tamper-evident audit chain (see `docs/logs.md`, "Audit chain verification").
//!
//! Owns: the link hash, the audit key and checkpoint signatures, verification of a chain (from
//! the database's rows or from an export), and the JSON-lines export format. Must not: run SQL;
//! the store reads the rows and hands them over as [`ChainEntry`] values.

pub mod export;
mod keys;
mod link;
mod signer;
mod verify;

pub use keys::key_id;
pub use link::{GENESIS, HASH_LEN, link_hash};
pub use signer::{AuditKey, AuditSigner, Checkpoint, CheckpointBody};
pub use verify::{Problem, ProblemKind, Verifier, VerifyReport, verify};

/// One chained record as stored: what verification and export read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub chain_seq: i64,
    /// The record's `event.id`.
    pub event_id: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// The stored JSON, byte for byte (the hash covers these exact bytes).
    pub body: String,
}

/// Where verification begins when older records were removed by retention: the `chain_seq` and
/// hash of the last removed record (the oldest kept checkpoint). The default is `GENESIS` at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPoint {
    pub chain_seq: i64,
    pub hash: [u8; HASH_LEN],
}

/// Why the audit key or an audit operation failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit key: {0}")]
    Key(String),
    #[error("audit I/O: {0}")]
    Io(String),
    /// A line of an export file that cannot be read (1-based line number).
    #[error("audit export line {line}: {msg}")]
    Export { line: u64, msg: String },
}

// === impl StartPoint ===

impl StartPoint {
    /// The beginning of a chain that was never pruned.
    pub const GENESIS: StartPoint = StartPoint {
        chain_seq: 0,
        hash: GENESIS,
    };
}

impl Default for StartPoint {
    fn default() -> Self {
        Self::GENESIS
    }
}
