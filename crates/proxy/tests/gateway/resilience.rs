//! Upstream resilience (`docs/resilience.md`, "Upstream"): budgeted retries, outlier
//! ejection and re-admission, circuit breaking.

use crate::support::{Gw, get, metric, send};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rampart_events::SecurityKind;
use rampart_testkit::RecordingUpstream;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// An upstream (counting requests other than `/healthz`) whose status can be switched, and which can be killed (listener and every
/// connection closed).
struct Switch {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Switch {
    async fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicUsize::new(0));
        let probes = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(
            listener,
            status.clone(),
            hits.clone(),
            probes.clone(),
        ));
        Self {
            addr,
            status,
            hits,
            probes,
            task,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Stops serving; returns once connecting is refused.
    async fn kill(&self) {
        self.task.abort();
        for _ in 0..200 {
            if TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} still accepts connections", self.addr);
    }
}

async fn accept(
    listener: TcpListener,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
) {
    // Dropped with the task: aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (status, hits, probes) = (status.clone(), hits.clone(), probes.clone());
        conns.spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                // Health probes are not counted.
                if req.uri().path() == "/healthz" {
                    probes.fetch_add(1, Ordering::SeqCst);
                } else {
                    hits.fetch_add(1, Ordering::SeqCst);
                }
                let s = status.load(Ordering::SeqCst);
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(s)
                            .body(Full::new(Bytes::from_static(b"switch")))
                            .unwrap(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

fn cluster(endpoints: &[SocketAddr], resilience: &str) -> String {
    let list = endpoints
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "clusters: [{{ name: c, endpoints: [{list}], resilience: {resilience} }}]\nroutes: [{{ name: all, cluster: c }}]\n"
    )
}

/// `workers` clients sending `each` GETs; returns the statuses.
async fn load(addr: SocketAddr, workers: usize, each: usize) -> Vec<u16> {
    let mut set = JoinSet::new();
    for _ in 0..workers {
        set.spawn(async move {
            let mut out = Vec::new();
            for _ in 0..each {
                out.push(get(addr, "/").await.status.as_u16());
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r.unwrap());
    }
    all
}

#[tokio::test]
async fn a_killed_endpoint_is_retried_around_then_ejected() {
    let ups = [
        Switch::start(200).await,
        Switch::start(200).await,
        Switch::start(200).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut gw = Gw::start(&cluster(
        &addrs,
        "{ retries: { attempts: 2, budget_ratio: 0.5, min_per_second: 100 }, \
         outlier: { consecutive_failures: 3, base_ejection: 60s, max_ejection_percent: 50 } }",
    ))
    .await;
    let statuses = load(gw.http(), 3, 10).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert!(ups.iter().all(|u| u.hits() > 0));

    ups[2].kill().await;
    let statuses = load(gw.http(), 3, 20).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");

    let dead = addrs[2].to_string();
    // The ejection is an event too, naming the cluster, the endpoint and the period.
    let event = gw.security(SecurityKind::UpstreamEjected).await;
    assert!(
        event.detail.contains("cluster c") && event.detail.contains(&dead),
        "{}",
        event.detail
    );
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_ejections_total",
            &[("cluster", "c"), ("endpoint", &dead)]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_endpoints_ejected",
            &[("cluster", "c")]
        ),
        Some(1.0)
    );
    let retried = metric(
        &text,
        "rampart_upstream_retries_total",
        &[("cluster", "c"), ("result", "retried")],
    )
    .unwrap_or(0.0);
    assert!(
        (1.0..=6.0).contains(&retried),
        "retried {retried} times: the dead endpoint is ejected after 3 failures (3 workers)"
    );

    // Ejected: no longer tried, so nothing more is retried.
    let (a, b) = (ups[0].hits(), ups[1].hits());
    let statuses = load(gw.http(), 3, 10).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(ups[0].hits() + ups[1].hits(), a + b + 30);
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_retries_total",
            &[("cluster", "c"), ("result", "retried")],
        )
        .unwrap_or(0.0),
        retried
    );
}

