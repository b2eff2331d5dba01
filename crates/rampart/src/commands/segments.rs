//! `rampart segments export --format kubernetes|nftables`: the configuration's segments and
//! flows for the network layer, so that it agrees with the mesh.

use crate::cli::{ExportFormat, SegmentsExportArgs};
use crate::output::say;
use anyhow::Context as _;
use rampart_policy::PolicySource;
use std::process::ExitCode;

/// Prints the manifests or the ruleset.
pub fn export(args: &SegmentsExportArgs) -> anyhow::Result<ExitCode> {
    let config = super::gateway::load_config(args.config.as_ref())?;
    let section = config
        .policy
        .as_ref()
        .context("the configuration has no `policy` section: no segments to export")?;
    let source = PolicySource::from_config(section)?;
    let text = match args.format {
        ExportFormat::Kubernetes => {
            rampart_policy::export::kubernetes(&source.segments, &args.namespace)
        }
        ExportFormat::Nftables => rampart_policy::export::nftables(&source.segments)?,
    };
    say!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}
