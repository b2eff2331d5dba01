//! The command line of the event log: `rampart logs query|tail` and `rampart audit-log
//! verify|export` (see `docs/logs.md`).

use clap::{Args, Subcommand};
use std::path::PathBuf;

use super::ControlArgs;

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Search the event log, newest first: e.g. `'service=orders status>=500 since=1h'`,
    /// `kind=security action=policy_denied`, or words found in the event.
    Query(LogsQueryArgs),
    /// Show the latest events; with `-f`, keep printing new ones as they are stored.
    Tail(LogsTailArgs),
}

#[derive(Debug, Args)]
pub struct LogsQueryArgs {
    /// The query: `field=value`, `status>=500`, `since=1h`, `limit=N`, words (all ANDed).
    pub query: Vec<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct LogsTailArgs {
    /// Only events matching this query.
    pub query: Vec<String>,
    /// Keep following the log.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many recent events to show first.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub lines: u32,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// Check the audit chain and its signed checkpoints: the control plane's, or an export's
    /// with `--file`. Names the first modified, deleted, inserted or reordered record; exits
    /// non-zero when the trail does not verify.
    Verify(AuditVerifyArgs),
    /// Write the audit trail with its checkpoints and public keys, for auditors.
    Export(AuditExportArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Verify this export offline instead of asking the control plane.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The audit public key to trust (`key_id:base64`, base64, or a file holding either); by
    /// default an export's own keys, with a warning.
    #[arg(long, requires = "file")]
    pub key: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Where to write the export (stdout by default).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub control: ControlArgs,
}
