//! Ingest: de-duplication, coalescing, back-pressure, the in-process tail.

use std::sync::Arc;

use rampart_events::IngestOutcome;
use rampart_logs::{LogError, LogStoreOptions, Query};

use crate::harness::{R, TestDb};

pub async fn duplicates_within_and_across_batches_are_dropped(db: &TestDb) {
    let store = db.open().await;
    let a = R::access().build();
    let b = R::security().build();
    let c = R::access().build();
    let out = store
        .ingest(vec![a.clone(), b.clone(), a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        out,
        IngestOutcome {
            stored: 2,
            duplicates: 2
        }
    );
    let out = store
        .ingest(vec![b.clone(), c.clone(), a.clone()])
        .await
        .unwrap();
    assert_eq!(
        out,
        IngestOutcome {
            stored: 1,
            duplicates: 2
        }
    );
    assert_eq!(store.count(&Query::default()).await.unwrap(), 3);
    let all = store.query(&Query::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    // Newest first, bodies byte for byte.
    assert_eq!(ids, [c.id.as_str(), b.id.as_str(), a.id.as_str()]);
    assert_eq!(all[1].json, b.json);
    // A reopened store still knows them.
    drop(store);
    let store = db.open().await;
    let out = store.ingest(vec![a, b, c]).await.unwrap();
    assert_eq!(
        out,
        IngestOutcome {
            stored: 0,
            duplicates: 3
        }
    );
    store.close().await;
}

pub async fn concurrent_callers_each_get_their_own_outcome(db: &TestDb) {
    let store = Arc::new(db.open().await);
    let shared = R::security().build();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut batch: Vec<_> = (0..50)
                .map(|j| {
                    if (i + j) % 3 == 0 {
                        R::security().build()
                    } else {
                        R::access().build()
                    }
                })
                .collect();
            batch.push(shared);
            store.ingest(batch).await.unwrap()
        }));
    }
    let mut total = IngestOutcome::default();
    for t in tasks {
        let out = t.await.unwrap();
        assert_eq!(out.stored + out.duplicates, 51);
        total.stored += out.stored;
        total.duplicates += out.duplicates;
    }
    assert_eq!(
        total,
        IngestOutcome {
            stored: 16 * 50 + 1,
            duplicates: 15
        }
    );
    assert_eq!(store.count(&Query::default()).await.unwrap(), 801);
    let chained = store
        .count(&Query::parse("kind!=access").unwrap())
        .await
        .unwrap();
    let (head, _) = store.audit_head().await.unwrap().unwrap();
    assert_eq!(head as u64, chained);
}

pub async fn full_queue_is_busy_and_drains_after(db: &TestDb) {
    let opts = LogStoreOptions {
        queue: 1,
        queue_records: 4,
        ..TestDb::options()
    };
    let store = Arc::new(db.open_with(opts).await);
    let blocker = db.block_writer().await;
    // The writer takes this batch and waits on the lock, holding the whole queue.
    let first = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .ingest((0..4).map(|_| R::security().build()).collect())
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    match store.try_ingest(vec![R::access().build()]).await {
        Err(LogError::Busy) => {}
        other => panic!("expected Busy while the writer is blocked, got {other:?}"),
    }
    blocker.release().await;
    assert_eq!(first.await.unwrap().unwrap().stored, 4);
    let out = store.try_ingest(vec![R::access().build()]).await.unwrap();
    assert_eq!(out.stored, 1);
}

pub async fn subscribers_see_stored_records_in_order(db: &TestDb) {
    let store = db.open().await;
    let mut tail = store.subscribe();
    let a = R::access().build();
    let b = R::security().build();
    store.ingest(vec![a.clone(), b.clone()]).await.unwrap();
    store.ingest(vec![a.clone()]).await.unwrap();
    let c = R::access().build();
    store.ingest(vec![c.clone()]).await.unwrap();
    let got: Vec<_> = (0..3).map(|_| tail.try_recv().unwrap()).collect();
    assert_eq!(
        got.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str(), b.id.as_str(), c.id.as_str()]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(got[1].json, b.json);
    assert!(tail.try_recv().is_err(), "the duplicate was published");
    // What the tail saw is what a query after the first seq returns.
    let after = store
        .query_after(got[0].seq, &Query::default())
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [got[1].seq, got[2].seq]
    );
}
