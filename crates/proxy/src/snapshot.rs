//! The compiled form of a configuration that the request path reads: routes with their
//! clusters, limits and metrics handles. A new snapshot is built beside the old one and swapped
//! in atomically; a bad configuration never replaces a good one.

use crate::access::{Cidrs, Limiter};
use crate::auth::{IssuerRegistry, JwtRt};
use crate::cluster::{ClusterRef, ClusterRt};
use crate::error::ProxyError;
use crate::framing::HeadLimits;
use crate::mesh::{MeshBinding, MeshRt};
use crate::metrics::{Metrics, RouteMetrics};
use crate::upstream::H1Pool;
use http::{HeaderName, HeaderValue, Method};
use ipnet::IpNet;
use rampart_config::{Config, Limits, Route, Timeouts};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Everything the data plane needs to decide a request.
#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub routes: Vec<Arc<RouteRt>>,
    pub clusters: HashMap<String, ClusterRef>,
    pub limits: Limits,
    pub head_limits: HeadLimits,
    pub timeouts: Timeouts,
    pub trusted_proxies: Vec<IpNet>,
    pub egress_allow: Vec<HostPattern>,
    /// Metrics for requests that matched no route.
    pub unrouted: Arc<RouteMetrics>,
    /// The configuration has a `policy` section: with no enforced set installed, every
    /// request is denied (fail closed) instead of authorization being off.
    pub policy_required: bool,
    /// The listeners whose requests are not authorized (`authorize: false`, e.g. a sidecar's
    /// loopback outbound listener, whose calls the callee's inbound listener authorizes).
    unauthorized_listeners: Vec<String>,
    /// The token issuers of the gateway's routes, shared by them and carried across reloads.
    issuers: IssuerRegistry,
    /// Injected faults per route (`gateway.faults`, only with `danger: true`).
    pub faults: crate::faults::Faults,
}

/// A route ready to match and serve.
#[derive(Debug)]
pub struct RouteRt {
    pub name: Arc<str>,
    pub config: Route,
    /// The listeners whose requests may take this route; empty means all.
    listeners: Vec<Arc<str>>,
    host: Option<HostPattern>,
    path: PathMatch,
    methods: Vec<Method>,
    pub cluster: ClusterRef,
    pub request_add: Vec<(HeaderName, HeaderValue)>,
    pub request_remove: Vec<HeaderName>,
    pub response_add: Vec<(HeaderName, HeaderValue)>,
    pub response_remove: Vec<HeaderName>,
    pub max_body: u64,
    pub cidrs: Option<Cidrs>,
    pub limiter: Option<Arc<Limiter>>,
    /// Bearer-token validation (`auth.jwt`), kept across reloads that do not change it.
    pub jwt: Option<Arc<JwtRt>>,
    pub timeout: Duration,
    pub metrics: Arc<RouteMetrics>,
}

#[derive(Debug)]
enum PathMatch {
    Any,
    Prefix(String),
    Exact(String),
    Regex(Regex),
}

/// `name`, `*.suffix` (one or more labels), with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    name: String,
    wildcard: bool,
    port: Option<u16>,
}

// === impl Snapshot ===

impl Snapshot {
    /// Compiles `config`, reusing clusters (and their warm pools) and rate-limit state from
    /// `previous` where their settings did not change.
    /// Mesh clusters are bound to `mesh`'s current TLS generation and directory.
    /// Publishes every cluster's health-check transitions on `bus` as `source`.
    pub fn attach_events(&self, bus: &rampart_events::EventBus, source: &Arc<str>) {
        for cluster in self.clusters.values() {
            cluster.attach_events(bus, source);
        }
    }

