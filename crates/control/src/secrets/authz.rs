//! The decision on one secrets request: the admin token may do everything; anyone else
//! needs the enforced Cedar set to permit the action on `Secret { path }`, and with no
//! enforced set nobody else passes (fail closed).

use std::{
    borrow::Cow,
    net::{IpAddr, Ipv4Addr},
    time::{SystemTime, UNIX_EPOCH},
};

use rampart_core::spiffe::SpiffeId;
use rampart_policy::{Action, Context, PolicyEngine, Principal, Request, Resource};

use super::{Caller, Credential, SecretsApi};

/// The outcome, with what the audit event says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    /// The determining policy ids, comma-separated; `admin-token` for the admin, `none`
    /// when no enforced set exists, empty on default deny.
    pub(crate) policies: Cow<'static, str>,
}

// === impl SecretsApi ===

impl SecretsApi {
    /// Whether `caller` may take `action` on the secret `path` (the KV path, no mount).
    pub(crate) async fn authorize(&self, caller: &Caller, action: Action, path: &str) -> Verdict {
        if caller.credential == Credential::AdminToken {
            return Verdict {
                allowed: true,
                policies: Cow::Borrowed("admin-token"),
            };
        }
        let engine = self.engine.current().await;
        let Some(engine) = engine.as_ref().and_then(|c| c.engine.as_ref()) else {
            return Verdict {
                allowed: false,
                policies: Cow::Borrowed("none"),
            };
        };
        decide(engine, caller, action, path)
    }
}

// === helpers ===

fn decide(engine: &PolicyEngine, caller: &Caller, action: Action, path: &str) -> Verdict {
    let request = Request {
        principal: principal(engine, &caller.principal),
        action,
        resource: Resource::Secret {
            path: path.to_owned(),
        },
        context: Context {
            source_ip: caller.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            mtls: caller.mtls,
            scopes: caller.scopes.clone(),
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        },
    };
    let decision = engine.decide(&request);
    if !decision.errors.is_empty() {
        tracing::warn!(errors = ?decision.errors, "secrets: policy evaluation errors (denied)");
    }
    let ids: Vec<&str> = decision.policies.iter().map(|p| p.as_str()).collect();
    Verdict {
        allowed: decision.allowed,
        policies: Cow::Owned(ids.join(",")),
    }
}

/// The caller's principal with a workload's segment looked up in the engine's segments
/// (`""` when its service is unassigned, which no flow matches).
fn principal(engine: &PolicyEngine, principal: &Principal) -> Principal {
    match principal {
        Principal::Workload {
            spiffe_id,
            service,
            namespace,
            ..
        } => Principal::Workload {
            spiffe_id: spiffe_id.clone(),
            service: service.clone(),
            namespace: namespace.clone(),
            segment: engine
                .segments()
                .segment_of(service)
                .unwrap_or_default()
                .to_owned(),
        },
        other => other.clone(),
    }
}

/// A workload principal from its SPIFFE id (segment filled in at decision time).
pub(crate) fn workload(id: &SpiffeId) -> Principal {
    Principal::Workload {
        spiffe_id: id.to_string(),
        service: id.service().unwrap_or_default().to_owned(),
        namespace: id.namespace().unwrap_or_default().to_owned(),
        segment: String::new(),
    }
}
