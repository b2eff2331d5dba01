//! CA rollover: prepare (two roots trusted), activate (new SVIDs from the new CA), retire
//! (refused while old SVIDs live unless forced), persisted across restarts.

use std::time::Duration;

use http::{Method, StatusCode};
use rampart_control::{
    ControlError,
    api::{CaStatus, RolloverStep},
    ca_fingerprint,
};
use rampart_events::SecurityKind;
use rustls::pki_types::CertificateDer;

use crate::support::{Plane, Settings, ders, next_event, start, start_settings};

/// `(generation, active, trusted)` of every generation.
fn summary(status: &CaStatus) -> Vec<(u32, bool, bool)> {
    status
        .generations
        .iter()
        .map(|g| (g.generation, g.active, g.trusted))
        .collect()
}

fn roots(plane: &Plane) -> Vec<CertificateDer<'static>> {
    plane.bundle.load().roots().to_vec()
}

fn conflict(error: ControlError) -> String {
    match error {
        ControlError::Http {
            status: 409,
            message,
        } => message,
        other => panic!("expected 409, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rollover_keeps_old_svids_valid_until_the_old_root_is_retired() {
    let plane = start().await;
    let admin = plane.client();
    let mut events = plane.bus.subscribe();
    let status = admin.ca_status().await.unwrap();
    assert_eq!(summary(&status), [(1, true, true)]);
    assert_eq!(
        status.generations[0].fingerprint,
        ca_fingerprint(&plane.ca_der)
    );
    let old_root = CertificateDer::from(plane.ca_der.clone());
    let old = plane.join("orders", "shop").await;
    // A workload that does not renew before the retirement is attempted.
    let lingering = plane.join("billing", "shop").await;

    // Prepare: both roots are trusted, by the server and in the snapshot.
    let prepared = admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    assert_eq!(summary(&prepared), [(1, true, true), (2, false, true)]);
    next_event(&mut events, SecurityKind::CaRollover).await;
    let both = roots(&plane);
    assert_eq!(both.len(), 2);
    let new_root = both[1].clone();
    assert_eq!(
        prepared.generations[1].fingerprint,
        ca_fingerprint(&new_root)
    );
    assert_eq!(plane.handle.mesh_snapshot().borrow().bundle_pem.len(), 2);
    assert!(old.verifies_with(&both));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Generation 1 still signs; new SVIDs come with both roots.
    let still_old = old.renew().await.unwrap();
    assert!(still_old.verifies_with(std::slice::from_ref(&old_root)));
    assert_eq!(still_old.issued.bundle_pem.len(), 2);
    let error = admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap_err();
    assert!(conflict(error).contains("already prepared"));

    // Activate: new SVIDs chain to the new root only; old ones still verify.
    let activated = admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap();
    assert_eq!(summary(&activated), [(1, false, true), (2, true, true)]);
    let moved = still_old.renew().await.unwrap();
    assert!(moved.verifies_with(std::slice::from_ref(&new_root)));
    assert!(!moved.verifies_with(std::slice::from_ref(&old_root)));
    assert!(old.verifies_with(&roots(&plane)));
    let listed = admin
        .list_svids(Some("orders"), Some("shop"), 10)
        .await
        .unwrap();
    assert_eq!(listed.svids[0].ca_fingerprint, ca_fingerprint(&new_root));
    let error = admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap_err();
    assert!(conflict(error).contains("run `prepare` first"));

    // Retire: refused while an SVID of generation 1 that its holder has not renewed lives
    // (`old` and `still_old` are superseded by renewals; `lingering` is not).
    let error = admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap_err();
    let message = conflict(error);
    assert!(
        message.contains("1 unexpired") && message.contains("generation 1"),
        "{message}"
    );
    assert!(message.contains("force"), "{message}");
    assert_eq!(roots(&plane).len(), 2);
    // Once it renews (from generation 2), nothing holds the retirement back.
    let renewed = lingering.renew().await.unwrap();
    assert!(renewed.verifies_with(std::slice::from_ref(&new_root)));
    let retired = admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap();
    assert_eq!(summary(&retired), [(1, false, false), (2, true, true)]);
    assert_eq!(roots(&plane), std::slice::from_ref(&new_root));
    let snapshot = plane.handle.mesh_snapshot().borrow().clone();
    assert_eq!(ders(&snapshot.bundle_pem), [new_root]);

    // The old SVID no longer verifies (the handshake already refuses it); the new one
    // renews.
    let error = old.renew().await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. })
            || error.to_string().contains("UnknownCA"),
        "{error:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    moved.renew().await.unwrap();
    let error = admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap_err();
    assert!(conflict(error).contains("nothing to retire"));

    // Join tokens still pin generation 1, the CA of the serving certificate.
    let token = plane.join_token("cart", "shop").await;
    assert!(token.ends_with(&ca_fingerprint(&plane.ca_der)));
    let cart = plane.join("cart", "shop").await;
    assert!(cart.verifies_with(&roots(&plane)));
}