    pub fn compile(
        config: &Config,
        version: u64,
        previous: Option<&Snapshot>,
        metrics: &Metrics,
        mesh: Option<&Arc<MeshRt>>,
    ) -> Result<Self, ProxyError> {
        let g = &config.gateway;
        let mut clusters = HashMap::new();
        for c in &g.clusters {
            let binding = MeshBinding::resolve(c, mesh)?;
            let old = previous.and_then(|p| p.clusters.get(&c.name));
            let rt = match old.filter(|old| old.same(c, &g.timeouts, binding.as_ref())) {
                Some(rt) => rt.clone(),
                None => Arc::new(ClusterRt::new(c, &g.timeouts, binding, old.map(|o| &**o))?),
            };
            rt.start_health_checks(metrics);
            clusters.insert(c.name.clone(), rt);
        }
        let issuers = previous.map(|p| p.issuers.clone()).unwrap_or_default();
        let mut routes = Vec::with_capacity(g.routes.len());
        for r in &g.routes {
            let cluster = clusters.get(&r.cluster).cloned().ok_or_else(|| {
                ProxyError::Config(format!(
                    "route `{}`: unknown cluster `{}`",
                    r.name, r.cluster
                ))
            })?;
            let old = previous.and_then(|p| p.routes.iter().find(|o| o.name.as_ref() == r.name));
            routes.push(Arc::new(RouteRt::new(
                r,
                cluster,
                &g.limits,
                &g.timeouts,
                old,
                metrics,
                &issuers,
            )?));
        }
        let egress_allow = g
            .egress
            .iter()
            .flat_map(|e| e.allow.iter())
            .filter_map(|p| HostPattern::parse(p, true))
            .collect();
        Ok(Self {
            version,
            routes,
            clusters,
            limits: g.limits.clone(),
            head_limits: HeadLimits {
                max_uri_bytes: usize::try_from(g.limits.max_uri_bytes.0).unwrap_or(usize::MAX),
                max_header_bytes: usize::try_from(g.limits.max_header_bytes.0)
                    .unwrap_or(usize::MAX),
                max_header_count: g.limits.max_header_count,
            },
            timeouts: g.timeouts.clone(),
            trusted_proxies: g.trusted_proxies.clone(),
            egress_allow,
            unrouted: Arc::new(metrics.route("none")),
            policy_required: config.policy.is_some(),
            unauthorized_listeners: g
                .listeners
                .iter()
                .filter(|l| !l.authorize)
                .map(|l| l.name.clone())
                .collect(),
            issuers,
            faults: crate::faults::Faults::compile(g),
        })
    }

    /// The first route, in configuration order, that matches a request that came in on
    /// `listener`.
    pub fn route(
        &self,
        listener: &str,
        host: &str,
        path: &str,
        method: &Method,
    ) -> Option<&Arc<RouteRt>> {
        self.routes
            .iter()
            .find(|r| r.matches(listener, host, path, method))
    }

    /// Whether requests on `listener` go through authorization.
    pub fn authorizes(&self, listener: &str) -> bool {
        !self.unauthorized_listeners.iter().any(|l| l == listener)
    }

    /// Flushes the endpoint pools of `self` that `next` no longer uses (mesh TLS settings
    /// changed, or the cluster or endpoint is gone): their idle connections close now instead
    /// of when the last request on this snapshot ends.
    pub fn retire_pools(&self, next: &Snapshot) {
        let kept: HashSet<*const H1Pool> = next
            .clusters
            .values()
            .flat_map(|c| c.h1_pools())
            .map(Arc::as_ptr)
            .collect();
        for pool in self.clusters.values().flat_map(|c| c.h1_pools()) {
            if !kept.contains(&Arc::as_ptr(pool)) {
                pool.flush();
            }
        }
    }

    /// Whether the egress allow-list admits `host:port`.
    pub fn egress_allows(&self, host: &str, port: u16) -> bool {
        self.egress_allow
            .iter()
            .any(|p| p.matches(host, Some(port)))
    }

    /// Periodic upkeep of per-key state.
    pub fn housekeep(&self) {
        for r in &self.routes {
            if let Some(l) = &r.limiter {
                l.housekeep();
            }
        }
    }
}

// === impl RouteRt ===

