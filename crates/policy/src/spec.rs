//! Requests written as text (policy tests, `rampart policy explain`), turned into [`Request`]s.
//!
//! Principals: `spiffe://<td>/ns/<ns>/sa/<svc>` (a workload), `client:<id>`, `user:<sub>`,
//! `anonymous`.
//! Resources: `service:<name>`, `route:<host>`, `secret:<path>`. Workload and service segments
//! come from the segments configuration (`""`, matching no flow, when unassigned).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::request::{ANONYMOUS_ID, Action, Context, Principal, Request, Resource};
use crate::segments::Segments;

/// Why a request spec cannot be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The principal is not `spiffe://…/ns/…/sa/…`, `client:…`, `user:…` or `anonymous`.
    #[error(
        "principal {0:?}: expected spiffe://<td>/ns/<ns>/sa/<svc>, client:<id>, user:<sub> or anonymous"
    )]
    Principal(String),
    /// The resource is not `service:…`, `route:…` or `secret:…`.
    #[error("resource {0:?}: expected service:<name>, route:<host> or secret:<path>")]
    Resource(String),
    /// Unknown action.
    #[error("unknown action {0:?}")]
    Action(String),
}

/// One request, as written in a policy test file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Principal (see module docs).
    pub principal: String,
    /// Action name (`GET`, …, `read_secret`, `write_secret`, `admin`).
    pub action: String,
    /// Resource (see module docs).
    pub resource: String,
    /// Request path (already normalised: callers normalise it like the proxy does).
    #[serde(default = "root")]
    pub path: String,
    /// Target service of a route.
    #[serde(default)]
    pub service: Option<String>,
    /// Token scopes (client scopes and context scopes).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// User groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Source address (default 127.0.0.1).
    #[serde(default)]
    pub source_ip: Option<IpAddr>,
    /// mTLS used (default: true for workloads, false otherwise).
    #[serde(default)]
    pub mtls: Option<bool>,
    /// Unix seconds (default 0).
    #[serde(default)]
    pub time: Option<i64>,
}

fn root() -> String {
    String::from("/")
}

impl RequestSpec {
    /// Builds the request, taking segments from `segments.services`.
    pub fn to_request(&self, segments: &Segments) -> Result<Request, SpecError> {
        let segment_of = |svc: &str| segments.segment_of(svc).unwrap_or_default().to_string();
        let principal = if let Some(rest) = self.principal.strip_prefix("spiffe://") {
            let parts: Vec<&str> = rest.split('/').collect();
            match parts.as_slice() {
                [td, "ns", ns, "sa", svc]
                    if !td.is_empty() && !ns.is_empty() && !svc.is_empty() =>
                {
                    Principal::Workload {
                        spiffe_id: self.principal.clone(),
                        service: (*svc).to_string(),
                        namespace: (*ns).to_string(),
                        segment: segment_of(svc),
                    }
                }
                _ => return Err(SpecError::Principal(self.principal.clone())),
            }
        } else if let Some(id) = self.principal.strip_prefix("client:") {
            Principal::Client {
                client_id: id.to_string(),
                scopes: self.scopes.clone(),
            }
        } else if let Some(sub) = self.principal.strip_prefix("user:") {
            Principal::User {
                sub: sub.to_string(),
                groups: self.groups.clone(),
            }
        } else if self.principal == ANONYMOUS_ID {
            Principal::Anonymous
        } else {
            return Err(SpecError::Principal(self.principal.clone()));
        };
        let resource = if let Some(name) = self.resource.strip_prefix("service:") {
            Resource::Service {
                host: name.to_string(),
                path: self.path.clone(),
                segment: segment_of(name),
                service: name.to_string(),
            }
        } else if let Some(host) = self.resource.strip_prefix("route:") {
            let service = self.service.clone().unwrap_or_default();
            Resource::Route {
                host: host.to_string(),
                path: self.path.clone(),
                segment: segment_of(&service),
                service,
            }
        } else if let Some(path) = self.resource.strip_prefix("secret:") {
            Resource::Secret {
                path: path.to_string(),
            }
        } else {
            return Err(SpecError::Resource(self.resource.clone()));
        };
        let action = Action::from_name(&self.action)
            .ok_or_else(|| SpecError::Action(self.action.clone()))?;
        let workload = matches!(principal, Principal::Workload { .. });
        Ok(Request {
            principal,
            action,
            resource,
            context: Context {
                source_ip: self.source_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                mtls: self.mtls.unwrap_or(workload),
                scopes: self.scopes.clone(),
                time: self.time.unwrap_or(0),
            },
        })
    }
}

/// Expected outcome of a test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The request must be allowed.
    Allow,
    /// The request must be denied.
    Deny,
}

/// One policy test: a request and its expected decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Test name.
    pub name: String,
    /// The request.
    pub request: RequestSpec,
    /// Expected decision.
    pub expect: Expect,
    /// When given, the exact set of determining policy ids.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
}

/// A policy test file: `tests: [...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The cases.
    #[serde(default)]
    pub tests: Vec<TestCase>,
}
