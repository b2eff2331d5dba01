//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