impl RouteRt {
    fn new(
        r: &Route,
        cluster: ClusterRef,
        limits: &Limits,
        timeouts: &Timeouts,
        old: Option<&Arc<RouteRt>>,
        metrics: &Metrics,
        issuers: &IssuerRegistry,
    ) -> Result<Self, ProxyError> {
        let m = &r.matcher;
        let path = if let Some(p) = &m.path_prefix {
            PathMatch::Prefix(p.clone())
        } else if let Some(p) = &m.path_exact {
            PathMatch::Exact(p.clone())
        } else if let Some(re) = &m.path_regex {
            // Anchored: a regex route matches the whole path, never a part of it.
            let anchored = format!("^(?:{re})$");
            PathMatch::Regex(
                Regex::new(&anchored)
                    .map_err(|e| ProxyError::Config(format!("route `{}`: {e}", r.name)))?,
            )
        } else {
            PathMatch::Any
        };
        let methods = m
            .methods
            .iter()
            .map(|s| {
                Method::from_bytes(s.as_bytes()).map_err(|_| {
                    ProxyError::Config(format!("route `{}`: bad method `{s}`", r.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let name_of = |n: &String| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| ProxyError::Config(format!("route `{}`: bad header `{n}`", r.name)))
        };
        let pairs = |map: &std::collections::BTreeMap<String, String>| {
            map.iter()
                .map(|(k, v)| {
                    Ok((
                        name_of(k)?,
                        HeaderValue::from_str(v).map_err(|_| {
                            ProxyError::Config(format!("route `{}`: bad value for `{k}`", r.name))
                        })?,
                    ))
                })
                .collect::<Result<Vec<_>, ProxyError>>()
        };
        let limiter = match &r.rate_limit {
            None => None,
            Some(rl) => match old
                .and_then(|o| o.limiter.clone())
                .filter(|l| &l.config == rl)
            {
                Some(same) => Some(same),
                None => Some(Arc::new(Limiter::new(rl).ok_or_else(|| {
                    ProxyError::Config(format!("route `{}`: invalid rate limit", r.name))
                })?)),
            },
        };
        let jwt = match r.auth.as_ref().map(|a| &a.jwt) {
            None => None,
            Some(cfg) => match old.and_then(|o| o.jwt.clone()).filter(|j| &j.config == cfg) {
                Some(same) => Some(same),
                None => Some(Arc::new(JwtRt::new(&r.name, cfg, metrics, issuers)?)),
            },
        };
        Ok(Self {
            name: Arc::from(r.name.as_str()),
            config: r.clone(),
            listeners: r.listeners.iter().map(|l| Arc::from(l.as_str())).collect(),
            host: m.host.as_deref().and_then(|h| HostPattern::parse(h, false)),
            path,
            methods,
            cluster,
            request_add: pairs(&r.headers.request_add)?,
            request_remove: r
                .headers
                .request_remove
                .iter()
                .map(name_of)
                .collect::<Result<_, _>>()?,
            response_add: pairs(&r.headers.response_add)?,
            response_remove: r
                .headers
                .response_remove
                .iter()
                .map(name_of)
                .collect::<Result<_, _>>()?,
            max_body: r.max_body_bytes.unwrap_or(limits.max_body_bytes).0,
            cidrs: r.access.as_ref().map(Cidrs::new),
            limiter,
            jwt,
            timeout: r.timeout.unwrap_or(timeouts.upstream_response).0,
            metrics: Arc::new(metrics.route(&r.name)),
        })
    }

    fn matches(&self, listener: &str, host: &str, path: &str, method: &Method) -> bool {
        if !self.listeners.is_empty() && !self.listeners.iter().any(|l| **l == *listener) {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return false;
        }
        if let Some(h) = &self.host
            && !h.matches(host, None)
        {
            return false;
        }
        match &self.path {
            PathMatch::Any => true,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Exact(p) => path == p,
            PathMatch::Regex(re) => re.is_match(path),
        }
    }

    /// The path to send upstream for a matched (normalised) `path`.
    pub fn rewrite(&self, path: &str) -> Option<String> {
        let to = self.config.rewrite.as_ref()?.path_prefix.as_ref()?;
        let rest = match &self.path {
            PathMatch::Prefix(p) => &path[p.len().min(path.len())..],
            _ => "",
        };
        let mut out = String::with_capacity(to.len() + rest.len());
        out.push_str(to);
        if out.ends_with('/') && rest.starts_with('/') {
            out.push_str(&rest[1..]);
        } else if !out.ends_with('/') && !rest.is_empty() && !rest.starts_with('/') {
            out.push('/');
            out.push_str(rest);
        } else {
            out.push_str(rest);
        }
        Some(out)
    }
}

// === impl HostPattern ===

impl HostPattern {
    /// Parses `name`, `*.name`, and with `with_port`, an optional `:port`.
    pub fn parse(s: &str, with_port: bool) -> Option<Self> {
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if with_port && !h.contains(':') => (h, Some(p.parse().ok()?)),
            _ => (s, None),
        };
        let (name, wildcard) = match host.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (host, false),
        };
        Some(Self {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            wildcard,
            port,
        })
    }

    /// Matches a host (any case, trailing dot ignored). With a `port` given: a pattern with a
    /// port must equal it; a pattern without one admits 80 and 443.
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if let Some(p) = port {
            match self.port {
                Some(want) if want != p => return false,
                None if p != 80 && p != 443 => return false,
                _ => {}
            }
        }
        let host = host.trim_end_matches('.');
        if self.wildcard {
            host.len() > self.name.len() + 1
                && host[host.len() - self.name.len()..].eq_ignore_ascii_case(&self.name)
                && host.as_bytes()[host.len() - self.name.len() - 1] == b'.'
        } else {
            host.eq_ignore_ascii_case(&self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let p = HostPattern::parse("*.example.com", true).unwrap();
        assert!(p.matches("api.example.com", Some(443)));
        assert!(p.matches("a.b.EXAMPLE.com.", Some(80)));
        assert!(!p.matches("example.com", Some(443)));
        assert!(!p.matches("evilexample.com", Some(443)));
        assert!(!p.matches("api.example.com", Some(8443)));
        let p = HostPattern::parse("db.internal:5432", true).unwrap();
        assert!(p.matches("db.internal", Some(5432)));
        assert!(!p.matches("db.internal", Some(443)));
        let p = HostPattern::parse("api.test", false).unwrap();
        assert!(p.matches("API.test", None));
    }

    #[test]
    fn routing_and_rewrite() {
        let yaml = r#"
gateway:
  clusters: [{ name: c, endpoints: ["127.0.0.1:9"] }]
  routes:
    - { name: exact, match: { path_exact: /x, methods: [GET] }, cluster: c }
    - { name: re, match: { path_regex: "/v[0-9]+/items" }, cluster: c }
    - { name: host, match: { host: "*.h.test", path_prefix: /h }, cluster: c }
    - { name: api, match: { path_prefix: /api/ }, cluster: c, rewrite: { path_prefix: / } }
    - { name: all, cluster: c }
"#;
        let config = rampart_config::from_str("t", yaml).unwrap();
        let s = Snapshot::compile(&config, 1, None, &Metrics::new(), None).unwrap();
        let name = |host: &str, path: &str, m: Method| {
            s.route("http", host, path, &m).unwrap().name.to_string()
        };
        assert_eq!(name("a", "/x", Method::GET), "exact");
        assert_eq!(name("a", "/x", Method::POST), "all");
        assert_eq!(name("a", "/v2/items", Method::GET), "re");
        assert_eq!(name("a", "/v2/items/9", Method::GET), "all");
        assert_eq!(name("a.h.test", "/h", Method::GET), "host");
        assert_eq!(name("h.test", "/h", Method::GET), "all");
        let api = s.route("http", "a", "/api/users/1", &Method::GET).unwrap();
        assert_eq!(api.name.as_ref(), "api");
        assert_eq!(api.rewrite("/api/users/1").unwrap(), "/users/1");
        assert!(
            s.route("http", "a", "/x", &Method::GET)
                .unwrap()
                .rewrite("/x")
                .is_none()
        );
    }

    #[test]
    fn routes_can_be_limited_to_listeners() {
        let yaml = r#"
gateway:
  listeners:
    - { name: outbound, address: "127.0.0.1:0" }
    - { name: public, address: "127.0.0.2:0" }
  clusters: [{ name: c, endpoints: ["127.0.0.1:9"] }]
  routes:
    - { name: out, listeners: [outbound], match: { host: orders }, cluster: c }
    - { name: pub, listeners: [public], cluster: c }
"#;
        let config = rampart_config::from_str("t", yaml).unwrap();
        let s = Snapshot::compile(&config, 1, None, &Metrics::new(), None).unwrap();
        let name = |listener: &str, host: &str| {
            s.route(listener, host, "/", &Method::GET)
                .map(|r| r.name.to_string())
        };
        assert_eq!(name("outbound", "orders").as_deref(), Some("out"));
        assert_eq!(name("outbound", "billing"), None);
        assert_eq!(name("public", "orders").as_deref(), Some("pub"));
        assert_eq!(name("other", "orders"), None);
    }

    #[test]
    fn mesh_clusters_need_a_mesh_identity() {
        let yaml = r#"
gateway:
  clusters: [{ name: orders, mesh: { service: orders } }]
  routes: [{ name: r, cluster: orders }]
"#;
        let config = rampart_config::from_str("t", yaml).unwrap();
        let e = Snapshot::compile(&config, 1, None, &Metrics::new(), None).unwrap_err();
        assert!(matches!(e, ProxyError::NoMesh(_)), "{e}");
        assert!(e.to_string().contains("cluster `orders`"), "{e}");
    }
}
