//! The event pipeline end to end (issue 7, `docs/logs.md`): two sidecars (orders → billing)
//! under a steady load ship their access events to `rampart up`'s collector while the control
//! plane is killed (SIGKILL) and restarted on the same data directory and ports; afterwards
//! every access event each sidecar wrote to its `--access-log` is in the event log exactly once.

use crate::logs_support::*;
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// Most requests the load sends, whatever happens.
const LOAD_CAP: usize = 1500;

/// (observer, listener, request id) of an access event.
type Key = (String, String, String);

/// The access events in a sidecar's access log, keyed.
fn emitted(observer: &str, sidecar: &Sidecar) -> Vec<Key> {
    sidecar
        .logged()
        .iter()
        .filter(|v| field(v, "event.kind") == "access")
        .map(|v| {
            (
                observer.to_owned(),
                field(v, "listener").to_owned(),
                field(v, "http.request.id").to_owned(),
            )
        })
        .collect()
}

/// The stored access records of `observers`.
fn stored(records: &[Value], observers: &[&str]) -> Vec<Value> {
    records
        .iter()
        .filter(|v| observers.contains(&field(v, "observer.name")))
        .cloned()
        .collect()
}

fn stored_key(v: &Value) -> Key {
    (
        field(v, "observer.name").to_owned(),
        field(v, "listener").to_owned(),
        field(v, "http.request.id").to_owned(),
    )
}

#[tokio::test]
async fn access_events_are_stored_exactly_once_across_a_collector_crash() {
    let mut plane = Plane::start(|p| config(p, "logs")).await;
    let mut orders = Sidecar::start(&plane, "orders", &[]).await;
    let mut billing = Sidecar::start(&plane, "billing", &[]).await;
    until_status(
        orders.outbound,
        "billing",
        "/warm",
        200,
        Duration::from_secs(20),
    )
    .await;

    // A steady load through orders' outbound listener to billing, until told to stop.
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (sent, failed, stop) = (sent.clone(), failed.clone(), stop.clone());
        let port = orders.outbound;
        tokio::spawn(async move {
            for i in 0..LOAD_CAP {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let reply = send(port, "GET", "billing", &format!("/invoices/{i}")).await;
                if reply.status() != Some(200) {
                    failed.lock().unwrap().push(format!("{i}: {reply:?}"));
                }
                sent.fetch_add(1, Ordering::SeqCst);
                sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let wait_sent = |n: usize| {
        let sent = sent.clone();
        async move {
            let start = Instant::now();
            while sent.load(Ordering::SeqCst) < n {
                assert!(
                    start.elapsed() < Duration::from_secs(40),
                    "the load stalled at {} requests",
                    sent.load(Ordering::SeqCst)
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
    };

    wait_sent(100).await;
    plane.kill();
    let killed_at = sent.load(Ordering::SeqCst);
    sleep(Duration::from_millis(2500)).await;
    let during = sent.load(Ordering::SeqCst) - killed_at;
    plane.restart().await;
    let restarted_at = sent.load(Ordering::SeqCst);
    wait_sent(restarted_at + 100).await;
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let total = sent.load(Ordering::SeqCst);
    assert!(
        during >= 5,
        "only {during} requests while the collector was down"
    );
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "the sidecars keep serving without the control plane; failed: {failed:?}"
    );

    // Every request (and the warm-up) left an access event at both sidecars.
    let start = Instant::now();
    let expected: Vec<Key> = loop {
        let (o, b) = (emitted("orders", &orders), emitted("billing", &billing));
        if o.len() > total && b.len() > total {
            // Let the writers flush what they still hold.
            sleep(Duration::from_millis(500)).await;
            let (o, b) = (emitted("orders", &orders), emitted("billing", &billing));
            break o.into_iter().chain(b).collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "access logs hold {} (orders) and {} (billing) events for {total} requests",
            o.len(),
            b.len()
        );
        sleep(Duration::from_millis(100)).await;
    };
    let expected_counts = counts(expected.iter().cloned());
    assert!(
        expected_counts.values().all(|&n| n == 1),
        "an access log repeats a key"
    );
    let expected_set: BTreeSet<Key> = expected.iter().cloned().collect();

    // Wait until the spools have drained into the log (bounded), then for the counts to hold.
    let query = "kind=access limit=10000";
    let observers = ["orders", "billing"];
    let records = plane
        .query_until(query, Duration::from_secs(40), |found| {
            let keys: BTreeSet<Key> = stored(found, &observers).iter().map(stored_key).collect();
            expected_set.is_subset(&keys)
        })
        .await;
    sleep(Duration::from_millis(1500)).await;
    let again = plane.query(query).await;
    assert_eq!(
        stored(&records, &observers).len(),
        stored(&again, &observers).len(),
        "the log still grows after the spools drained"
    );

    let records = stored(&again, &observers);
    let got = counts(records.iter().map(stored_key));
    let missing: Vec<&Key> = expected_set
        .iter()
        .filter(|k| !got.contains_key(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} access events never reached the log, e.g. {:?}",
        missing.len(),
        expected_set.len(),
        &missing[..missing.len().min(5)]
    );
    let dups: Vec<(&Key, &usize)> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "stored more than once: {dups:?}");
    let extra: Vec<&Key> = got.keys().filter(|k| !expected_set.contains(k)).collect();
    assert!(extra.is_empty(), "stored but never emitted: {extra:?}");
    assert_eq!(records.len(), expected.len());
    let ids = counts(records.iter().map(|v| field(v, "event.id").to_owned()));
    assert!(
        ids.len() == records.len() && !ids.contains_key(""),
        "event.id values are not unique"
    );
    for v in &records {
        assert_eq!(field(v, "observer.type"), "sidecar", "{v}");
        assert!(
            field(v, "rampart.identity").ends_with(&format!("sa/{}", field(v, "observer.name"))),
            "{v}"
        );
    }

    // The pipeline's own metrics: what each sidecar spooled and shipped, what the collector
    // stored (the restarted control plane counts only what it ingested since its restart).
    for (sidecar, name) in [(&orders, "orders"), (&billing, "billing")] {
        let emitted = sidecar.logged().len() as f64;
        let spooled = metric(sidecar.admin, "rampart_events_spooled_total").await;
        let shipped = metric(sidecar.admin, "rampart_events_shipped_total").await;
        assert!(
            spooled >= emitted,
            "{name}: spooled {spooled} < emitted {emitted}"
        );
        assert!(
            shipped >= emitted,
            "{name}: shipped {shipped} < emitted {emitted}"
        );
    }
    let ingested = metric(plane.ports.admin, "rampart_events_ingested_total").await;
    assert!(ingested > 0.0, "the collector's ingest counter stayed at 0");

    assert!(plane.process.as_mut().unwrap().try_exit().is_none());
    orders.assert_alive();
    billing.assert_alive();
    eprintln!(
        "exactly once: {total} requests ({during} while the collector was down), {} access events",
        records.len()
    );
}
