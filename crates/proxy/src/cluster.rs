//! Upstream clusters: endpoints, load balancing, pooled keep-alive clients (HTTP/1.1 or h2,
//! plaintext or TLS with verification on by default).

use crate::body::UpstreamBody;
use crate::error::ProxyError;
use crate::mesh::MeshBinding;
use crate::resilience::{Probe, Resilience};
use crate::upstream::H1Pool;
use http::uri::{Authority, Scheme};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rampart_config::{Balance, Builtin, Cluster, Timeouts, UpstreamProtocol};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// A cluster ready to take requests.
#[derive(Debug)]
pub struct ClusterRt {
    pub name: String,
    pub config: Cluster,
    pub timeouts: Timeouts,
    pub target: Target,
    /// What a mesh cluster was built from (`None` outside the mesh).
    pub mesh: Option<MeshBinding>,
}

/// Where a cluster's requests go.
#[derive(Debug)]
pub enum Target {
    Builtin(Builtin),
    Endpoints(Box<Pool>),
}

/// Endpoints and the client that pools connections to them.
#[derive(Debug)]
pub struct Pool {
    pub endpoints: Vec<Endpoint>,
    pub client: HttpClient,
    pub scheme: Scheme,
    pub version: http::Version,
    balance: Balance,
    next: AtomicUsize,
    /// Retry budget, outlier detection and circuit breaker (off unless configured).
    pub resilience: Resilience,
}

/// One upstream address.
#[derive(Debug)]
pub struct Endpoint {
    pub authority: Authority,
    /// `host:port`, for events.
    pub label: Arc<str>,
    pub in_flight: AtomicUsize,
    /// The endpoint's own HTTP/1.1 connection pool (`None` for h2 clusters, which use the
    /// cluster's pooled client).
    pub h1: Option<Arc<H1Pool>>,
}

/// Marks a request in flight on an endpoint until dropped (for least-request balancing).
pub struct InFlight<'a>(&'a Endpoint);

// === impl ClusterRt ===

impl ClusterRt {
    /// Builds a cluster. A mesh cluster (with its `mesh` binding) keeps the endpoint pools of
    /// `previous` that are still valid: same settings, same TLS generation, same address.
    pub fn new(
        config: &Cluster,
        timeouts: &Timeouts,
        mesh: Option<MeshBinding>,
        previous: Option<&ClusterRt>,
    ) -> Result<Self, ProxyError> {
        let target = match (config.builtin, &mesh) {
            (Some(b), _) => Target::Builtin(b),
            (None, None) => Target::Endpoints(Box::new(Pool::new(config, timeouts)?)),
            (None, Some(m)) => {
                let reusable = previous.filter(|p| {
                    &p.config == config
                        && p.timeouts.upstream_connect == timeouts.upstream_connect
                        && p.mesh
                            .as_ref()
                            .is_some_and(|old| old.generation == m.generation)
                });
                Target::Endpoints(Box::new(Pool::mesh(config, timeouts, m, reusable)?))
            }
        };
        Ok(Self {
            name: config.name.clone(),
            config: config.clone(),
            timeouts: timeouts.clone(),
            target,
            mesh,
        })
    }

    /// Whether this runtime can serve `config` (bound to `mesh`) unchanged, so pools survive a
    /// reload.
    pub fn same(&self, config: &Cluster, timeouts: &Timeouts, mesh: Option<&MeshBinding>) -> bool {
        &self.config == config
            && self.timeouts.upstream_connect == timeouts.upstream_connect
            && self.mesh.as_ref() == mesh
    }

    /// Publishes the cluster's health-check transitions on `bus` as `source` (once).
    pub fn attach_events(&self, bus: &rampart_events::EventBus, source: &Arc<str>) {
        if let Target::Endpoints(pool) = &self.target {
            pool.resilience.attach_events(bus, source);
        }
    }

