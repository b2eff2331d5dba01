//! The JSON-lines export of the audit chain (`rampart-audit-export/v1`, see `docs/logs.md`):
//! a header with the public keys, then records and checkpoints in chain order.
//!
//! ```text
//! {"format":"rampart-audit-export/v1","keys":[{"key_id":"…","public_key":"<base64>"}],"exported_at":MS,"start":null|{"chain_seq":N,"hash":"<hex>"}}
//! {"chain_seq":1,"event_id":"…","prev_hash":"<hex>","hash":"<hex>","event":{…the stored body, byte for byte…}}
//! {"checkpoint":{"chain_seq":1,"head_hash":"<hex>","count":1,"time_ms":MS,"key_id":"…","signature":"<base64>"}}
//! ```
//!
//! The hash covers the body's exact bytes, so the body is written verbatim as the `event` value
//! and read back verbatim. A stored body that is not a one-line JSON object (only a tampered
//! database holds one) is written as a JSON string in `event_text` instead, so the export still
//! carries its exact bytes and verification names it.

mod line;
mod reader;

use super::{AuditError, AuditKey, ChainEntry, Checkpoint, StartPoint};
use std::io::Write;

pub use reader::{ExportContents, ExportItem, ExportReader, read_export, verify_export};

/// The `format` of the header line.
pub const FORMAT: &str = "rampart-audit-export/v1";

/// Writes an export. Records and checkpoints must be written in chain order, each checkpoint
/// after the record at its `chain_seq` ([`ExportWriter::write_chain`] does the interleaving).
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    w: W,
}

// === impl ExportWriter ===

impl<W: Write> ExportWriter<W> {
    /// Writes the header: the keys checkpoints are signed with, and where the chain starts.
    pub fn new(
        w: W,
        keys: &[AuditKey],
        exported_at_ms: i64,
        start: Option<StartPoint>,
    ) -> Result<Self, AuditError> {
        let mut writer = Self { w };
        let header = line::Header::new(keys, exported_at_ms, start);
        writer.write_json(&header)?;
        Ok(writer)
    }

    pub fn write_entry(&mut self, entry: &ChainEntry) -> Result<(), AuditError> {
        let out = line::EntryOut::new(entry);
        self.write_json(&out)
    }

    pub fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        self.write_json(&line::CheckpointOut::new(checkpoint))
    }

    /// Writes `entries` (in `chain_seq` order) with `checkpoints` (any order) interleaved: each
    /// checkpoint right after the record at its `chain_seq`, ones before the first record first.
    /// Returns the number of records written.
    pub fn write_chain(
        &mut self,
        entries: impl IntoIterator<Item = ChainEntry>,
        checkpoints: &[Checkpoint],
    ) -> Result<u64, AuditError> {
        let mut cps: Vec<&Checkpoint> = checkpoints.iter().collect();
        cps.sort_by_key(|cp| cp.body.chain_seq);
        let mut cps = cps.into_iter().peekable();
        let mut written = 0;
        for entry in entries {
            while let Some(cp) = cps.next_if(|cp| cp.body.chain_seq < entry.chain_seq) {
                self.write_checkpoint(cp)?;
            }
            self.write_entry(&entry)?;
            written += 1;
            while let Some(cp) = cps.next_if(|cp| cp.body.chain_seq == entry.chain_seq) {
                self.write_checkpoint(cp)?;
            }
        }
        for cp in cps {
            self.write_checkpoint(cp)?;
        }
        Ok(written)
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(mut self) -> Result<W, AuditError> {
        self.w.flush().map_err(io)?;
        Ok(self.w)
    }

    fn write_json(&mut self, value: &impl serde::Serialize) -> Result<(), AuditError> {
        serde_json::to_writer(&mut self.w, value)
            .map_err(|e| AuditError::Io(format!("export: {e}")))?;
        self.w.write_all(b"\n").map_err(io)
    }
}

fn io(e: std::io::Error) -> AuditError {
    AuditError::Io(format!("export: {e}"))
}