#[tokio::test]
async fn a_flapping_endpoint_is_ejected_then_readmitted() {
    let good = Switch::start(200).await;
    let flap = Switch::start(500).await;
    let gw = Gw::start(&cluster(
        &[good.addr, flap.addr],
        "{ outlier: { consecutive_failures: 2, base_ejection: 1500ms, max_ejection_percent: 50 } }",
    ))
    .await;
    let ejected_at = async {
        for _ in 0..20 {
            get(gw.http(), "/").await;
            let text = gw.metrics().await;
            if metric(
                &text,
                "rampart_upstream_endpoints_ejected",
                &[("cluster", "c")],
            ) == Some(1.0)
            {
                return Instant::now();
            }
        }
        panic!("the failing endpoint was never ejected");
    }
    .await;
    assert_eq!(flap.hits(), 2, "ejected after 2 consecutive 5xx");
    flap.set(200);

    // Ejected: every request goes to the good endpoint.
    for _ in 0..5 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    if ejected_at.elapsed() < Duration::from_millis(1200) {
        assert_eq!(flap.hits(), 2);
    }

    // Re-admitted after the ejection time.
    tokio::time::sleep(Duration::from_millis(1600).saturating_sub(ejected_at.elapsed())).await;
    for _ in 0..6 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert!(
        flap.hits() >= 4,
        "re-admitted endpoint got {} hits",
        flap.hits()
    );
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_endpoints_ejected",
            &[("cluster", "c")]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_exhausted_retry_budget_stops_retries() {
    let ups = [Switch::start(503).await, Switch::start(503).await];
    let gw = Gw::start(&cluster(
        &[ups[0].addr, ups[1].addr],
        "{ retries: { attempts: 2, budget_ratio: 0.0, min_per_second: 1, backoff: 1ms, max_backoff: 2ms } }",
    ))
    .await;
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(get(gw.http(), "/").await.status, 503);
    }
    let hits = ups[0].hits() + ups[1].hits();
    // One token at the start, one more per second; without the budget: 30 attempts.
    let allowed = 10 + 1 + started.elapsed().as_secs() as usize + 1;
    assert!((11..=allowed).contains(&hits), "{hits} attempts");
    let text = gw.metrics().await;
    let exhausted = metric(
        &text,
        "rampart_upstream_retry_budget_exhausted_total",
        &[("cluster", "c")],
    )
    .unwrap_or(0.0);
    assert!(exhausted >= 8.0, "{text}");
}

#[tokio::test]
async fn a_post_with_a_body_is_not_retried_on_5xx_but_a_get_is() {
    let ups = [Switch::start(500).await, Switch::start(500).await];
    let gw = Gw::start(&cluster(
        &[ups[0].addr, ups[1].addr],
        "{ retries: { attempts: 2, budget_ratio: 1.0, min_per_second: 100, backoff: 1ms, max_backoff: 2ms } }",
    ))
    .await;
    let post = Request::post("/")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    assert_eq!(send(gw.http(), post).await.status, 500);
    assert_eq!(ups[0].hits() + ups[1].hits(), 1);

    assert_eq!(get(gw.http(), "/").await.status, 500);
    assert_eq!(ups[0].hits() + ups[1].hits(), 4, "a GET is tried 3 times");
    // The retry went to the other endpoint.
    assert!(ups[0].hits() >= 1 && ups[1].hits() >= 1);
}

#[tokio::test]
async fn a_connect_failure_is_retried_on_another_endpoint_even_for_a_post() {
    let live = Switch::start(200).await;
    let dead = Switch::start(200).await;
    dead.kill().await;
    let gw = Gw::start(&cluster(
        &[dead.addr, live.addr],
        "{ retries: { attempts: 1, budget_ratio: 1.0, min_per_second: 100, backoff: 1ms, max_backoff: 2ms } }",
    ))
    .await;
    for _ in 0..4 {
        let post = Request::post("/")
            .body(Full::new(Bytes::from_static(b"hello")))
            .unwrap();
        assert_eq!(send(gw.http(), post).await.status, 200);
    }
    assert_eq!(live.hits(), 4);
}

#[tokio::test]
async fn circuit_max_pending_answers_503_at_once() {
    let slow = RecordingUpstream::builder()
        .delay(Duration::from_millis(1500))
        .start();
    let gw = Gw::start(&cluster(
        &[slow.addr()],
        "{ circuit: { max_requests: 100, max_pending: 2 } }",
    ))
    .await;
    let addr = gw.http();
    let waiting: Vec<_> = (0..2)
        .map(|_| tokio::spawn(async move { get(addr, "/").await.status.as_u16() }))
        .collect();
    assert!(slow.wait_for(2, Duration::from_secs(5)).await);
    let started = Instant::now();
    let r = get(addr, "/").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(slow.count(), 2);
    for w in waiting {
        assert_eq!(w.await.unwrap(), 200);
    }
    let text = gw.metrics().await;
    assert_eq!(
        metric(
            &text,
            "rampart_upstream_circuit_open_total",
            &[("cluster", "c")]
        ),
        Some(1.0)
    );
    // Capacity is back.
    assert_eq!(get(addr, "/").await.status, 200);
}