#[tokio::test]
async fn retire_is_allowed_once_the_old_svids_are_revoked() {
    let plane = start().await;
    let admin = plane.client();
    let old = plane.join("orders", "shop").await;
    admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap();
    assert!(
        admin
            .ca_rollover(RolloverStep::Retire, false)
            .await
            .is_err()
    );
    admin
        .revoke(&rampart_control::api::RevokeRequest::serial(&old.serial()))
        .await
        .unwrap();
    let retired = admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap();
    assert_eq!(summary(&retired), [(1, false, false), (2, true, true)]);
}

#[tokio::test]
async fn force_retires_despite_live_svids_of_the_old_root() {
    let plane = start().await;
    let admin = plane.client();
    let old = plane.join("orders", "shop").await;
    admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap();
    assert!(
        admin
            .ca_rollover(RolloverStep::Retire, false)
            .await
            .is_err()
    );
    let retired = admin.ca_rollover(RolloverStep::Retire, true).await.unwrap();
    assert_eq!(summary(&retired), [(1, false, false), (2, true, true)]);
    assert!(!old.verifies_with(&roots(&plane)));
}

#[tokio::test]
async fn a_prepared_generation_can_be_retired_unused_to_start_over() {
    let plane = start().await;
    let admin = plane.client();
    admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    let cancelled = admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap();
    assert_eq!(summary(&cancelled), [(1, true, true), (2, false, false)]);
    assert_eq!(roots(&plane).len(), 1);
    let again = admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    assert_eq!(
        summary(&again),
        [(1, true, true), (2, false, false), (3, false, true)]
    );
}

#[tokio::test]
async fn the_rollover_state_survives_a_restart() {
    let plane = start().await;
    let admin = plane.client();
    admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap();
    let before = admin.ca_status().await.unwrap();
    let new_root = roots(&plane)[1].clone();

    let plane = plane.restart().await;
    let after = plane.client().ca_status().await.unwrap();
    assert_eq!(after, before);
    assert_eq!(roots(&plane).len(), 2);
    let orders = plane.join("orders", "shop").await;
    assert!(orders.verifies_with(std::slice::from_ref(&new_root)));
    assert_eq!(plane.handle.mesh_snapshot().borrow().bundle_pem.len(), 2);
}

#[tokio::test]
async fn rollover_requests_are_checked() {
    let plane = start_settings(Settings {
        ca_dir: false,
        ..Settings::default()
    })
    .await;
    let error = plane
        .client()
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap_err();
    assert!(conflict(error).contains("`ca_dir`"));

    let plane = start().await;
    let bearer = plane.bearer();
    for (body, why) in [
        (r#"{"step":"later"}"#, "unknown variant `later`"),
        (r#"{"force":true}"#, "missing field `step`"),
        (r#"{"step":"retire","now":true}"#, "unknown field `now`"),
    ] {
        let reply = plane
            .h1(
                Method::POST,
                "/v1/identity/ca/rollover",
                Some(&bearer),
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            reply.error().error.contains(why),
            "{body}: {:?}",
            reply.error()
        );
    }
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/ca/rollover",
            None,
            r#"{"step":"prepare"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        plane.client().ca_status().await.unwrap().generations.len(),
        1
    );
}
