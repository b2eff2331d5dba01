//! The proxy-side event spool: a bounded directory of append-only segment files of record JSON
//! lines, and a cursor file of what the sink acknowledged. Every event is written here first, so
//! a restart loses nothing; when the spool is full it either drops its oldest segment (and says
//! so with an `events_dropped` alarm) or blocks and raises a [`SpoolGate`] for the request path.
//!
//! Synchronous and single-owner (the shipper keeps it behind a mutex and calls it from blocking
//! tasks). See `docs/logs.md`, "Transport".

mod cursor;
mod full;
mod gate;
mod open;
mod read;
mod segment;

pub use gate::SpoolGate;
pub use read::SpoolBatch;

use rampart_events::{EventRecord, Origin};
use segment::Segment;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where and how big the spool is, and what happens when it is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Most bytes of segment files on disk (default 256 MiB).
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started (default 1 MiB).
    pub segment_bytes: u64,
    pub when_full: WhenFull,
}

/// What a full spool does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Stop admitting events and raise the gate (the proxy sheds requests) until space returns.
    Block,
    /// Delete the oldest unsent segment, count its records as dropped and spool an alarm.
    DropOldest,
}

/// A place in the spool: a segment's number and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Counters and sizes of a spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records written since open.
    pub spooled: u64,
    /// Records dropped since open (full in `drop_oldest` mode, or a record too big to ever fit).
    pub dropped: u64,
    /// Records written but not yet acknowledged (approximate after drops).
    pub pending_records: u64,
    /// Bytes written but not yet acknowledged.
    pub pending_bytes: u64,
    /// Bytes of segment files on disk.
    pub disk_bytes: u64,
    /// Failed reads and writes since open.
    pub io_errors: u64,
    /// Torn or corrupt lines skipped since open.
    pub corrupt: u64,
    pub blocked: bool,
}

/// What [`Spool::append`] did with a slice of lines.
#[derive(Debug, Default)]
pub struct Appended {
    /// Lines taken from the front of the slice (written, or dropped as too big to ever fit).
    pub admitted: usize,
    /// The spool is full in `block` mode: the rest must wait until [`SpoolGate`] drops.
    pub blocked: bool,
    /// Writing failed; the lines from `admitted` on were not written.
    pub error: Option<SpoolError>,
}

/// Why the spool could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("invalid event spool configuration: {0}")]
    Config(String),
    #[error("event spool cannot {op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The spool. See the module documentation.
#[derive(Debug)]
pub struct Spool {
    config: SpoolConfig,
    origin: Origin,
    gate: SpoolGate,
    /// Oldest first; the last one is the head being written. Never empty.
    segments: VecDeque<Segment>,
    head: File,
    /// Acknowledged up to here.
    cursor: Position,
    disk_bytes: u64,
    pending_records: u64,
    spooled: u64,
    dropped: u64,
    io_errors: u64,
    corrupt: u64,
    dirty: bool,
    last_sync: Instant,
    blocked_since: Option<(Instant, u64)>,
    /// `events_dropped` alarms not yet acknowledged: where each starts and the count it reports.
    /// When one is itself dropped, its count is carried into the next alarm.
    alarms: VecDeque<(Position, u64)>,
    /// Where the batch handed to the sender and not yet acknowledged ends. Its records are in
    /// the sender's memory: `drop_oldest` deletes their segment without counting them as
    /// dropped, and the sender keeps delivering them.
    in_flight: Option<Position>,
}

/// Room left for the alarm record after dropping segments.
const ALARM_ROOM: u64 = 2048;

// === impl SpoolConfig ===

impl SpoolConfig {
    /// 256 MiB in 1 MiB segments, dropping the oldest when full.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 1024 * 1024,
            when_full: WhenFull::DropOldest,
        }
    }

    fn check(&self) -> Result<(), SpoolError> {
        if self.segment_bytes < 1024 {
            return Err(SpoolError::Config(format!(
                "segment_bytes is {}; at least 1024",
                self.segment_bytes
            )));
        }
        if self.max_bytes < 2 * self.segment_bytes + ALARM_ROOM {
            return Err(SpoolError::Config(format!(
                "max_bytes ({}) must hold at least two segments ({} each) and an alarm",
                self.max_bytes, self.segment_bytes
            )));
        }
        Ok(())
    }
}

