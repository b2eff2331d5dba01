//! Upstream resilience of one cluster (`docs/resilience.md`, "Upstream"): a retry budget,
//! outlier detection (ejection of endpoints that keep failing) and a circuit breaker.
//! Everything is off unless the cluster's `resilience:` block turns it on.

mod health;

use crate::metrics::Metrics;
use health::HealthState;
pub use health::Probe;
use rampart_config::{
    CircuitBreaker, ClusterResilience, HealthCheck, OutlierDetection, RetryPolicy,
};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Ejections never last longer than this many base ejection times.
const MAX_EJECTION_FACTOR: u32 = 10;
/// Tokens the retry bucket may accumulate beyond `min_per_second`.
const BUDGET_BURST: f64 = 10.0;

/// Per-cluster resilience state; lives as long as the cluster's runtime.
#[derive(Debug)]
pub struct Resilience {
    retries: Option<RetryPolicy>,
    budget: Mutex<Bucket>,
    outlier: Option<OutlierDetection>,
    endpoints: Mutex<Vec<Health>>,
    circuit: Option<CircuitBreaker>,
    admitted: AtomicUsize,
    pending: AtomicUsize,
    health_check: Option<HealthCheck>,
    health: Arc<HealthState>,
    /// The probing task, aborted when the cluster is dropped.
    health_task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug, Default, Clone)]
struct Health {
    failures: u32,
    times_ejected: u32,
    ejected_until: Option<Instant>,
}

/// Why a request was refused before reaching an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    CircuitOpen,
}

/// Holds a request's place in the circuit breaker's `max_requests` until dropped.
pub struct Admitted<'a>(Option<&'a AtomicUsize>);

/// Holds an attempt's place in the circuit breaker's `max_pending` until dropped.
pub struct Pending<'a>(Option<&'a AtomicUsize>);

// === impl Resilience ===

impl Resilience {
    pub fn new(config: Option<&ClusterResilience>, endpoints: usize) -> Self {
        let retries = config.and_then(|c| c.retries.clone());
        let tokens = retries
            .as_ref()
            .map_or(0.0, |r| f64::from(r.min_per_second));
        Self {
            retries,
            budget: Mutex::new(Bucket {
                tokens,
                refilled: Instant::now(),
            }),
            outlier: config.and_then(|c| c.outlier.clone()),
            endpoints: Mutex::new(vec![Health::default(); endpoints]),
            circuit: config.and_then(|c| c.circuit.clone()),
            admitted: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            health_check: config.and_then(|c| c.health_check.clone()),
            health: Arc::new(HealthState::new(endpoints)),
            health_task: Mutex::new(None),
        }
    }

    /// Starts active health checks if configured and not yet started.
    pub fn start_health_checks(
        &self,
        cluster: &str,
        probes: impl FnOnce() -> Vec<Probe>,
        client: &crate::cluster::HttpClient,
        scheme: &http::uri::Scheme,
        metrics: &Metrics,
    ) {
        let Some(config) = &self.health_check else {
            return;
        };
        let mut task = self.health_task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() {
            return;
        }
        *task = health::spawn(
            Arc::from(cluster),
            config.clone(),
            probes(),
            client.clone(),
            scheme.clone(),
            self.health.clone(),
            metrics.clone(),
        );
    }

    /// Retries allowed after the first attempt (0 when retries are off).
    /// Publishes the cluster's health-check transitions on `bus` as `source`.
    pub fn attach_events(&self, bus: &rampart_events::EventBus, source: &Arc<str>) {
        self.health.attach_events(bus, source);
    }

    pub fn max_retries(&self) -> u32 {
        self.retries.as_ref().map_or(0, |r| r.attempts)
    }

