//! The `rampart policy …` and `rampart segments …` command lines.

use super::ControlArgs;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate every `*.cedar` file of DIR (and the segment flows) against the schema.
    Validate(PolicyDirArgs),
    /// Run the test files (`*.tests.yaml`, `*.tests.yml`, `*.tests.json`) of DIR; non-zero
    /// exit when a case fails.
    Test(PolicyTestArgs),
    /// Decide one request and show which policies allowed or denied it, and why.
    Explain(PolicyExplainArgs),
    /// Validate DIR locally, then send it to the control plane, which versions it and pushes
    /// it to every proxy (or, with `--dry-run`, evaluates it beside the enforced set).
    Apply(PolicyApplyArgs),
    /// Show what applying DIR would change against the enforced set, or the change between
    /// two versions of the history (`--from N [--to M]`).
    Diff(PolicyDiffArgs),
    /// The versions of the policy set, newest first.
    History(ControlArgs),
    /// What the dry-run set would decide differently, most frequent first.
    DryRunReport(ControlArgs),
    /// Stop the dry run (the enforced set is unchanged).
    DryRunStop(ControlArgs),
}

#[derive(Debug, Args)]
pub struct PolicyApplyArgs {
    #[command(flatten)]
    pub policies: PolicyDirArgs,
    /// Evaluate the set beside the enforced one without enforcing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Why: recorded in the history.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Who: recorded in the history (default: $USER, else `admin`).
    #[arg(long)]
    pub author: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct PolicyDiffArgs {
    /// Directory of `.cedar` files to compare with the enforced set.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub dir: Option<PathBuf>,
    /// Segments file (default: DIR/segments.yaml when present, else the current segments).
    #[arg(long, requires = "dir")]
    pub segments: Option<PathBuf>,
    /// A version of the history to compare from.
    #[arg(long)]
    pub from: Option<u64>,
    /// The version to compare to (default: the enforced one).
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// Render the segments and flows for the network layer, so that it agrees with the mesh.
    Export(SegmentsExportArgs),
}

#[derive(Debug, Args)]
pub struct SegmentsExportArgs {
    /// What to render.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Configuration file whose `policy` section declares the segments (default: the
    /// embedded quickstart).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The Kubernetes namespace of the manifests.
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// NetworkPolicy manifests (YAML).
    Kubernetes,
    /// An nftables ruleset (`nft -f`).
    Nftables,
}

#[derive(Debug, Args)]
pub struct PolicyDirArgs {
    /// Directory of `.cedar` files.
    pub dir: PathBuf,
    /// Segments file (YAML: `segments`, `services`, `flows`); default: DIR/segments.yaml
    /// when present.
    #[arg(long)]
    pub segments: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyTestArgs {
    #[command(flatten)]
    pub policies: PolicyDirArgs,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    #[command(flatten)]
    pub policies: PolicyDirArgs,
    /// `spiffe://<td>/ns/<ns>/sa/<svc>`, `client:<id>` or `user:<sub>`.
    #[arg(long)]
    pub principal: String,
    /// `GET`, `POST`, …, `read_secret`, `write_secret` or `admin`.
    #[arg(long)]
    pub action: String,
    /// `service:<name>`, `route:<host>` or `secret:<path>`.
    #[arg(long)]
    pub resource: String,
    /// Request path; normalised as the proxy does before deciding.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Target service of a route.
    #[arg(long)]
    pub service: Option<String>,
    /// Token scopes (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// User groups (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Source address.
    #[arg(long)]
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether mTLS was used (default: true for workloads).
    #[arg(long)]
    pub mtls: Option<bool>,
    /// Request time, unix seconds.
    #[arg(long)]
    pub time: Option<i64>,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command, PolicyCommand, SegmentsCommand};
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("rampart").chain(args.iter().copied()))
    }

    #[test]
    fn diff_takes_a_directory_or_versions_but_not_both() {
        assert!(parse(&["policy", "diff"]).is_err());
        assert!(parse(&["policy", "diff", "dir", "--from", "1"]).is_err());
        assert!(parse(&["policy", "diff", "--to", "2"]).is_err());
        let Ok(Cli {
            command: Command::Policy(PolicyCommand::Diff(d)),
            ..
        }) = parse(&["policy", "diff", "--from", "1", "--to", "3"])
        else {
            panic!("`policy diff --from 1 --to 3` is refused");
        };
        assert_eq!((d.dir, d.from, d.to), (None, Some(1), Some(3)));
    }

    #[test]
    fn apply_takes_message_author_and_dry_run() {
        let Ok(Cli {
            command: Command::Policy(PolicyCommand::Apply(a)),
            ..
        }) = parse(&[
            "policy",
            "apply",
            "p",
            "-m",
            "why",
            "--author",
            "ann",
            "--dry-run",
        ])
        else {
            panic!("apply is refused");
        };
        assert_eq!(a.message.as_deref(), Some("why"));
        assert_eq!(a.author.as_deref(), Some("ann"));
        assert!(a.dry_run);
    }

    #[test]
    fn export_defaults_to_the_default_namespace_and_needs_a_format() {
        assert!(parse(&["segments", "export"]).is_err());
        let Ok(Cli {
            command: Command::Segments(SegmentsCommand::Export(e)),
            ..
        }) = parse(&["segments", "export", "--format", "nftables"])
        else {
            panic!("export is refused");
        };
        assert_eq!(e.namespace, "default");
        assert!(e.config.is_none());
    }
}
