//! Revocation and the records of issued SVIDs: revoke by service or serial, the snapshot
//! carries the serials, revoked SVIDs are refused, and a new join token admits again.

use std::time::Duration;

use http::{Method, StatusCode};
use rampart_control::{
    ControlError,
    api::{RegisterWorkload, RevokeRequest},
    ca_fingerprint,
};
use rampart_events::SecurityKind;

use crate::support::{next_event, start};

#[tokio::test]
async fn revoking_a_service_refuses_its_svids_until_a_new_join_token() {
    let plane = start().await;
    let admin = plane.client();
    let mut events = plane.bus.subscribe();
    let first = plane.join("orders", "shop").await;
    let second = plane.join("orders", "shop").await;
    // Certificate times have a resolution of one second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let renewed = first.renew().await.unwrap();
    let cart = plane.join("cart", "shop").await;
    let elsewhere = plane.join("orders", "other").await;

    let mut watching = cart.client().watch_mesh().await.unwrap();
    assert!(
        watching
            .next()
            .await
            .unwrap()
            .unwrap()
            .revoked_serials
            .is_empty()
    );

    let revoked = admin
        .revoke(&RevokeRequest::service("orders", "shop"))
        .await
        .unwrap()
        .revoked;
    let mut expected = vec![first.serial(), second.serial(), renewed.serial()];
    expected.sort();
    assert_eq!(revoked, expected);
    for _ in 0..3 {
        let event = next_event(&mut events, SecurityKind::SvidRevoked).await;
        assert!(
            event.detail.contains("ns/shop/sa/orders"),
            "{}",
            event.detail
        );
    }

    // The watchers hear of it at once, and the in-process list has it.
    let snapshot = tokio::time::timeout(Duration::from_secs(1), watching.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.revoked_serials, expected);
    let revocations = plane.handle.revocations().load();
    assert!(expected.iter().all(|s| revocations.is_revoked(s)));
    assert!(!revocations.is_revoked(&cart.serial()));

    // A revoked SVID cannot renew, register or watch; the refusal is published.
    let error = renewed.renew().await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    let event = next_event(&mut events, SecurityKind::SvidRefused).await;
    assert!(event.detail.contains("revoked"), "{}", event.detail);
    let reply = second
        .h1(Method::POST, "/v1/identity/svid/renew", "{}")
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.error().error.contains("revoked"),
        "{:?}",
        reply.error()
    );
    let register = RegisterWorkload {
        instance: "orders-1".to_owned(),
        address: "10.0.0.1:15006".to_owned(),
    };
    let error = second
        .client()
        .register_workload(&register)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    let error = first.client().watch_mesh().await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );

    // Others are untouched: another namespace, another service.
    elsewhere.renew().await.unwrap();
    cart.renew().await.unwrap();
    // Revoking again revokes nothing new.
    let again = admin
        .revoke(&RevokeRequest::service("orders", "shop"))
        .await
        .unwrap();
    assert!(again.revoked.is_empty());

    // A new join token admits the service again, with a fresh, renewable SVID.
    let back = plane.join("orders", "shop").await;
    assert!(!expected.contains(&back.serial()));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    back.renew().await.unwrap();
    back.client().register_workload(&register).await.unwrap();
}

#[tokio::test]
async fn a_watch_ends_when_its_svid_is_revoked_by_serial() {
    let plane = start().await;
    let admin = plane.client();
    let orders = plane.join("orders", "shop").await;
    let cart = plane.join("cart", "shop").await;
    let mut orders_watch = orders.client().watch_mesh().await.unwrap();
    let mut cart_watch = cart.client().watch_mesh().await.unwrap();
    orders_watch.next().await.unwrap().unwrap();
    cart_watch.next().await.unwrap().unwrap();

    // Any case, with leading zeros: the same serial.
    let given = format!("00{}", orders.serial().to_uppercase());
    let revoked = admin.revoke(&RevokeRequest::serial(&given)).await.unwrap();
    assert_eq!(revoked.revoked, [orders.serial()]);

    let ended = tokio::time::timeout(Duration::from_secs(1), orders_watch.next())
        .await
        .expect("the revoked watcher's stream ends at once");
    assert!(ended.is_none(), "{ended:?}");
    let seen = tokio::time::timeout(Duration::from_secs(1), cart_watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.revoked_serials, [orders.serial()]);
}

