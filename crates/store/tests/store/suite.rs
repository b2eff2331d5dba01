//! The backend-independent cases, each an async function over a fresh [`TestDb`].

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_store::{ConfigVersion, JoinTokenRecord, ProxyRecord, Redeemed};

use crate::harness::TestDb;

/// A time with whole milliseconds, which the store keeps exactly.
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn proxy(id: &str, last_seen_ms: u64) -> ProxyRecord {
    ProxyRecord {
        id: id.to_owned(),
        kind: "sidecar".to_owned(),
        name: format!("{id}-name"),
        version: "0.1.0".to_owned(),
        address: "10.0.0.1:4143".to_owned(),
        config_version: "cfg-1".to_owned(),
        started_at: at(1_700_000_000_000),
        last_seen: at(last_seen_ms),
    }
}

fn config(hash: &str, accepted: bool) -> ConfigVersion {
    ConfigVersion {
        id: 0,
        hash: hash.to_owned(),
        source: "file:/etc/rampart/rampart.yaml".to_owned(),
        applied_at: at(1_700_000_000_000),
        accepted,
        error: (!accepted).then(|| format!("`{hash}` rejected")),
    }
}

pub async fn reopen_keeps_data_and_migrations_are_idempotent(db: &TestDb) {
    let store = db.open().await;
    store
        .upsert_proxy(&proxy("p1", 1_700_000_001_000))
        .await
        .unwrap();
    store.put_meta("cluster", "blue").await.unwrap();
    let id = store
        .record_config_version(&config("h1", true))
        .await
        .unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(
            store.list_proxies().await.unwrap(),
            vec![proxy("p1", 1_700_000_001_000)]
        );
        assert_eq!(
            store.get_meta("cluster").await.unwrap().as_deref(),
            Some("blue")
        );
        let versions = store.list_config_versions(10).await.unwrap();
        assert_eq!(
            versions,
            vec![ConfigVersion {
                id,
                ..config("h1", true)
            }]
        );
        store.close().await;
    }
}

pub async fn upsert_updates_in_place(db: &TestDb) {
    let store = db.open().await;
    store
        .upsert_proxy(&proxy("p1", 1_700_000_001_000))
        .await
        .unwrap();
    let updated = ProxyRecord {
        kind: "gateway".to_owned(),
        name: "edge".to_owned(),
        version: "0.2.0".to_owned(),
        address: "[::1]:8443".to_owned(),
        config_version: "cfg-2".to_owned(),
        // Before the epoch, to check negative millisecond values round trip too.
        started_at: UNIX_EPOCH - Duration::from_millis(86_400_123),
        ..proxy("p1", 1_700_000_009_999)
    };
    store.upsert_proxy(&updated).await.unwrap();
    assert_eq!(store.list_proxies().await.unwrap(), vec![updated]);
}

pub async fn proxies_are_listed_by_id_and_removed(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_proxies().await.unwrap().is_empty());
    for id in ["c", "a", "b"] {
        store
            .upsert_proxy(&proxy(id, 1_700_000_000_000))
            .await
            .unwrap();
    }
    let ids = |list: Vec<ProxyRecord>| list.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_proxies().await.unwrap()), ["a", "b", "c"]);

    assert!(store.remove_proxy("b").await.unwrap());
    assert!(!store.remove_proxy("b").await.unwrap());
    assert_eq!(ids(store.list_proxies().await.unwrap()), ["a", "c"]);
}

pub async fn prune_removes_only_older_proxies(db: &TestDb) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    for (id, seen) in [("old", t0), ("edge", t0 + 10_000), ("new", t0 + 20_000)] {
        store.upsert_proxy(&proxy(id, seen)).await.unwrap();
    }
    // Strictly older than the cut-off: `edge`, seen exactly at it, stays.
    assert_eq!(store.prune_proxies(at(t0 + 10_000)).await.unwrap(), 1);
    assert_eq!(store.prune_proxies(at(t0 + 10_000)).await.unwrap(), 0);
    let left: Vec<_> = store
        .list_proxies()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, ["edge", "new"]);
    assert_eq!(store.prune_proxies(SystemTime::now()).await.unwrap(), 2);
}

pub async fn meta_round_trip_overwrite_delete(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    store.put_meta("k", "v1").await.unwrap();
    store.put_meta("other", "").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v1"));
    store.put_meta("k", "v2 — ünïcode ✓").await.unwrap();
    assert_eq!(
        store.get_meta("k").await.unwrap().as_deref(),
        Some("v2 — ünïcode ✓")
    );
    assert_eq!(store.get_meta("other").await.unwrap().as_deref(), Some(""));

    assert!(store.delete_meta("k").await.unwrap());
    assert!(!store.delete_meta("k").await.unwrap());
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    assert_eq!(store.get_meta("other").await.unwrap().as_deref(), Some(""));
}