    /// Admits a request to the cluster, or refuses it when the circuit is open.
    pub fn admit(&self, metrics: &Metrics, cluster: &str) -> Result<Admitted<'_>, Refused> {
        let Some(c) = &self.circuit else {
            return Ok(Admitted(None));
        };
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= c.max_requests {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            circuit_open(metrics, cluster);
            return Err(Refused::CircuitOpen);
        }
        Ok(Admitted(Some(&self.admitted)))
    }

    /// Marks an attempt waiting for its response head, or refuses it beyond `max_pending`.
    pub fn pending(&self, metrics: &Metrics, cluster: &str) -> Result<Pending<'_>, Refused> {
        let Some(c) = &self.circuit else {
            return Ok(Pending(None));
        };
        if self.pending.fetch_add(1, Ordering::AcqRel) >= c.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            circuit_open(metrics, cluster);
            return Err(Refused::CircuitOpen);
        }
        Ok(Pending(Some(&self.pending)))
    }

    /// The per-endpoint request limit, if any.
    pub fn per_endpoint_limit(&self) -> Option<usize> {
        self.circuit
            .as_ref()
            .and_then(|c| c.max_requests_per_endpoint)
    }

    /// Counts a request towards the retry budget.
    pub fn deposit(&self) {
        let Some(r) = &self.retries else { return };
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        refill(&mut b, r);
        b.tokens = (b.tokens + r.budget_ratio).min(cap(r));
    }

    /// Takes a retry from the budget; `false` when it is exhausted (counted).
    pub fn withdraw(&self, metrics: &Metrics, cluster: &str) -> bool {
        let Some(r) = &self.retries else { return false };
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        refill(&mut b, r);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        drop(b);
        metrics
            .counter(
                "rampart_upstream_retry_budget_exhausted_total",
                &[("cluster", cluster)],
            )
            .increment(1);
        false
    }

    /// The jittered exponential backoff before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let Some(r) = &self.retries else {
            return Duration::ZERO;
        };
        let exp = r
            .backoff
            .0
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let ceiling = exp.min(r.max_backoff.0);
        // Full jitter: uniformly within [ceiling / 2, ceiling].
        let half = ceiling / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let extra = if nanos == 0 { 0 } else { random() % nanos };
        half + Duration::from_nanos(extra)
    }

    /// Whether endpoint `i` may be picked now: healthy and not ejected.
    pub fn available(&self, i: usize) -> bool {
        if !self.health.is_healthy(i) {
            return false;
        }
        if self.outlier.is_none() {
            return true;
        }
        let now = Instant::now();
        let eps = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        eps.get(i)
            .and_then(|h| h.ejected_until)
            .is_none_or(|until| until <= now)
    }

    /// Records the outcome of an attempt on endpoint `i` (`failed`: a 5xx or connect failure);
    /// the ejection period when this outcome ejected the endpoint.
    pub fn record(
        &self,
        metrics: &Metrics,
        cluster: &str,
        label: &str,
        i: usize,
        failed: bool,
    ) -> Option<Duration> {
        let Some(o) = &self.outlier else { return None };
        let now = Instant::now();
        let mut eps = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let mut readmitted = false;
        for h in eps.iter_mut() {
            if h.ejected_until.is_some_and(|u| u <= now) {
                h.ejected_until = None;
                h.failures = 0;
                readmitted = true;
            }
        }
        let ejected = eps.iter().filter(|h| h.ejected_until.is_some()).count();
        let allowed = eps.len() * o.max_ejection_percent as usize / 100;
        let mut newly = None;
        if let Some(h) = eps.get_mut(i) {
            if !failed {
                h.failures = 0;
            } else if h.ejected_until.is_none() {
                h.failures = h.failures.saturating_add(1);
                if h.failures >= o.consecutive_failures && ejected < allowed {
                    h.times_ejected = h.times_ejected.saturating_add(1);
                    let factor = h.times_ejected.min(MAX_EJECTION_FACTOR);
                    let period = o.base_ejection.0.saturating_mul(factor);
                    h.ejected_until = Some(now + period);
                    h.failures = 0;
                    newly = Some(period);
                    tracing::warn!(cluster, endpoint = label, ejection = ?period, "upstream endpoint ejected");
                    metrics
                        .counter(
                            "rampart_upstream_ejections_total",
                            &[("cluster", cluster), ("endpoint", label)],
                        )
                        .increment(1);
                }
            }
        }
        if newly.is_some() || readmitted {
            let count = eps.iter().filter(|h| h.ejected_until.is_some()).count();
            metrics
                .gauge(
                    "rampart_upstream_endpoints_ejected",
                    &[("cluster", cluster)],
                )
                .set(count as f64);
        }
        newly
    }
}

fn circuit_open(metrics: &Metrics, cluster: &str) {
    metrics
        .counter(
            "rampart_upstream_circuit_open_total",
            &[("cluster", cluster)],
        )
        .increment(1);
}

fn cap(r: &RetryPolicy) -> f64 {
    f64::from(r.min_per_second) + BUDGET_BURST * r.budget_ratio
}

fn refill(b: &mut Bucket, r: &RetryPolicy) {
    let now = Instant::now();
    let secs = now.duration_since(b.refilled).as_secs_f64();
    b.refilled = now;
    b.tokens = (b.tokens + secs * f64::from(r.min_per_second)).min(cap(r).max(b.tokens));
}

/// A cheap random number for jitter (not for security).
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

impl Drop for Resilience {
    fn drop(&mut self) {
        let task = self
            .health_task
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(t) = task.take() {
            t.abort();
        }
    }
}

// === impl Admitted, Pending ===

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resilience(yaml: &str, endpoints: usize) -> Resilience {
        let r: ClusterResilience = serde_norway::from_str(yaml).unwrap();
        Resilience::new(Some(&r), endpoints)
    }

    #[test]
    fn the_budget_grows_with_requests_and_is_capped() {
        let m = Metrics::new();
        let r = resilience("{ retries: { budget_ratio: 0.5, min_per_second: 0 } }", 1);
        assert!(!r.withdraw(&m, "c"));
        r.deposit();
        assert!(!r.withdraw(&m, "c"));
        r.deposit();
        assert!(r.withdraw(&m, "c"));
        for _ in 0..100 {
            r.deposit();
        }
        // Capped at 10 × 0.5 = 5 tokens.
        let granted = (0..10).filter(|_| r.withdraw(&m, "c")).count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn backoff_is_jittered_exponential_and_capped() {
        let r = resilience("{ retries: { backoff: 100ms, max_backoff: 300ms } }", 1);
        for _ in 0..50 {
            let first = r.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = r.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let tenth = r.backoff(10);
            assert!(tenth >= Duration::from_millis(150) && tenth <= Duration::from_millis(300));
        }
    }

    #[test]
    fn ejection_respects_max_ejection_percent_and_successes_reset() {
        let m = Metrics::new();
        let r = resilience(
            "{ outlier: { consecutive_failures: 2, base_ejection: 60s, max_ejection_percent: 50 } }",
            4,
        );
        r.record(&m, "c", "e0", 0, true);
        r.record(&m, "c", "e0", 0, false);
        r.record(&m, "c", "e0", 0, true);
        assert!(r.available(0), "a success resets the count");
        for i in 0..4 {
            r.record(&m, "c", "e", i, true);
            r.record(&m, "c", "e", i, true);
        }
        let ejected = (0..4).filter(|&i| !r.available(i)).count();
        assert_eq!(ejected, 2, "at most half of 4");
    }
}