    /// Starts the cluster's active health checks, if configured (once; they stop when the
    /// cluster is dropped).
    pub fn start_health_checks(&self, metrics: &crate::metrics::Metrics) {
        let Target::Endpoints(pool) = &self.target else {
            return;
        };
        let probes = || {
            pool.endpoints
                .iter()
                .map(|e| Probe {
                    label: e.label.clone(),
                    authority: e.authority.clone(),
                    h1: e.h1.clone(),
                })
                .collect()
        };
        pool.resilience.start_health_checks(
            &self.name,
            probes,
            &pool.client,
            &pool.scheme,
            metrics,
        );
    }

    /// The HTTP/1.1 pools of this cluster's endpoints.
    pub fn h1_pools(&self) -> impl Iterator<Item = &Arc<H1Pool>> {
        self.h1_endpoints().map(|(_, h1)| h1)
    }

    /// `(label, pool)` of each endpoint with an HTTP/1.1 pool.
    fn h1_endpoints(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<H1Pool>)> {
        let endpoints = match &self.target {
            Target::Endpoints(pool) => pool.endpoints.as_slice(),
            Target::Builtin(_) => &[],
        };
        endpoints
            .iter()
            .filter_map(|e| e.h1.as_ref().map(|h1| (&e.label, h1)))
    }
}

// === impl Pool ===

impl Pool {
    fn new(config: &Cluster, timeouts: &Timeouts) -> Result<Self, ProxyError> {
        let h2 = config.protocol == UpstreamProtocol::Http2;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeouts.upstream_connect.0));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connector = connector(config, http, h2)?;
        let scheme = if config.tls.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| {
                let invalid = || {
                    ProxyError::Config(format!("cluster `{}`: invalid endpoint `{e}`", config.name))
                };
                let authority = e.parse::<Authority>().map_err(|_| invalid())?;
                let h1 = if h2 {
                    None
                } else {
                    let target = http::Uri::builder()
                        .scheme(scheme.clone())
                        .authority(authority.clone())
                        .path_and_query("/")
                        .build()
                        .map_err(|_| invalid())?;
                    Some(Arc::new(H1Pool::new(
                        connector.clone(),
                        target,
                        config.max_idle_per_endpoint,
                        timeouts.upstream_connect.0,
                    )))
                };
                Ok(Endpoint {
                    label: Arc::from(authority.as_str()),
                    authority,
                    in_flight: AtomicUsize::new(0),
                    h1,
                })
            })
            .collect::<Result<Vec<_>, ProxyError>>()?;
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(config.max_idle_per_endpoint)
            .set_host(false)
            .http2_only(h2);
        Ok(Self {
            endpoints,
            client: builder.build(connector),
            scheme,
            version: if h2 {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            },
            balance: config.balance,
            next: AtomicUsize::new(0),
            resilience: Resilience::new(config.resilience.as_ref(), config.endpoints.len()),
        })
    }

    /// The pool of a mesh cluster: one mutual-TLS connector per sidecar, reusing the endpoint
    /// pools of `previous` (same settings and TLS generation) for addresses it already had.
    fn mesh(
        config: &Cluster,
        timeouts: &Timeouts,
        mesh: &MeshBinding,
        previous: Option<&ClusterRt>,
    ) -> Result<Self, ProxyError> {
        let mut endpoints = Vec::with_capacity(mesh.endpoints.len());
        for e in &mesh.endpoints {
            let Ok(authority) = e.parse::<Authority>() else {
                if mesh.from_directory {
                    tracing::warn!(cluster = %config.name, endpoint = %e, "invalid mesh endpoint skipped");
                    continue;
                }
                return Err(ProxyError::Config(format!(
                    "cluster `{}`: invalid endpoint `{e}`",
                    config.name
                )));
            };
            let reused = previous
                .into_iter()
                .flat_map(|p| p.h1_endpoints())
                .find(|(label, _)| label.as_ref() == authority.as_str())
                .map(|(_, h1)| h1.clone());
            let h1 = match reused {
                Some(h1) => h1,
                None => Arc::new(H1Pool::mesh(
                    mesh.connector(&config.name, authority.as_str())?,
                    config.max_idle_per_endpoint,
                    timeouts.upstream_connect.0,
                )),
            };
            endpoints.push(Endpoint {
                label: Arc::from(authority.as_str()),
                authority,
                in_flight: AtomicUsize::new(0),
                h1: Some(h1),
            });
        }
        // The pooled client is never used: mesh clusters speak HTTP/1.1 through `h1`.
        let mut plain = Self::new(
            &Cluster {
                endpoints: Vec::new(),
                mesh: None,
                ..config.clone()
            },
            timeouts,
        )?;
        plain.resilience = Resilience::new(config.resilience.as_ref(), endpoints.len());
        plain.endpoints = endpoints;
        plain.scheme = Scheme::HTTPS;
        Ok(plain)
    }

    /// Picks an endpoint: round robin, or the less loaded of two (power of two choices).
    #[cfg(test)]
    pub fn pick(&self) -> Option<&Endpoint> {
        self.pick_where(|_| true).map(|i| &self.endpoints[i])
    }

    /// Picks the index of an endpoint among those `ok` accepts: round robin, or the less
    /// loaded of two (power of two choices).
    pub fn pick_where(&self, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let first = (0..n).map(|k| (i + k) % n).find(|&j| ok(j))?;
        match self.balance {
            Balance::RoundRobin => Some(first),
            Balance::LeastRequest if n == 1 => Some(first),
            Balance::LeastRequest => {
                // An offset of 1..n from the first, so the two choices always differ (with
                // `i / n + i + 1` half the picks among two endpoints compared one with itself).
                let offset = 1 + (i / n) % (n - 1);
                let Some(second) = (0..n)
                    .map(|k| (first + offset + k) % n)
                    .find(|&j| j != first && ok(j))
                else {
                    return Some(first);
                };
                let load = |j: usize| self.endpoints[j].in_flight.load(Ordering::Relaxed);
                Some(if load(second) < load(first) {
                    second
                } else {
                    first
                })
            }
        }
    }
}

