//! The configuration model. Every struct rejects unknown fields; every field has a safe default.

use crate::units::{ByteSize, Duration};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A whole Rampart configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub admin: AdminConfig,
    pub control: ControlConfig,
    /// The workload CA and the identities it issues.
    pub ca: CaConfig,
    pub store: StoreConfig,
    /// The OAuth2 authorization server of the control plane.
    pub oauth: OAuthConfig,
    pub gateway: GatewayConfig,
    /// Authorization policy and network segments; when present, every request at every proxy
    /// (gateway and sidecars) is authorized, with default deny (see `docs/policy.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    /// The secrets store (see `docs/secrets.md`).
    pub secrets: SecretsConfig,
    /// The event pipeline: the event log, the audit chain, exports, and how proxies ship
    /// (see `docs/logs.md`).
    pub logs: LogsConfig,
}

/// The `logs` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Where the event log lives: `sqlite://PATH` or `postgres://…`. Default: `events.db` in
    /// the data directory (its own SQLite file, apart from the state database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Access events older than this are removed.
    pub max_age: Duration,
    /// The event log is kept under this size by removing the oldest access events.
    pub max_bytes: ByteSize,
    /// Audit (chained) records older than this are removed, as a prefix ending at a checkpoint.
    pub audit_max_age: Duration,
    /// A signed checkpoint of the audit chain every this many chained records…
    pub checkpoint_every: u64,
    /// …or this often, whichever comes first.
    pub checkpoint_interval: Duration,
    /// The audit keys (`key_id:base64`, from `GET /v1/audit/keys`) of the other control planes
    /// writing to the same database: checkpoints they signed verify too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
    /// Copy every stored event to this JSON-lines file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<PathBuf>,
    /// Export every stored event as OTLP logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpConfig>,
    /// NATS JetStream, for fleets: proxies publish to it and collectors consume as a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsConfig>,
    /// The proxies' side: their on-disk spool and how they ship.
    pub spool: SpoolConfig,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: ByteSize(1 << 30),
            audit_max_age: Duration::from_secs(365 * 24 * 3600),
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            trusted_keys: Vec::new(),
            jsonl: None,
            otlp: None,
            nats: None,
            spool: SpoolConfig::default(),
        }
    }
}

/// OTLP log export over HTTP/protobuf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's base URL; logs go to `{endpoint}/v1/logs`.
    pub endpoint: String,
    /// Extra headers, e.g. an authorization header of the collector.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_otlp_timeout")]
    pub timeout: Duration,
}

fn default_otlp_timeout() -> Duration {
    Duration::from_secs(10)
}

/// NATS JetStream transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    #[serde(default = "default_nats_stream")]
    pub stream: String,
    /// Whether this control plane consumes the stream (as one of the collector group).
    #[serde(default = "default_true")]
    pub consume: bool,
    /// Whether proxies publish to the stream instead of posting to the collector.
    #[serde(default)]
    pub publish: bool,
}

fn default_nats_stream() -> String {
    "RAMPART_EVENTS".to_string()
}

fn default_true() -> bool {
    true
}

/// What a proxy does when its spool is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Drop the oldest unsent events, count them and raise an `events_dropped` alarm.
    #[default]
    DropOldest,
    /// Lose nothing: shed requests with 503 until the collector catches up.
    Block,
}

/// A proxy's on-disk event spool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Default: `spool/` in the proxy's data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    pub max_bytes: ByteSize,
    pub when_full: WhenFull,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_bytes: ByteSize(256 << 20),
            when_full: WhenFull::DropOldest,
        }
    }
}

/// How the secrets store's root key is obtained at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealMode {
    /// Read from `root_key_env` if set, else from `root_key_file` (created 0600 at first
    /// start): the store unseals itself. The embedded default.
    #[default]
    Auto,
    /// Split into Shamir shares by `rampart operator init`; the store starts sealed until
    /// `rampart operator unseal` has been given `threshold` shares.
    Shamir,
}

