//! Reading the oldest unacknowledged records into a batch, skipping (and counting) anything that
//! is not a whole record line, so a broken record is never shipped.

use super::{Position, Spool, SpoolError, segment};
use crate::sink::Batch;
use bytes::Bytes;
use rampart_events::MAX_RECORD_BYTES;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// A batch read from the spool and where it ends; hand `end` back to [`Spool::ack`].
#[derive(Debug, Clone)]
pub struct SpoolBatch {
    pub batch: Batch,
    /// Where the batch starts (the cursor when it was read).
    pub start: Position,
    /// The position just past the batch's last line.
    pub end: Position,
    /// Lines consumed: the batch's records plus any corrupt line skipped.
    pub consumed: u64,
}

#[derive(serde::Deserialize)]
struct IdOnly<'a> {
    #[serde(rename = "event.id", borrow)]
    id: std::borrow::Cow<'a, str>,
}

// === impl Spool (reading) ===

impl Spool {
    /// Reads up to `max_records` / `max_bytes` (at least one record) from the cursor on.
    /// `None` when nothing is pending.
    pub fn read_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<SpoolBatch>, SpoolError> {
        let max_records = max_records.max(1);
        let mut pos = self.cursor;
        let mut batch = Batch::default();
        let mut bytes = 0usize;
        let mut consumed = 0u64;
        let mut full = false;
        let mut idx = self.segments.iter().position(|s| s.seq >= pos.segment);
        while let (Some(i), false) = (idx, full) {
            let Some(seg) = self.segments.get(i).copied() else {
                break;
            };
            if seg.seq != pos.segment {
                pos = Position {
                    segment: seg.seq,
                    offset: 0,
                };
            }
            if pos.offset >= seg.len {
                idx = Some(i + 1);
                continue;
            }
            let room = max_bytes
                .saturating_sub(bytes)
                .max(2 * MAX_RECORD_BYTES + 2);
            let want = (seg.len - pos.offset).min(room as u64);
            let chunk = self.read_chunk(seg.seq, pos.offset, want)?;
            let mut at = 0usize;
            while let Some(nl) = chunk[at..].iter().position(|&b| b == b'\n') {
                let line = chunk.slice(at..at + nl);
                if !batch.lines.is_empty()
                    && (batch.lines.len() >= max_records || bytes + line.len() > max_bytes)
                {
                    full = true;
                    break;
                }
                at += nl + 1;
                consumed += 1;
                match serde_json::from_slice::<IdOnly<'_>>(&line) {
                    Ok(rec) => {
                        batch.ids.push(rec.id.into_owned());
                        bytes += line.len();
                        batch.lines.push(line);
                    }
                    Err(e) => {
                        self.corrupt += 1;
                        tracing::warn!(segment = seg.seq, error = %e, "skipping a corrupt line in the event spool");
                    }
                }
            }
            if at == 0 && !full && !chunk.is_empty() {
                // No newline in a whole chunk: garbage longer than any record. Skip it.
                at = chunk.len();
                consumed += 1;
                self.corrupt += 1;
                tracing::warn!(
                    segment = seg.seq,
                    "skipping an overlong line in the event spool"
                );
            }
            pos.offset += at as u64;
            if batch.lines.len() >= max_records || bytes >= max_bytes {
                full = true;
            }
        }
        if consumed == 0 {
            return Ok(None);
        }
        self.in_flight = Some(pos);
        Ok(Some(SpoolBatch {
            batch,
            start: self.cursor,
            end: pos,
            consumed,
        }))
    }

    fn read_chunk(&self, seq: u64, offset: u64, len: u64) -> Result<Bytes, SpoolError> {
        let path = segment::path(&self.config.dir, seq);
        let io = |source| SpoolError::Io {
            op: "read",
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut buf, offset).map_err(io)?;
        Ok(Bytes::from(buf))
    }
}
