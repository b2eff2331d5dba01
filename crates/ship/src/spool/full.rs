//! What a full spool does: drop its oldest segment and spool an `events_dropped` alarm
//! (`drop_oldest`), or raise the gate until acknowledgements free space and then spool one
//! `events_blocked` alarm (`block`).

use super::segment::{self, Segment};
use super::{ALARM_ROOM, Position, Spool, SpoolError, WhenFull};
use rampart_events::{Event, EventRecord, SecurityEvent, SecurityKind};
use std::io;
use std::time::Instant;

// === impl Spool (when full) ===

impl Spool {
    /// Frees room for `need` bytes. `Ok(false)` when blocked.
    pub(super) fn make_room(&mut self, need: u64) -> Result<bool, SpoolError> {
        match self.config.when_full {
            WhenFull::Block => {
                if self.blocked_since.is_none() {
                    self.blocked_since = Some((Instant::now(), self.gate.shed()));
                    self.gate.set(true);
                    tracing::warn!(
                        max_bytes = self.config.max_bytes,
                        "event spool full; shedding requests until the collector catches up"
                    );
                }
                Ok(false)
            }
            WhenFull::DropOldest => {
                let (mut dropped, mut carried) = (0u64, 0u64);
                while self.disk_bytes + need + ALARM_ROOM > self.config.max_bytes {
                    if self.segments.len() < 2 {
                        if self.head_len() == 0 {
                            break;
                        }
                        self.roll()?;
                    }
                    let (events, lost_alarms) = self.drop_oldest()?;
                    dropped += events;
                    carried += lost_alarms;
                }
                if dropped + carried > 0 {
                    self.count_dropped(dropped);
                    let n = dropped + carried;
                    let detail = format!("dropped {n} events: event spool full");
                    tracing::warn!(dropped = n, "event spool full; oldest events dropped");
                    let at = self.alarm(SecurityKind::EventsDropped, detail)?;
                    self.alarms.push_back((at, n));
                }
                Ok(true)
            }
        }
    }

    /// Deletes the oldest segment; returns how many unsent events it held (alarms excluded) and
    /// the counts reported by the unsent `events_dropped` alarms it held.
    fn drop_oldest(&mut self) -> Result<(u64, u64), SpoolError> {
        let Some(seg) = self.segments.front().copied() else {
            return Ok((0, 0));
        };
        // Records up to `from` are acknowledged or in the sender's hands (delivered later from
        // memory): only what lies beyond is lost with the segment.
        let from = self
            .in_flight
            .map_or(self.cursor, |end| end.max(self.cursor));
        let (mut alarm_lines, mut carried) = (0u64, 0u64);
        while let Some(&(at, n)) = self.alarms.front() {
            if at.segment > seg.seq {
                break;
            }
            self.alarms.pop_front();
            if at >= from {
                alarm_lines += 1;
                carried += n;
            }
        }
        let unsent = if from.segment > seg.seq {
            0
        } else if seg.seq == from.segment {
            let path = segment::path(&self.config.dir, seg.seq);
            segment::count_lines(&path, from.offset, seg.len)
                .map_err(|e| self.io_err("read", seg.seq, e))?
        } else {
            seg.records
        };
        self.remove_front(seg)?;
        if let Some(next) = self.segments.front()
            && self.cursor.segment <= seg.seq
        {
            self.cursor = Position {
                segment: next.seq,
                offset: 0,
            };
        }
        self.pending_records = self.pending_records.saturating_sub(unsent);
        Ok((unsent.saturating_sub(alarm_lines), carried))
    }

    pub(super) fn remove_front(&mut self, seg: Segment) -> Result<(), SpoolError> {
        let path = segment::path(&self.config.dir, seg.seq);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io_err("delete", seg.seq, e)),
        }
        self.segments.pop_front();
        self.disk_bytes = self.disk_bytes.saturating_sub(seg.len);
        Ok(())
    }

    pub(super) fn maybe_unblock(&mut self) {
        let Some((since, shed_before)) = self.blocked_since else {
            return;
        };
        // Reopen only at half full, so the gate (and the alarm) does not flap per segment.
        if self.disk_bytes + self.config.segment_bytes + ALARM_ROOM > self.config.max_bytes
            || self.disk_bytes > self.config.max_bytes / 2
        {
            return;
        }
        self.blocked_since = None;
        self.gate.set(false);
        let shed = self.gate.shed().saturating_sub(shed_before);
        let secs = since.elapsed().as_secs_f64();
        let detail =
            format!("event spool was full for {secs:.1}s; {shed} requests shed; no event was lost");
        tracing::warn!(shed, seconds = secs, "event spool has room again");
        if let Err(e) = self.alarm(SecurityKind::EventsBlocked, detail) {
            tracing::warn!(error = %e, "cannot spool the events_blocked alarm");
        }
    }

    fn alarm(&mut self, kind: SecurityKind, detail: String) -> Result<Position, SpoolError> {
        let event = Event::Security(SecurityEvent::new(kind, &self.origin.name, None, detail));
        let rec = EventRecord::from_event(&event, &self.origin);
        self.write_record(&rec)
    }

    pub(super) fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
        metrics::counter!("rampart_events_spool_dropped_total").increment(n);
    }
}
