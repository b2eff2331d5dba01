//! The authorization question of one request: principal, action, resource and context, built
//! from what the earlier stages established (`docs/policy.md`, "Enforcement (proxy)").

use super::memo::Key;
use crate::shared::ConnInfo;
use crate::snapshot::RouteRt;
use http::Method;
use rampart_core::spiffe::SpiffeId;
use rampart_policy::{Abstraction, Action, Context, Principal, Request, Resource, Segments};
use rampart_token::Verified;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the authorization stage knows about a request.
pub struct Ask<'a> {
    pub conn: &'a ConnInfo,
    /// The service of the gateway's own SVID (mesh members only).
    pub own_service: Option<&'a str>,
    pub route: &'a RouteRt,
    /// The request's host.
    pub host: &'a str,
    /// The normalised path, before any route rewrite: what the route matched.
    pub path: &'a str,
    pub method: &'a Method,
    /// The claims of the request's verified bearer token.
    pub verified: Option<&'a Verified>,
    /// That token as sent: it identifies the claims in the memo of decisions.
    pub token: Option<&'a str>,
    /// The client address (after trusted `X-Forwarded-For`).
    pub client: IpAddr,
    /// Someone listens to events: build access-event records and event details.
    pub observed: bool,
}

impl Ask<'_> {
    /// The Cedar request, with segments from `segments`; or, for a method that is no action,
    /// just the principal (the request is denied).
    pub fn question(&self, segments: &Segments, now: i64) -> Result<Request, Principal> {
        let principal = self.principal(segments);
        let Some(action) = Action::from_method(self.method.as_str()) else {
            return Err(principal);
        };
        Ok(Request {
            principal,
            action,
            resource: self.resource(segments),
            context: Context {
                source_ip: self.client,
                mtls: self.conn.peer_id.is_some(),
                scopes: self.verified.map(|v| v.scopes.clone()).unwrap_or_default(),
                time: now,
            },
        })
    }

    /// What the decision of this request depends on, given what the enforced (and shadow)
    /// set read of it; `None` when that cannot be told from borrowed inputs (a verified token
    /// without its text): such requests are decided every time.
    pub fn memo_key(
        &self,
        now: i64,
        enforced: Abstraction,
        shadow: Option<Abstraction>,
    ) -> Option<Key<'_>> {
        if self.verified.is_some() && self.token.is_none() {
            return None;
        }
        let read = |f: fn(&Abstraction) -> bool| f(&enforced) || shadow.as_ref().is_some_and(f);
        let (host, path, client) = (
            read(|a| a.host),
            read(Abstraction::path_whole),
            read(|a| a.source_ip),
        );
        let (service, mesh) = self.service();
        Some(Key {
            peer: self.conn.peer_id.as_ref().map(|(id, _)| &**id),
            token: self.token.filter(|_| self.verified.is_some()),
            method: self.method.as_str(),
            host: host.then_some(self.host),
            path: path.then_some(self.path),
            service,
            mesh,
            client: client.then_some(self.client),
            enforced,
            shadow,
            time: now,
        })
    }

    /// A mesh peer, else the token's client or user, else anonymous.
    pub fn principal(&self, segments: &Segments) -> Principal {
        if let Some((id, _)) = &self.conn.peer_id {
            return workload(id, segments);
        }
        self.verified
            .and_then(|v| rampart_policy::principal_from_claims(&v.claims))
            .unwrap_or(Principal::Anonymous)
    }

    /// The mesh listener's own service, whether this request came on a mesh listener.
    fn mesh_service(&self) -> Option<&str> {
        self.own_service.filter(|_| self.conn.peer_id.is_some())
    }

    /// The called service, and whether as a mesh `Service` (else a `Route`).
    pub fn service(&self) -> (&str, bool) {
        match self.mesh_service() {
            Some(s) => (s, true),
            None => (self.route_service(), false),
        }
    }

    /// The route's service: its mesh cluster's service, else the cluster's name.
    fn route_service(&self) -> &str {
        let cluster = &self.route.cluster;
        cluster
            .config
            .mesh
            .as_ref()
            .map_or(cluster.name.as_str(), |m| m.service.as_str())
    }

    fn resource(&self, segments: &Segments) -> Resource {
        let (service, on_mesh) = self.service();
        let segment = segments.segment_of(service).unwrap_or_default().to_owned();
        let (host, path, service) = (
            self.host.to_owned(),
            self.path.to_owned(),
            service.to_owned(),
        );
        if on_mesh {
            Resource::Service {
                host,
                path,
                segment,
                service,
            }
        } else {
            Resource::Route {
                host,
                path,
                segment,
                service,
            }
        }
    }

    /// The resource's Cedar uid, for event details.
    pub fn resource_uid(&self) -> String {
        match self.mesh_service() {
            Some(s) => format!("Rampart::Service::{s:?}"),
            None => format!(
                "Rampart::Route::{:?}",
                format!("{}{}", self.host, self.path)
            ),
        }
    }
}

/// A mesh peer's principal: its SPIFFE id's namespace and service (empty when the id is not a
/// workload id), and the service's segment (`""` when unassigned, which no flow matches).
fn workload(id: &str, segments: &Segments) -> Principal {
    let parsed = SpiffeId::parse(id).ok();
    let part = |f: fn(&SpiffeId) -> Option<&str>| {
        parsed.as_ref().and_then(f).unwrap_or_default().to_owned()
    };
    let service = part(SpiffeId::service);
    let namespace = part(SpiffeId::namespace);
    let segment = segment(segments, &service);
    Principal::Workload {
        spiffe_id: id.to_owned(),
        service,
        namespace,
        segment,
    }
}

fn segment(segments: &Segments, service: &str) -> String {
    match service {
        "" => String::new(),
        s => segments.segment_of(s).unwrap_or_default().to_owned(),
    }
}

/// `request` with its segments looked up in `segments` instead, when any differs.
pub fn resegmented(request: &Request, segments: &Segments) -> Option<Request> {
    let principal_segment = match &request.principal {
        Principal::Workload { service, .. } => Some(segment(segments, service)),
        _ => None,
    };
    let resource_segment = match &request.resource {
        Resource::Route { service, .. } | Resource::Service { service, .. } => {
            Some(segment(segments, service))
        }
        Resource::Secret { .. } => None,
    };
    let same = principal_segment.as_deref() == request.principal.segment()
        && resource_segment.as_deref() == request.resource.segment();
    if same {
        return None;
    }
    let mut other = request.clone();
    if let (Principal::Workload { segment, .. }, Some(s)) =
        (&mut other.principal, principal_segment)
    {
        *segment = s;
    }
    if let (Resource::Route { segment, .. } | Resource::Service { segment, .. }, Some(s)) =
        (&mut other.resource, resource_segment)
    {
        *segment = s;
    }
    Some(other)
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