#[tokio::test]
async fn revoke_requests_are_checked() {
    let plane = start().await;
    let bearer = plane.bearer();
    for (body, status, why) in [
        ("{}", 400, "missing `service` or `serial`"),
        (r#"{"service":"a","serial":"0a"}"#, 400, "not both"),
        (
            r#"{"namespace":"shop"}"#,
            400,
            "`namespace` needs `service`",
        ),
        (r#"{"serial":"0a","why":"x"}"#, 400, "unknown field `why`"),
        (r#"{"serial":"xyz"}"#, 400, "hexadecimal"),
        (
            r#"{"service":"a/b"}"#,
            400,
            "invalid `namespace` or `service`",
        ),
        (r#"{"serial":"0abc"}"#, 404, "serial `0abc`"),
        ("[]", 400, "invalid json body"),
    ] {
        let reply = plane
            .h1(Method::POST, "/v1/identity/revoke", Some(&bearer), body)
            .await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {:?}", reply.body);
        assert!(
            reply.error().error.contains(why),
            "{body}: {:?}",
            reply.error()
        );
    }
    // Admin routes need the admin token, even from a workload.
    let orders = plane.join("orders", "shop").await;
    let body = format!(r#"{{"serial":"{}"}}"#, orders.serial());
    let reply = orders.h1(Method::POST, "/v1/identity/revoke", &body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    for path in ["/v1/identity/svids", "/v1/identity/ca"] {
        let reply = orders.h1(Method::GET, path, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A service without SVIDs revokes nothing.
    let revoked = plane
        .client()
        .revoke(&RevokeRequest::service("nobody", "shop"))
        .await
        .unwrap();
    assert!(revoked.revoked.is_empty());
}

#[tokio::test]
async fn issued_svids_are_listed_with_how_they_were_issued() {
    let plane = start().await;
    let admin = plane.client();
    let joined = plane.join("orders", "shop").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let renewed = joined.renew().await.unwrap();
    let cart = plane.join("cart", "shop").await;
    let other = plane.join("orders", "other").await;
    admin
        .revoke(&RevokeRequest::serial(&joined.serial()))
        .await
        .unwrap();

    let orders = admin
        .list_svids(Some("orders"), Some("shop"), 100)
        .await
        .unwrap();
    let rows: Vec<_> = orders
        .svids
        .iter()
        .map(|s| (s.serial.clone(), s.how.as_str(), s.revoked))
        .collect();
    assert_eq!(
        rows,
        [
            (renewed.serial(), "renew", false),
            (joined.serial(), "join", true),
        ]
    );
    let newest = &orders.svids[0];
    assert_eq!(
        newest.renewed_from.as_deref(),
        Some(joined.serial().as_str())
    );
    assert_eq!(newest.spiffe_id, "spiffe://rampart.local/ns/shop/sa/orders");
    assert_eq!(newest.ca_fingerprint, ca_fingerprint(&plane.ca_der));
    assert_eq!(newest.expires_at_ms, renewed.issued.expires_at_ms);
    assert!(newest.issued_at_ms <= newest.expires_at_ms);

    let all = admin.list_svids(None, None, 100).await.unwrap();
    assert_eq!(all.svids.len(), 4);
    assert_eq!(all.svids[0].serial, other.serial(), "newest first");
    let shop = admin.list_svids(None, Some("shop"), 100).await.unwrap();
    let serials: Vec<_> = shop.svids.iter().map(|s| s.serial.clone()).collect();
    assert_eq!(serials, [cart.serial(), renewed.serial(), joined.serial()]);
    let one = admin.list_svids(None, None, 1).await.unwrap();
    assert_eq!(one.svids.len(), 1);

    let bearer = plane.bearer();
    for (query, why) in [
        ("?limit=0", "`limit`"),
        ("?limit=5000", "`limit`"),
        ("?servce=orders", "unknown field `servce`"),
    ] {
        let path = format!("/v1/identity/svids{query}");
        let reply = plane.h1(Method::GET, &path, Some(&bearer), "").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            reply.error().error.contains(why),
            "{query}: {:?}",
            reply.error()
        );
    }
}
