//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

mod logs;
mod policy;
mod secrets;
pub use logs::*;
pub use policy::*;
pub use secrets::*;

#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Rampart: one system for microservice security"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log filter (tracing syntax), e.g. `info` or `rampart_proxy=debug`.
    #[arg(long, global = true, env = "RAMPART_LOG", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the control plane and a gateway in one process (embedded default with no flags).
    Up(UpArgs),
    /// Run the data plane (gateway) alone.
    Gateway(GatewayArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the control plane's health and the proxies connected to it.
    Status(StatusArgs),
    /// Workload identities.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Run a sidecar beside a service: mTLS inbound to the app, outbound to other services.
    Sidecar(Box<SidecarArgs>),
    /// The OAuth2 authorization server: clients and signing keys.
    #[command(subcommand)]
    Oauth(OauthCommand),
    /// Authorization policies (Cedar): validate, test, explain offline; apply, diff, history
    /// and dry-run reports against the control plane.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Network segments: render them for the network layer.
    #[command(subcommand)]
    Segments(SegmentsCommand),
    /// The secrets store's seal and keys: init, unseal, seal, status, rotate-root.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Secrets (KV v2, Vault-compatible): put, get, list, delete, undelete, rotate.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// The event log: query and follow the events of every proxy and component.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// The tamper-evident audit trail: verify it, export it.
    #[command(subcommand, name = "audit-log")]
    AuditLog(AuditLogCommand),
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// OAuth clients (service accounts).
    #[command(subcommand)]
    Client(OauthClientCommand),
    /// One rotation step of the token signing keys: the published `next` key starts signing,
    /// the old key stays published until its tokens expire, and a new `next` key is published.
    RotateKeys(ControlArgs),
}

#[derive(Debug, Subcommand)]
pub enum OauthClientCommand {
    /// Register a client; its secret is shown only once.
    Create(OauthClientCreateArgs),
    /// List the registered clients (never their secrets).
    List(ControlArgs),
    /// Forget a client (its tokens stay valid until they expire).
    Delete(OauthClientDeleteArgs),
}

