//! The mesh routes: registration and its expiry, the snapshot watch, and their mTLS
//! authentication.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use rampart_control::{
    ControlClient, ControlError, MeshWatch,
    api::{DeregisterWorkload, MeshSnapshot, RegisterWorkload},
};
use rampart_core::spiffe::SpiffeId;
use rampart_events::SecurityKind;
use rampart_identity::make_csr;

use crate::support::{Settings, TRUST_DOMAIN, Workload, next_event, start, start_settings};

const ORDERS: &str = "spiffe://rampart.local/ns/shop/sa/orders";

fn register(instance: &str, address: &str) -> RegisterWorkload {
    RegisterWorkload {
        instance: instance.to_owned(),
        address: address.to_owned(),
    }
}

/// The next snapshot (within 1 s) that satisfies `check`.
async fn until(watch: &mut MeshWatch, check: impl Fn(&MeshSnapshot) -> bool) -> MeshSnapshot {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let snapshot = tokio::time::timeout(left, watch.next())
            .await
            .expect("the change reaches the watcher within 1 s")
            .expect("the stream goes on")
            .unwrap();
        if check(&snapshot) {
            return snapshot;
        }
    }
}

fn endpoints(snapshot: &MeshSnapshot, spiffe_id: &str) -> Vec<(String, String)> {
    snapshot
        .services
        .iter()
        .filter(|s| s.spiffe_id == spiffe_id)
        .flat_map(|s| &s.endpoints)
        .map(|e| (e.instance.clone(), e.address.clone()))
        .collect()
}

async fn watch(workload: &Workload) -> MeshWatch {
    workload.client().watch_mesh().await.unwrap()
}

#[tokio::test]
async fn a_registration_reaches_watchers_at_once_and_a_deregistration_removes_it() {
    let plane = start().await;
    let orders = plane.join("orders", "shop").await;
    let cart = plane.join("cart", "shop").await;

    let mut watching = watch(&cart).await;
    let first = watching.next().await.unwrap().unwrap();
    assert_eq!(first.trust_domain, TRUST_DOMAIN);
    assert!(first.services.is_empty(), "{first:?}");
    assert!(first.revoked_serials.is_empty());
    assert_eq!(first.bundle_pem.len(), 1);

    let ack = orders
        .client()
        .register_workload(&register("orders-1", "10.0.0.1:15006"))
        .await
        .unwrap();
    assert_eq!(ack.ttl_secs, 30);
    let seen = until(&mut watching, |s| !s.services.is_empty()).await;
    assert!(seen.version > first.version);
    assert_eq!(
        endpoints(&seen, ORDERS),
        [("orders-1".to_owned(), "10.0.0.1:15006".to_owned())]
    );
    // `rampart status` lists it too.
    let status = plane.client().status().await.unwrap();
    assert_eq!(status.workloads, seen.services);
    let service = &seen.services[0];
    assert_eq!(
        (service.service.as_str(), service.namespace.as_str()),
        ("orders", "shop")
    );
    // The in-process view is the same snapshot.
    assert_eq!(**plane.handle.mesh_snapshot().borrow(), seen);

    // A heartbeat that changes nothing publishes nothing; a move does.
    orders
        .client()
        .register_workload(&register("orders-1", "10.0.0.1:15006"))
        .await
        .unwrap();
    orders
        .client()
        .register_workload(&register("orders-1", "10.0.0.2:15006"))
        .await
        .unwrap();
    let moved = until(&mut watching, |_| true).await;
    assert_eq!(moved.version, seen.version + 1);
    assert_eq!(
        endpoints(&moved, ORDERS),
        [("orders-1".to_owned(), "10.0.0.2:15006".to_owned())]
    );

    let leave = DeregisterWorkload {
        instance: "orders-1".to_owned(),
    };
    assert!(orders.client().deregister_workload(&leave).await.unwrap());
    let gone = until(&mut watching, |s| s.services.is_empty()).await;
    assert!(gone.version > moved.version);
    assert!(!orders.client().deregister_workload(&leave).await.unwrap());
}

#[tokio::test]
async fn an_endpoint_without_heartbeats_expires() {
    let plane = start_settings(Settings {
        workload_ttl: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let orders = plane.join("orders", "shop").await;
    let client = orders.client();
    let ack = client
        .register_workload(&register("orders-1", "orders-1.shop:15006"))
        .await
        .unwrap();
    assert_eq!(ack.ttl_secs, 1);
    let mut watching = watch(&orders).await;
    until(&mut watching, |s| !s.services.is_empty()).await;

    // Heartbeats every third of the ttl keep it for longer than the ttl.
    let kept_until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < kept_until {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client
            .register_workload(&register("orders-1", "orders-1.shop:15006"))
            .await
            .unwrap();
        assert!(!plane.handle.mesh_snapshot().borrow().services.is_empty());
    }
    // Then silence: gone within the ttl and a sweep.
    let stopped = Instant::now();
    let gone = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let snapshot = watching.next().await.unwrap().unwrap();
            if snapshot.services.is_empty() {
                return snapshot;
            }
        }
    })
    .await
    .expect("the endpoint expires");
    assert!(gone.services.is_empty());
    assert!(
        stopped.elapsed() >= Duration::from_millis(500),
        "{:?}",
        stopped.elapsed()
    );
}

