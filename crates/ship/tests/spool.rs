//! The spool on its own: durability across reopen, torn writes, both full modes, permissions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_events::{Event, EventRecord, Origin, SecurityEvent, SecurityKind};
use rampart_ship::spool::{Spool, SpoolConfig, WhenFull};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn origin() -> Origin {
    Origin {
        component: "sidecar".into(),
        name: "orders".into(),
        identity: None,
    }
}

fn record(n: usize) -> EventRecord {
    let ev = Event::Security(SecurityEvent::new(
        SecurityKind::RateLimited,
        "orders",
        None,
        format!("n={n}"),
    ));
    EventRecord::from_event(&ev, &origin())
}

fn records(range: std::ops::Range<usize>) -> Vec<EventRecord> {
    range.map(record).collect()
}

fn lines(recs: &[EventRecord]) -> Vec<String> {
    recs.iter().map(|r| r.json.clone()).collect()
}

fn small(dir: &Path, when_full: WhenFull) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 8 * 1024,
        segment_bytes: 2 * 1024,
        when_full,
    }
}

/// Reads and acknowledges everything pending; returns the records in order.
fn drain(spool: &mut Spool) -> Vec<EventRecord> {
    let mut out = Vec::new();
    while let Some(b) = spool.read_batch(7, 64 * 1024).unwrap() {
        for (line, id) in b.batch.lines.iter().zip(&b.batch.ids) {
            let rec = EventRecord::parse(line).expect("only whole records come out");
            assert_eq!(&rec.id, id);
            out.push(rec);
        }
        spool.ack(b.end, b.consumed).unwrap();
    }
    out
}

fn ids(recs: &[EventRecord]) -> Vec<String> {
    recs.iter().map(|r| r.id.clone()).collect()
}

#[test]
fn acknowledged_records_stay_acknowledged_and_the_rest_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig::new(dir.path().join("spool"));
    let sent = records(0..10);
    {
        let mut spool = Spool::open(cfg.clone(), origin()).unwrap();
        let out = spool.append(&lines(&sent));
        assert_eq!(out.admitted, 10);
        assert!(out.error.is_none() && !out.blocked);
        spool.sync().unwrap();
        let b = spool.read_batch(4, 1 << 20).unwrap().unwrap();
        assert_eq!(b.batch.ids, ids(&sent[..4]));
        spool.ack(b.end, b.consumed).unwrap();
        // Read but not acknowledged: must come back after the restart.
        let b = spool.read_batch(3, 1 << 20).unwrap().unwrap();
        assert_eq!(b.batch.ids, ids(&sent[4..7]));
        assert_eq!(spool.stats().pending_records, 6);
    }
    let mut spool = Spool::open(cfg, origin()).unwrap();
    assert_eq!(spool.stats().pending_records, 6);
    assert_eq!(ids(&drain(&mut spool)), ids(&sent[4..]));
    assert_eq!(spool.stats().pending_records, 0);
    assert_eq!(spool.stats().pending_bytes, 0);
    assert!(spool.read_batch(10, 1 << 20).unwrap().is_none());
}

#[test]
fn records_span_segments_and_sent_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig {
        max_bytes: 1 << 20,
        ..small(dir.path(), WhenFull::Block)
    };
    let mut spool = Spool::open(cfg, origin()).unwrap();
    let sent = records(0..100);
    assert_eq!(spool.append(&lines(&sent)).admitted, 100);
    let segs = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".seg")
            })
            .count()
    };
    assert!(segs() > 5, "expected many 2 KiB segments, got {}", segs());
    assert_eq!(ids(&drain(&mut spool)), ids(&sent));
    assert_eq!(segs(), 1, "only the head segment is left");
}

#[test]
fn a_torn_last_line_is_cut_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig::new(dir.path());
    let sent = records(0..3);
    {
        let mut spool = Spool::open(cfg.clone(), origin()).unwrap();
        spool.append(&lines(&sent));
        spool.sync().unwrap();
    }
    // A crash in the middle of a write: half a record, no newline.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let half = &record(99).json[..40];
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(half.as_bytes());
    std::fs::write(&seg, &bytes).unwrap();

    let mut spool = Spool::open(cfg, origin()).unwrap();
    assert_eq!(spool.stats().corrupt, 1);
    let more = records(3..5);
    spool.append(&lines(&more));
    let got = drain(&mut spool);
    let want: Vec<_> = sent.iter().chain(&more).cloned().collect();
    assert_eq!(ids(&got), ids(&want));
}

#[test]
fn a_corrupt_line_in_the_middle_is_skipped_not_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig::new(dir.path());
    {
        let mut spool = Spool::open(cfg.clone(), origin()).unwrap();
        spool.append(&[record(0).json, "{not a record".into(), record(2).json]);
    }
    let mut spool = Spool::open(cfg, origin()).unwrap();
    let got = drain(&mut spool);
    assert_eq!(got.len(), 2);
    assert_eq!(spool.stats().corrupt, 1);
    assert_eq!(spool.stats().pending_records, 0);
}

