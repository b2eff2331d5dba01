//! Retention by age, by size, and of the audit trail as a checkpointed prefix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_logs::audit::link_hash;
use rampart_logs::{LogStoreOptions, Query, Retention, RetentionReport};

use crate::harness::{R, TestDb, now_ms};

const DAY: i64 = 24 * 3_600_000;

pub async fn old_access_records_expire_and_chained_stay(db: &TestDb) {
    let store = db.open().await;
    let now = now_ms();
    let old_access: Vec<_> = (0..25)
        .map(|_| R::access().time(now - 31 * DAY).build())
        .collect();
    let old_chained: Vec<_> = (0..5)
        .map(|_| R::security().time(now - 31 * DAY).build())
        .collect();
    let fresh: Vec<_> = (0..7)
        .map(|_| R::access().time(now - 29 * DAY).build())
        .collect();
    store.ingest(old_access).await.unwrap();
    store.ingest(old_chained).await.unwrap();
    store.ingest(fresh.clone()).await.unwrap();
    let report = store.enforce_retention(SystemTime::now()).await.unwrap();
    assert_eq!(
        report,
        RetentionReport {
            expired: 25,
            over_size: 0,
            audit: 0
        }
    );
    assert_eq!(
        store
            .count(&Query::parse("kind=access").unwrap())
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        store
            .count(&Query::parse("kind=security").unwrap())
            .await
            .unwrap(),
        5
    );
    crate::audit::assert_chain(&store, 5).await;
    // Idempotent.
    let again = store.enforce_retention(SystemTime::now()).await.unwrap();
    assert_eq!(again, RetentionReport::default());
}

pub async fn size_limit_deletes_oldest_access_records(db: &TestDb) {
    // Incompressible text (PostgreSQL would compress repeated characters), ~1.6 KB a record.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        (0..150)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{:08x}", seed as u32)
            })
            .collect::<String>()
    };
    let unlimited = db.open().await;
    // About 2 MB of records; the limit below keeps roughly half.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let batch: Vec<_> = (0..200)
            .map(|_| R::access().message(&noise()).build())
            .collect();
        ids.extend(batch.iter().map(|r| r.id.clone()));
        unlimited.ingest(batch).await.unwrap();
    }
    let chained: Vec<_> = (0..10)
        .map(|_| R::security().message(&noise()).build())
        .collect();
    unlimited.ingest(chained).await.unwrap();
    unlimited.close().await;
    let max_bytes = 1_200_000;
    let opts = LogStoreOptions {
        retention: Retention {
            max_bytes,
            ..Retention::default()
        },
        ..TestDb::options()
    };
    let store = db.open_with(opts).await;
    let report = store.enforce_retention(SystemTime::now()).await.unwrap();
    assert!(report.over_size > 100, "{report:?}");
    assert!(report.over_size < 1000, "{report:?}");
    assert_eq!(report.expired, 0);
    // Now under the limit: a second run deletes nothing.
    assert_eq!(
        store
            .enforce_retention(SystemTime::now())
            .await
            .unwrap()
            .over_size,
        0
    );
    // The oldest went, the newest stayed, chained records are untouched.
    let left = store
        .query(&Query::parse("kind=access limit=10000").unwrap())
        .await
        .unwrap();
    assert_eq!(left.len() as u64, 1000 - report.over_size);
    let kept: Vec<String> = left.iter().rev().map(|e| e.id.clone()).collect();
    assert_eq!(kept, ids[report.over_size as usize..]);
    crate::audit::assert_chain(&store, 10).await;
}

pub async fn audit_prefix_goes_only_up_to_an_old_checkpoint(db: &TestDb) {
    let store = db.open().await;
    store
        .ingest((0..10).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    let cp1 = store.checkpoint_now().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .ingest((0..5).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    let cp2 = store.checkpoint_now().await.unwrap().unwrap();
    store
        .ingest((0..3).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    assert!(cp1.body.time_ms + 1 < cp2.body.time_ms);
    // Just before cp2 is a year old: cp1 is older than the audit retention, cp2 is not.
    let year = Retention::default().audit_max_age;
    let now = UNIX_EPOCH + Duration::from_millis(cp2.body.time_ms as u64 - 1) + year;
    // Access records have their own (shorter) age: none here.
    let report = store.enforce_retention(now).await.unwrap();
    assert_eq!(report.audit, 10);
    let rows = store.chain_rows(0, 100).await.unwrap();
    assert_eq!(rows.first().unwrap().chain_seq, 11);
    assert_eq!(rows.len(), 8);
    // The kept checkpoint is the trail's new start: the first row links to its head hash.
    let cps = store.checkpoints().await.unwrap();
    assert_eq!(cps, vec![cp1.clone(), cp2]);
    assert_eq!(rows[0].prev_hash, cp1.body.head_hash.to_vec());
    let mut prev = cp1.body.head_hash;
    for row in &rows {
        assert_eq!(row.prev_hash, prev);
        prev = link_hash(&prev, row.body.as_bytes());
        assert_eq!(row.hash, prev);
    }
    // The start point for verification is the kept checkpoint.
    let start = store.audit_start().await.unwrap();
    assert_eq!((start.chain_seq, start.hash), (10, cp1.body.head_hash));
    // And `audit::verify` accepts the pruned trail from there.
    let report = rampart_logs::audit::verify(
        rows.iter().cloned().map(Into::into),
        &store.checkpoints().await.unwrap(),
        &store.audit_keys(),
        store.audit_head().await.unwrap(),
        Some(start),
    );
    assert!(report.ok, "{report:?}");
    // Running again deletes nothing more.
    assert_eq!(store.enforce_retention(now).await.unwrap().audit, 0);
}