#[tokio::test]
async fn mesh_routes_need_the_current_svid() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let anonymous = ControlClient::workload(&plane.url, &plane.ca_path).unwrap();
    let error = anonymous.watch_mesh().await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    let event = next_event(&mut events, SecurityKind::AuthFailed).await;
    assert!(event.detail.contains("mesh watch"), "{}", event.detail);
    let error = anonymous
        .register_workload(&register("x", "10.0.0.1:1"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );

    // The admin token is no substitute for an SVID.
    for (method, path) in [
        (Method::GET, "/v1/mesh/watch"),
        (Method::POST, "/v1/mesh/register"),
        (Method::POST, "/v1/mesh/deregister"),
    ] {
        let body = r#"{"instance":"x","address":"10.0.0.1:1"}"#;
        let reply = plane.h1(method, path, Some(&plane.bearer()), body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        let error = reply.error().error.to_lowercase();
        assert!(error.contains("current svid"), "{error}");
    }
}

#[tokio::test]
async fn malformed_registrations_get_400_with_the_reason() {
    let plane = start().await;
    let orders = plane.join("orders", "shop").await;
    for (body, why) in [
        ("not json", "invalid json body"),
        (r#"{"instance":"a"}"#, "missing field `address`"),
        (
            r#"{"instance":"a","address":"10.0.0.1:1","extra":true}"#,
            "unknown field `extra`",
        ),
        (r#"{"instance":"a b","address":"10.0.0.1:1"}"#, "`instance`"),
        (
            r#"{"instance":"a","address":"0.0.0.0:15006"}"#,
            "unspecified",
        ),
        (r#"{"instance":"a","address":"10.0.0.1"}"#, "host:port"),
    ] {
        let reply = orders.h1(Method::POST, "/v1/mesh/register", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let error = reply.error();
        assert_eq!(error.code, "bad_request");
        assert!(error.error.contains(why), "{body}: {}", error.error);
    }
    let reply = orders
        .h1(Method::POST, "/v1/mesh/deregister", r#"{"name":"a"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().error.contains("unknown field `name`"));
    assert!(plane.handle.mesh_snapshot().borrow().services.is_empty());

    // The raw route answers a good registration like the client does.
    let reply = orders
        .h1(
            Method::POST,
            "/v1/mesh/register",
            r#"{"instance":"a","address":"[fd00::1]:15006"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["ttl_secs"], 30);
}

#[tokio::test]
async fn a_local_svid_is_issued_and_recorded_in_process() {
    let plane = start().await;
    let id = SpiffeId::parse("spiffe://rampart.local/ns/rampart/sa/gateway").unwrap();
    let (_key, csr) = make_csr().unwrap();
    let issued = plane.handle.issue_local_svid(&id, &csr).await.unwrap();
    assert_eq!(issued.spiffe_id, id.to_string());
    assert_eq!(issued.bundle_pem.len(), 1);
    let listed = plane
        .client()
        .list_svids(Some("gateway"), Some("rampart"), 10)
        .await
        .unwrap();
    assert_eq!(listed.svids.len(), 1);
    assert_eq!(listed.svids[0].how, "local");

    let elsewhere = SpiffeId::parse("spiffe://other.domain/ns/a/sa/b").unwrap();
    let error = plane
        .handle
        .issue_local_svid(&elsewhere, &csr)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("trust domain"), "{error}");
}

#[tokio::test]
async fn open_watches_end_when_the_control_plane_shuts_down() {
    let plane = start().await;
    let orders = plane.join("orders", "shop").await;
    let mut watching = watch(&orders).await;
    watching.next().await.unwrap().unwrap();
    let stopped = Instant::now();
    // The drain does not wait for the stream: it ends at once.
    tokio::time::timeout(Duration::from_secs(5), plane.handle.shutdown())
        .await
        .expect("the shutdown is not held up by the watch");
    assert!(stopped.elapsed() < Duration::from_secs(5));
    let end = tokio::time::timeout(Duration::from_secs(1), watching.next())
        .await
        .expect("the stream ends");
    assert!(end.as_ref().is_none_or(Result::is_err), "{end:?}");
}
