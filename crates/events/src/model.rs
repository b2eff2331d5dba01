//! The event types. Field names follow OpenTelemetry/ECS conventions where they exist.

use serde::Serialize;
use std::net::SocketAddr;
use std::time::SystemTime;

/// Anything that happened and that other components may want to know.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event.kind", rename_all = "snake_case")]
pub enum Event {
    Access(Box<AccessEvent>),
    Security(SecurityEvent),
    /// A change made by an administrator or an operator (config, policy, keys, clients,
    /// identities), with its actor.
    Admin(AdminEvent),
}

/// The outcome of an administrative action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

/// An administrative change, with who made it (see `docs/events.md`).
#[derive(Debug, Clone, Serialize)]
pub struct AdminEvent {
    #[serde(rename = "@timestamp", with = "unix_millis")]
    pub time: SystemTime,
    /// Dotted action name, e.g. `policy.apply`, `secret.rotate`, `oauth.client.create`.
    #[serde(rename = "event.action")]
    pub action: String,
    #[serde(rename = "service.name")]
    pub source: String,
    /// Who did it: `admin-token`, a SPIFFE id, an OAuth client id, `operator` (local CLI).
    #[serde(rename = "user.id")]
    pub actor: String,
    /// What was changed: a policy version, a secret path, a client id, a serial. Never a value.
    #[serde(rename = "rampart.target")]
    pub target: String,
    #[serde(rename = "event.outcome")]
    pub outcome: Outcome,
    #[serde(rename = "client.address", skip_serializing_if = "Option::is_none")]
    pub client: Option<SocketAddr>,
    #[serde(rename = "event.reason", skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

// === impl AdminEvent ===

impl AdminEvent {
    pub fn new(
        action: impl Into<String>,
        source: &str,
        actor: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            time: SystemTime::now(),
            action: action.into(),
            source: source.to_string(),
            actor: actor.into(),
            target: target.into(),
            outcome,
            client: None,
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn with_client(mut self, client: Option<SocketAddr>) -> Self {
        self.client = client;
        self
    }
}

/// Whether the door let a request through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

/// One request through a proxy, with its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEvent {
    #[serde(rename = "@timestamp", with = "unix_millis")]
    pub time: SystemTime,
    #[serde(rename = "http.request.id")]
    pub request_id: String,
    #[serde(rename = "service.name")]
    pub source: String,
    pub listener: String,
    #[serde(rename = "client.address")]
    pub client: SocketAddr,
    #[serde(rename = "user.id", skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(rename = "http.request.method")]
    pub method: String,
    #[serde(rename = "url.domain")]
    pub host: String,
    #[serde(rename = "url.path")]
    pub path: String,
    #[serde(rename = "http.response.status_code")]
    pub status: u16,
    #[serde(rename = "http.request.body.bytes")]
    pub bytes_in: u64,
    #[serde(rename = "http.response.body.bytes")]
    pub bytes_out: u64,
    #[serde(rename = "event.duration_us")]
    pub duration_us: u64,
    #[serde(
        rename = "upstream.duration_us",
        skip_serializing_if = "Option::is_none"
    )]
    pub upstream_duration_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(rename = "upstream.address", skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    pub decision: Decision,
    #[serde(rename = "event.reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The policy decision, when authorization is on.
    #[serde(rename = "rampart.authz", skip_serializing_if = "Option::is_none")]
    pub authz: Option<Box<AuthzRecord>>,
}

/// What the policy engine decided about one request (see `docs/policy.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthzRecord {
    pub decision: Decision,
    /// The Cedar principal, e.g. `Rampart::Workload::"spiffe://td/ns/default/sa/orders"`.
    pub principal: String,
    /// The determining policy ids (empty on default deny).
    pub policies: Vec<String>,
    /// The enforced policy set's version.
    pub version: u64,
    /// The shadow (dry-run) set's decision, recorded only when it disagrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowRecord>,
}

