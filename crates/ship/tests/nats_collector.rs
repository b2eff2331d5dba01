//! The NATS consumer group against a real JetStream server: two collectors share one durable
//! consumer, every record is stored exactly once, a crashed collector's messages are redelivered
//! to the other, invalid messages are terminated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support_nats/records.rs"]
mod records;
#[path = "support_nats/server.rs"]
mod server;

use rampart_ship::{CollectorOptions, EventSink, NatsCollector, NatsOptions, NatsSink};
use records::{MemoryStore, batch, records};
use server::NatsServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

async fn publish(url: &str, n: usize) -> Vec<String> {
    let sink = NatsSink::connect(&NatsOptions::new(url))
        .await
        .expect("sink");
    let sent = records(n);
    for chunk in sent.chunks(1000) {
        let delivered = sink.deliver(&batch(chunk)).await.expect("publish");
        assert_eq!(delivered.stored as usize, chunk.len());
    }
    sent.into_iter().map(|r| r.id).collect()
}

async fn wait_stored(store: &MemoryStore, n: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while store.stored_len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} records stored within {limit:?}",
            store.stored_len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn options(ack_wait: Duration) -> CollectorOptions {
    CollectorOptions {
        batch_max: 200,
        ack_wait,
        ..Default::default()
    }
}

#[tokio::test]
async fn two_collectors_share_the_stream_and_store_each_record_once() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let ids = publish(&server.url, 4000).await;
    let store = MemoryStore::default();
    let (stop, shutdown) = watch::channel(false);
    let nats = NatsOptions::new(&server.url);
    let a = NatsCollector::run(
        nats.clone(),
        options(Duration::from_secs(30)),
        Arc::new(store.with_delay(Duration::from_millis(20))),
        shutdown.clone(),
    );
    let b = NatsCollector::run(
        nats,
        options(Duration::from_secs(30)),
        Arc::new(store.with_delay(Duration::from_millis(20))),
        shutdown,
    );
    wait_stored(&store, ids.len(), Duration::from_secs(60)).await;

    let (ca, cb) = (a.counts(), b.counts());
    assert!(ca.bound && cb.bound);
    assert!(
        ca.stored > 0 && cb.stored > 0,
        "both collectors took a share: {ca:?} {cb:?}"
    );
    assert_eq!(ca.stored + cb.stored, 4000);
    assert_eq!(ca.duplicates + cb.duplicates, 0, "no message went to both");
    assert_eq!(ca.rejected + cb.rejected, 0);
    {
        let state = store.inner.lock().expect("store");
        for id in &ids {
            assert_eq!(
                state.offered.get(id),
                Some(&1),
                "record {id} ingested exactly once"
            );
        }
    }

    stop.send(true).expect("shutdown");
    tokio::time::timeout(Duration::from_secs(10), async {
        a.join().await;
        b.join().await;
    })
    .await
    .expect("collectors stop on shutdown");
}

#[tokio::test]
async fn a_crashed_collectors_messages_are_redelivered_to_the_other() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let ids = publish(&server.url, 2000).await;
    let store = MemoryStore::default();
    let (_stop, shutdown) = watch::channel(false);
    let nats = NatsOptions::new(&server.url);
    let ack_wait = Duration::from_secs(2);

    // `a` takes a batch and hangs in the store until it is killed: its batch is never acked.
    let a = NatsCollector::run(
        nats.clone(),
        options(ack_wait),
        Arc::new(store.with_delay(Duration::from_secs(600))),
        shutdown.clone(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while a.counts().consumed == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "collector a fetched nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = a.counts().consumed;
    let b = NatsCollector::run(
        nats,
        options(ack_wait),
        Arc::new(store.with_delay(Duration::from_millis(5))),
        shutdown,
    );
    a.abort();
    a.join().await;

    wait_stored(&store, ids.len(), Duration::from_secs(60)).await;
    let cb = b.counts();
    assert!(held > 0);
    assert!(
        cb.consumed >= ids.len() as u64,
        "b consumed everything, redeliveries included: {cb:?}"
    );
    assert_eq!(cb.stored, 2000);
    let state = store.inner.lock().expect("store");
    for id in &ids {
        assert!(state.stored.contains_key(id), "record {id} lost");
    }
}

#[tokio::test]
async fn invalid_messages_are_terminated_and_valid_ones_stored() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let ids = publish(&server.url, 10).await;
    let client = async_nats::connect(&server.url).await.expect("client");
    let js = async_nats::jetstream::new(client);
    js.publish(
        "rampart.events.access",
        bytes::Bytes::from_static(b"not json"),
    )
    .await
    .expect("publish")
    .await
    .expect("ack");

    let store = MemoryStore::default();
    let (_stop, shutdown) = watch::channel(false);
    let collector = NatsCollector::run(
        NatsOptions::new(&server.url),
        options(Duration::from_secs(1)),
        Arc::new(store.clone()),
        shutdown,
    );
    wait_stored(&store, ids.len(), Duration::from_secs(20)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while collector.counts().rejected == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "invalid message not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Terminated, not redelivered after the 1 s ack_wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = collector.counts();
    assert_eq!(counts.rejected, 1, "{counts:?}");
    assert_eq!(counts.consumed, 11, "{counts:?}");
    assert_eq!(counts.stored, 10);
}

#[tokio::test]
async fn a_batch_the_store_refuses_is_redelivered_later() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let ids = publish(&server.url, 50).await;
    let store = MemoryStore::default();
    store
        .fail_next
        .store(2, std::sync::atomic::Ordering::Relaxed);
    let (_stop, shutdown) = watch::channel(false);
    let mut options = options(Duration::from_secs(30));
    options.retry_delay = Duration::from_millis(200);
    let collector = NatsCollector::run(
        NatsOptions::new(&server.url),
        options,
        Arc::new(store.clone()),
        shutdown,
    );
    // Redelivered by the delayed NAK, long before the 30 s ack_wait.
    wait_stored(&store, ids.len(), Duration::from_secs(10)).await;
    let counts = collector.counts();
    assert_eq!(counts.ingest_errors, 2, "{counts:?}");
    assert_eq!(counts.stored, 50);
    assert!(
        counts.consumed >= 100,
        "refused batches came back: {counts:?}"
    );
}
