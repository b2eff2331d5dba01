//! The JSON types of the control-plane API, shared by the server and [`crate::ControlClient`].
//!
//! Responses tolerate unknown fields so that an older client can talk to a newer server; times
//! are unix milliseconds.

use serde::{Deserialize, Serialize};

mod mesh;
mod oauth;
mod policy;

pub use self::mesh::{
    CaGeneration, CaRollover, CaStatus, DeregisterWorkload, MeshEndpoint, MeshService,
    MeshSnapshot, RegisterAck, RegisterWorkload, RevokeRequest, Revoked, RolloverStep, SvidInfo,
    SvidList,
};
pub use self::oauth::{
    CreateOAuthClient, KeysRotated, OAuthClientAuth, OAuthClientCreated, OAuthClientInfo,
    OAuthClientList,
};
pub use self::policy::{
    ApplyPolicy, DryRunReport, PolicyApplied, PolicyHistoryEntry, PolicyRejection, PolicyStatus,
    PolicyVersionDetail, PolicyVersionInfo, ShadowBatch,
};

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthState,
    /// The control plane's version.
    pub version: String,
    /// The store backend: `sqlite` or `postgres`.
    pub store: String,
    pub uptime_secs: u64,
}

/// Whether the control plane can do its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
    /// The store does not answer; the server says so with `503`.
    Degraded,
}

/// `GET /v1/status`: health and the proxies known to the control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(flatten)]
    pub health: Health,
    /// A proxy is connected when it was last seen less than this long ago.
    pub proxy_ttl_ms: u64,
    pub proxies: Vec<ProxyStatus>,
    /// The services with live sidecars in the mesh registry, and their endpoints.
    #[serde(default)]
    pub workloads: Vec<MeshService>,
}

/// One proxy as the control plane sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatus {
    pub id: String,
    /// `gateway` or `sidecar`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub address: String,
    pub config_version: String,
    pub started_at_ms: i64,
    pub last_seen_ms: i64,
    /// Whether the last heartbeat is younger than the proxy ttl.
    pub connected: bool,
    /// How long ago the last heartbeat came.
    pub last_seen_age_ms: u64,
    /// How long the proxy has been running, as of its last heartbeat's start time.
    pub uptime_secs: u64,
}

/// `POST /v1/proxies/heartbeat`: a proxy reporting itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Up to 128 letters, digits and `._:@-`.
    pub id: String,
    pub kind: ProxyKind,
    pub name: String,
    pub version: String,
    /// Where the proxy listens (for display only).
    pub address: String,
    /// The configuration version the proxy is running.
    pub config_version: String,
    pub started_at_ms: u64,
}

/// The kinds of proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyKind {
    Gateway,
    Sidecar,
}

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// Heartbeat well within this (a third of it is a good interval) to stay connected.
    pub ttl_ms: u64,
}

/// `GET /v1/config/versions`: newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersions {
    pub versions: Vec<ConfigVersionInfo>,
}

/// One configuration the control plane tried to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersionInfo {
    pub id: i64,
    pub hash: String,
    pub source: String,
    pub applied_at_ms: i64,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /v1/identity/join-tokens`: a one-time token for a workload's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateJoinToken {
    pub service: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// How long the token can be redeemed: 1 to 86400 seconds.
    #[serde(default = "default_join_token_ttl_secs")]
    pub ttl_secs: u64,
}

/// The answer to [`CreateJoinToken`] (`201`): the only time the token is shown.
///
/// `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenCreated {
    /// `rampart-join.<id>.<secret>.<ca fingerprint>`.
    pub token: String,
    /// The identity the token is for: `spiffe://<trust domain>/ns/<namespace>/sa/<service>`.
    pub spiffe_id: String,
    pub expires_at_ms: i64,
}

/// `POST /v1/identity/svid`: a new workload's first SVID, authenticated by a join token.
///
/// Only the CSR travels: the workload's key never leaves it. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSvid {
    /// `rampart-join.<id>.<secret>.<ca fingerprint>`; redeemed (once) by this request.
    pub join_token: String,
    /// A PKCS#10 certificate signing request in PEM (`CERTIFICATE REQUEST`).
    pub csr_pem: String,
}

/// `POST /v1/identity/svid/renew`: a new SVID for the identity of the client certificate
/// (the workload's current SVID) presented over mTLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewSvid {
    /// A PKCS#10 certificate signing request in PEM, typically for a fresh key.
    pub csr_pem: String,
}

/// The answer to [`RequestSvid`] and [`RenewSvid`] (`200`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvidIssued {
    /// `spiffe://<trust domain>/ns/<namespace>/sa/<service>`.
    pub spiffe_id: String,
    /// The SVID (leaf) first, then any intermediate CA certificates, each in PEM.
    pub svid_chain_pem: Vec<String>,
    /// The trust bundle: the roots of the trust domain, each in PEM.
    pub bundle_pem: Vec<String>,
    /// The SVID's notAfter.
    pub expires_at_ms: i64,
    /// When to renew: half-way through the SVID's validity.
    pub renew_after_ms: i64,
}

/// The namespace of a join token when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The ttl of a join token when none is given.
pub const DEFAULT_JOIN_TOKEN_TTL_SECS: u64 = 600;

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A lowercase message for people.
    pub error: String,
    /// A stable short code for programs: `unauthorized`, `rate_limited`, `not_found`,
    /// `forbidden`, `method_not_allowed`, `bad_request`, `conflict`, `payload_too_large`,
    /// `unsupported_media_type`, `store_unavailable`, `overloaded`, `timeout`, `internal`.
    pub code: String,
}

/// The longest proxy id.
const MAX_ID: usize = 128;
/// The longest other heartbeat field.
const MAX_FIELD: usize = 256;

// === impl Heartbeat ===

impl Heartbeat {
    /// Checks what serde cannot: id syntax and field lengths.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > MAX_ID {
            return Err(format!("`id` must have 1 to {MAX_ID} characters"));
        }
        if !self.id.bytes().all(is_id_byte) {
            return Err("`id` may hold only letters, digits and `._:@-`".to_owned());
        }
        for (field, value) in [
            ("name", &self.name),
            ("version", &self.version),
            ("address", &self.address),
            ("config_version", &self.config_version),
        ] {
            if value.len() > MAX_FIELD {
                return Err(format!("`{field}` is longer than {MAX_FIELD} bytes"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("`{field}` contains control characters"));
            }
        }
        if i64::try_from(self.started_at_ms).is_err() {
            return Err("`started_at_ms` is out of range".to_owned());
        }
        Ok(())
    }
}

// === impl ProxyKind ===

impl ProxyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyKind::Gateway => "gateway",
            ProxyKind::Sidecar => "sidecar",
        }
    }
}

// === impl Health ===

impl Health {
    pub fn is_ok(&self) -> bool {
        self.status == HealthState::Ok
    }
}

// === impl JoinTokenCreated ===

impl std::fmt::Debug for JoinTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinTokenCreated")
            .field("token", &"**REDACTED**")
            .field("spiffe_id", &self.spiffe_id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

// === impl RequestSvid ===

impl std::fmt::Debug for RequestSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSvid")
            .field("join_token", &"**REDACTED**")
            .field("csr_pem", &self.csr_pem)
            .finish()
    }
}

// === helpers ===

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

fn default_join_token_ttl_secs() -> u64 {
    DEFAULT_JOIN_TOKEN_TTL_SECS
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._:@-".contains(&b)
}
