//! The shipper end to end with test sinks: at-least-once under failures and lost
//! acknowledgements, resume after a restart, back-pressure, rejected records, and keeping up
//! with a busy bus.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_events::{Event, EventBus, Origin, SecurityEvent, SecurityKind};
use rampart_ship::spool::{SpoolConfig, WhenFull};
use rampart_ship::{Batch, BoxFuture, Delivered, EventSink, Shipper, ShipperOptions, SinkError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn origin() -> Origin {
    Origin {
        component: "sidecar".into(),
        name: "orders".into(),
        identity: Some("spiffe://td/ns/default/sa/orders".into()),
    }
}

fn event(n: usize) -> Event {
    Event::Security(SecurityEvent::new(
        SecurityKind::RateLimited,
        "orders",
        None,
        format!("n={n}"),
    ))
}

fn fast() -> ShipperOptions {
    ShipperOptions {
        batch_max_records: 100,
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(20),
        ..ShipperOptions::default()
    }
}

/// How a [`TestSink`] answers call number `i` (0-based).
type Script = Box<dyn Fn(u64) -> Answer + Send + Sync>;

enum Answer {
    Ok,
    /// Fails without taking the batch.
    Fail(SinkError),
    /// Takes the batch, then reports a failure (a lost acknowledgement).
    LoseAck,
    /// Takes the batch and reports every record rejected.
    Reject,
}

struct TestSink {
    script: Script,
    calls: AtomicU64,
    /// (event.id, event.reason) of every record taken, in order, with repeats.
    got: Mutex<Vec<(String, String)>>,
    call_times: Mutex<Vec<Instant>>,
}

impl TestSink {
    fn new(script: impl Fn(u64) -> Answer + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            calls: AtomicU64::new(0),
            got: Mutex::new(Vec::new()),
            call_times: Mutex::new(Vec::new()),
        })
    }

    fn take(&self, batch: &Batch) {
        let mut got = self.got.lock().unwrap();
        for (line, id) in batch.lines.iter().zip(&batch.ids) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(v["event.id"].as_str(), Some(id.as_str()));
            let reason = v["event.reason"].as_str().unwrap_or_default().to_string();
            got.push((id.clone(), reason));
        }
    }

    fn got(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }
}

impl EventSink for TestSink {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivered, SinkError>> {
        Box::pin(async move {
            let i = self.calls.fetch_add(1, Ordering::SeqCst);
            self.call_times.lock().unwrap().push(Instant::now());
            let n = batch.lines.len() as u64;
            match (self.script)(i) {
                Answer::Ok => {
                    self.take(batch);
                    Ok(Delivered {
                        stored: n,
                        ..Delivered::default()
                    })
                }
                Answer::Fail(e) => Err(e),
                Answer::LoseAck => {
                    self.take(batch);
                    Err(SinkError::Unreachable("connection reset".into()))
                }
                Answer::Reject => Ok(Delivered {
                    rejected: n,
                    ..Delivered::default()
                }),
            }
        })
    }

    fn name(&self) -> &'static str {
        "test"
    }
}

