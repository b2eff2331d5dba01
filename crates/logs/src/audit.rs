//! The tamper-evident audit chain (see `docs/logs.md`, "Audit chain verification").

mod link;
mod signer;

pub use link::{GENESIS, HASH_LEN, link_hash};
pub use signer::{AuditKey, AuditSigner, Checkpoint, CheckpointBody};

/// Why the audit key or an audit operation failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit key: {0}")]
    Key(String),
    #[error("audit I/O: {0}")]
    Io(String),
}