/// The `secrets` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    pub seal: SealMode,
    /// Auto-unseal key file; relative paths are relative to the data directory.
    pub root_key_file: PathBuf,
    /// Auto-unseal: an environment variable holding the root key (base64 of 32 bytes); it
    /// wins over the file when set.
    pub root_key_env: String,
    /// How many versions a secret keeps unless its metadata says otherwise.
    pub max_versions: u32,
    /// The `aud` an OAuth2 access token of this control plane must carry to open the secrets
    /// API (`/v1/secret/…`); unset: `<issuer>/v1/secret`. Compared exactly (1 to 512
    /// characters, no whitespace or control characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_audience: Option<String>,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            seal: SealMode::Auto,
            root_key_file: PathBuf::from("secrets-root.key"),
            root_key_env: "RAMPART_ROOT_KEY".to_owned(),
            max_versions: 10,
            token_audience: None,
        }
    }
}

/// The `policy` section: Cedar policies and segments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// A directory of `*.cedar` files (not recursive), relative to the configuration file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Cedar policies written inline (file name `inline.cedar` in errors and ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cedar: Option<String>,
    /// Segment name → the services assigned to it (and, for `rampart segments export
    /// --format nftables`, the address ranges they run in).
    pub segments: BTreeMap<String, SegmentConfig>,
    /// Allowed flows between segments; same-segment calls need a flow too.
    pub flows: Vec<FlowConfig>,
}

/// One segment of [`PolicyConfig::segments`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentConfig {
    pub services: Vec<String>,
    pub cidrs: Vec<IpNet>,
}

/// One allowed flow of [`PolicyConfig::flows`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    pub from: String,
    pub to: String,
    /// Cedar action names (`GET`, `POST`, …); all actions when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
}

/// The admin listener: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

/// The control-plane API (always HTTPS, always authenticated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    pub listen: SocketAddr,
    /// A proxy that has not reported for this long is no longer listed as connected.
    pub proxy_ttl: Duration,
}

/// The certificate authority of the control plane: what it signs workload SVIDs (and its own
/// serving certificate) with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// The trust domain of workload identities: `spiffe://<trust_domain>/ns/<ns>/sa/<service>`.
    pub trust_domain: String,
    /// How long an SVID is valid; workloads renew at half-life.
    pub svid_ttl: Duration,
    /// An operator-provided CA to chain under: Rampart then runs an intermediate CA (its key
    /// generated here, signed once by this CA) and the operator's root is the trust anchor.
    /// Without it, Rampart creates its own root in the data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamCa>,
}

/// The operator's CA certificate (optionally followed by the chain up to its root) and key,
/// as PEM files. The key file must be readable by its owner only; it is read, never copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCa {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the control plane keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`; default: `rampart.db` in the data directory.
    pub url: Option<String>,
}

/// The OAuth2 authorization server in the control plane (`docs/oauth.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// The `iss` of the access tokens and the base of the discovery URLs; default
    /// `https://<control listen address>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// How long an access token is valid.
    pub access_token_ttl: Duration,
}

/// The data plane: listeners, clusters and routes.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct GatewayConfig {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Peers whose `X-Forwarded-For`/`Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Append one JSON line per access event to this file.
    pub access_log: Option<PathBuf>,
    pub egress: Option<Egress>,
    pub clusters: Vec<Cluster>,
    pub routes: Vec<Route>,
    /// Protection of the door itself: connection and concurrency bounds (`docs/overload.md`).
    pub overload: Overload,
    /// Fault injection for drills; refused unless `danger: true` (`docs/overload.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<Faults>,
}

/// The `gateway.overload` section. Every bound is off (`None`) unless set, except a generous
/// per-listener connection cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overload {
    /// Open connections per listener; further connections are accepted and closed at once.
    pub max_connections: Option<u32>,
    /// Open connections per client address (IPv6 per /64), per listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<u32>,
    /// Requests in flight in the whole gateway; beyond it requests get 503 with `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
    /// Per-listener overrides of `max_connections` and `max_connections_per_ip`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<String, ListenerOverload>,
}

