//! `rampart status --sidecar ADMIN_ADDR`: how long a sidecar can go on without the control
//! plane, read from the gauges on its admin listener's `/metrics` (`docs/resilience-control.md`).

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::output::say;

/// The gauges read, as named on `/metrics`.
const BUDGET: &str = "rampart_identity_budget_seconds";
const REACHABLE: &str = "rampart_control_plane_reachable";
const AWAY: &str = "rampart_control_plane_unreachable_seconds";
const AGE: &str = "rampart_snapshot_age_seconds";
const VERSION: &str = "rampart_snapshot_version";

/// A sidecar that does not answer within this is reported as such.
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(admin: &str, json: bool) -> anyhow::Result<ExitCode> {
    let text = tokio::time::timeout(TIMEOUT, fetch(admin))
        .await
        .with_context(|| format!("the sidecar at {admin} did not answer in time"))??;
    let budget = gauge(&text, BUDGET)
        .with_context(|| format!("{admin}/metrics has no `{BUDGET}`: not a sidecar, or a sidecar run outside the rampart binary"))?;
    let reachable = gauge(&text, REACHABLE);
    let away = gauge(&text, AWAY);
    let age = gauge(&text, AGE);
    let version = gauge(&text, VERSION);
    if json {
        let out = serde_json::json!({
            "identity_budget_secs": budget,
            "control_plane_reachable": reachable.map(|r| r > 0.0),
            "control_plane_unreachable_secs": away,
            "snapshot_version": version,
            "snapshot_age_secs": age,
        });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!("{}", line(budget, reachable, away, version, age));
    Ok(ExitCode::SUCCESS)
}

/// "identity valid for 42m, control plane unreachable for 3m, snapshot v17 age 3m".
fn line(
    budget: f64,
    reachable: Option<f64>,
    away: Option<f64>,
    version: Option<f64>,
    age: Option<f64>,
) -> String {
    let identity = if budget > 0.0 {
        format!("identity valid for {}", span(budget))
    } else {
        "identity EXPIRED".to_owned()
    };
    let control = match (reachable, away) {
        (Some(r), _) if r > 0.0 => "control plane reachable".to_owned(),
        (Some(_), Some(a)) => format!("control plane unreachable for {}", span(a)),
        (Some(_), None) => "control plane unreachable".to_owned(),
        (None, _) => "control plane not contacted yet".to_owned(),
    };
    let snapshot = match (version, age) {
        (Some(v), Some(a)) => format!("snapshot v{v} age {}", span(a)),
        _ => "no snapshot".to_owned(),
    };
    format!("{identity}, {control}, {snapshot}")
}

/// A duration for people: `42s`, `3m`, `5h12m`, `2d3h`.
fn span(secs: f64) -> String {
    // Gauges are non-negative and far below u64::MAX.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// The value of the unlabelled gauge `name` in Prometheus text.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `GET /metrics` over plain HTTP/1.0 (the admin listener is loopback-only, without TLS).
async fn fetch(admin: &str) -> anyhow::Result<String> {
    let addr = admin
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("cannot reach the sidecar's admin listener at {addr}"))?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("the admin listener at {addr} sent no HTTP answer");
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "the admin listener at {addr} answered `{}`",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gauges_and_prints_one_line() {
        let text = "# TYPE rampart_identity_budget_seconds gauge\nrampart_identity_budget_seconds 2520.5\nrampart_control_plane_reachable 0\nrampart_control_plane_unreachable_seconds 185\nrampart_snapshot_version 17\nrampart_snapshot_age_seconds 190\n";
        let g = |n| gauge(text, n);
        assert_eq!(g(BUDGET), Some(2520.5));
        assert_eq!(
            line(
                g(BUDGET).unwrap(),
                g(REACHABLE),
                g(AWAY),
                g(VERSION),
                g(AGE)
            ),
            "identity valid for 42m, control plane unreachable for 3m, snapshot v17 age 3m"
        );
        assert_eq!(
            line(0.0, Some(1.0), Some(0.0), None, None),
            "identity EXPIRED, control plane reachable, no snapshot"
        );
    }
}
