//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a one-time token that lets a workload obtain its identity. It is shown only once.
    JoinToken(JoinTokenArgs),
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
}