impl Default for Overload {
    fn default() -> Self {
        Self {
            max_connections: Some(100_000),
            max_connections_per_ip: None,
            max_concurrent_requests: None,
            listeners: BTreeMap::new(),
        }
    }
}

/// One listener's connection bounds (`gateway.overload.listeners.NAME`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerOverload {
    pub max_connections: Option<u32>,
    pub max_connections_per_ip: Option<u32>,
}

/// The `gateway.faults` section: injected latency and aborts per route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Must be `true`: a configuration with faults but without it is refused.
    pub danger: bool,
    pub routes: Vec<RouteFault>,
}

/// Faults for one route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteFault {
    pub route: String,
    pub delay: Option<Duration>,
    /// Share of requests delayed, 0–100 (default 100 when `delay` is set).
    pub delay_percent: Option<u8>,
    /// Status answered instead of calling the upstream (400–599).
    pub abort_status: Option<u16>,
    /// Share of requests aborted, 0–100 (default 100 when `abort_status` is set).
    pub abort_percent: Option<u8>,
}

/// One ingress listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    /// TLS termination; absent means plaintext.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
    /// Accept HTTP/2 with prior knowledge on a plaintext listener.
    #[serde(default)]
    pub h2c: bool,
    /// A mesh listener: mutual TLS with the gateway's own SVID, a client SVID required, and
    /// the peer's SPIFFE id as the request's principal. Excludes `tls` and `h2c`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mesh: bool,
    /// Whether requests on this listener are authorized by the `policy` section (default
    /// true). A sidecar's loopback outbound listener sets it false: its caller is the local
    /// app, and the call is authorized at the callee's inbound listener.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub authorize: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Certificates for a TLS listener. With none listed, `rampart up` issues one from its local CA.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerTls {
    pub certificates: Vec<CertificateFiles>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Request limits at the door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_header_count: usize,
    pub max_header_bytes: ByteSize,
    pub max_uri_bytes: ByteSize,
    /// Default body limit for routes that set none.
    pub max_body_bytes: ByteSize,
    /// Request bodies up to this size are read whole before the upstream sees the request.
    pub request_buffer_bytes: ByteSize,
}

/// Timeouts of the door and of upstream calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Time allowed to receive a request's head (slowloris protection).
    pub header_read: Duration,
    /// Keep-alive idle time before a client connection is closed.
    pub idle: Duration,
    pub upstream_connect: Duration,
    /// Time allowed for the upstream's response head (504 after).
    pub upstream_response: Duration,
    /// Time allowed to receive the part of a request body read before forwarding (408 after),
    /// so a client trickling its body cannot hold a request open.
    pub request_body: Duration,
    /// Grace period for in-flight requests on shutdown.
    pub drain: Duration,
}

/// The egress listener: the one way out, to allow-listed hosts only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    pub address: SocketAddr,
    /// `host`, `host:port` or `*.domain[:port]`; a pattern without a port allows ports 80 and 443.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// An upstream cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    /// `host:port` of each endpoint.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// A server built into Rampart instead of endpoints.
    #[serde(default)]
    pub builtin: Option<Builtin>,
    #[serde(default)]
    pub balance: Balance,
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    #[serde(default)]
    pub tls: Option<UpstreamTls>,
    /// A mesh cluster: mutual TLS to the target service's sidecars, which must present exactly
    /// the target's SPIFFE id. Excludes `tls` and `builtin`; with no `endpoints` listed, they
    /// come from the mesh directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<MeshTarget>,
    /// Idle pooled connections kept per endpoint.
    #[serde(default = "default_pool_idle")]
    pub max_idle_per_endpoint: usize,
    /// Retries, outlier detection and circuit breaking (`docs/resilience.md`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resilience: Option<ClusterResilience>,
}

/// Upstream resilience of one cluster; each part is off when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterResilience {
    pub retries: Option<RetryPolicy>,
    pub outlier: Option<OutlierDetection>,
    pub circuit: Option<CircuitBreaker>,
    pub health_check: Option<HealthCheck>,
}

