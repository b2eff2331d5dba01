//! Upstream failures become 502 (unreachable) and 504 (too slow), quickly, and are counted.

use crate::support::{Gw, get, metric};
use rampart_testkit::{RecordingUpstream, free_port};
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_slow_one_504() {
    let slow = RecordingUpstream::builder()
        .delay(Duration::from_secs(3))
        .start();
    let dead = format!("127.0.0.1:{}", free_port());
    let gw = Gw::start(&format!(
        r#"
        clusters:
          - {{ name: dead, endpoints: ["{dead}"] }}
          - {{ name: slow, endpoints: ["{}"] }}
        routes:
          - {{ name: dead, match: {{ path_prefix: /dead }}, cluster: dead }}
          - {{ name: slow, match: {{ path_prefix: /slow }}, cluster: slow, timeout: 300ms }}
        "#,
        slow.addr()
    ))
    .await;

    let started = Instant::now();
    let r = get(gw.http(), "/dead").await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "502 took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let r = get(gw.http(), "/slow").await;
    assert_eq!(r.status, 504, "{}", r.text());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "504 took {took:?}"
    );
    assert_eq!(slow.count(), 1);

    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_errors_total",
            &[("cluster", "dead"), ("kind", "connect")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_errors_total",
            &[("cluster", "slow"), ("kind", "timeout")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(get(gw.http(), "/dead").await.status, 502);
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_errors_total",
            &[("cluster", "dead"), ("kind", "connect")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rampart_requests_total",
            &[("route", "dead"), ("status", "5xx")]
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn upstream_error_statuses_pass_through_unchanged() {
    let up = RecordingUpstream::builder().status(503).start();
    let gw = Gw::start(&crate::support::one_route(up.addr())).await;
    let r = get(gw.http(), "/").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-upstream"), Some("upstream"));
    let text = gw.metrics().await;
    assert_eq!(
        metric(&text, "rampart_upstream_errors_total", &[]),
        None,
        "an upstream's own 503 is no upstream error"
    );
}
