//! Proxies report themselves (over HTTP or in process) and show in the status.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_control::{
    Limits,
    api::{Heartbeat, ProxyKind, ProxyStatus},
};
use rampart_store::{ConfigVersion, ProxyRecord};

use crate::support::{Plane, start, start_with};

const TTL: Duration = Duration::from_millis(400);

fn heartbeat(id: &str) -> Heartbeat {
    Heartbeat {
        id: id.to_owned(),
        kind: ProxyKind::Gateway,
        name: "edge".to_owned(),
        version: "0.1.0".to_owned(),
        address: "127.0.0.1:8443".to_owned(),
        config_version: "cfg-1".to_owned(),
        started_at_ms: now_ms() - 5_000,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn proxies(plane: &Plane) -> Vec<ProxyStatus> {
    plane.client().status().await.unwrap().proxies
}

#[tokio::test]
async fn a_heartbeat_connects_a_proxy_until_the_ttl_passes() {
    let plane = start_with(TTL, Limits::default()).await;
    let client = plane.client();
    let ack = client.heartbeat(&heartbeat("gw-1")).await.unwrap();
    assert_eq!(ack.ttl_ms, 400);

    let listed = proxies(&plane).await;
    assert_eq!(listed.len(), 1);
    let proxy = &listed[0];
    assert_eq!(proxy.id, "gw-1");
    assert_eq!(proxy.kind, "gateway");
    assert_eq!(proxy.name, "edge");
    assert_eq!(proxy.address, "127.0.0.1:8443");
    assert_eq!(proxy.config_version, "cfg-1");
    assert!(proxy.connected);
    assert!(proxy.last_seen_age_ms < 400);
    assert!(
        (4..=6).contains(&proxy.uptime_secs),
        "{}",
        proxy.uptime_secs
    );

    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    let listed = proxies(&plane).await;
    assert!(!listed[0].connected);
    assert!(listed[0].last_seen_age_ms >= 400);

    client.heartbeat(&heartbeat("gw-1")).await.unwrap();
    assert!(proxies(&plane).await[0].connected);
}

#[tokio::test]
async fn a_proxy_can_be_removed() {
    let plane = start().await;
    let client = plane.client();
    client.heartbeat(&heartbeat("gw-a")).await.unwrap();
    client.heartbeat(&heartbeat("gw-b")).await.unwrap();
    assert!(client.remove_proxy("gw-a").await.unwrap());
    assert!(!client.remove_proxy("gw-a").await.unwrap());
    let ids: Vec<_> = proxies(&plane).await.into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["gw-b"]);
    assert!(client.remove_proxy("a/b").await.is_err());
}

#[tokio::test]
async fn an_in_process_proxy_stays_connected_while_registered() {
    let plane = start_with(TTL, Limits::default()).await;
    let now = SystemTime::now();
    let record = ProxyRecord {
        id: "local-gw".to_owned(),
        kind: "gateway".to_owned(),
        name: "rampart up".to_owned(),
        version: "0.1.0".to_owned(),
        address: "127.0.0.1:8443".to_owned(),
        config_version: "v1".to_owned(),
        started_at: now,
        last_seen: UNIX_EPOCH,
    };
    let local = plane.handle.register_local(record).await.unwrap();
    assert!(proxies(&plane).await[0].connected);

    tokio::time::sleep(TTL * 2).await;
    local.set_config_version("v2");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listed = proxies(&plane).await;
    assert!(listed[0].connected);
    assert_eq!(listed[0].config_version, "v2");

    drop(local);
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    assert!(!proxies(&plane).await[0].connected);

    let record = plane.store.list_proxies().await.unwrap().remove(0);
    let local = plane
        .handle
        .registry()
        .register_local(record)
        .await
        .unwrap();
    assert!(proxies(&plane).await[0].connected);
    local.deregister().await.unwrap();
    assert!(proxies(&plane).await.is_empty());
}

#[tokio::test]
async fn config_versions_are_listed_newest_first() {
    let plane = start().await;
    for (i, accepted) in [true, false, true].into_iter().enumerate() {
        let version = ConfigVersion {
            id: 0,
            hash: format!("hash-{i}"),
            source: "rampart.yaml".to_owned(),
            applied_at: SystemTime::now(),
            accepted,
            error: (!accepted).then(|| "bad route".to_owned()),
        };
        plane.store.record_config_version(&version).await.unwrap();
    }
    let listed = plane.client().config_versions(2).await.unwrap().versions;
    let hashes: Vec<_> = listed.iter().map(|v| v.hash.as_str()).collect();
    assert_eq!(hashes, ["hash-2", "hash-1"]);
    assert_eq!(listed[1].error.as_deref(), Some("bad route"));
    assert!(!listed[1].accepted);
}