#[tokio::test]
async fn health_checks_mark_an_endpoint_down_and_up() {
    let good = Switch::start(200).await;
    let sick = Switch::start(200).await;
    let mut gw = Gw::start(&cluster(
        &[good.addr, sick.addr],
        "{ health_check: { path: /healthz, interval: 50ms, timeout: 500ms, healthy: 2, unhealthy: 2 } }",
    ))
    .await;
    let label = sick.addr.to_string();
    let health = async |want: f64| {
        for _ in 0..200 {
            let text = gw.metrics().await;
            let labels = [("cluster", "c"), ("endpoint", label.as_str())];
            if metric(&text, "rampart_upstream_health", &labels) == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("health of {label} never became {want}");
    };
    health(1.0).await;
    for _ in 0..4 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert_eq!(sick.hits(), 2);

    sick.set(503);
    health(0.0).await;
    let before = sick.hits();
    for _ in 0..6 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert_eq!(sick.hits(), before, "an unhealthy endpoint is not picked");

    sick.set(200);
    health(1.0).await;
    for _ in 0..6 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert_eq!(sick.hits(), before + 3);
    // Both transitions are events too, in order.
    let down = gw.security(SecurityKind::UpstreamHealth).await;
    assert!(
        down.detail.contains(&label) && down.detail.contains(" unhealthy"),
        "{}",
        down.detail
    );
    let up = gw.security(SecurityKind::UpstreamHealth).await;
    assert!(
        up.detail.contains(&label) && up.detail.contains(" healthy by"),
        "{}",
        up.detail
    );
}

#[tokio::test]
async fn with_every_endpoint_unhealthy_requests_fail_fast() {
    let sick = Switch::start(503).await;
    let gw = Gw::start(&cluster(
        &[sick.addr],
        "{ health_check: { interval: 50ms, timeout: 500ms, healthy: 1, unhealthy: 1 } }",
    ))
    .await;
    let mut last = 0;
    for _ in 0..200 {
        let r = get(gw.http(), "/").await;
        last = r.status.as_u16();
        if last == 503 && sick.hits() > 0 && r.text().contains("no_healthy_upstream") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last, 503);
    let before = sick.hits();
    let r = get(gw.http(), "/").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        sick.hits(),
        before,
        "nothing is sent to an unhealthy endpoint"
    );
}

#[test]
fn resilience_settings_parse_with_defaults_and_bad_ones_are_refused() {
    let yaml = |r: &str| {
        format!(
            "gateway:\n  clusters: [{{ name: c, endpoints: [\"127.0.0.1:1\"], resilience: {r} }}]\n"
        )
    };
    let c =
        rampart_config::from_str("t", &yaml("{ retries: {}, outlier: {}, circuit: {} }")).unwrap();
    let r = c.gateway.clusters[0].resilience.clone().unwrap();
    assert_eq!(r.retries.unwrap().attempts, 2);
    assert_eq!(r.outlier.unwrap().max_ejection_percent, 50);
    assert_eq!(r.circuit.unwrap().max_pending, 256);
    assert!(r.health_check.is_none());
    let none = rampart_config::from_str(
        "t",
        "gateway:\n  clusters: [{ name: c, endpoints: [\"127.0.0.1:1\"] }]\n",
    )
    .unwrap();
    assert!(none.gateway.clusters[0].resilience.is_none());

    for (bad, path) in [
        (
            "{ retries: { budget_ratio: 2.0 } }",
            "resilience.retries.budget_ratio",
        ),
        (
            "{ retries: { backoff: 1s, max_backoff: 10ms } }",
            "resilience.retries.backoff",
        ),
        (
            "{ outlier: { consecutive_failures: 0 } }",
            "resilience.outlier.consecutive_failures",
        ),
        (
            "{ outlier: { max_ejection_percent: 101 } }",
            "resilience.outlier.max_ejection_percent",
        ),
        ("{ circuit: { max_pending: 0 } }", "resilience.circuit"),
        (
            "{ health_check: { path: healthz } }",
            "resilience.health_check.path",
        ),
        (
            "{ health_check: { interval: 0s } }",
            "resilience.health_check",
        ),
        ("{ retry: {} }", "retry"),
    ] {
        let err = rampart_config::from_str("t", &yaml(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(path), "{bad}: {err}");
    }
}

#[tokio::test]
async fn health_checks_stop_when_the_cluster_is_replaced() {
    let up = Switch::start(200).await;
    let with = cluster(
        &[up.addr],
        "{ health_check: { interval: 50ms, timeout: 500ms } }",
    );
    let gw = Gw::start(&with).await;
    for _ in 0..200 {
        if up.probes.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up.probes.load(Ordering::SeqCst) >= 2, "no probes");

    let without = format!(
        "clusters: [{{ name: c, endpoints: [\"{}\"] }}]\nroutes: [{{ name: all, cluster: c }}]\n",
        up.addr
    );
    gw.handle.reload(&crate::support::config(&without)).unwrap();
    assert_eq!(get(gw.http(), "/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probes = up.probes.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        up.probes.load(Ordering::SeqCst),
        probes,
        "probes go on after the reload"
    );
}