/// A shadow (dry-run) decision that differs from the enforced one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowRecord {
    pub decision: Decision,
    pub policies: Vec<String>,
    pub version: u64,
}

/// What kind of security-relevant thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityKind {
    /// A request broke HTTP framing or limits (smuggling attempts, oversized heads).
    HygieneRejected,
    /// A client address was refused by a CIDR list.
    CidrDenied,
    RateLimited,
    /// The egress listener refused a destination.
    EgressDenied,
    /// Credentials were refused: by the control-plane API, or a mesh peer's SVID at (or right
    /// after) a mesh handshake.
    AuthFailed,
    /// A bearer token was refused on a route that requires one (missing, malformed, bad
    /// signature, expired, wrong issuer or audience, missing scope, unbound certificate). The
    /// detail carries the reason code, never the token.
    TokenRejected,
    /// A new configuration was refused; the old one keeps serving.
    ConfigRejected,
    ConfigApplied,
    /// A join token was refused (malformed, unknown, already used or expired).
    JoinTokenRejected,
    /// An X.509-SVID was issued to a workload (first one from a join token, or a renewal);
    /// informational.
    SvidIssued,
    /// A workload renewed its X.509-SVID over mTLS with its current one; informational.
    SvidRenewed,
    /// An administrator revoked an X.509-SVID (by serial, or every live one of a service).
    SvidRevoked,
    /// A workload presented an SVID the control plane refuses (revoked), e.g. to renew it or
    /// to join the mesh.
    SvidRefused,
    /// A step of the CA rollover (prepare, activate, retire) was carried out.
    CaRollover,
    /// A request was denied by the authorization policy (default deny, a forbid, or an
    /// evaluation error). The detail names principal, action, resource and policy ids; the
    /// caller only ever sees a bare 403.
    PolicyDenied,
    /// A policy set was accepted (control plane) or installed (proxy); informational.
    PolicyApplied,
    /// A policy set was refused (invalid); the previous one keeps enforcing.
    PolicyRejected,
    /// A secrets-store data request, allowed or denied: principal, operation, path, version,
    /// decision and policy ids in the detail; never the value.
    SecretAccess,
    /// A stored secret failed authenticated decryption (tampered or swapped row).
    SecretIntegrity,
    /// The secrets store was initialised, unsealed, sealed, or its keys rotated.
    SecretsSeal,
    /// A proxy's event spool was full and, as configured (`drop_oldest`), its oldest events
    /// were dropped; the detail holds the count. An alarm: events were lost.
    EventsDropped,
    /// An upstream endpoint failed too often in a row (5xx, connect failures) and is taken out
    /// of its cluster's rotation for a while (outlier detection); the detail names cluster,
    /// endpoint and how long.
    UpstreamEjected,
    /// An active health check marked an upstream endpoint unhealthy (out of rotation) or
    /// healthy again; the detail names cluster, endpoint and which.
    UpstreamHealth,
    /// A proxy's event spool was full and, as configured (`block`), the proxy sheds requests
    /// with 503 until the collector catches up; no event is lost.
    EventsBlocked,
}

/// A security-relevant occurrence, outside or beside an access event.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityEvent {
    #[serde(rename = "@timestamp", with = "unix_millis")]
    pub time: SystemTime,
    #[serde(rename = "event.action")]
    pub kind: SecurityKind,
    #[serde(rename = "service.name")]
    pub source: String,
    #[serde(rename = "client.address", skip_serializing_if = "Option::is_none")]
    pub client: Option<SocketAddr>,
    #[serde(rename = "event.reason")]
    pub detail: String,
}

// === impl SecurityEvent ===

impl SecurityEvent {
    pub fn new(
        kind: SecurityKind,
        source: &str,
        client: Option<SocketAddr>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            time: SystemTime::now(),
            kind,
            source: source.to_string(),
            client,
            detail: detail.into(),
        }
    }
}

mod unix_millis {
    use serde::Serializer;
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        s.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}