#[derive(Debug, Args)]
pub struct OauthClientCreateArgs {
    /// A name for people.
    #[arg(long)]
    pub name: String,
    /// The scopes it may ask for, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// How it authenticates: a generated secret (basic or post), `private_key_jwt` with
    /// `--jwk`, or `tls` (its SVID as the client certificate; tokens bound to it) with
    /// `--tls-subject`.
    #[arg(long, value_enum, default_value_t = OauthAuthArg::Secret)]
    pub auth: OauthAuthArg,
    /// For `private_key_jwt`: a file with its public JWK.
    #[arg(long)]
    pub jwk: Option<PathBuf>,
    /// For `tls`: the SPIFFE id its client certificate carries.
    #[arg(long)]
    pub tls_subject: Option<String>,
    /// The `aud` of its tokens when it asks for none.
    #[arg(long)]
    pub audience: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OauthAuthArg {
    Secret,
    /// RFC 7523 client assertions (`private_key_jwt`, also spelled `private-key-jwt`).
    #[value(name = "private_key_jwt", alias = "private-key-jwt")]
    PrivateKeyJwt,
    Tls,
}

#[derive(Debug, Args)]
pub struct OauthClientDeleteArgs {
    /// The client id.
    pub id: String,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// The service this sidecar fronts (the `sa` of its SPIFFE id).
    #[arg(long)]
    pub service: String,
    /// The service's namespace.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// The app, `host:port` (normally on loopback), that inbound requests go to.
    #[arg(long)]
    pub app: String,
    /// Control-plane URL.
    #[arg(
        long,
        default_value = "https://127.0.0.1:7400",
        env = "RAMPART_CONTROL"
    )]
    pub control: String,
    /// One-time join token from `rampart identity join-token`; needed only when the data
    /// directory holds no valid SVID. Prefer the environment variable: arguments are visible
    /// to other local users.
    #[arg(long, env = "RAMPART_JOIN_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub join_token: Option<Secret>,
    /// The mesh listener (mTLS required).
    #[arg(long, default_value = "0.0.0.0:15006")]
    pub inbound: std::net::SocketAddr,
    /// The listener the app calls other services through (plain HTTP, `Host: <service>`).
    #[arg(long, default_value = "127.0.0.1:15001")]
    pub outbound: std::net::SocketAddr,
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, default_value = "127.0.0.1:15000")]
    pub admin: std::net::SocketAddr,
    /// The `host:port` other sidecars reach the inbound listener at; default: its address,
    /// with 0.0.0.0 replaced by 127.0.0.1.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Where the SVID, its key, the bundle and the last snapshot are kept; default:
    /// `./.rampart-sidecar-<service>`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Worker threads (0: one per core; 1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Grace period for in-flight requests on shutdown, e.g. `5s`.
    #[arg(long, default_value = "10s", value_parser = parse_drain)]
    pub drain: Duration,
    /// Append every event (one JSON object per line: access events with their
    /// `rampart.authz` decision, security events) to FILE.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// Demand an OAuth2 bearer token (JWT) of this issuer (an `https://` URL, found by
    /// discovery) on every inbound call; a certificate-bound token must match the caller's SVID.
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// PEM roots trusted when fetching the issuer's metadata and keys (default: the system's).
    #[arg(long, requires = "jwt_issuer")]
    pub jwt_ca: Option<PathBuf>,
    /// An accepted `aud` (repeatable; any one must be in the token).
    #[arg(long, requires = "jwt_issuer")]
    pub jwt_audience: Vec<String>,
    /// A scope every token must carry (repeatable).
    #[arg(long, requires = "jwt_issuer")]
    pub jwt_scope: Vec<String>,
    /// The on-disk event spool's bound (events wait there while the collector is away).
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub spool_max: u64,
    /// When the spool is full: drop the oldest events (counted, with an alarm event), or
    /// block (shed requests with 503 until the collector catches up; nothing is lost).
    #[arg(long, value_enum, default_value_t = SpoolFullArg::DropOldest)]
    pub spool_when_full: SpoolFullArg,
    /// Publish events to this NATS JetStream server (`nats://host:port`) instead of posting
    /// them to the control plane's collector.
    #[arg(long, value_name = "URL")]
    pub events_nats: Option<String>,
    /// The JetStream stream of `--events-nats`.
    #[arg(long, default_value = "RAMPART_EVENTS", requires = "events_nats")]
    pub events_stream: String,
}

/// What a full event spool does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpoolFullArg {
    DropOldest,
    Block,
}

fn parse_size(value: &str) -> Result<u64, String> {
    value
        .parse::<rampart_config::ByteSize>()
        .map(|s| s.0)
        .map_err(|e| e.to_string())
}

/// A secret given on the command line; `Debug` hides it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("**REDACTED**")
    }
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a one-time token that lets a workload obtain its identity. It is shown only once.
    JoinToken(JoinTokenArgs),
    /// Revoke the live SVIDs of a service (or one SVID by serial): every proxy refuses them
    /// within a second, closes their connections, and the control plane refuses to renew them.
    Revoke(RevokeArgs),
    /// List issued SVIDs: identity, serial, issue time, expiry, how (join or renewal), state.
    List(ListArgs),
    /// The workload CA: its generations, and rollover to a new root.
    #[command(subcommand)]
    Ca(CaCommand),
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The service whose live SVIDs to revoke.
    #[arg(long, required_unless_present = "serial", conflicts_with = "serial")]
    pub service: Option<String>,
    /// The service's namespace.
    #[arg(long, default_value = "default", requires = "service")]
    pub namespace: String,
    /// One SVID's serial number (lowercase hex, as `rampart identity list` shows it).
    #[arg(long)]
    pub serial: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this service's SVIDs.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this namespace's SVIDs.
    #[arg(long)]
    pub namespace: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Show the CA generations: fingerprint, expiry, whether it signs and whether it is trusted.
    Status(ControlArgs),
    /// One step of a CA rollover: `prepare` (a new root, trusted beside the old one),
    /// `activate` (the new root signs new SVIDs), `retire` (the old roots leave the bundle).
    Rollover(RolloverArgs),
}