pub async fn config_versions_newest_first_with_limit(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_config_versions(10).await.unwrap().is_empty());
    let mut recorded = Vec::new();
    for i in 0..5 {
        let version = config(&format!("h{i}"), i % 2 == 0);
        let id = store.record_config_version(&version).await.unwrap();
        recorded.push(ConfigVersion { id, ..version });
    }
    assert!(recorded.windows(2).all(|w| w[0].id < w[1].id), "ids grow");

    let newest: Vec<_> = recorded.iter().rev().cloned().collect();
    assert_eq!(store.list_config_versions(3).await.unwrap(), newest[..3]);
    assert_eq!(store.list_config_versions(100).await.unwrap(), newest);
    assert!(store.list_config_versions(0).await.unwrap().is_empty());
}

pub async fn concurrent_writes_all_land(db: &TestDb) {
    const TASKS: usize = 16;
    const EACH: usize = 20;
    let store = db.open().await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..EACH {
                store
                    .upsert_proxy(&proxy(&format!("p-{t:02}-{i:02}"), 1))
                    .await
                    .unwrap();
                store.put_meta(&format!("k-{t}-{i}"), "v").await.unwrap();
                store
                    .record_config_version(&config(&format!("{t}-{i}"), true))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    assert_eq!(store.list_proxies().await.unwrap().len(), TASKS * EACH);
    let versions = store.list_config_versions(10_000).await.unwrap();
    let hashes: BTreeSet<_> = versions.iter().map(|v| v.hash.clone()).collect();
    assert_eq!(hashes.len(), TASKS * EACH);
    for t in 0..TASKS {
        for i in 0..EACH {
            assert_eq!(
                store
                    .get_meta(&format!("k-{t}-{i}"))
                    .await
                    .unwrap()
                    .as_deref(),
                Some("v")
            );
        }
    }
}

fn join_token(id: &str, expires_at_ms: u64) -> JoinTokenRecord {
    JoinTokenRecord {
        id: id.to_owned(),
        secret_hash: format!("{id}-hash"),
        trust_domain: "rampart.local".to_owned(),
        namespace: "default".to_owned(),
        service: "orders".to_owned(),
        created_at: at(1_700_000_000_000),
        expires_at: at(expires_at_ms),
        used_at: None,
    }
}

pub async fn join_token_is_single_use(db: &TestDb) {
    let store = db.open().await;
    let token = join_token("t1", 1_700_000_600_000);
    store.insert_join_token(&token).await.unwrap();
    assert_eq!(store.list_join_tokens().await.unwrap(), vec![token.clone()]);

    let now = at(1_700_000_001_000);
    let redeemed = store.redeem_join_token("t1", "t1-hash", now).await.unwrap();
    let used = JoinTokenRecord {
        used_at: Some(now),
        ..token
    };
    assert_eq!(redeemed, Redeemed::Accepted(used.clone()));
    assert_eq!(
        store
            .redeem_join_token("t1", "t1-hash", at(1_700_000_002_000))
            .await
            .unwrap(),
        Redeemed::AlreadyUsed
    );
    assert_eq!(store.list_join_tokens().await.unwrap(), vec![used]);
}

pub async fn join_token_expires(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_join_token(&join_token("t1", 1_700_000_600_000))
        .await
        .unwrap();
    // Expiry is exclusive: at the expiry instant the token is already refused.
    for now in [1_700_000_600_000, 1_700_000_600_001] {
        assert_eq!(
            store
                .redeem_join_token("t1", "t1-hash", at(now))
                .await
                .unwrap(),
            Redeemed::Expired
        );
    }
    assert_eq!(store.list_join_tokens().await.unwrap()[0].used_at, None);
}

pub async fn join_token_with_wrong_secret_is_unknown(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_join_token(&join_token("t1", 1_700_000_600_000))
        .await
        .unwrap();
    let now = at(1_700_000_001_000);
    assert_eq!(
        store.redeem_join_token("t1", "wrong", now).await.unwrap(),
        Redeemed::Unknown
    );
    assert_eq!(
        store.redeem_join_token("t2", "t1-hash", now).await.unwrap(),
        Redeemed::Unknown
    );
    // The failed attempts did not use the token up.
    assert!(matches!(
        store.redeem_join_token("t1", "t1-hash", now).await.unwrap(),
        Redeemed::Accepted(_)
    ));
}

pub async fn concurrent_redeems_of_one_join_token_succeed_once(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_join_token(&join_token("t1", 1_700_000_600_000))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .redeem_join_token("t1", "t1-hash", at(1_700_000_001_000))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Redeemed::Accepted(_) => accepted += 1,
            Redeemed::AlreadyUsed => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(accepted, 1);
}
