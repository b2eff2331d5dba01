//! Opening a spool: create the directory (0700), find the segments, resume from the cursor, and
//! cut a line torn by a crash off the last segment.

use super::segment::{self, Segment};
use super::{Position, Spool, SpoolConfig, SpoolError, SpoolGate, cursor};
use rampart_events::Origin;
use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::time::Instant;

// === impl Spool (opening) ===

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, resuming after the acknowledged cursor.
    /// Alarms it writes (`events_dropped`, `events_blocked`) carry `origin`.
    pub fn open(config: SpoolConfig, origin: Origin) -> Result<Spool, SpoolError> {
        config.check()?;
        let dir = config.dir.clone();
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source: io::Error| SpoolError::Io { op, path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restrict", &dir))?;
        let _ = std::fs::remove_file(dir.join(cursor::TMP));

        let mut seqs = list(&dir).map_err(io("list", &dir))?;
        seqs.sort_unstable();
        let saved = cursor::read(&dir).map_err(io("read", &dir.join(cursor::FILE)))?;
        // Segments wholly before the cursor were acknowledged (a crash came before deleting).
        if let Some(c) = saved {
            for seq in seqs.iter().filter(|&&s| s < c.segment) {
                let path = segment::path(&dir, *seq);
                std::fs::remove_file(&path).map_err(io("delete", &path))?;
            }
            seqs.retain(|&s| s >= c.segment);
        }

        let mut corrupt = 0;
        let mut segments = VecDeque::with_capacity(seqs.len() + 1);
        let last = seqs.last().copied();
        for seq in seqs {
            let path = segment::path(&dir, seq);
            let len = if Some(seq) == last {
                let (len, cut) = segment::repair_tail(&path).map_err(io("repair", &path))?;
                if cut {
                    corrupt += 1;
                    tracing::warn!(path = %path.display(), "cut a torn line off the event spool");
                }
                len
            } else {
                std::fs::metadata(&path).map_err(io("stat", &path))?.len()
            };
            let records = segment::count_lines(&path, 0, len).map_err(io("read", &path))?;
            segments.push_back(Segment { seq, len, records });
        }
        let head_seq = match segments.back() {
            Some(s) => s.seq,
            None => {
                let seq = saved.map_or(1, |c| c.segment.max(1));
                let path = segment::path(&dir, seq);
                segment::create(&path).map_err(io("create", &path))?;
                segment::sync_dir(&dir).map_err(io("sync", &dir))?;
                segments.push_back(Segment {
                    seq,
                    len: 0,
                    records: 0,
                });
                seq
            }
        };
        let head_path = segment::path(&dir, head_seq);
        let head = segment::open_append(&head_path).map_err(io("open", &head_path))?;

        let first = segments.front().copied().unwrap_or(Segment {
            seq: head_seq,
            len: 0,
            records: 0,
        });
        let cursor = match saved {
            Some(c) if c.segment == first.seq => Position {
                segment: c.segment,
                offset: c.offset.min(first.len),
            },
            _ => Position {
                segment: first.seq,
                offset: 0,
            },
        };
        let mut pending_records: u64 = segments.iter().map(|s| s.records).sum();
        if cursor.offset > 0 {
            let path = segment::path(&dir, first.seq);
            let acked = segment::count_lines(&path, 0, cursor.offset).map_err(io("read", &path))?;
            pending_records = pending_records.saturating_sub(acked);
        }
        let disk_bytes = segments.iter().map(|s| s.len).sum();
        let spool = Spool {
            config,
            origin,
            gate: SpoolGate::default(),
            segments,
            head,
            cursor,
            disk_bytes,
            pending_records,
            spooled: 0,
            dropped: 0,
            io_errors: 0,
            corrupt,
            dirty: false,
            last_sync: Instant::now(),
            blocked_since: None,
            alarms: VecDeque::new(),
            in_flight: None,
        };
        spool.publish_size();
        Ok(spool)
    }
}

fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(segment::parse_name) {
            out.push(seq);
        }
    }
    Ok(out)
}
