//! PostgreSQL specifics: two collectors on one database keep one chain.

use std::sync::Arc;

use rampart_logs::{LogStoreOptions, Query};

use crate::harness::{R, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_keep_one_chain() {
    let db = TestDb::postgres().await;
    let opts = LogStoreOptions {
        checkpoint_every: 50,
        ..TestDb::options()
    };
    let a = Arc::new(db.open_with(opts.clone()).await);
    let b = Arc::new(db.open_with(opts).await);
    // Some records go to both (a redelivery to the other collector): stored once.
    let shared: Vec<_> = (0..20).map(|_| R::security().build()).collect();
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for round in 0..10 {
                let mut batch: Vec<_> = (0..30)
                    .map(|j| {
                        if (i + j + round) % 2 == 0 {
                            R::security().build()
                        } else {
                            R::access().build()
                        }
                    })
                    .collect();
                batch.extend(shared[round * 2..round * 2 + 2].iter().cloned());
                stored += store.ingest(batch).await.unwrap().stored;
            }
            stored
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await.unwrap();
    }
    assert_eq!(stored, 4 * 10 * 30 + 20);
    let chained = a
        .count(&Query::parse("kind=security").unwrap())
        .await
        .unwrap();
    assert_eq!(chained, 4 * 10 * 15 + 20);
    crate::audit::assert_chain(&a, chained as i64).await;
    // Checkpoints from both writers, each on a head that is in the chain.
    let cps = b.checkpoints().await.unwrap();
    assert!(!cps.is_empty());
    let keys = [a.audit_keys(), b.audit_keys()].concat();
    for cp in &cps {
        assert!(keys.iter().any(|k| k.verifies(cp)));
        let row = a.chain_rows(cp.body.chain_seq, 1).await.unwrap();
        assert_eq!(row[0].hash, cp.body.head_hash.to_vec());
    }
    assert!(
        cps.windows(2)
            .all(|w| w[0].body.chain_seq < w[1].body.chain_seq)
    );
    drop((a, b));
    db.finish().await;
}
