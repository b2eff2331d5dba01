//! The mesh tables, on both backends: issued SVIDs, revocations, workload endpoints and CA
//! generations.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_store::{
    CaGenerationRecord, IssuedSvidRecord, RevocationRecord, WorkloadEndpointRecord,
};

use crate::harness::TestDb;

const T0: u64 = 1_700_000_000_000;
const ORDERS: &str = "spiffe://rampart.local/ns/shop/sa/orders";
const CART: &str = "spiffe://rampart.local/ns/shop/sa/cart";

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn svid(serial: &str, id: &str, issued_ms: u64, expires_ms: u64) -> IssuedSvidRecord {
    IssuedSvidRecord {
        serial: serial.to_owned(),
        spiffe_id: id.to_owned(),
        issued_at: at(issued_ms),
        expires_at: at(expires_ms),
        how: "join".to_owned(),
        renewed_from: None,
        ca_fingerprint: "fp1".to_owned(),
        revoked_at: None,
    }
}

fn revocation(serial: &str, revoked_ms: u64, expires_ms: u64) -> RevocationRecord {
    RevocationRecord {
        serial: serial.to_owned(),
        spiffe_id: ORDERS.to_owned(),
        revoked_at: at(revoked_ms),
        expires_at: at(expires_ms),
        reason: "service orders.shop revoked by an administrator".to_owned(),
    }
}

fn endpoint(id: &str, instance: &str, address: &str, seen_ms: u64) -> WorkloadEndpointRecord {
    WorkloadEndpointRecord {
        spiffe_id: id.to_owned(),
        instance: instance.to_owned(),
        service: id.rsplit('/').next().unwrap().to_owned(),
        namespace: "shop".to_owned(),
        address: address.to_owned(),
        registered_at: at(seen_ms),
        last_seen: at(seen_ms),
    }
}

fn generation(number: u32, active: bool) -> CaGenerationRecord {
    CaGenerationRecord {
        generation: number,
        fingerprint: format!("fp{number}"),
        not_after: at(T0 + 3_600_000),
        created_at: at(T0),
        trusted: true,
        active,
    }
}

fn serials(list: &[IssuedSvidRecord]) -> Vec<&str> {
    list.iter().map(|s| s.serial.as_str()).collect()
}

pub async fn issued_svids_are_listed_newest_first_and_found_by_serial(db: &TestDb) {
    let store = db.open().await;
    let first = svid("0a", ORDERS, T0, T0 + 60_000);
    let renewed = IssuedSvidRecord {
        how: "renew".to_owned(),
        renewed_from: Some("0a".to_owned()),
        ca_fingerprint: "fp2".to_owned(),
        ..svid("0b", ORDERS, T0 + 1_000, T0 + 61_000)
    };
    let other = svid("ff01", CART, T0 + 2_000, T0 + 62_000);
    for record in [&first, &renewed, &other] {
        store.insert_issued_svid(record).await.unwrap();
    }
    // A serial is recorded once.
    assert!(store.insert_issued_svid(&first).await.is_err());

    let all = store.list_issued_svids(None, 100).await.unwrap();
    assert_eq!(serials(&all), ["ff01", "0b", "0a"]);
    assert_eq!(all[1], renewed);
    let orders = store.list_issued_svids(Some(ORDERS), 100).await.unwrap();
    assert_eq!(serials(&orders), ["0b", "0a"]);
    let newest = store.list_issued_svids(None, 1).await.unwrap();
    assert_eq!(serials(&newest), ["ff01"]);
    assert!(
        store
            .list_issued_svids(Some("spiffe://rampart.local/ns/x/sa/y"), 100)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.issued_svid("0b").await.unwrap(), Some(renewed));
    assert_eq!(store.issued_svid("0c").await.unwrap(), None);

    // Pruning is by expiry, strictly before the cut-off.
    assert_eq!(store.prune_issued_svids(at(T0 + 61_000)).await.unwrap(), 1);
    let left = store.list_issued_svids(None, 100).await.unwrap();
    assert_eq!(serials(&left), ["ff01", "0b"]);
}

pub async fn live_svids_exclude_expired_and_revoked(db: &TestDb) {
    let store = db.open().await;
    for record in [
        svid("01", ORDERS, T0, T0 + 10_000),
        svid("02", ORDERS, T0 + 1, T0 + 60_000),
        svid("03", ORDERS, T0 + 2, T0 + 60_000),
        svid("04", CART, T0 + 3, T0 + 60_000),
    ] {
        store.insert_issued_svid(&record).await.unwrap();
    }
    let now = at(T0 + 10_000);
    // `01` expires exactly now: no longer live.
    let live = store.live_svids(Some(ORDERS), now).await.unwrap();
    assert_eq!(serials(&live), ["03", "02"]);
    let live = store.live_svids(None, now).await.unwrap();
    assert_eq!(serials(&live), ["04", "03", "02"]);

    assert!(
        store
            .insert_revocation(&revocation("03", T0 + 5_000, T0 + 60_000))
            .await
            .unwrap()
    );
    let live = store.live_svids(Some(ORDERS), now).await.unwrap();
    assert_eq!(serials(&live), ["02"]);
    let revoked = store.issued_svid("03").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(T0 + 5_000)));
    assert_eq!(
        store.issued_svid("02").await.unwrap().unwrap().revoked_at,
        None
    );
}

