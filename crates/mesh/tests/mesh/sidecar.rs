//! Sidecars in process against a real control plane on loopback: bootstrap, renewal, the
//! watch driving routes, and revocation reaching the data plane.

use std::{net::SocketAddr, time::Duration};

use rampart_control::api::RevokeRequest;
use rampart_mesh::{Origin, Sidecar, Workload};
use rampart_testkit::RecordingUpstream;

use crate::support::{Plane, TRUST_DOMAIN, call, eventually, kept_serial, plane};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_svid_is_renewed_at_half_life_and_kept() {
    // Issued a minute in the past and valid 70 s from now: half-life is 5 s away.
    let plane = plane(Duration::from_secs(70)).await;
    let app = RecordingUpstream::start();
    let sidecar = Sidecar::start(plane.options("a", app.addr()).await)
        .await
        .unwrap();
    assert_eq!(sidecar.origin(), Origin::JoinToken);
    assert_eq!(
        sidecar.spiffe_id().to_string(),
        format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a")
    );
    let first = sidecar.serial();
    assert_eq!(kept_serial(sidecar.data_dir()), first);

    eventually(Duration::from_secs(20), "a renewal", || async {
        sidecar.serial() != first
    })
    .await;
    let second = sidecar.serial();
    eventually(Duration::from_secs(5), "the renewed SVID kept", || async {
        kept_serial(sidecar.data_dir()) == second
    })
    .await;

    // Renewing on demand works too, with a fresh serial each time.
    sidecar.renew_now().await.unwrap();
    assert_ne!(sidecar.serial(), second);
    sidecar.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_routes_to_new_services_and_revocation_cuts_them_off() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    // B joins after A: A learns of it from the watch and gets a route.
    let b = Sidecar::start(plane.options("b", app_b.addr()).await)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "a route from A to B", || async {
        call(&a, "b", "/hello").await.status() == Some(200)
    })
    .await;
    let seen = app_b.requests().last().cloned().unwrap();
    assert_eq!(
        seen.header_str("x-rampart-peer-id"),
        Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a").as_str())
    );
    // B calls A back by its qualified name.
    assert_eq!(call(&b, "a.default", "/back").await.status(), Some(200));
    assert_eq!(app_a.count(), 1);

    // A is revoked: B refuses it at once, and A knows it is revoked.
    let revoked = plane
        .admin
        .revoke(&RevokeRequest::service("a", "default"))
        .await
        .unwrap();
    assert_eq!(revoked.revoked, [a.serial()]);
    // Revocation reaches the proxies within a second (not at once): wait for the refusal,
    // then nothing more of A's gets through to B's app.
    eventually(Duration::from_secs(3), "A refused by B", || async {
        call(&a, "b", "/after").await.status() != Some(200)
    })
    .await;
    let before = app_b.count();
    assert_ne!(call(&a, "b", "/after-again").await.status(), Some(200));
    assert_eq!(app_b.count(), before);

    // A cannot renew, and notes the refusal so that a restart does not resume with it.
    let revoked_serial = a.serial();
    assert!(a.renew_now().await.is_err());
    let refused = a.data_dir().join("refused");
    eventually(Duration::from_secs(5), "the refusal noted", || async {
        std::fs::read_to_string(&refused).is_ok_and(|s| s.trim() == revoked_serial)
    })
    .await;
    let mut options = plane.options("a", app_a.addr()).await;
    options.data_dir = a.data_dir().to_owned();
    a.shutdown(Duration::from_secs(1)).await;

    // A new join token admits A again, with a fresh SVID that B accepts.
    let a = Sidecar::start(options).await.unwrap();
    assert_eq!(a.origin(), Origin::JoinToken);
    assert_ne!(a.serial(), revoked_serial);
    eventually(Duration::from_secs(10), "A admitted again", || async {
        call(&a, "b", "/again").await.status() == Some(200)
    })
    .await;
    b.shutdown(Duration::from_secs(1)).await;
    a.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_data_directory_without_the_control_plane() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app = RecordingUpstream::start();
    let mut options = plane.options("a", app.addr()).await;
    // The kept snapshot names this inbound address: the restart must bind it again.
    options.inbound = SocketAddr::from(([127, 0, 0, 1], rampart_testkit::free_port()));
    let sidecar = Sidecar::start(options.clone()).await.unwrap();
    let serial = sidecar.serial();
    // It knows itself from the snapshot (it registered), as a mesh peer of itself.
    eventually(Duration::from_secs(10), "a route to itself", || async {
        call(&sidecar, "a", "/self").await.status() == Some(200)
    })
    .await;
    sidecar.shutdown(Duration::from_secs(1)).await;
    let Plane { dir, handle, .. } = plane;
    handle.shutdown().await;

    // The token is spent and the control plane gone: the kept SVID is what remains.
    let mut again = options;
    again.join_token = None;
    again.first_snapshot_wait = Duration::from_millis(100);
    let resumed = Sidecar::start(again).await.unwrap();
    assert_eq!(resumed.origin(), Origin::Persisted);
    assert_eq!(resumed.serial(), serial);
    // It serves from the kept snapshot: through its outbound listener to its own inbound one.
    let reply = call(&resumed, "a", "/self").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    resumed.shutdown(Duration::from_secs(1)).await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_workload_or_a_spent_token_is_refused() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app = RecordingUpstream::start();
    let token = plane.token("b").await;
    let mut options = plane.options("a", app.addr()).await;
    options.join_token = Some(token.clone());
    let err = Sidecar::start(options.clone()).await.unwrap_err();
    assert!(err.to_string().contains("/sa/b"), "{err}");
    assert!(!err.to_string().contains(token.expose()));

    // The token was spent on that attempt.
    options.workload = Workload {
        service: "b".to_owned(),
        namespace: "default".to_owned(),
    };
    options.data_dir = plane.dir.path().join("other");
    let err = Sidecar::start(options).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}
