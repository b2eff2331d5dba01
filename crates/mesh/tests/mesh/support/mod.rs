//! Shared by the mesh's integration tests: a control plane like `rampart up`'s on loopback,
//! sidecar options on free ports, a keep-alive HTTP client, a load generator and a reader of
//! the gateway's metrics.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod http;
pub mod load;
pub mod plane;

use std::{path::Path, time::Duration};

use rampart_mesh::SidecarHandle;
use rampart_testkit::{RawReply, send_raw};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio::time::{Instant, sleep};

pub use plane::{Plane, TRUST_DOMAIN, plane};

/// `GET path` with `Host: host` through the sidecar's outbound listener, on a fresh
/// connection.
pub async fn call(sidecar: &SidecarHandle, host: &str, path: &str) -> RawReply {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let addr = sidecar.outbound_addr().unwrap();
    send_raw(addr, req.as_bytes(), Duration::from_secs(5)).await
}

/// Polls `check` every 100 ms until it holds; panics after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        sleep(Duration::from_millis(100)).await;
    }
}

/// The certificates of a PEM file.
pub fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    let pem = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    CertificateDer::pem_slice_iter(&pem)
        .map(Result::unwrap)
        .collect()
}

/// The serial of the SVID kept in a sidecar's data directory.
pub fn kept_serial(dir: &Path) -> String {
    let chain = pem_certs(&dir.join("svid.pem"));
    rampart_identity::serial_hex(&chain[0]).unwrap()
}

/// How many roots the trust bundle kept in a sidecar's data directory holds (0 before the
/// first is kept).
pub fn kept_roots(dir: &Path) -> usize {
    std::fs::read(dir.join("bundle.pem"))
        .map(|pem| CertificateDer::pem_slice_iter(&pem).count())
        .unwrap_or(0)
}

/// The sum of the samples of counter `name` whose labels include every one of `labels`
/// (`key="value"` fragments), in Prometheus text `metrics`.
pub fn counter(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            if !(rest.is_empty() || rest.starts_with('{')) {
                return None;
            }
            labels
                .iter()
                .all(|l| rest.contains(l))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .map(|v| v as u64)
        .sum()
}
