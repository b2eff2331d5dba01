//! Active health checks of a cluster's endpoints: a background task sends `GET <path>` to
//! every endpoint each interval, over the cluster's own connections (plaintext, TLS or mesh
//! mTLS), and marks endpoints unhealthy / healthy after consecutive failures / successes.

use crate::body::UpstreamBody;
use crate::cluster::HttpClient;
use crate::metrics::Metrics;
use crate::upstream::H1Pool;
use http::uri::{Authority, Scheme};
use http::{Request, Uri, header};
use rampart_config::HealthCheck;
use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::{JoinHandle, JoinSet};

/// How to reach one endpoint for a probe.
pub struct Probe {
    pub label: Arc<str>,
    pub authority: Authority,
    /// The endpoint's HTTP/1.1 pool; `None` for h2 clusters (probed with `client`).
    pub h1: Option<Arc<H1Pool>>,
}

/// The health of each endpoint (all healthy until probes say otherwise).
#[derive(Debug)]
pub struct HealthState {
    healthy: Vec<AtomicBool>,
    /// Where transitions are published (the gateway's bus and name), once attached.
    events: std::sync::OnceLock<(EventBus, Arc<str>)>,
}

impl HealthState {
    pub fn new(endpoints: usize) -> Self {
        Self {
            healthy: (0..endpoints).map(|_| AtomicBool::new(true)).collect(),
            events: std::sync::OnceLock::new(),
        }
    }

    /// Publishes health transitions on `bus` from now on, as `source`. Only the first call
    /// takes effect.
    pub fn attach_events(&self, bus: &EventBus, source: &Arc<str>) {
        let _ = self.events.set((bus.clone(), source.clone()));
    }

    pub fn is_healthy(&self, i: usize) -> bool {
        self.healthy
            .get(i)
            .is_none_or(|h| h.load(Ordering::Relaxed))
    }
}

/// Starts the probing task; it runs until the returned handle is aborted.
pub fn spawn(
    cluster: Arc<str>,
    config: HealthCheck,
    probes: Vec<Probe>,
    client: HttpClient,
    scheme: Scheme,
    state: Arc<HealthState>,
    metrics: Metrics,
) -> Option<JoinHandle<()>> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(cluster = %cluster, "no runtime: health checks not started");
        return None;
    };
    Some(runtime.spawn(run(cluster, config, probes, client, scheme, state, metrics)))
}

async fn run(
    cluster: Arc<str>,
    config: HealthCheck,
    probes: Vec<Probe>,
    client: HttpClient,
    scheme: Scheme,
    state: Arc<HealthState>,
    metrics: Metrics,
) {
    let probes: Vec<Arc<Probe>> = probes.into_iter().map(Arc::new).collect();
    // Consecutive successes (positive) or failures (negative) of each endpoint.
    let mut streak = vec![0i64; probes.len()];
    for p in &probes {
        metrics
            .gauge(
                "rampart_upstream_health",
                &[("cluster", &cluster), ("endpoint", &p.label)],
            )
            .set(1.0);
    }
    let mut ticker = tokio::time::interval(config.interval.0);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut set = JoinSet::new();
        for (i, p) in probes.iter().enumerate() {
            let (p, client, scheme) = (p.clone(), client.clone(), scheme.clone());
            let (path, timeout) = (config.path.clone(), config.timeout.0);
            set.spawn(async move {
                let ok = tokio::time::timeout(timeout, probe(&p, &client, &scheme, &path))
                    .await
                    .unwrap_or(false);
                (i, ok)
            });
        }
        while let Some(done) = set.join_next().await {
            let Ok((i, ok)) = done else { continue };
            let (Some(s), Some(h), Some(p)) =
                (streak.get_mut(i), state.healthy.get(i), probes.get(i))
            else {
                continue;
            };
            *s = match (ok, *s) {
                (true, n) if n > 0 => n.saturating_add(1),
                (true, _) => 1,
                (false, n) if n < 0 => n.saturating_sub(1),
                (false, _) => -1,
            };
            let was = h.load(Ordering::Relaxed);
            let now = if was {
                *s > -i64::from(config.unhealthy)
            } else {
                *s >= i64::from(config.healthy)
            };
            if now != was {
                h.store(now, Ordering::Relaxed);
                if now {
                    tracing::info!(cluster = %cluster, endpoint = %p.label, "upstream endpoint healthy");
                } else {
                    tracing::warn!(cluster = %cluster, endpoint = %p.label, "upstream endpoint unhealthy");
                }
                if let Some((bus, source)) = state.events.get() {
                    let word = if now { "healthy" } else { "unhealthy" };
                    bus.publish(Event::Security(SecurityEvent::new(
                        SecurityKind::UpstreamHealth,
                        source,
                        None,
                        format!(
                            "cluster {cluster}: endpoint {} {word} by health check",
                            p.label
                        ),
                    )));
                }
                metrics
                    .gauge(
                        "rampart_upstream_health",
                        &[("cluster", &cluster), ("endpoint", &p.label)],
                    )
                    .set(if now { 1.0 } else { 0.0 });
            }
        }
    }
}

/// One probe: `true` for a 2xx answer.
async fn probe(p: &Probe, client: &HttpClient, scheme: &Scheme, path: &str) -> bool {
    let uri = match &p.h1 {
        Some(_) => path.parse::<Uri>().ok(),
        None => Uri::builder()
            .scheme(scheme.clone())
            .authority(p.authority.clone())
            .path_and_query(path)
            .build()
            .ok(),
    };
    let Some(uri) = uri else { return false };
    let mut req = Request::new(UpstreamBody::Empty);
    *req.uri_mut() = uri;
    if let Ok(host) = p.authority.as_str().parse() {
        req.headers_mut().insert(header::HOST, host);
    }
    match &p.h1 {
        Some(h1) => h1.send(req).await.is_ok_and(|r| r.status().is_success()),
        None => {
            *req.version_mut() = http::Version::HTTP_2;
            client
                .request(req)
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    }
}
