//! Reading an export back, line by line (bounded line length), and verifying it offline.

use super::line::{Header, LineIn};
use crate::audit::{
    AuditError, AuditKey, ChainEntry, Checkpoint, StartPoint, Verifier, VerifyReport,
};
use std::io::{BufRead, Read as _};

pub use super::line::ExportItem;

/// Longest line accepted: a record is one event (the collector caps a whole batch at 16 MiB).
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// A whole export in memory (small exports, tests). Use [`ExportReader`] to stream big ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportContents {
    pub keys: Vec<AuditKey>,
    pub exported_at_ms: i64,
    pub start: Option<StartPoint>,
    pub entries: Vec<ChainEntry>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Streams an export: the header is read by [`ExportReader::new`], then one item per line.
#[derive(Debug)]
pub struct ExportReader<R> {
    r: R,
    line: u64,
    buf: Vec<u8>,
    keys: Vec<AuditKey>,
    exported_at_ms: i64,
    start: Option<StartPoint>,
}

/// Reads a whole export.
pub fn read_export(r: impl BufRead) -> Result<ExportContents, AuditError> {
    let mut reader = ExportReader::new(r)?;
    let (mut entries, mut checkpoints) = (Vec::new(), Vec::new());
    while let Some(item) = reader.next_item()? {
        match item {
            ExportItem::Entry(entry) => entries.push(entry),
            ExportItem::Checkpoint(cp) => checkpoints.push(cp),
        }
    }
    Ok(ExportContents {
        keys: reader.keys,
        exported_at_ms: reader.exported_at_ms,
        start: reader.start,
        entries,
        checkpoints,
    })
}

/// Verifies an export as it streams. With `trusted` keys, only they vouch for checkpoints;
/// without, the header's keys are used and the report says `keys_from_export` (the export
/// vouches for itself). A malformed line is an error naming it; tampering is a report.
pub fn verify_export(
    r: impl BufRead,
    trusted: Option<&[AuditKey]>,
) -> Result<VerifyReport, AuditError> {
    let mut reader = ExportReader::new(r)?;
    let header_keys = reader.keys.clone();
    let keys = trusted.unwrap_or(&header_keys);
    let mut verifier = Verifier::new(keys, None, reader.start);
    while let Some(item) = reader.next_item()? {
        match item {
            ExportItem::Entry(entry) => verifier.push_entry(entry),
            ExportItem::Checkpoint(cp) => verifier.push_checkpoint(cp),
        }
    }
    let mut report = verifier.finish();
    report.keys_from_export = trusted.is_none();
    Ok(report)
}

// === impl ExportReader ===

impl<R: BufRead> ExportReader<R> {
    /// Reads and checks the header line.
    pub fn new(r: R) -> Result<Self, AuditError> {
        let mut reader = Self {
            r,
            line: 0,
            buf: Vec::new(),
            keys: Vec::new(),
            exported_at_ms: 0,
            start: None,
        };
        let Some(text) = reader.next_line()?.map(|(_, text)| text.to_owned()) else {
            return Err(AuditError::Export {
                line: 1,
                msg: "the export is empty (no header)".into(),
            });
        };
        let header: Header = serde_json::from_str(&text).map_err(|e| reader.error(e))?;
        if header.format != super::FORMAT {
            let msg = format!("format `{}` is not `{}`", header.format, super::FORMAT);
            return Err(reader.error(msg));
        }
        reader.keys = header.keys().map_err(|e| reader.error(e))?;
        reader.start = header.start().map_err(|e| reader.error(e))?;
        reader.exported_at_ms = header.exported_at;
        Ok(reader)
    }

    pub fn keys(&self) -> &[AuditKey] {
        &self.keys
    }

    pub fn exported_at_ms(&self) -> i64 {
        self.exported_at_ms
    }

    pub fn start(&self) -> Option<StartPoint> {
        self.start
    }

    /// The next record or checkpoint; `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<ExportItem>, AuditError> {
        let Some((line, text)) = self.next_line()? else {
            return Ok(None);
        };
        let at = |msg: String| AuditError::Export { line, msg };
        let parsed: LineIn<'_> = serde_json::from_str(text).map_err(|e| at(e.to_string()))?;
        parsed.into_item().map(Some).map_err(at)
    }

    /// The next non-empty line (its number, its text without the line ending).
    fn next_line(&mut self) -> Result<Option<(u64, &str)>, AuditError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = (&mut self.r)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| AuditError::Io(format!("export line {}: {e}", self.line)))?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_LINE {
                return Err(self.error(format!("longer than {MAX_LINE} bytes")));
            }
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            }
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if !self.buf.is_empty() {
                break;
            }
        }
        let line = self.line;
        std::str::from_utf8(&self.buf)
            .map(|text| Some((line, text)))
            .map_err(|_| AuditError::Export {
                line,
                msg: "not UTF-8".into(),
            })
    }

    fn error(&self, msg: impl std::fmt::Display) -> AuditError {
        AuditError::Export {
            line: self.line,
            msg: msg.to_string(),
        }
    }
}

impl<R: BufRead> Iterator for ExportReader<R> {
    type Item = Result<ExportItem, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}