/// Active health checks: a GET of `path` on every endpoint each `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive successes (2xx) that mark an unhealthy endpoint healthy again.
    pub healthy: u32,
    /// Consecutive failures that mark a healthy endpoint unhealthy.
    pub unhealthy: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/healthz".to_owned(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            healthy: 2,
            unhealthy: 3,
        }
    }
}

/// Retries of failed requests, bounded by a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Retries allowed per request seen (a token bucket refilled by requests).
    pub budget_ratio: f64,
    /// Retries allowed per second regardless of traffic.
    pub min_per_second: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 2,
            budget_ratio: 0.2,
            min_per_second: 10,
            backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(250),
        }
    }
}

/// Ejection of endpoints that fail repeatedly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierDetection {
    pub consecutive_failures: u32,
    pub base_ejection: Duration,
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection_percent: 50,
        }
    }
}

/// Limits on a cluster's concurrent requests; beyond them the gateway answers 503 at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreaker {
    /// Requests in flight to the cluster.
    pub max_requests: usize,
    /// Requests waiting for a connection (in flight but without a response head yet).
    pub max_pending: usize,
    pub max_requests_per_endpoint: Option<usize>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            max_requests: 1024,
            max_pending: 256,
            max_requests_per_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// Answers every request with a JSON description of it.
    Echo,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastRequest,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    #[default]
    Http1,
    Http2,
}

/// TLS towards a cluster's endpoints. Verification is on unless the `danger` flag says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTls {
    /// PEM file of CAs to trust; default: the system roots.
    pub ca: Option<PathBuf>,
    /// Name to send as SNI and to verify; default: the endpoint's host.
    pub server_name: Option<String>,
    /// Skip certificate verification. Never use outside a lab.
    pub danger_skip_verify: bool,
}

/// The service a mesh cluster reaches: its sidecars must present
/// `spiffe://<the gateway's trust domain>/ns/<namespace>/sa/<service>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshTarget {
    pub service: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

/// A route from matching requests to a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matcher: RouteMatch,
    /// Names of the listeners whose requests this route may take; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<String>,
    pub cluster: String,
    #[serde(default)]
    pub rewrite: Option<Rewrite>,
    #[serde(default)]
    pub headers: HeaderOps,
    #[serde(default)]
    pub max_body_bytes: Option<ByteSize>,
    #[serde(default)]
    pub access: Option<AccessList>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Upstream response timeout for this route (overrides `timeouts.upstream_response`).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Who may take this route: without it, anyone the other checks admit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RouteAuth>,
}

/// How requests on a route authenticate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAuth {
    /// OAuth2 bearer tokens (JWT access tokens, RFC 9068) checked on every request.
    pub jwt: JwtAuth,
}

/// What a route demands of a bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuth {
    /// The accepted issuers; a token must verify under one of them.
    pub issuers: Vec<JwtIssuer>,
    /// Any of them must be in `aud`; empty means no audience check.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Every one of them must be in `scope`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claims that must have exactly these values.
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Sends the verified claims upstream in `x-rampart-claims` (JSON, base64url).
    #[serde(default)]
    pub forward_claims: bool,
    /// Removes the `Authorization` header before the request goes upstream.
    #[serde(default)]
    pub strip_token: bool,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s).
    #[serde(default)]
    pub leeway: Option<Duration>,
    /// Longest token accepted (default 8 KiB).
    #[serde(default)]
    pub max_token_bytes: Option<ByteSize>,
}

/// One accepted token issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuer {
    /// The `iss` value, an `https://` URL; discovery is at
    /// `<issuer>/.well-known/openid-configuration` unless `jwks_uri` is given.
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// PEM file of the roots trusted when fetching metadata and keys (default: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Signature algorithms accepted from this issuer; never `none` or `HS*`.
    #[serde(default = "default_jwt_algorithms")]
    pub algorithms: Vec<String>,
    /// Asks the issuer (RFC 7662) whether each verified token is still active, so that revoked
    /// tokens (RFC 7009) are refused before they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<JwtIntrospection>,
}

