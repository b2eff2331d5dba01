//! The mesh under continuous load: a CA rollover and SVID rotations lose no request.
//!
//! Sidecars A and B run in process against a real control plane; workers send requests from
//! "app A" to A's outbound listener (`Host: b`), through mTLS to B's inbound listener and on to
//! B's app, the whole time: one after another on kept-alive connections, and on a fresh
//! connection per request. Every request must get a `200`.

use std::{path::Path, time::Duration, time::SystemTime};

use rampart_control::api::{CaStatus, RolloverStep};
use rampart_core::spiffe::TrustDomain;
use rampart_identity::{TrustBundle, verify_svid};
use rampart_mesh::{Sidecar, SidecarHandle};
use rampart_testkit::RecordingUpstream;
use tokio::time::Instant;

use crate::support::{
    Plane, TRUST_DOMAIN, call, counter, eventually, kept_roots, kept_serial,
    load::{Load, Worker},
    pem_certs, plane,
};

/// Long enough that no scheduled renewal happens during a test.
const SVID_TTL: Duration = Duration::from_secs(3600);
/// How long the load runs at least between two steps.
const PHASE: Duration = Duration::from_millis(400);
/// The most any single wait of these tests may take.
const LIMIT: Duration = Duration::from_secs(10);

/// A control plane, sidecars A and B and their apps, with A routing to B.
struct Mesh {
    plane: Plane,
    a: SidecarHandle,
    b: SidecarHandle,
    app_b: RecordingUpstream,
    _app_a: RecordingUpstream,
}

async fn mesh() -> Mesh {
    let plane = plane(SVID_TTL).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let b = Sidecar::start(plane.options("b", app_b.addr()).await)
        .await
        .unwrap();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    eventually(LIMIT, "a route from A to B", || async {
        call(&a, "b", "/warm-up").await.status() == Some(200)
    })
    .await;
    Mesh {
        plane,
        a,
        b,
        app_b,
        _app_a: app_a,
    }
}

/// Sequential requests on one kept-alive connection, two more kept-alive connections at the
/// same time, and one client opening a new connection per request: all from A to B.
fn load_from(a: &SidecarHandle) -> Load {
    let outbound = a.outbound_addr().unwrap();
    Load::start(vec![
        Worker::new("sequential", outbound, "b", true),
        Worker::new("concurrent-1", outbound, "b", true),
        Worker::new("concurrent-2", outbound, "b", true),
        Worker::new("fresh", outbound, "b", false).paced(Duration::from_millis(2)),
    ])
}

/// Full mesh handshakes the sidecar has made to other sidecars.
fn outbound_full_handshakes(sidecar: &SidecarHandle) -> u64 {
    let metrics = sidecar.gateway().render_metrics();
    counter(
        &metrics,
        "rampart_mesh_handshakes_total",
        &["side=\"outbound\"", "kind=\"full\""],
    )
}

/// A bundle of the one root in `root_pem`.
fn bundle_of(root_pem: &Path) -> TrustBundle {
    let mut bundle = TrustBundle::new(TrustDomain::parse(TRUST_DOMAIN).unwrap());
    for root in pem_certs(root_pem) {
        bundle.add(root).unwrap();
    }
    bundle
}

/// Whether the SVID kept in the sidecar's data directory chains to a root of `bundle`.
fn chains_to(sidecar: &SidecarHandle, bundle: &TrustBundle) -> bool {
    let chain = pem_certs(&sidecar.data_dir().join("svid.pem"));
    verify_svid(&chain, bundle, SystemTime::now()).is_ok()
}

