//! The gateway's Prometheus metrics. Names are documented in `docs/metrics.md`.
//!
//! Each gateway owns its recorder (no process-global state, so several gateways can live in one
//! process, as tests do). Hot-path handles are registered once per route when a snapshot is
//! compiled; only rare events (rejections, errors) look their handle up by name.

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::sync::Arc;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The gateway's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

/// Pre-registered handles for one route.
#[derive(Clone)]
pub struct RouteMetrics {
    /// Requests by status class: index 0 for 1xx … 4 for 5xx.
    by_class: [Counter; 5],
    latency: Histogram,
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// The process-wide recorder, when the binary installed one ([`install_process_metrics`]).
static PROCESS: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();

/// Installs a process-wide Prometheus recorder for what is not one gateway's: the event
/// pipeline's metrics (spool, shipper, event log, exporters; `docs/metrics.md`), recorded with
/// the `metrics` macros. Every gateway's `/metrics` then shows them after its own. Call once,
/// from the binary; later calls (or a recorder installed by someone else) change nothing.
pub fn install_process_metrics() {
    if PROCESS.get().is_some() {
        return;
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .map(PrometheusBuilder::build_recorder)
        .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = PROCESS.set(handle);
    }
}

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        Self {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        let mut text = self.handle.render();
        if let Some(process) = PROCESS.get() {
            process.run_upkeep();
            text.push_str(&process.render());
        }
        text
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &METADATA)
    }

    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.recorder
            .register_histogram(&key(name, labels), &METADATA)
    }

    pub fn route(&self, route: &str) -> RouteMetrics {
        let class =
            |c: &str| self.counter("rampart_requests_total", &[("route", route), ("status", c)]);
        RouteMetrics {
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            latency: self.histogram("rampart_request_duration_seconds", &[("route", route)]),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

// === impl RouteMetrics ===

impl RouteMetrics {
    pub fn record(&self, status: u16, seconds: f64) {
        let idx = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[idx].increment(1);
        self.latency.record(seconds);
    }
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteMetrics")
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}