// === impl SpoolError ===

impl SpoolError {
    /// Whether the disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, SpoolError::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }
}

// === impl Spool ===

impl Spool {
    /// The gate the request path checks (only ever raised in `block` mode).
    pub fn gate(&self) -> SpoolGate {
        self.gate.clone()
    }

    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            spooled: self.spooled,
            dropped: self.dropped,
            pending_records: self.pending_records,
            pending_bytes: self.disk_bytes.saturating_sub(self.cursor.offset),
            disk_bytes: self.disk_bytes,
            io_errors: self.io_errors,
            corrupt: self.corrupt,
            blocked: self.gate.is_blocked(),
        }
    }

    /// Acknowledged up to here.
    pub fn cursor(&self) -> Position {
        self.cursor
    }

    /// The end of what has been written.
    pub fn head_position(&self) -> Position {
        self.segments
            .back()
            .map(|s| Position {
                segment: s.seq,
                offset: s.len,
            })
            .unwrap_or_default()
    }

    /// Whether everything written up to `pos` is acknowledged.
    pub fn acknowledged(&self, pos: Position) -> bool {
        self.cursor >= pos
    }

    /// Appends record lines (JSON without newline), in order. Lines are handed to the OS at
    /// once; call [`Spool::sync`] for durability.
    pub fn append(&mut self, lines: &[String]) -> Appended {
        let mut out = Appended::default();
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        let mut buffered = 0u64;
        for line in lines {
            let need = line.len() as u64 + 1;
            if need > self.config.max_bytes / 2 {
                self.count_dropped(1);
                tracing::warn!(
                    bytes = need,
                    "event record too large for the spool; dropped"
                );
                out.admitted += 1;
                continue;
            }
            if self.disk_bytes + buf.len() as u64 + need > self.config.max_bytes {
                if let Err(e) = self.write(&mut buf, &mut buffered) {
                    out.admitted -= usize::try_from(buffered).unwrap_or(0);
                    out.error = Some(e);
                    return out;
                }
                match self.make_room(need) {
                    Ok(true) => {}
                    Ok(false) => {
                        out.blocked = true;
                        return out;
                    }
                    Err(e) => {
                        out.error = Some(e);
                        return out;
                    }
                }
            }
            let head_len = self.head_len() + buf.len() as u64;
            if head_len > 0 && head_len + need > self.config.segment_bytes {
                let rolled = self
                    .write(&mut buf, &mut buffered)
                    .and_then(|()| self.roll());
                if let Err(e) = rolled {
                    out.admitted -= usize::try_from(buffered).unwrap_or(0);
                    out.error = Some(e);
                    return out;
                }
            }
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            buffered += 1;
            out.admitted += 1;
        }
        if let Err(e) = self.write(&mut buf, &mut buffered) {
            out.admitted -= usize::try_from(buffered).unwrap_or(0);
            out.error = Some(e);
        }
        out
    }

    /// Makes what was appended durable (fsync of the head segment) if anything is new.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.last_sync = Instant::now();
        if !self.dirty {
            return Ok(());
        }
        let seq = self.head_seq();
        self.head
            .sync_data()
            .map_err(|e| self.io_err("sync", seq, e))?;
        self.dirty = false;
        Ok(())
    }

    /// [`Spool::sync`] if the last one is older than `every`.
    pub fn sync_if_due(&mut self, every: Duration) -> Result<(), SpoolError> {
        if self.dirty && self.last_sync.elapsed() >= every {
            self.sync()
        } else {
            Ok(())
        }
    }

    /// Records that the sink acknowledged everything up to `end` (from a [`SpoolBatch`]):
    /// persists the cursor, deletes fully sent segments, and lowers the gate when space returned.
    pub fn ack(&mut self, end: Position, consumed: u64) -> Result<(), SpoolError> {
        let first = self.segments.front().map_or(0, |s| s.seq);
        // The batch's start was dropped meanwhile (drop_oldest): the cursor already moved on.
        let stale = end.segment < first;
        let mut pos = end.max(self.cursor);
        if stale {
            pos = self.cursor;
        }
        // In-flight records are never counted by a drop, so they leave the count here.
        self.pending_records = self.pending_records.saturating_sub(consumed);
        self.in_flight = None;
        let head = self.head_seq();
        while let Some(seg) = self.segments.iter().find(|s| s.seq == pos.segment) {
            if seg.seq == head || pos.offset < seg.len {
                break;
            }
            let next = self
                .segments
                .iter()
                .find(|s| s.seq > seg.seq)
                .map(|s| s.seq);
            pos = Position {
                segment: next.unwrap_or(head),
                offset: 0,
            };
        }
        self.cursor = pos;
        cursor::write(&self.config.dir, pos).map_err(|e| {
            self.io_errors += 1;
            SpoolError::Io {
                op: "write the cursor",
                path: self.config.dir.join(cursor::FILE),
                source: e,
            }
        })?;
        while let Some(seg) = self.segments.front().copied() {
            if seg.seq >= pos.segment {
                break;
            }
            self.remove_front(seg)?;
        }
        while self.alarms.front().is_some_and(|(at, _)| *at < pos) {
            self.alarms.pop_front();
        }
        self.publish_size();
        self.maybe_unblock();
        Ok(())
    }

    // --- writing ---

    fn write(&mut self, buf: &mut Vec<u8>, buffered: &mut u64) -> Result<(), SpoolError> {
        if buf.is_empty() {
            return Ok(());
        }
        let seq = self.head_seq();
        let before = self.head_len();
        if let Err(e) = self.head.write_all(buf) {
            // Leave no torn line behind: cut back to the last complete one.
            let _ = self.head.set_len(before);
            buf.clear();
            return Err(self.io_err("write", seq, e));
        }
        let n = *buffered;
        if let Some(h) = self.segments.back_mut() {
            h.len += buf.len() as u64;
            h.records += n;
        }
        self.disk_bytes += buf.len() as u64;
        self.pending_records += n;
        self.spooled += n;
        self.dirty = true;
        metrics::counter!("rampart_events_spooled_total").increment(n);
        self.publish_size();
        buf.clear();
        *buffered = 0;
        Ok(())
    }

    /// Writes one record line on its own (alarms); returns where it starts.
    fn write_record(&mut self, rec: &EventRecord) -> Result<Position, SpoolError> {
        let need = rec.json.len() as u64 + 1;
        if self.head_len() > 0 && self.head_len() + need > self.config.segment_bytes {
            self.roll()?;
        }
        let at = self.head_position();
        let mut buf = Vec::with_capacity(rec.json.len() + 1);
        buf.extend_from_slice(rec.json.as_bytes());
        buf.push(b'\n');
        self.write(&mut buf, &mut 1)?;
        Ok(at)
    }

    fn roll(&mut self) -> Result<(), SpoolError> {
        let old = self.head_seq();
        self.head
            .sync_data()
            .map_err(|e| self.io_err("sync", old, e))?;
        let seq = old + 1;
        let path = segment::path(&self.config.dir, seq);
        let file = segment::create(&path).map_err(|e| self.io_err("create", seq, e))?;
        segment::sync_dir(&self.config.dir).map_err(|e| self.io_err("sync", seq, e))?;
        self.head = file;
        self.segments.push_back(Segment {
            seq,
            len: 0,
            records: 0,
        });
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn publish_size(&self) {
        metrics::gauge!("rampart_events_spool_bytes").set(self.disk_bytes as f64);
    }

    fn head_seq(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.seq)
    }

    fn head_len(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.len)
    }

    fn io_err(&mut self, op: &'static str, seq: u64, source: io::Error) -> SpoolError {
        self.io_errors += 1;
        SpoolError::Io {
            op,
            path: segment::path(&self.config.dir, seq),
            source,
        }
    }
}
