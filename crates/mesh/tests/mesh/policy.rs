//! Authorization policy in sidecars: the set a snapshot carries is installed before inbound
//! requests are served, follows updates, runs dry runs whose disagreements reach the control
//! plane, and survives a restart without the control plane (last known good).

use std::{collections::BTreeMap, time::Duration};

use rampart_control::api::ApplyPolicy;
use rampart_mesh::{Origin, Sidecar, SidecarHandle};
use rampart_policy::{Flow, PolicySource, Segment, Segments};
use rampart_testkit::RecordingUpstream;
use tokio::time::Instant;

use crate::support::{Plane, call, eventually, plane};

/// Lets each workload call out through its own outbound listener (a `Route` there); what
/// reaches a service's inbound listener is up to the segments.
const OUTBOUND: &str =
    "@id(\"outbound\")\npermit(principal, action, resource is Rampart::Route);\n";

/// `a` and `b` in segment `app`, with or without the flow `app → app`.
fn source(flow: bool) -> PolicySource {
    let services = ["a", "b"].map(|s| (s.to_owned(), "app".to_owned()));
    PolicySource {
        files: BTreeMap::from([("outbound.cedar".to_owned(), OUTBOUND.to_owned())]),
        segments: Segments {
            segments: vec![Segment {
                name: "app".to_owned(),
                cidrs: vec![],
            }],
            services: services.into_iter().collect(),
            flows: match flow {
                true => vec![Flow {
                    from: "app".to_owned(),
                    to: "app".to_owned(),
                    actions: None,
                }],
                false => vec![],
            },
        },
    }
}

async fn apply(plane: &Plane, source: PolicySource, dry_run: bool) -> u64 {
    let request = ApplyPolicy {
        source,
        segments_from_current: false,
        author: "test".to_owned(),
        message: String::new(),
        dry_run,
    };
    plane.admin.apply_policy(&request).await.unwrap().version
}

/// Waits until `sidecar` enforces `version`; how long it took.
async fn installed(sidecar: &SidecarHandle, version: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    eventually(
        limit,
        &format!("policy version {version} installed"),
        || async { sidecar.gateway().policy_version() == Some(version) },
    )
    .await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_install_follow_and_dry_run_the_policy_and_keep_it_across_a_restart() {
    let plane = plane(Duration::from_secs(3600)).await;
    let v1 = apply(&plane, source(true), false).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    let b_options = plane.options("b", app_b.addr()).await;
    let b = Sidecar::start(b_options.clone()).await.unwrap();
    installed(&a, v1, Duration::from_secs(5)).await;
    installed(&b, v1, Duration::from_secs(5)).await;
    eventually(Duration::from_secs(10), "a route from A to B", || async {
        call(&a, "b", "/hello").await.status() == Some(200)
    })
    .await;

    // A dry run that would deny A → B: still served, and the disagreement is reported.
    let v2 = apply(&plane, source(false), true).await;
    eventually(
        Duration::from_secs(5),
        "the shadow set installed",
        || async {
            call(&a, "b", "/dry").await.status() == Some(200)
                && !plane
                    .admin
                    .policy_dry_run_report()
                    .await
                    .unwrap()
                    .entries
                    .is_empty()
        },
    )
    .await;
    let report = plane.admin.policy_dry_run_report().await.unwrap();
    assert_eq!(report.shadow_version, Some(v2));
    let entry = report
        .entries
        .iter()
        .find(|e| e.to == "b")
        .unwrap_or_else(|| panic!("{report:?}"));
    assert_eq!((entry.from.as_str(), entry.action.as_str()), ("a", "GET"));
    assert!(entry.enforced_allowed && !entry.shadow_allowed, "{entry:?}");
    assert_eq!(
        b.gateway().policy_version(),
        Some(v1),
        "a dry run enforces nothing"
    );

    // Enforced: B refuses A, soon after the apply.
    let v3 = apply(&plane, source(false), false).await;
    let took = installed(&b, v3, Duration::from_secs(2)).await;
    eprintln!("policy version {v3} installed in the sidecar {took:?} after the apply");
    assert_eq!(call(&a, "b", "/denied").await.status(), Some(403));
    let served = app_b.count();
    assert_eq!(call(&a, "b", "/denied-again").await.status(), Some(403));
    assert_eq!(app_b.count(), served, "nothing reaches B's app");

    // Restarted without the control plane, B enforces the kept set from the start.
    b.shutdown(Duration::from_secs(1)).await;
    a.shutdown(Duration::from_secs(1)).await;
    let Plane { dir, handle, .. } = plane;
    handle.shutdown().await;
    let mut again = b_options;
    again.join_token = None;
    again.first_snapshot_wait = Duration::from_millis(100);
    let resumed = Sidecar::start(again).await.unwrap();
    assert_eq!(resumed.origin(), Origin::Persisted);
    assert_eq!(
        resumed.gateway().policy_version(),
        Some(v3),
        "installed before start returns"
    );
    resumed.shutdown(Duration::from_secs(1)).await;
    drop(dir);
}