fn generation(status: &CaStatus, n: u32) -> &rampart_control::api::CaGeneration {
    status
        .generations
        .iter()
        .find(|g| g.generation == n)
        .unwrap_or_else(|| panic!("no generation {n} in {status:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_rollover_under_load_loses_no_request() {
    let Mesh {
        plane, a, b, app_b, ..
    } = mesh().await;
    let (old_a, old_b) = (a.serial(), b.serial());
    let (old_root, new_root) = (plane.root_of_generation(1), plane.root_of_generation(2));
    let start = Instant::now();
    let load = load_from(&a);
    load.hold(PHASE, 50, LIMIT, "load before the rollover")
        .await;

    // Prepare: the new root joins the bundle, and both sidecars trust both roots.
    let status = plane
        .admin
        .ca_rollover(RolloverStep::Prepare, false)
        .await
        .unwrap();
    assert!(generation(&status, 2).trusted && !generation(&status, 2).active);
    eventually(LIMIT, "both sidecars trust both roots", || async {
        kept_roots(a.data_dir()) == 2 && kept_roots(b.data_dir()) == 2
    })
    .await;
    load.hold(PHASE, 50, LIMIT, "load with two roots").await;

    // Activate, then both renew onto the new root (one after the other, under load).
    let status = plane
        .admin
        .ca_rollover(RolloverStep::Activate, false)
        .await
        .unwrap();
    assert!(generation(&status, 2).active && generation(&status, 1).trusted);
    // Not yet: both sidecars still hold live SVIDs of the old root.
    let early = plane.admin.ca_rollover(RolloverStep::Retire, false).await;
    assert!(early.is_err(), "retired before anyone renewed: {early:?}");
    a.renew_now().await.unwrap();
    load.hold(PHASE, 50, LIMIT, "load after A renewed").await;
    b.renew_now().await.unwrap();
    load.hold(PHASE, 50, LIMIT, "load after B renewed").await;
    assert_ne!(a.serial(), old_a);
    assert_ne!(b.serial(), old_b);
    let (only_new, only_old) = (bundle_of(&new_root), bundle_of(&old_root));
    for sidecar in [&a, &b] {
        eventually(LIMIT, "the renewed SVID kept", || async {
            kept_serial(sidecar.data_dir()) == sidecar.serial()
        })
        .await;
        assert!(
            chains_to(sidecar, &only_new),
            "{sidecar:?}: not from the new root"
        );
        assert!(
            !chains_to(sidecar, &only_old),
            "{sidecar:?}: still from the old root"
        );
    }
    // The control plane's record agrees: the SVIDs in use were signed by generation 2.
    let new_fingerprint = generation(&status, 2).fingerprint.clone();
    for sidecar in [&a, &b] {
        let service = sidecar.spiffe_id().to_string();
        let service = service.rsplit('/').next().unwrap().to_owned();
        let list = plane
            .admin
            .list_svids(Some(&service), None, 10)
            .await
            .unwrap();
        let current = list
            .svids
            .iter()
            .find(|s| s.serial == sidecar.serial())
            .unwrap_or_else(|| panic!("{} not listed: {list:?}", sidecar.serial()));
        assert_eq!(current.ca_fingerprint, new_fingerprint);
        assert_eq!(current.how, "renew");
    }

    // Retire, without force: the old SVIDs are superseded by their holders' renewals.
    let handshakes_before = outbound_full_handshakes(&a);
    let status = plane
        .admin
        .ca_rollover(RolloverStep::Retire, false)
        .await
        .unwrap();
    assert!(!generation(&status, 1).trusted, "{status:?}");
    let retired = Instant::now();
    eventually(LIMIT, "both sidecars trust only the new root", || async {
        kept_roots(a.data_dir()) == 1 && kept_roots(b.data_dir()) == 1
    })
    .await;
    // The bundle change rebuilt A's mesh TLS: requests from here on go over new mesh
    // connections, verified against the new root alone.
    load.hold(PHASE, 200, LIMIT, "load after retirement").await;
    assert!(
        outbound_full_handshakes(&a) > handshakes_before,
        "no new mesh connection after retirement"
    );
    let report = load.stop().await;
    eprintln!(
        "{} requests in {:?}",
        report.outcomes.len(),
        start.elapsed()
    );
    assert!(
        report.failures().is_empty(),
        "{}",
        report.describe_failures(start)
    );
    for worker in ["sequential", "concurrent-1", "fresh"] {
        assert!(
            report.ok_started_after(worker, retired) > 0,
            "{worker}: no request after retirement"
        );
    }
    assert!(app_b.count() >= report.successes());
    let last = app_b.requests().last().cloned().unwrap();
    assert_eq!(
        last.header_str("x-rampart-peer-id"),
        Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a").as_str())
    );
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svid_rotation_under_continuous_load_loses_no_request() {
    let Mesh {
        plane: _plane,
        a,
        b,
        app_b,
        ..
    } = mesh().await;
    let mut serials = vec![a.serial(), b.serial()];
    let handshakes_before = outbound_full_handshakes(&a);
    let start = Instant::now();
    let load = load_from(&a);
    load.hold(PHASE, 50, LIMIT, "load before rotation").await;

    let mut last_rotation = Instant::now();
    for _ in 0..3 {
        for sidecar in [&a, &b] {
            sidecar.renew_now().await.unwrap();
            serials.push(sidecar.serial());
            last_rotation = Instant::now();
            load.hold(PHASE / 2, 30, LIMIT, "load after a rotation")
                .await;
        }
    }
    load.hold(PHASE, 100, LIMIT, "load after the last rotation")
        .await;
    let report = load.stop().await;
    eprintln!(
        "{} requests in {:?}",
        report.outcomes.len(),
        start.elapsed()
    );
    assert!(
        report.failures().is_empty(),
        "{}",
        report.describe_failures(start)
    );
    let distinct: std::collections::BTreeSet<_> = serials.iter().collect();
    assert_eq!(
        distinct.len(),
        serials.len(),
        "a serial repeated: {serials:?}"
    );
    for worker in ["sequential", "concurrent-2", "fresh"] {
        assert!(
            report.ok_started_after(worker, last_rotation) > 0,
            "{worker}: no request after the last rotation"
        );
    }
    // Each of A's three renewals made it drop its pooled mesh connections and open new ones
    // with the new SVID.
    assert!(
        outbound_full_handshakes(&a) >= handshakes_before + 3,
        "{} full handshakes before, {} after",
        handshakes_before,
        outbound_full_handshakes(&a)
    );
    assert!(app_b.count() >= report.successes());
    for sidecar in [&a, &b] {
        eventually(LIMIT, "the last SVID kept", || async {
            kept_serial(sidecar.data_dir()) == sidecar.serial()
        })
        .await;
    }
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}