/// How a route asks an issuer's introspection endpoint about tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIntrospection {
    /// The OAuth client the proxy authenticates as (`client_secret_basic`).
    pub client_id: String,
    /// File holding the client's secret; only its owner may read it (mode 0600).
    pub client_secret_file: PathBuf,
    /// The endpoint; default: `introspection_endpoint` of the issuer's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// How long an answer is reused for the same token (default 10 s; never past `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Duration>,
}

/// The signature algorithms a JWT issuer may use that Rampart can verify.
pub const JWT_ALGORITHMS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// What a request must look like to take a route. Empty means everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteMatch {
    /// `api.example.com` or `*.example.com`; the port is ignored.
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub path_exact: Option<String>,
    pub path_regex: Option<String>,
    pub methods: Vec<String>,
}

/// Changes to the request before it goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rewrite {
    /// Replaces the matched `path_prefix` (or the whole path for exact/regex matches).
    pub path_prefix: Option<String>,
    /// Host header to send upstream.
    pub host: Option<String>,
}

/// Header edits per route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderOps {
    pub request_add: BTreeMap<String, String>,
    pub request_remove: Vec<String>,
    pub response_add: BTreeMap<String, String>,
    pub response_remove: Vec<String>,
}

/// CIDR lists. A matching `deny` wins; with an `allow` list, anything outside it is denied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessList {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

/// A token bucket per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests_per_second: u32,
    #[serde(default)]
    pub burst: Option<u32>,
    /// `client_ip` (default), `route`, `header:NAME` or `principal`.
    #[serde(default)]
    pub key: RateKey,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum RateKey {
    #[default]
    ClientIp,
    Route,
    Header(String),
    Principal,
}

// === impl defaults ===

fn default_pool_idle() -> usize {
    64
}

/// The algorithms Rampart's own authorization server signs with.
fn default_jwt_algorithms() -> Vec<String> {
    vec!["ES256".to_owned(), "EdDSA".to_owned()]
}

/// The namespace of a mesh target that names none.
fn default_namespace() -> String {
    "default".to_owned()
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9901)),
        }
    }
}

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            trust_domain: "rampart.local".to_owned(),
            svid_ttl: Duration::from_secs(3_600),
            upstream: None,
        }
    }
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            access_token_ttl: Duration::from_secs(300),
        }
    }
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            proxy_ttl: Duration::from_secs(30),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_count: 100,
            max_header_bytes: ByteSize(16 * 1024),
            max_uri_bytes: ByteSize(8 * 1024),
            max_body_bytes: ByteSize(10 * 1024 * 1024),
            request_buffer_bytes: ByteSize(64 * 1024),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            upstream_connect: Duration::from_secs(3),
            upstream_response: Duration::from_secs(30),
            request_body: Duration::from_secs(30),
            drain: Duration::from_secs(15),
        }
    }
}

// === impl RateKey ===

impl std::str::FromStr for RateKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client_ip" => Ok(Self::ClientIp),
            "route" => Ok(Self::Route),
            "principal" => Ok(Self::Principal),
            _ => match s.strip_prefix("header:") {
                Some(h) if http_token(h) => Ok(Self::Header(h.to_ascii_lowercase())),
                _ => Err(format!(
                    "unknown rate-limit key `{s}` (expected `client_ip`, `route`, `principal` or `header:NAME`)"
                )),
            },
        }
    }
}

impl<'de> Deserialize<'de> for RateKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for RateKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::ClientIp => s.serialize_str("client_ip"),
            Self::Route => s.serialize_str("route"),
            Self::Principal => s.serialize_str("principal"),
            Self::Header(h) => s.serialize_str(&format!("header:{h}")),
        }
    }
}

/// Whether `s` is a non-empty RFC 9110 token (header names, methods).
pub fn http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