/// Each reason `n=i` for `i` in `0..count` arrived, each under exactly one id, and no other id.
fn assert_all_once_by_id(got: &[(String, String)], count: usize) {
    let mut by_reason: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (id, reason) in got {
        by_reason.entry(reason).or_default().insert(id);
    }
    let want: HashSet<String> = (0..count).map(|i| format!("n={i}")).collect();
    let have: HashSet<String> = by_reason.keys().map(|k| k.to_string()).collect();
    assert_eq!(have, want);
    for (reason, ids) in &by_reason {
        assert_eq!(ids.len(), 1, "{reason} arrived under several ids: {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_at_least_once_through_failures_and_lost_acks() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(16 * 1024);
    // Fails the first 5 calls, then loses every third acknowledgement.
    let sink = TestSink::new(|i| match i {
        0..5 => Answer::Fail(SinkError::Unreachable("down".into())),
        i if i % 3 == 0 => Answer::LoseAck,
        _ => Answer::Ok,
    });
    let shipper = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        sink.clone(),
        fast(),
    )
    .unwrap();
    for i in 0..3000 {
        bus.publish(event(i));
    }
    assert!(
        shipper.flush(Duration::from_secs(30)).await,
        "{:?}",
        shipper.stats()
    );
    let got = sink.got();
    assert!(got.len() > 3000, "lost acks must cause re-deliveries");
    assert_all_once_by_id(&got, 3000);
    let stats = shipper.stats();
    assert_eq!(stats.spooled, 3000);
    assert_eq!(stats.pending_records, 0);
    assert_eq!(stats.pending_bytes, 0);
    assert!(stats.shipped >= 3000);
    assert!(stats.last_delivery.is_some());
    assert!(stats.last_error.is_some_and(|e| e.contains("unreachable")));
    assert_eq!(bus.dropped(), 0);
    shipper.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_shipper_on_the_same_spool_delivers_what_was_pending() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(1024);
    let down = TestSink::new(|_| Answer::Fail(SinkError::Refused("401 Unauthorized".into())));
    let first = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        down.clone(),
        fast(),
    )
    .unwrap();
    for i in 0..200 {
        bus.publish(event(i));
    }
    assert!(!first.flush(Duration::from_millis(300)).await);
    assert_eq!(first.stats().spooled, 200);
    assert_eq!(first.stats().pending_records, 200);
    first.shutdown().await;
    assert!(down.got().is_empty());

    let up = TestSink::new(|_| Answer::Ok);
    let second = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        up.clone(),
        fast(),
    )
    .unwrap();
    // Nothing new was published: all it delivers comes from the spool on disk.
    assert_eq!(second.stats().spooled, 0);
    assert!(second.flush(Duration::from_secs(10)).await);
    let got = up.got();
    assert_eq!(got.len(), 200, "delivered once: every ack arrived");
    assert_all_once_by_id(&got, 200);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_receivers_are_retried_with_the_same_batch_after_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(1024);
    let sink = TestSink::new(|i| match i {
        0 => Answer::Fail(SinkError::Busy {
            retry_after: Some(Duration::from_millis(400)),
        }),
        _ => Answer::Ok,
    });
    let shipper = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        sink.clone(),
        fast(),
    )
    .unwrap();
    for i in 0..10 {
        bus.publish(event(i));
    }
    assert!(shipper.flush(Duration::from_secs(10)).await);
    let times = sink.call_times.lock().unwrap().clone();
    assert!(times.len() >= 2);
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_millis(400), "retried after {gap:?}");
    assert_all_once_by_id(&sink.got(), 10);
    assert!(
        shipper
            .stats()
            .last_error
            .is_some_and(|e| e.contains("busy"))
    );
    shipper.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_records_are_counted_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(1024);
    let sink = TestSink::new(|_| Answer::Reject);
    let shipper = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        sink.clone(),
        fast(),
    )
    .unwrap();
    for i in 0..5 {
        bus.publish(event(i));
    }
    assert!(shipper.flush(Duration::from_secs(10)).await);
    let stats = shipper.stats();
    assert_eq!(stats.rejected, 5);
    assert_eq!(stats.shipped, 0);
    assert_eq!(stats.pending_records, 0);
    let calls = sink.calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.calls.load(Ordering::SeqCst), calls, "no retry");
    shipper.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_spool_raises_the_gate_until_the_sink_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(16 * 1024);
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate_open = open.clone();
    let sink = TestSink::new(move |_| {
        if gate_open.load(Ordering::SeqCst) {
            Answer::Ok
        } else {
            Answer::Fail(SinkError::Unreachable("down".into()))
        }
    });
    let cfg = SpoolConfig {
        dir: dir.path().to_path_buf(),
        max_bytes: 16 * 1024,
        segment_bytes: 4 * 1024,
        when_full: WhenFull::Block,
    };
    let shipper = Shipper::spawn(&bus, origin(), cfg, sink.clone(), fast()).unwrap();
    let gate = shipper.gate();
    for i in 0..300 {
        bus.publish(event(i));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gate.is_blocked() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gate.is_blocked());
    assert!(shipper.stats().blocked);
    gate.note_shed();
    open.store(true, Ordering::SeqCst);
    assert!(
        shipper.flush(Duration::from_secs(20)).await,
        "{:?}",
        shipper.stats()
    );
    assert!(!gate.is_blocked());
    let got = sink.got();
    let (alarms, events): (Vec<_>, Vec<_>) = got
        .into_iter()
        .partition(|(_, r)| r.contains("requests shed"));
    // One alarm per time the spool was full (it may fill again while draining); the first one
    // tells about the request shed meanwhile.
    assert!(!alarms.is_empty(), "an events_blocked alarm");
    assert!(alarms[0].1.contains("1 requests shed"), "{}", alarms[0].1);
    let later_shed = alarms[1..]
        .iter()
        .filter(|(_, r)| !r.contains(" 0 requests shed"));
    assert_eq!(later_shed.count(), 0);
    assert_all_once_by_id(&events, 300);
    assert_eq!(shipper.stats().dropped, 0);
    shipper.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_up_with_fifty_thousand_events_a_second() {
    let dir = tempfile::tempdir().unwrap();
    // Room for 32k of the 50k: the writer must take the rest while they are published, with
    // slack for a debug build on a busy CI machine.
    let bus = EventBus::new(32 * 1024);
    let sink = TestSink::new(|_| Answer::Ok);
    let shipper = Shipper::spawn(
        &bus,
        origin(),
        SpoolConfig::new(dir.path()),
        sink.clone(),
        ShipperOptions::default(),
    )
    .unwrap();
    // 50 000 events over one second, in bursts of 500 every 10 ms.
    let total = 50_000;
    let start = Instant::now();
    for burst in 0..100 {
        for i in 0..500 {
            bus.publish(event(burst * 500 + i));
        }
        let next = start + Duration::from_millis(10 * (burst as u64 + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    let published = start.elapsed();
    assert!(shipper.flush(Duration::from_secs(60)).await);
    let done = start.elapsed();
    eprintln!("published {total} events in {published:?}; all acknowledged after {done:?}");
    assert_eq!(bus.dropped(), 0, "the spool writer fell behind the bus");
    assert_all_once_by_id(&sink.got(), total);
    shipper.shutdown().await;
}

#[test]
fn spawning_outside_a_runtime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new(16);
    let sink = TestSink::new(|_| Answer::Ok);
    let err =
        Shipper::spawn(&bus, origin(), SpoolConfig::new(dir.path()), sink, fast()).unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}
