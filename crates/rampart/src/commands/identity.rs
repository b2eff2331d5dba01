//! `rampart identity …`: workload identities.

use crate::cli::{ControlArgs, JoinTokenArgs, ListArgs, RevokeArgs, RolloverArgs, RolloverStepArg};
use crate::output::say;
use anyhow::Context;
use rampart_control::api::{CaStatus, CreateJoinToken, RevokeRequest, RolloverStep};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `rampart identity join-token`: creates a one-time token and prints it (the only time it is
/// shown) with the SPIFFE id it is for and its expiry.
pub fn join_token(args: JoinTokenArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let client = super::status::client(&args.control, &args.auth)?;
        let request = CreateJoinToken {
            service: args.service,
            namespace: args.namespace,
            ttl_secs: args.ttl.as_secs(),
        };
        let created = client
            .create_join_token(&request)
            .await
            .with_context(|| format!("cannot create a join token at {}", args.control))?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&created)?);
            return Ok(ExitCode::SUCCESS);
        }
        let expires = time(created.expires_at_ms);
        say!("{}", created.token);
        say!("spiffe id: {}", created.spiffe_id);
        say!("expires:   {expires} (single use; this token is not shown again)");
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart identity revoke`: revokes one SVID or every live SVID of a service.
pub fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let request = match (&args.serial, &args.service) {
        (Some(serial), _) => RevokeRequest::serial(serial),
        (None, Some(service)) => RevokeRequest::service(service, &args.namespace),
        (None, None) => anyhow::bail!("give --service or --serial"),
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let client = super::status::client(&c.control, &c.auth)?;
        let revoked = client
            .revoke(&request)
            .await
            .with_context(|| format!("cannot revoke at {}", c.control))?;
        if c.json {
            say!("{}", serde_json::to_string_pretty(&revoked)?);
        } else if revoked.revoked.is_empty() {
            say!("nothing to revoke: no live SVID matches");
        } else {
            say!("revoked {} SVID(s):", revoked.revoked.len());
            for serial in &revoked.revoked {
                say!("  {serial}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart identity list`: the issued SVIDs, newest first, with their state.
pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let client = super::status::client(&c.control, &c.auth)?;
        let list = client
            .list_svids(
                args.service.as_deref(),
                args.namespace.as_deref(),
                args.limit,
            )
            .await
            .with_context(|| format!("cannot list identities at {}", c.control))?;
        if c.json {
            say!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(ExitCode::SUCCESS);
        }
        if list.svids.is_empty() {
            say!("no SVIDs issued");
            return Ok(ExitCode::SUCCESS);
        }
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        say!(
            "{:<48} {:<34} {:<20} {:<20} {:<6} STATE",
            "SPIFFE ID",
            "SERIAL",
            "ISSUED",
            "EXPIRES",
            "HOW"
        );
        for s in &list.svids {
            let state = if s.revoked {
                "revoked"
            } else if s.expires_at_ms <= now_ms {
                "expired"
            } else {
                "valid"
            };
            say!(
                "{:<48} {:<34} {:<20} {:<20} {:<6} {state}",
                s.spiffe_id,
                s.serial,
                time(s.issued_at_ms),
                time(s.expires_at_ms),
                s.how
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart identity ca status`.
pub fn ca_status(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let client = super::status::client(&args.control, &args.auth)?;
        let status = client
            .ca_status()
            .await
            .with_context(|| format!("cannot read the CA status at {}", args.control))?;
        print_ca(&status, args.json)
    })
}

/// `rampart identity ca rollover STEP`.
pub fn ca_rollover(args: RolloverArgs) -> anyhow::Result<ExitCode> {
    let step = match args.step {
        RolloverStepArg::Prepare => RolloverStep::Prepare,
        RolloverStepArg::Activate => RolloverStep::Activate,
        RolloverStepArg::Retire => RolloverStep::Retire,
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let client = super::status::client(&c.control, &c.auth)?;
        let status = client
            .ca_rollover(step, args.force)
            .await
            .with_context(|| format!("rollover step `{step:?}` failed at {}", c.control))?;
        print_ca(&status, c.json)
    })
}

fn print_ca(status: &CaStatus, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        say!("{}", serde_json::to_string_pretty(status)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<4} {:<64} {:<20} {:<7} TRUSTED",
        "GEN",
        "FINGERPRINT (SHA-256)",
        "NOT AFTER",
        "SIGNS"
    );
    for g in &status.generations {
        say!(
            "{:<4} {:<64} {:<20} {:<7} {}",
            g.generation,
            g.fingerprint,
            time(g.not_after_ms),
            if g.active { "yes" } else { "no" },
            if g.trusted { "yes" } else { "no" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Unix milliseconds as RFC 3339 (seconds), or the number when out of range.
fn time(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| ms.to_string())
}