#[derive(Debug, Args)]
pub struct RolloverArgs {
    #[arg(value_enum)]
    pub step: RolloverStepArg,
    /// Retire even while SVIDs signed by the old root are still valid (they stop working).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RolloverStepArg {
    Prepare,
    Activate,
    Retire,
}

/// Where the control plane is and how to authenticate to it, for admin commands.
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// Control-plane URL.
    #[arg(
        long,
        default_value = "https://127.0.0.1:7400",
        env = "RAMPART_CONTROL"
    )]
    pub control: String,
    #[command(flatten)]
    pub auth: ControlAuth,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JoinTokenArgs {
    /// The workload's service name (the `sa` of its SPIFFE id).
    #[arg(long)]
    pub service: String,
    /// The workload's namespace.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// How long the token can be redeemed, e.g. `10m`, `1h` (1 s to 24 h).
    #[arg(long, default_value = "10m", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Control-plane URL.
    #[arg(
        long,
        default_value = "https://127.0.0.1:7400",
        env = "RAMPART_CONTROL"
    )]
    pub control: String,
    #[command(flatten)]
    pub auth: ControlAuth,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Configuration file; default: the embedded `examples/quickstart.yaml`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where state lives (CA, admin token, SQLite store).
    #[arg(long, default_value = ".rampart")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Data directory holding a local CA, for TLS listeners without certificates.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Report to this control plane (heartbeats), e.g. https://127.0.0.1:7400.
    #[arg(long)]
    pub control: Option<String>,
    #[command(flatten)]
    pub auth: ControlAuth,
    /// Name of this gateway in events and in the control plane.
    #[arg(long, default_value = "gateway")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file without starting anything.
    Check {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ControlAuth {
    /// Admin token; default: the `admin-token` file in ./.rampart/.
    #[arg(long, env = "RAMPART_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate that signed the control plane's certificate; default: ./.rampart/ca.pem.
    #[arg(long, env = "RAMPART_CA")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Control-plane URL.
    #[arg(
        long,
        default_value = "https://127.0.0.1:7400",
        env = "RAMPART_CONTROL"
    )]
    pub control: String,
    #[command(flatten)]
    pub auth: ControlAuth,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Instead of the control plane, ask a sidecar's admin listener (`host:port`, plain HTTP
    /// on loopback) how long it can go on without the control plane: identity budget,
    /// control-plane reachability, snapshot version and age.
    #[arg(long, value_name = "ADMIN_ADDR")]
    pub sidecar: Option<String>,
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret(value.trim().to_owned()))
}

/// A duration such as `5s` or `500ms`.
fn parse_drain(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| e.to_string())
}

/// A duration such as `10m` or `1h30m`, in whole seconds, at least one.
fn parse_ttl(value: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if ttl.subsec_nanos() != 0 {
        return Err("use whole seconds".to_owned());
    }
    if ttl.is_zero() {
        return Err("must be at least 1s".to_owned());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_humantime_in_whole_seconds() {
        assert_eq!(parse_ttl("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_ttl("1h 30s"), Ok(Duration::from_secs(3630)));
        for bad in ["", "0s", "1500ms", "ten minutes"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oauth_client_auth_is_spelled_as_the_rfc_names_it() {
        for spelling in ["private_key_jwt", "private-key-jwt"] {
            let cli = Cli::try_parse_from([
                "rampart", "oauth", "client", "create", "--name", "n", "--auth", spelling,
            ]);
            let Ok(Cli {
                command: Command::Oauth(_),
                ..
            }) = cli
            else {
                panic!("`--auth {spelling}` is refused: {cli:?}");
            };
        }
    }
}
