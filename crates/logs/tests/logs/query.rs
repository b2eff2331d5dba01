//! The query language against stored records: every field and operator selects exactly.

use rampart_events::{EventRecord, RecordKind};
use rampart_logs::{LogStore, Query};

use crate::harness::{R, TestDb, now_ms};

/// Ids of the records `q` returns, as indexes into `recs`, sorted.
async fn hits(store: &LogStore, recs: &[EventRecord], q: &str) -> Vec<usize> {
    let found = store.query(&Query::parse(q).unwrap()).await.unwrap();
    let mut idx: Vec<usize> = found
        .iter()
        .map(|e| recs.iter().position(|r| r.id == e.id).unwrap())
        .collect();
    idx.sort_unstable();
    let count = store.count(&Query::parse(q).unwrap()).await.unwrap();
    assert_eq!(count as usize, idx.len(), "count of `{q}`");
    idx
}

pub async fn each_operator_selects_exactly(db: &TestDb) {
    let store = db.open().await;
    let recs = vec![
        R::access()
            .service("orders")
            .status(200)
            .principal("alice")
            .build(), // 0
        R::access()
            .service("orders")
            .status(500)
            .decision("allow")
            .build(), // 1
        R::access()
            .service("billing")
            .status(503)
            .principal("bob")
            .build(), // 2
        R::access()
            .service("billing")
            .status(404)
            .decision("deny")
            .build(), // 3
        R::security().service("orders").principal("mallory").build(), // 4
        R::chained(RecordKind::Admin, "policy.apply")
            .service("control")
            .principal("alice")
            .decision("success")
            .build(), // 5
    ];
    store.ingest(recs.clone()).await.unwrap();
    let cases: &[(&str, &[usize])] = &[
        ("", &[0, 1, 2, 3, 4, 5]),
        ("kind=access", &[0, 1, 2, 3]),
        ("kind!=access", &[4, 5]),
        ("kind=admin", &[5]),
        ("action=policy_denied", &[4]),
        ("action!=http_request", &[4, 5]),
        ("service=billing", &[2, 3]),
        ("service!=orders", &[2, 3, 5]),
        ("principal=alice", &[0, 5]),
        ("principal!=alice", &[1, 2, 3, 4]),
        ("decision=deny", &[3]),
        ("decision!=allow", &[3, 4, 5]),
        ("status=500", &[1]),
        ("status!=500", &[0, 2, 3, 4, 5]),
        ("status>500", &[2]),
        ("status>=500", &[1, 2]),
        ("status<404", &[0]),
        ("status<=404", &[0, 3]),
        ("service=orders status>=500", &[1]),
        ("kind=access principal=alice", &[0]),
        ("service=nobody", &[]),
    ];
    for (q, want) in cases {
        assert_eq!(hits(&store, &recs, q).await, *want, "query `{q}`");
    }
    let id_query = format!("id={}", recs[2].id);
    assert_eq!(hits(&store, &recs, &id_query).await, [2]);
    // Newest first.
    let all = store.query(&Query::default()).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!(all[0].id, recs[5].id);
}

pub async fn text_search_is_case_insensitive_and_literal(db: &TestDb) {
    let store = db.open().await;
    let recs = vec![
        R::access().message("Disk FULL on node-7").build(), // 0
        R::access().message("100% done").build(),           // 1
        R::access().message("1000 done").build(),           // 2
        R::access().message("a_b c").build(),               // 3
        R::access().message("axb c").build(),               // 4
        R::security().message("quoted \"x\" text").build(), // 5
    ];
    store.ingest(recs.clone()).await.unwrap();
    assert_eq!(hits(&store, &recs, "disk").await, [0]);
    assert_eq!(hits(&store, &recs, "full NODE-7").await, [0]);
    assert_eq!(hits(&store, &recs, "\"disk full\"").await, [0]);
    assert_eq!(
        hits(&store, &recs, "\"disk  full\"").await,
        Vec::<usize>::new()
    );
    // `%` and `_` are literal, not wildcards.
    assert_eq!(hits(&store, &recs, "100%").await, [1]);
    assert_eq!(hits(&store, &recs, "a_b").await, [3]);
    assert_eq!(hits(&store, &recs, "done kind=access").await, [1, 2]);
    assert_eq!(hits(&store, &recs, "policy_denied").await, [5]);
}

pub async fn after_returns_oldest_first_and_limit_caps(db: &TestDb) {
    let store = db.open().await;
    let recs: Vec<_> = (0..30)
        .map(|i| {
            if i % 2 == 0 {
                R::access().build()
            } else {
                R::security().build()
            }
        })
        .collect();
    store.ingest(recs.clone()).await.unwrap();
    let all = store
        .query(&Query::parse("limit=1000").unwrap())
        .await
        .unwrap();
    assert_eq!(all.len(), 30);
    let newest5 = store
        .query(&Query::parse("limit=5").unwrap())
        .await
        .unwrap();
    assert_eq!(
        newest5.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        recs[25..]
            .iter()
            .rev()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    );
    let pivot = all[20].seq; // the 10th stored
    let after = store
        .query(&Query::parse(&format!("after={pivot} limit=4")).unwrap())
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        recs[10..14]
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    );
    assert!(after.iter().all(|e| e.seq > pivot));
    let chained_after = store
        .query_after(pivot, &Query::parse("kind=security").unwrap())
        .await
        .unwrap();
    assert_eq!(chained_after.len(), 10);
    assert!(chained_after.windows(2).all(|w| w[0].seq < w[1].seq));
    let last = all[0].seq;
    assert!(
        store
            .query_after(last, &Query::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn time_terms_select_by_event_time(db: &TestDb) {
    let store = db.open().await;
    let now = now_ms();
    let recs = vec![
        R::access().time(now - 3 * 3_600_000).build(), // 0: 3 h ago
        R::access().time(now - 30 * 60_000).build(),   // 1: 30 min ago
        R::access().time(now - 60_000).build(),        // 2: 1 min ago
        R::access().time(1_735_689_600_000).build(),   // 3: 2025-01-01T00:00:00Z
    ];
    store.ingest(recs.clone()).await.unwrap();
    assert_eq!(hits(&store, &recs, "since=1h").await, [1, 2]);
    assert_eq!(hits(&store, &recs, "since=2h until=10m").await, [1]);
    assert_eq!(hits(&store, &recs, "time<2h").await, [0, 3]);
    assert_eq!(
        hits(&store, &recs, "time>=2025-01-01T00:00:00Z").await,
        [0, 1, 2, 3]
    );
    assert_eq!(
        hits(&store, &recs, "time>2025-01-01T00:00:00Z").await,
        [0, 1, 2]
    );
    assert_eq!(
        hits(
            &store,
            &recs,
            "since=2025-01-01T00:00:00Z until=2025-01-01T00:00:00Z"
        )
        .await,
        [3]
    );
}
