//! The audit chain as stored: links, duplicates, checkpoints, persistence of the head.

use rampart_events::RecordKind;
use rampart_logs::audit::{GENESIS, link_hash};
use rampart_logs::{ChainRow, LogStore, LogStoreOptions};

use crate::harness::{R, TestDb};

/// Checks rows 1..=n are contiguous and every hash recomputes from its predecessor.
pub async fn assert_chain(store: &LogStore, n: i64) -> Vec<ChainRow> {
    let rows = store.chain_rows(1, n + 10).await.unwrap();
    assert_eq!(rows.len() as i64, n);
    let mut prev = GENESIS;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.chain_seq, i as i64 + 1);
        assert_eq!(row.prev_hash, prev, "prev_hash of {}", row.chain_seq);
        let hash = link_hash(&prev, row.body.as_bytes());
        assert_eq!(row.hash, hash, "hash of {}", row.chain_seq);
        prev = hash;
    }
    if n > 0 {
        assert_eq!(store.audit_head().await.unwrap(), Some((n, prev)));
    } else {
        assert_eq!(store.audit_head().await.unwrap(), None);
    }
    rows
}

pub async fn chain_links_are_contiguous_and_recompute(db: &TestDb) {
    let store = db.open().await;
    assert_chain(&store, 0).await;
    let kinds = [
        RecordKind::Security,
        RecordKind::Admin,
        RecordKind::Alert,
        RecordKind::Incident,
    ];
    let mut batch = Vec::new();
    for i in 0..40 {
        batch.push(R::access().build());
        batch.push(R::chained(kinds[i % 4], "x").build());
    }
    let chained: Vec<String> = batch
        .iter()
        .filter(|r| r.is_chained())
        .map(|r| r.id.clone())
        .collect();
    store.ingest(batch).await.unwrap();
    store
        .ingest(vec![R::security().build(), R::access().build()])
        .await
        .unwrap();
    let rows = assert_chain(&store, 41).await;
    assert_eq!(
        store.audit_start().await.unwrap(),
        rampart_logs::audit::StartPoint::GENESIS
    );
    // Chain order is ingest order, and access records never join.
    assert_eq!(
        rows[..40]
            .iter()
            .map(|r| r.event_id.clone())
            .collect::<Vec<_>>(),
        chained
    );
    // Paging by chain_seq.
    let page = store.chain_rows(39, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.chain_seq).collect::<Vec<_>>(),
        [39, 40]
    );
}

pub async fn duplicate_chained_records_do_not_advance_the_chain(db: &TestDb) {
    let store = db.open().await;
    let a = R::security().build();
    let b = R::security().build();
    store.ingest(vec![a.clone(), a.clone()]).await.unwrap();
    let out = store
        .ingest(vec![a.clone(), b.clone(), b.clone(), a])
        .await
        .unwrap();
    assert_eq!((out.stored, out.duplicates), (1, 3));
    let rows = assert_chain(&store, 2).await;
    assert_eq!(rows[1].event_id, b.id);
}

pub async fn checkpoints_are_signed_every_n_and_on_demand(db: &TestDb) {
    let opts = LogStoreOptions {
        checkpoint_every: 10,
        ..TestDb::options()
    };
    let store = db.open_with(opts).await;
    let keys = store.audit_keys();
    assert_eq!(keys.len(), 1);
    // Nothing to sign yet.
    assert_eq!(store.checkpoint_now().await.unwrap(), None);
    for _ in 0..3 {
        store
            .ingest((0..4).map(|_| R::security().build()).collect())
            .await
            .unwrap();
    }
    // 12 chained records: one checkpoint, when the head passed 10 (at 12, the batch's end).
    let cps = store.checkpoints().await.unwrap();
    assert_eq!(cps.len(), 1);
    assert_eq!((cps[0].body.chain_seq, cps[0].body.count), (12, 12));
    let rows = store.chain_rows(12, 1).await.unwrap();
    assert_eq!(cps[0].body.head_hash.to_vec(), rows[0].hash);
    assert!(keys[0].verifies(&cps[0]));
    let mut forged = cps[0].clone();
    forged.body.count = 11;
    assert!(!keys[0].verifies(&forged));
    // The head did not move: no new checkpoint.
    assert_eq!(store.checkpoint_now().await.unwrap(), None);
    store.ingest(vec![R::admin_like()]).await.unwrap();
    let cp = store.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(cp.body.chain_seq, 13);
    assert!(keys[0].verifies(&cp));
    assert_eq!(store.checkpoints().await.unwrap().len(), 2);
    // Closing signs the head if it moved.
    store.ingest(vec![R::security().build()]).await.unwrap();
    store.close().await;
    let store = db.open().await;
    let cps = store.checkpoints().await.unwrap();
    assert_eq!(cps.last().unwrap().body.chain_seq, 14);
    assert!(keys[0].verifies(cps.last().unwrap()));
}

pub async fn chain_survives_reopen(db: &TestDb) {
    let store = db.open().await;
    store
        .ingest((0..5).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    store.close().await;
    let store = db.open_with(LogStoreOptions::default()).await;
    assert!(store.audit_keys().is_empty());
    store
        .ingest((0..5).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    assert_chain(&store, 10).await;
    // Without a signer there are no checkpoints.
    assert_eq!(store.checkpoint_now().await.unwrap(), None);
}

impl R {
    fn admin_like() -> rampart_events::EventRecord {
        R::chained(RecordKind::Admin, "policy.apply")
            .principal("admin")
            .decision("success")
            .build()
    }
}

pub async fn checkpoints_follow_the_interval_only_when_the_head_moved(db: &TestDb) {
    let opts = LogStoreOptions {
        checkpoint_interval: std::time::Duration::from_millis(100),
        ..TestDb::options()
    };
    let store = db.open_with(opts).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        store.checkpoints().await.unwrap().is_empty(),
        "empty chain was signed"
    );
    store
        .ingest((0..3).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    let mut cps = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        cps = store.checkpoints().await.unwrap();
        if !cps.is_empty() {
            break;
        }
    }
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].body.chain_seq, 3);
    // The head stays: no more checkpoints.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(store.checkpoints().await.unwrap().len(), 1);
}