pub async fn revocation_is_idempotent_and_pruned_at_expiry(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_issued_svid(&svid("0a", ORDERS, T0, T0 + 60_000))
        .await
        .unwrap();
    let first = revocation("0a", T0 + 1_000, T0 + 60_000);
    assert!(store.insert_revocation(&first).await.unwrap());
    // Again, later: nothing changes, not even the times.
    let again = revocation("0a", T0 + 2_000, T0 + 60_000);
    assert!(!store.insert_revocation(&again).await.unwrap());
    assert_eq!(
        store.issued_svid("0a").await.unwrap().unwrap().revoked_at,
        Some(at(T0 + 1_000))
    );
    // A serial this store never issued can be revoked too.
    let foreign = revocation("0b", T0 + 1_000, T0 + 30_000);
    assert!(store.insert_revocation(&foreign).await.unwrap());

    let listed = store.list_revocations(at(T0 + 10_000)).await.unwrap();
    assert_eq!(listed, vec![first.clone(), foreign.clone()]);
    // At its expiry a revocation is no longer listed, and pruning forgets it.
    assert_eq!(
        store.list_revocations(at(T0 + 30_000)).await.unwrap(),
        vec![first.clone()]
    );
    assert_eq!(store.prune_revocations(at(T0 + 30_000)).await.unwrap(), 1);
    assert_eq!(store.prune_revocations(at(T0 + 30_000)).await.unwrap(), 0);
    assert_eq!(store.list_revocations(at(T0)).await.unwrap(), vec![first]);
    assert_eq!(store.prune_revocations(at(T0 + 60_000)).await.unwrap(), 1);
    // The issued SVID keeps its mark.
    assert!(
        store
            .issued_svid("0a")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

pub async fn workload_endpoints_upsert_list_and_prune(db: &TestDb) {
    let store = db.open().await;
    let a = endpoint(ORDERS, "a", "10.0.0.1:15006", T0);
    let b = endpoint(ORDERS, "b", "10.0.0.2:15006", T0 + 1_000);
    let cart = endpoint(CART, "a", "10.0.0.3:15006", T0 + 2_000);
    for record in [&b, &cart, &a] {
        store.upsert_workload_endpoint(record).await.unwrap();
    }
    let all = store.list_workload_endpoints(at(0)).await.unwrap();
    assert_eq!(all, vec![cart.clone(), a.clone(), b.clone()]);

    // A heartbeat moves `a` and refreshes it; its first registration time stays.
    let moved = WorkloadEndpointRecord {
        address: "10.0.0.9:15006".to_owned(),
        registered_at: at(T0 + 5_000),
        last_seen: at(T0 + 5_000),
        ..a.clone()
    };
    store.upsert_workload_endpoint(&moved).await.unwrap();
    let live = store.list_workload_endpoints(at(T0 + 2_000)).await.unwrap();
    let expected_a = WorkloadEndpointRecord {
        registered_at: at(T0),
        ..moved
    };
    assert_eq!(live, vec![cart.clone(), expected_a.clone()]);

    assert!(store.delete_workload_endpoint(CART, "a").await.unwrap());
    assert!(!store.delete_workload_endpoint(CART, "a").await.unwrap());
    // Strictly older than the cut-off: `b`, seen exactly at it, stays.
    assert_eq!(
        store
            .prune_workload_endpoints(at(T0 + 1_000))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_workload_endpoints(at(T0 + 1_001))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.list_workload_endpoints(at(0)).await.unwrap(),
        vec![expected_a]
    );
}

pub async fn ca_generations_have_one_active(db: &TestDb) {
    let store = db.open().await;
    assert!(store.list_ca_generations().await.unwrap().is_empty());
    assert!(!store.activate_ca_generation(1).await.unwrap());

    store
        .upsert_ca_generation(&generation(1, true))
        .await
        .unwrap();
    store
        .upsert_ca_generation(&generation(2, false))
        .await
        .unwrap();
    let active = |list: Vec<CaGenerationRecord>| {
        list.into_iter()
            .filter(|g| g.active)
            .map(|g| g.generation)
            .collect::<Vec<_>>()
    };
    assert_eq!(active(store.list_ca_generations().await.unwrap()), [1]);

    assert!(store.activate_ca_generation(2).await.unwrap());
    assert_eq!(active(store.list_ca_generations().await.unwrap()), [2]);
    // An unknown generation changes nothing.
    assert!(!store.activate_ca_generation(7).await.unwrap());
    assert_eq!(active(store.list_ca_generations().await.unwrap()), [2]);

    // Retiring generation 1: no longer trusted.
    let retired = CaGenerationRecord {
        trusted: false,
        active: false,
        ..generation(1, false)
    };
    store.upsert_ca_generation(&retired).await.unwrap();
    let listed = store.list_ca_generations().await.unwrap();
    assert_eq!(
        listed,
        vec![
            retired,
            CaGenerationRecord {
                active: true,
                ..generation(2, false)
            }
        ]
    );
}
