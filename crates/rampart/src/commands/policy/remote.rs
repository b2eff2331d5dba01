//! `rampart policy apply|diff|history|dry-run-report|dry-run-stop`: the policy set at the
//! control plane, through [`ControlClient`] (admin token, control CA).

use crate::cli::{ControlArgs, PolicyApplyArgs, PolicyDiffArgs};
use crate::output::say;
use anyhow::Context as _;
use rampart_control::api::ApplyPolicy;
use rampart_control::{ControlClient, ControlError};
use rampart_policy::PolicySource;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

/// A large set takes a while to validate: `apply` waits this long for the answer.
const APPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The versions `rampart policy history` shows (the control plane's default).
const HISTORY_LIMIT: u32 = 100;

/// An admin client of the control plane named on the command line.
fn client(args: &ControlArgs) -> anyhow::Result<ControlClient> {
    crate::commands::status::client(&args.control, &args.auth)
}

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
    let request = ApplyPolicy {
        source,
        segments_from_current: keep_segments,
        author: args.author.clone().unwrap_or_else(default_author),
        message: args.message.clone().unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let outcome = client(c)?
            .with_timeout(APPLY_TIMEOUT)
            .apply_policy(&request)
            .await;
        let applied = match outcome {
            Ok(applied) => applied,
            Err(ControlError::PolicyRejected { error, problems }) => {
                if c.json {
                    let doc = serde_json::json!({ "error": error, "problems": problems });
                    say!("{}", serde_json::to_string_pretty(&doc)?);
                } else {
                    eprintln!("{}: refused by the control plane: {error}", dir.display());
                    for p in &problems {
                        eprintln!("  {p}");
                    }
                }
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot apply the policy set at {}", c.control));
            }
        };
        if c.json {
            say!("{}", serde_json::to_string_pretty(&applied)?);
        } else if applied.unchanged {
            say!(
                "unchanged (version {} is already in force)",
                applied.version
            );
        } else {
            let mode = if request.dry_run {
                "dry run"
            } else {
                "enforced"
            };
            say!("version {} ({mode})", applied.version);
            if !applied.diff.is_empty() {
                say!("{}", applied.diff.trim_end());
            }
        }
        Ok(ExitCode::SUCCESS)
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
        let api = client(&args.control)?;
        let (old, new) = match (local, args.from) {
            (Some((mut source, keep_segments)), _) => {
                let old = enforced(&api).await?.unwrap_or_default();
                if keep_segments {
                    source.segments = old.segments.clone();
                }
                (old, source)
            }
            (None, Some(from)) => {
                let old = version(&api, from).await?;
                let new = match args.to {
                    Some(to) => version(&api, to).await?,
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
async fn enforced(api: &ControlClient) -> anyhow::Result<Option<PolicySource>> {
    let status = api
        .policy()
        .await
        .with_context(|| format!("cannot read the policy set at {}", api.url()))?;
    Ok(status.enforced.map(|v| v.source))
}

/// The set of version `n` of the history.
async fn version(api: &ControlClient, n: u64) -> anyhow::Result<PolicySource> {
    api.policy_version(n)
        .await
        .with_context(|| format!("cannot read policy version {n} at {}", api.url()))?
        .map(|v| v.source)
        .ok_or_else(|| anyhow::anyhow!("there is no policy version {n}"))
}

/// `rampart policy history`.
pub fn history(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let rows = client(&args)?
            .policy_history(HISTORY_LIMIT)
            .await
            .with_context(|| format!("cannot read the policy history at {}", args.control))?;
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
                time(r.created_at),
                r.author,
                r.mode,
                format!("+{} -{}", r.added, r.removed),
                r.message
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A time of the API (unix milliseconds) for people, as RFC 3339 (UTC, seconds).
fn time(unix_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(unix_ms)).to_string()
}

/// `rampart policy dry-run-report`.
pub fn dry_run_report(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let report = client(&args)?
            .policy_dry_run_report()
            .await
            .with_context(|| format!("cannot read the dry-run report at {}", args.control))?;
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
        let stopped = client(&args)?
            .clear_policy_dry_run()
            .await
            .with_context(|| format!("cannot stop the dry run at {}", args.control))?;
        if args.json {
            say!("{}", serde_json::json!({ "stopped": stopped }));
        } else if stopped {
            say!("dry run stopped");
        } else {
            say!("no dry run in progress");
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::time;

    #[test]
    fn times_read_as_unix_milliseconds() {
        assert_eq!(time(1_796_000_000_123), "2026-11-30T00:53:20Z");
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
    }
}
