//! The sidecar's gateway configuration, generated from its options and the services the mesh
//! snapshot lists.
//!
//! - listener `inbound` (mesh: mutual TLS, the peer's SPIFFE id as principal) with one route,
//!   `inbound`, to the cluster `app` (the workload, over loopback); with `inbound_jwt`, that
//!   route also demands a bearer token (`auth.jwt`), bound to the caller's SVID when it has
//!   `cnf`;
//! - listener `outbound` (plain HTTP on loopback) with, per known service, routes matching
//!   `Host: <service>.<namespace>` and `Host: <service>` (ports ignored) to a mesh cluster whose
//!   endpoints come from the mesh directory and whose peers must present that service's id.
//!
//! Routes are tried in order: every `<service>.<namespace>` route first (unambiguous), then the
//! short `<service>` routes, those of the sidecar's own namespace before the others, so a bare
//! name means the service of one's own namespace when several namespaces share it.

use std::net::SocketAddr;

use rampart_config::{
    AdminConfig, Balance, Cluster, Config, GatewayConfig, JwtAuth, JwtIssuer, Listener, MeshTarget,
    Route, RouteAuth, RouteMatch, UpstreamProtocol,
};

/// The name of the mesh listener.
pub const INBOUND: &str = "inbound";
/// The name of the loopback listener the workload sends its calls to.
pub const OUTBOUND: &str = "outbound";
/// The name of the cluster that is the workload itself.
pub const APP: &str = "app";

/// Where the sidecar listens and what it fronts.
#[derive(Clone, Debug, PartialEq)]
pub struct SidecarShape {
    /// The sidecar's own namespace (preferred for bare service names).
    pub namespace: String,
    /// The workload, `host:port` (normally on loopback).
    pub app: String,
    pub inbound: SocketAddr,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    /// The bearer token every inbound request must carry, if any.
    pub inbound_jwt: Option<JwtAuth>,
}

/// `auth.jwt` for the inbound route: tokens of `issuer` (fetched trusting the PEM roots in
/// `ca`, or the system's), with one of `audiences` (none: no check) and every one of
/// `scopes`; the verified claims go to the app in `x-rampart-claims`.
pub fn inbound_jwt(
    issuer: &str,
    ca: Option<std::path::PathBuf>,
    audiences: Vec<String>,
    scopes: Vec<String>,
) -> JwtAuth {
    JwtAuth {
        issuers: vec![JwtIssuer {
            issuer: issuer.to_owned(),
            jwks_uri: None,
            ca,
            algorithms: vec!["ES256".to_owned(), "EdDSA".to_owned()],
            introspection: None,
        }],
        audiences,
        scopes,
        claims: Default::default(),
        forward_claims: true,
        strip_token: false,
        leeway: None,
        max_token_bytes: None,
    }
}

// === impl SidecarShape ===

impl SidecarShape {
    /// The gateway configuration for this shape with outbound routes to `targets` (in any
    /// order, duplicates ignored). A target whose names cannot be host names gets a cluster
    /// but no route.
    pub fn config(&self, targets: &[MeshTarget]) -> Config {
        let mut targets = targets.to_vec();
        targets.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
        targets.dedup();
        let mut clusters = vec![app_cluster(&self.app)];
        clusters.extend(targets.iter().map(mesh_cluster));
        let mut routes = vec![Route {
            listeners: vec![INBOUND.to_owned()],
            auth: self.inbound_jwt.clone().map(|jwt| RouteAuth { jwt }),
            ..route(INBOUND, APP, None)
        }];
        routes.extend(self.outbound_routes(&targets));
        Config {
            admin: AdminConfig { listen: self.admin },
            gateway: GatewayConfig {
                // Listener settings never change after start (a reload would be refused).
                listeners: vec![
                    listener(INBOUND, self.inbound, true),
                    listener(OUTBOUND, self.outbound, false),
                ],
                clusters,
                routes,
                ..GatewayConfig::default()
            },
            ..Config::default()
        }
    }

    fn outbound_routes(&self, targets: &[MeshTarget]) -> Vec<Route> {
        let routable: Vec<&MeshTarget> = targets
            .iter()
            .filter(|t| is_host_label(&t.service) && is_host_label(&t.namespace))
            .collect();
        let qualified = routable.iter().map(|t| {
            let host = format!("{}.{}", t.service, t.namespace);
            route(&format!("to-{host}"), &cluster_name(t), Some(host))
        });
        let (own, others): (Vec<&MeshTarget>, Vec<&MeshTarget>) =
            routable.iter().partition(|t| t.namespace == self.namespace);
        let short = own.into_iter().chain(others).map(|t| {
            let name = format!("to-{}.{}-short", t.service, t.namespace);
            route(&name, &cluster_name(t), Some(t.service.clone()))
        });
        qualified
            .chain(short)
            .map(|r| Route {
                listeners: vec![OUTBOUND.to_owned()],
                ..r
            })
            .collect()
    }
}

/// The name of the mesh cluster of `target`.
pub fn cluster_name(target: &MeshTarget) -> String {
    format!("mesh-{}.{}", target.service, target.namespace)
}

// === helpers ===

fn listener(name: &str, address: SocketAddr, mesh: bool) -> Listener {
    Listener {
        name: name.to_owned(),
        address,
        tls: None,
        h2c: false,
        mesh,
        // The outbound listener's caller is the local app; the callee's inbound listener
        // authorizes the call with this workload as the principal.
        authorize: mesh,
    }
}

fn app_cluster(app: &str) -> Cluster {
    Cluster {
        name: APP.to_owned(),
        endpoints: vec![app.to_owned()],
        builtin: None,
        balance: Balance::default(),
        protocol: UpstreamProtocol::Http1,
        tls: None,
        mesh: None,
        max_idle_per_endpoint: 64,
        resilience: None,
    }
}

fn mesh_cluster(target: &MeshTarget) -> Cluster {
    Cluster {
        name: cluster_name(target),
        // From the mesh directory.
        endpoints: Vec::new(),
        builtin: None,
        balance: Balance::RoundRobin,
        protocol: UpstreamProtocol::Http1,
        tls: None,
        mesh: Some(target.clone()),
        max_idle_per_endpoint: 64,
        resilience: None,
    }
}

fn route(name: &str, cluster: &str, host: Option<String>) -> Route {
    Route {
        name: name.to_owned(),
        matcher: RouteMatch {
            host,
            ..RouteMatch::default()
        },
        listeners: Vec::new(),
        cluster: cluster.to_owned(),
        rewrite: None,
        headers: Default::default(),
        max_body_bytes: None,
        access: None,
        rate_limit: None,
        timeout: None,
        auth: None,
    }
}

/// Whether `s` can be one or more labels of a host name (letters, digits, `-`, dots between).
fn is_host_label(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[cfg(test)]
mod tests;
