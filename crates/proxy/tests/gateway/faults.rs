//! Fault injection (`gateway.faults`, `docs/overload.md`): aborts without reaching the
//! upstream, delays, 0 % changing nothing, and the `danger` flag required.

use crate::support::{Gw, get, metric};
use rampart_testkit::RecordingUpstream;
use std::time::{Duration, Instant};

fn gateway_with(up: &RecordingUpstream, fault: &str) -> String {
    format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes: [{{ name: all, cluster: up }}]\nfaults: {{ danger: true, routes: [{{ route: all, {fault} }}] }}\n",
        up.addr()
    )
}

#[tokio::test]
async fn a_full_abort_answers_without_reaching_the_upstream() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&gateway_with(&up, "abort_status: 503, abort_percent: 100")).await;
    for _ in 0..5 {
        let r = get(gw.http(), "/").await;
        assert_eq!(r.status, 503);
        assert!(r.text().contains("fault_injected"), "{}", r.text());
    }
    assert_eq!(up.count(), 0);
    let ev = gw.access(|e| e.status == 503).await;
    assert_eq!(ev.reason, Some("fault_injected"));
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_faults_injected_total",
            &[("route", "all"), ("kind", "abort")]
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn a_full_delay_adds_at_least_the_delay() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&gateway_with(&up, "delay: 300ms")).await;
    let start = Instant::now();
    let r = get(gw.http(), "/").await;
    assert_eq!(r.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(up.count(), 1);
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "rampart_faults_injected_total",
            &[("route", "all"), ("kind", "delay")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn zero_percent_changes_nothing() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&gateway_with(
        &up,
        "delay: 20s, delay_percent: 0, abort_status: 500, abort_percent: 0",
    ))
    .await;
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(up.count(), 20);
    let m = gw.metrics().await;
    assert_eq!(metric(&m, "rampart_faults_injected_total", &[]), None);
}

#[test]
fn faults_without_danger_are_refused() {
    let yaml = "gateway:\n  listeners: [{ name: http, address: \"127.0.0.1:0\" }]\n  clusters: [{ name: up, endpoints: [\"127.0.0.1:9\"] }]\n  routes: [{ name: all, cluster: up }]\n  faults: { routes: [{ route: all, abort_status: 503 }] }\n";
    let e = rampart_config::from_str("test", yaml)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gateway.faults.danger"), "{e}");
    assert!(e.contains("danger: true"), "{e}");
    let ok = yaml.replace("faults: {", "faults: { danger: true,");
    assert!(rampart_config::from_str("test", &ok).is_ok());
}

#[test]
fn bad_fault_and_overload_settings_are_refused() {
    let base = "gateway:\n  listeners: [{ name: http, address: \"127.0.0.1:0\" }]\n  clusters: [{ name: up, endpoints: [\"127.0.0.1:9\"] }]\n  routes: [{ name: all, cluster: up }]\n";
    for (extra, path) in [
        (
            "  faults: { danger: true, routes: [{ route: nope, delay: 1s }] }\n",
            "gateway.faults.routes[0].route",
        ),
        (
            "  faults: { danger: true, routes: [{ route: all, abort_status: 503, abort_percent: 101 }] }\n",
            "gateway.faults.routes[0]",
        ),
        (
            "  faults: { danger: true, routes: [{ route: all, abort_status: 200 }] }\n",
            "gateway.faults.routes[0].abort_status",
        ),
        (
            "  overload: { max_concurrent_requests: 0 }\n",
            "gateway.overload.max_concurrent_requests",
        ),
        (
            "  overload: { listeners: { nope: { max_connections: 1 } } }\n",
            "gateway.overload.listeners.nope",
        ),
    ] {
        let e = rampart_config::from_str("test", &format!("{base}{extra}")).unwrap_err();
        assert!(e.errors.iter().any(|e| e.path == path), "{extra}: {e}");
    }
}
