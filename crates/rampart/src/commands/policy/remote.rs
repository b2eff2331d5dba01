//! `rampart policy apply|diff|history|dry-run-report|dry-run-stop`: the policy set at the
//! control plane.

use super::api::{ApplyOutcome, ApplyRequest, PolicyApi};
use crate::cli::{ControlArgs, PolicyApplyArgs, PolicyDiffArgs};
use crate::output::say;
use rampart_policy::PolicySource;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

/// `rampart policy apply DIR`: validated here first (pointed errors, non-zero exit), then
/// versioned and distributed by the control plane.
pub fn apply(args: PolicyApplyArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.policies.dir;
    let (source, keep_segments) = match super::local_source(&args.policies) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: invalid\n{e:#}", dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let request = ApplyRequest {
        source,
        segments_from_current: keep_segments,
        author: args.author.clone().unwrap_or_else(default_author),
        message: args.message.clone().unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let api = PolicyApi::new(&args.control)?;
        let outcome = api.apply(&request).await?;
        if args.control.json {
            let (doc, code) = match &outcome {
                ApplyOutcome::Applied(a) => (serde_json::to_value(a)?, ExitCode::SUCCESS),
                ApplyOutcome::Refused(r) => (serde_json::to_value(r)?, ExitCode::FAILURE),
            };
            say!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(code);
        }
        match outcome {
            ApplyOutcome::Refused(refused) => {
                eprintln!(
                    "{}: refused by the control plane: {}",
                    dir.display(),
                    refused.error
                );
                for p in &refused.problems {
                    eprintln!("  {p}");
                }
                Ok(ExitCode::FAILURE)
            }
            ApplyOutcome::Applied(applied) if applied.unchanged => {
                say!(
                    "unchanged (version {} is already in force)",
                    applied.version
                );
                Ok(ExitCode::SUCCESS)
            }
            ApplyOutcome::Applied(applied) => {
                let mode = if request.dry_run {
                    "dry run"
                } else {
                    "enforced"
                };
                say!("version {} ({mode})", applied.version);
                if !applied.diff.is_empty() {
                    say!("{}", applied.diff.trim_end());
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// `$USER`, else `admin`.
fn default_author() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "admin".to_owned())
}

/// `rampart policy diff DIR` or `rampart policy diff --from N [--to M]`.
pub fn diff(args: PolicyDiffArgs) -> anyhow::Result<ExitCode> {
    let local = match &args.dir {
        Some(dir) => {
            let dir_args = crate::cli::PolicyDirArgs {
                dir: dir.clone(),
                segments: args.segments.clone(),
            };
            match super::local_source(&dir_args) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("{}: invalid\n{e:#}", dir.display());
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        None => None,
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let api = PolicyApi::new(&args.control)?;
        let (old, new) = match (local, args.from) {
            (Some((mut source, keep_segments)), _) => {
                let old = enforced(&api).await?.unwrap_or_default();
                if keep_segments {
                    source.segments = old.segments.clone();
                }
                (old, source)
            }
            (None, Some(from)) => {
                let old = api.version(from).await?.source;
                let new = match args.to {
                    Some(to) => api.version(to).await?.source,
                    None => enforced(&api).await?.ok_or_else(|| {
                        anyhow::anyhow!("no policy set is enforced (authorization is off)")
                    })?,
                };
                (old, new)
            }
            (None, None) => anyhow::bail!("give DIR or --from N"),
        };
        let diff = new.diff_from(&old);
        if args.control.json {
            say!(
                "{}",
                serde_json::json!({ "diff": diff, "unchanged": diff.is_empty() })
            );
        } else if diff.is_empty() {
            say!("no changes");
        } else {
            say!("{}", diff.trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The enforced set, if any.
async fn enforced(api: &PolicyApi) -> anyhow::Result<Option<PolicySource>> {
    Ok(api.current().await?.enforced.map(|v| v.source))
}

/// `rampart policy history`.
pub fn history(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let rows = PolicyApi::new(&args)?.history().await?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(ExitCode::SUCCESS);
        }
        if rows.is_empty() {
            say!("no policy versions (authorization is off)");
            return Ok(ExitCode::SUCCESS);
        }
        say!(
            "{:>7}  {:<20}  {:<12}  {:<15}  {:>11}  MESSAGE",
            "VERSION",
            "TIME (UTC)",
            "AUTHOR",
            "MODE",
            "+/-"
        );
        for r in &rows {
            say!(
                "{:>7}  {:<20}  {:<12}  {:<15}  {:>11}  {}",
                r.version,
                time(&r.created_at),
                r.author,
                r.mode,
                format!("+{} -{}", r.added, r.removed),
                r.message
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A time of the API for people: unix seconds or milliseconds as RFC 3339, text as it is.
fn time(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => {
            let n = n.as_u64().unwrap_or(0);
            let secs = if n > 100_000_000_000 { n / 1000 } else { n };
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        serde_json::Value::String(s) => s.clone(),
        _ => "-".to_owned(),
    }
}

/// `rampart policy dry-run-report`.
pub fn dry_run_report(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let report = PolicyApi::new(&args)?.report().await?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        match report.shadow_version {
            Some(v) => say!("dry run of version {v}"),
            None => say!("no dry run in progress"),
        }
        if report.entries.is_empty() {
            say!("no disagreements recorded");
        }
        for e in &report.entries {
            say!("{}", e.sentence());
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart policy dry-run-stop`.
pub fn dry_run_stop(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        PolicyApi::new(&args)?.stop_dry_run().await?;
        if args.json {
            say!("{}", serde_json::json!({ "stopped": true }));
        } else {
            say!("dry run stopped");
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::time;
    use serde_json::json;

    #[test]
    fn times_read_as_seconds_milliseconds_or_text() {
        assert_eq!(time(&json!(1_796_000_000)), "2026-11-30T00:53:20Z");
        assert_eq!(time(&json!(1_796_000_000_123_u64)), "2026-11-30T00:53:20Z");
        assert_eq!(time(&json!("yesterday")), "yesterday");
        assert_eq!(time(&json!(null)), "-");
    }
}