fn connector(
    config: &Cluster,
    http: HttpConnector,
    h2: bool,
) -> Result<HttpsConnector<HttpConnector>, ProxyError> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let Some(tls) = &config.tls else {
        let plain =
            rampart_identity::client_config_with_roots(rustls::RootCertStore::empty(), Vec::new())
                .map_err(|e| ProxyError::Config(format!("cluster `{}`: {e}", config.name)))?;
        let b = builder.with_tls_config(plain).https_or_http();
        return Ok(if h2 {
            b.enable_http2().wrap_connector(http)
        } else {
            b.enable_http1().wrap_connector(http)
        });
    };
    let cfg =
        rampart_identity::client_config(tls.ca.as_deref(), tls.danger_skip_verify, Vec::new())
            .map_err(|e| ProxyError::Config(format!("cluster `{}`: {e}", config.name)))?;
    let mut b = builder.with_tls_config(cfg).https_only();
    if let Some(name) = &tls.server_name {
        let server_name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
            ProxyError::Config(format!(
                "cluster `{}`: invalid server name `{name}`",
                config.name
            ))
        })?;
        b = b.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(server_name));
    }
    Ok(if h2 {
        b.enable_http2().wrap_connector(http)
    } else {
        b.enable_http1().wrap_connector(http)
    })
}

// === impl Endpoint ===

impl Endpoint {
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Shared handle used by the request path.
pub type ClusterRef = Arc<ClusterRt>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_request_always_compares_two_different_endpoints() {
        for n in 2..5 {
            let yaml = format!(
                "gateway:\n  clusters: [{{ name: c, balance: least_request, endpoints: [{}] }}]\n",
                (0..n)
                    .map(|p| format!("\"127.0.0.1:{}\"", p + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let config = rampart_config::from_str("t", &yaml).unwrap();
            let pool = Pool::new(&config.gateway.clusters[0], &config.gateway.timeouts).unwrap();
            // Every endpoint but the last is busy: the last must win every pick it is part of,
            // and the busiest (the first) must never win.
            for (k, e) in pool.endpoints.iter().enumerate() {
                e.in_flight.store(10 - k, Ordering::Relaxed);
            }
            pool.endpoints[n - 1].in_flight.store(0, Ordering::Relaxed);
            for _ in 0..100 {
                let picked = pool.pick().unwrap();
                assert_ne!(picked.authority, pool.endpoints[0].authority, "n = {n}");
            }
        }
    }
}