#[test]
fn drop_oldest_counts_what_it_drops_and_spools_an_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(small(dir.path(), WhenFull::DropOldest), origin()).unwrap();
    let sent = records(0..200);
    let out = spool.append(&lines(&sent));
    assert_eq!(out.admitted, 200);
    assert!(!out.blocked && out.error.is_none());
    assert!(!spool.gate().is_blocked());
    let stats = spool.stats();
    assert!(stats.dropped > 100, "dropped {}", stats.dropped);
    assert!(stats.disk_bytes <= 8 * 1024, "disk {}", stats.disk_bytes);

    let got = drain(&mut spool);
    let (alarms, kept): (Vec<_>, Vec<_>) = got.iter().partition(|r| r.action == "events_dropped");
    assert!(!alarms.is_empty());
    let mut reported = 0;
    for a in &alarms {
        let v: serde_json::Value = serde_json::from_str(&a.json).unwrap();
        let detail = v["event.reason"].as_str().unwrap();
        let n: u64 = detail
            .strip_prefix("dropped ")
            .and_then(|d| d.strip_suffix(" events: event spool full"))
            .unwrap_or_else(|| panic!("unexpected detail {detail}"))
            .parse()
            .unwrap();
        reported += n;
        assert_eq!(a.kind, rampart_events::RecordKind::Security);
    }
    assert_eq!(reported, stats.dropped);
    // Nothing vanished silently: every record is either kept or counted, and the kept ones are
    // the newest, in order.
    assert_eq!(kept.len() as u64 + stats.dropped, 200);
    let kept_ids: Vec<_> = kept.iter().map(|r| r.id.clone()).collect();
    assert_eq!(kept_ids, ids(&sent[200 - kept.len()..]));
}

#[test]
fn block_raises_the_gate_and_lowers_it_when_acks_free_space_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(small(dir.path(), WhenFull::Block), origin()).unwrap();
    let gate = spool.gate();
    let sent = records(0..100);
    let all = lines(&sent);
    let out = spool.append(&all);
    assert!(out.blocked);
    assert!(out.admitted > 0 && out.admitted < 100);
    assert!(gate.is_blocked() && spool.stats().blocked);
    assert_eq!(spool.stats().dropped, 0);
    for _ in 0..3 {
        gate.note_shed();
    }
    // Still full: nothing more gets in.
    assert_eq!(spool.append(&all[out.admitted..]).admitted, 0);

    let mut got = Vec::new();
    let mut next = out.admitted;
    for _ in 0..1000 {
        if next == all.len() {
            break;
        }
        if let Some(b) = spool.read_batch(5, 1 << 20).unwrap() {
            for line in &b.batch.lines {
                got.push(EventRecord::parse(line).unwrap());
            }
            spool.ack(b.end, b.consumed).unwrap();
        }
        let out = spool.append(&all[next..]);
        assert!(out.error.is_none());
        next += out.admitted;
    }
    assert_eq!(next, all.len());
    got.extend(drain(&mut spool));
    assert!(!gate.is_blocked());
    let blocked: Vec<_> = got
        .iter()
        .filter(|r| r.action == "events_blocked")
        .collect();
    assert!(!blocked.is_empty());
    let v: serde_json::Value = serde_json::from_str(&blocked[0].json).unwrap();
    let detail = v["event.reason"].as_str().unwrap();
    assert!(detail.contains("3 requests shed"), "{detail}");
    let kept: Vec<_> = got
        .iter()
        .filter(|r| r.action != "events_blocked")
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(kept, ids(&sent), "every record, once, in order");
    assert_eq!(gate.shed(), 3);
}

#[test]
fn directory_and_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    let mut spool = Spool::open(SpoolConfig::new(&path), origin()).unwrap();
    spool.append(&[record(0).json]);
    let b = spool.read_batch(1, 1024).unwrap().unwrap();
    spool.ack(b.end, b.consumed).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o700);
    for entry in std::fs::read_dir(&path).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn bad_config_and_unusable_dir_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig {
        max_bytes: 4096,
        ..small(dir.path(), WhenFull::Block)
    };
    let err = Spool::open(cfg, origin()).unwrap_err();
    assert!(err.to_string().contains("max_bytes"), "{err}");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Spool::open(SpoolConfig::new(&file), origin()).unwrap_err();
    assert!(err.to_string().contains("event spool cannot"), "{err}");
}

#[test]
fn an_unreadable_cursor_resends_rather_than_skips() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SpoolConfig::new(dir.path());
    let sent = records(0..4);
    {
        let mut spool = Spool::open(cfg.clone(), origin()).unwrap();
        spool.append(&lines(&sent));
        let b = spool.read_batch(2, 1 << 20).unwrap().unwrap();
        spool.ack(b.end, b.consumed).unwrap();
    }
    std::fs::write(dir.path().join("cursor"), b"garbage").unwrap();
    let mut spool = Spool::open(cfg, origin()).unwrap();
    assert_eq!(ids(&drain(&mut spool)), ids(&sent));
}

#[test]
fn an_ack_for_a_batch_dropped_meanwhile_moves_nothing_backwards() {
    // The in-flight batch's segment is deleted, but its records are in the sender's hands:
    // they are delivered from memory, and only the records beyond it count as dropped.
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(small(dir.path(), WhenFull::DropOldest), origin()).unwrap();
    spool.append(&lines(&records(0..3)));
    let in_flight = spool.read_batch(3, 1 << 20).unwrap().unwrap();
    // Enough to drop the in-flight batch's segment while the sink still has it.
    spool.append(&lines(&records(3..200)));
    assert!(spool.stats().dropped > 0);
    let cursor = spool.cursor();
    spool.ack(in_flight.end, in_flight.consumed).unwrap();
    assert!(spool.cursor() >= cursor);
    let got = drain(&mut spool);
    let dropped = spool.stats().dropped;
    let kept = got.iter().filter(|r| r.action != "events_dropped").count() as u64;
    let delivered = in_flight.batch.lines.len() as u64;
    assert_eq!(delivered, 3);
    assert_eq!(kept + dropped + delivered, 200);
    assert_eq!(spool.stats().pending_records, 0);
}
