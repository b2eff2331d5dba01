//! Revocation under load: once a service is revoked, the sidecars it calls refuse it within a
//! second (its open mesh connections closed, new handshakes refused), while other callers of
//! the same sidecars lose no request.

use std::time::Duration;

use rampart_control::api::RevokeRequest;
use rampart_mesh::Sidecar;
use rampart_testkit::RecordingUpstream;
use tokio::time::{Instant, sleep_until};

use crate::support::{
    TRUST_DOMAIN, call, counter, eventually,
    load::{Load, Worker},
    plane,
};

/// How soon a revocation must take effect.
const DEADLINE: Duration = Duration::from_secs(1);
/// How long both loads go on after the revocation.
const AFTER: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(10);

fn peer_id(service: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/{service}")
}

/// Requests that reached B's app from `service`.
fn seen_from(app: &RecordingUpstream, service: &str) -> usize {
    let id = peer_id(service);
    app.requests()
        .iter()
        .filter(|r| r.header_str("x-rampart-peer-id") == Some(id.as_str()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_caller_is_cut_off_within_a_second_and_others_lose_nothing() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let app_c = RecordingUpstream::builder().name("app-c").start();
    let b = Sidecar::start(plane.options("b", app_b.addr()).await)
        .await
        .unwrap();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    let c = Sidecar::start(plane.options("c", app_c.addr()).await)
        .await
        .unwrap();
    for caller in [&a, &c] {
        eventually(LIMIT, "a route to B", || async {
            call(caller, "b", "/warm-up").await.status() == Some(200)
        })
        .await;
    }

    // A and C both call B without pause: on a kept-alive connection (so B holds an open,
    // pooled mesh connection from each) and on fresh connections.
    let start = Instant::now();
    let (out_a, out_c) = (a.outbound_addr().unwrap(), c.outbound_addr().unwrap());
    let load_a = Load::start(vec![
        Worker::new("a-kept", out_a, "b", true),
        Worker::new("a-fresh", out_a, "b", false).paced(Duration::from_millis(2)),
    ]);
    let load_c = Load::start(vec![
        Worker::new("c-kept", out_c, "b", true),
        Worker::new("c-fresh", out_c, "b", false).paced(Duration::from_millis(2)),
    ]);
    load_a
        .hold(Duration::from_millis(300), 50, LIMIT, "A's load")
        .await;
    load_c.hold(Duration::ZERO, 50, LIMIT, "C's load").await;
    assert_eq!(
        load_a.failed() + load_c.failed(),
        0,
        "failures before the revocation"
    );

    let revoked_at = Instant::now();
    let revoked = plane
        .admin
        .revoke(&RevokeRequest::service("a", "default"))
        .await
        .unwrap();
    assert_eq!(revoked.revoked, [a.serial()]);
    sleep_until(revoked_at + DEADLINE).await;
    let from_a_at_deadline = seen_from(&app_b, "a");
    sleep_until(revoked_at + AFTER).await;
    load_c
        .hold(Duration::ZERO, 20, LIMIT, "C's load after the revocation")
        .await;
    let report_a = load_a.stop().await;
    let report_c = load_c.stop().await;

    // A's last request that got through ended less than a second after the revocation ...
    let last_ok = report_a.last_success().unwrap();
    let took = last_ok.saturating_duration_since(revoked_at);
    eprintln!(
        "revocation took effect {took:?} after the request; A: {} requests, C: {} requests",
        report_a.outcomes.len(),
        report_c.outcomes.len()
    );
    assert!(
        took < DEADLINE,
        "A was still served {took:?} after its revocation"
    );
    // ... while A kept trying, both ways, and every later attempt failed.
    for worker in ["a-kept", "a-fresh"] {
        let late: Vec<_> = report_a
            .outcomes
            .iter()
            .filter(|o| o.worker == worker && o.started >= revoked_at + DEADLINE)
            .collect();
        assert!(
            late.len() >= 5,
            "{worker}: only {} late attempts",
            late.len()
        );
        assert!(
            late.iter().all(|o| !o.ok()),
            "{worker}: served after the deadline"
        );
    }
    assert_eq!(
        seen_from(&app_b, "a"),
        from_a_at_deadline,
        "B's app saw A after the deadline"
    );

    // C lost nothing and kept being served, on both kinds of connection.
    assert!(
        report_c.failures().is_empty(),
        "{}",
        report_c.describe_failures(start)
    );
    for worker in ["c-kept", "c-fresh"] {
        assert!(
            report_c.ok_started_after(worker, revoked_at + DEADLINE) > 0,
            "{worker}: not served after the revocation"
        );
    }

    // B refused A's new handshakes as revoked, and counted it.
    let metrics = b.gateway().render_metrics();
    assert!(
        counter(
            &metrics,
            "rampart_mesh_refusals_total",
            &["side=\"inbound\"", "reason=\"revoked\""]
        ) > 0,
        "{metrics}"
    );
    for sidecar in [a, b, c] {
        sidecar.shutdown(Duration::from_secs(1)).await;
    }
}
