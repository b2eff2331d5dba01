//! `rampart logs query|tail` and `rampart audit-log verify|export`: the event log through the
//! control plane's admin API, and offline verification of an audit export.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rampart_control::{ControlClient, LoggedEvent};
use serde_json::Value;

use crate::cli::{AuditExportArgs, AuditLogCommand, AuditVerifyArgs, LogsCommand, LogsTailArgs};
use crate::output::say;

/// How long one tail request waits on the server for news.
const TAIL_WAIT_SECS: u64 = 20;

pub fn run(command: LogsCommand) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        match command {
            LogsCommand::Query(args) => {
                let client = client(&args.control)?;
                let page = client.logs_query(&args.query.join(" "), None).await?;
                for event in &page.events {
                    print_event(event, args.control.json);
                }
                if !args.control.json && page.events.is_empty() {
                    eprintln!("no events match");
                }
                Ok(ExitCode::SUCCESS)
            }
            LogsCommand::Tail(args) => tail(args).await,
        }
    })
}

pub fn audit(command: AuditLogCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditLogCommand::Verify(args) => verify(args),
        AuditLogCommand::Export(args) => export(args),
    }
}

fn client(args: &crate::cli::ControlArgs) -> anyhow::Result<ControlClient> {
    Ok(crate::commands::status::client(&args.control, &args.auth)?
        .with_timeout(Duration::from_secs(TAIL_WAIT_SECS + 10)))
}

async fn tail(args: LogsTailArgs) -> anyhow::Result<ExitCode> {
    let client = client(&args.control)?;
    let mut query = args.query.join(" ");
    if !query.split_whitespace().any(|t| t.starts_with("limit=")) {
        query.push_str(&format!(" limit={}", args.lines.clamp(1, 10_000)));
    }
    // The latest events, printed oldest first.
    let page = client.logs_query(&query, None).await?;
    let mut last = page.events.iter().map(|e| e.seq).max().unwrap_or(0);
    for event in page.events.iter().rev() {
        print_event(event, args.control.json);
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let follow_query = args.query.join(" ");
    loop {
        tokio::select! {
            _ = crate::commands::terminated() => return Ok(ExitCode::SUCCESS),
            page = client.logs_tail(&follow_query, Some(last), TAIL_WAIT_SECS) => {
                let page = page?;
                for event in &page.events {
                    print_event(event, args.control.json);
                }
                last = last.max(page.last_seq);
            }
        }
    }
}

fn verify(args: AuditVerifyArgs) -> anyhow::Result<ExitCode> {
    let report: Value = match &args.file {
        Some(file) => {
            let trusted = match &args.key {
                Some(key) => Some(vec![parse_key(key)?]),
                None => None,
            };
            let reader = std::io::BufReader::new(
                std::fs::File::open(file)
                    .with_context(|| format!("cannot open `{}`", file.display()))?,
            );
            let report = rampart_logs::audit::export::verify_export(reader, trusted.as_deref())
                .with_context(|| format!("cannot read the export `{}`", file.display()))?;
            serde_json::to_value(&report)?
        }
        None => {
            let rt = crate::runtime::build(1)?;
            rt.block_on(async {
                client(&args.control)?
                    .audit_verify()
                    .await
                    .map_err(anyhow::Error::from)
            })?
        }
    };
    let ok = report["ok"].as_bool() == Some(true);
    if args.control.json {
        say!("{report}");
    } else {
        print_report(&report);
    }
    Ok(match ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

fn parse_key(key: &str) -> anyhow::Result<rampart_logs::audit::AuditKey> {
    let text = match std::path::Path::new(key).is_file() {
        true => std::fs::read_to_string(key).with_context(|| format!("cannot read `{key}`"))?,
        false => key.to_string(),
    };
    rampart_logs::audit::AuditKey::parse(text.trim()).context("invalid audit key")
}

fn print_report(report: &Value) {
    let records = report["records"].as_u64().unwrap_or(0);
    let checkpoints = report["checkpoints_verified"].as_u64().unwrap_or(0);
    if report["ok"].as_bool() == Some(true) {
        say!("audit trail verified: {records} records, {checkpoints} signed checkpoints");
    } else {
        let p = &report["problem"];
        say!(
            "audit trail does NOT verify: {} at record {} (event {}): {}",
            p["kind"].as_str().unwrap_or("problem"),
            p["chain_seq"],
            p["event_id"].as_str().unwrap_or("-"),
            p["detail"].as_str().unwrap_or("")
        );
    }
    if report["keys_from_export"].as_bool() == Some(true) {
        eprintln!(
            "warning: the checkpoints were checked with the keys the export itself carries; \
             pass --key with the control plane's audit key (GET /v1/audit/keys) to trust them"
        );
    }
}

fn export(args: AuditExportArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    let bytes = rt.block_on(async {
        client(&args.control)?
            .audit_export()
            .await
            .map_err(anyhow::Error::from)
    })?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            eprintln!("wrote the audit trail to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe ends the export quietly.
            let _ = out.write_all(&bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One event: its JSON with `--json`, else one readable line.
fn print_event(event: &LoggedEvent, json: bool) {
    if json {
        say!("{}", event.event);
        return;
    }
    let e = &event.event;
    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let time = e["@timestamp"]
        .as_u64()
        .map(|ms| {
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms))
                .to_string()
        })
        .unwrap_or_default();
    let what = match s("event.kind").as_str() {
        "access" => format!(
            "{} {} {}{} -> {} {}",
            s("decision"),
            s("http.request.method"),
            s("url.domain"),
            s("url.path"),
            e["http.response.status_code"],
            s("user.id")
        ),
        "admin" => format!(
            "{} {} by {} ({})",
            s("event.action"),
            s("rampart.target"),
            s("user.id"),
            s("event.outcome")
        ),
        _ => format!("{}: {}", s("event.action"), s("event.reason")),
    };
    say!(
        "{time} {:<8} {:<16} {}",
        s("event.kind"),
        s("service.name"),
        what.trim_end()
    );
}
