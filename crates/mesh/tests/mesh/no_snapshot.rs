//! No snapshot, no traffic: a sidecar resuming with its kept SVID but without a usable kept
//! snapshot takes one from the control plane or refuses to start; a corrupt snapshot file is
//! never used.

use std::{net::SocketAddr, time::Duration};

use rampart_mesh::{MeshError, Origin, Sidecar};
use rampart_testkit::RecordingUpstream;

use crate::support::{Plane, call, eventually, plane};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_sidecar_without_a_usable_snapshot_needs_the_control_plane() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app = RecordingUpstream::start();
    let mut options = plane.options("a", app.addr()).await;
    options.inbound = SocketAddr::from(([127, 0, 0, 1], rampart_testkit::free_port()));
    let sidecar = Sidecar::start(options.clone()).await.unwrap();
    eventually(Duration::from_secs(10), "a route to itself", || async {
        call(&sidecar, "a", "/self").await.status() == Some(200)
    })
    .await;
    let kept = sidecar.data_dir().join("snapshot.json");
    sidecar.shutdown(Duration::from_secs(1)).await;
    let good = std::fs::read(&kept).unwrap();

    // With the control plane up, a missing snapshot is fetched before anything serves.
    let mut again = options;
    again.join_token = None;
    again.first_snapshot_wait = Duration::from_secs(5);
    std::fs::remove_file(&kept).unwrap();
    let resumed = Sidecar::start(again.clone()).await.unwrap();
    assert_eq!(resumed.origin(), Origin::Persisted);
    assert!(kept.exists(), "the fetched snapshot is kept");
    // The shutdown withdrew its registration; it registers again and routes to itself.
    eventually(
        Duration::from_secs(10),
        "a route to itself again",
        || async { call(&resumed, "a", "/fetched").await.status() == Some(200) },
    )
    .await;
    resumed.shutdown(Duration::from_secs(1)).await;

    let Plane { dir, handle, .. } = plane;
    handle.shutdown().await;
    again.first_snapshot_wait = Duration::from_millis(500);

    // A corrupt snapshot is not used, and with the control plane down nothing replaces it.
    std::fs::write(&kept, b"{\"version\": 7, \"services\": [").unwrap();
    let err = Sidecar::start(again.clone()).await.unwrap_err();
    assert!(matches!(err, MeshError::NoSnapshot { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("corrupt"), "{text}");
    assert!(text.contains("snapshot.json"), "{text}");
    assert!(text.contains("no snapshot, no traffic"), "{text}");
    // Nothing listens on the inbound address: it refused before binding.
    assert!(
        std::net::TcpStream::connect(again.inbound).is_err(),
        "no listener after a refused start"
    );

    // No snapshot at all: the same refusal.
    std::fs::remove_file(&kept).unwrap();
    let err = Sidecar::start(again.clone()).await.unwrap_err();
    assert!(err.to_string().contains("none is kept"), "{err}");

    // The good snapshot back: it serves from it without the control plane.
    std::fs::write(&kept, good).unwrap();
    let resumed = Sidecar::start(again).await.unwrap();
    assert_eq!(call(&resumed, "a", "/kept").await.status(), Some(200));
    resumed.shutdown(Duration::from_secs(1)).await;
    drop(dir);
}
