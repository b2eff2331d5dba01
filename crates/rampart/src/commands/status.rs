//! `rampart status`: the control plane's health and its proxies; with `--sidecar`, how long a
//! sidecar can go on without the control plane.

use crate::cli::{ControlAuth, StatusArgs};
use crate::output::say;
use anyhow::Context;
use rampart_control::ControlClient;
use rampart_core::Sensitive;
use std::process::ExitCode;

mod sidecar;

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    if let Some(admin) = &args.sidecar {
        return rt.block_on(sidecar::run(admin, args.json));
    }
    rt.block_on(async move {
        let client = client(&args.control, &args.auth)?;
        let status = client
            .status()
            .await
            .with_context(|| format!("cannot get status from {}", args.control))?;
        let seal = super::secret::seal_status(&args.control, &args.auth).await;
        if args.json {
            let mut out = serde_json::to_value(&status)?;
            if let (Some(map), Some(seal)) = (out.as_object_mut(), seal) {
                map.insert("secrets".to_owned(), seal);
            }
            say!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(ExitCode::SUCCESS);
        }
        let h = &status.health;
        say!(
            "control plane {}: {:?} (version {}, store {}, up {}s)",
            client.url(),
            h.status,
            h.version,
            h.store,
            h.uptime_secs
        );
        if let Some(seal) = &seal {
            say!("{}", seal_line(seal));
        }
        if status.proxies.is_empty() {
            say!("no proxies have reported");
        } else {
            say!(
                "{:<24} {:<8} {:<10} {:<22} {:<8} {:>10}",
                "PROXY",
                "KIND",
                "STATE",
                "ADDRESS",
                "CONFIG",
                "LAST SEEN"
            );
            for p in &status.proxies {
                say!(
                    "{:<24} {:<8} {:<10} {:<22} {:<8} {:>9.1}s",
                    p.name,
                    p.kind,
                    if p.connected { "connected" } else { "gone" },
                    p.address,
                    p.config_version,
                    p.last_seen_age_ms as f64 / 1000.0
                );
            }
        }
        if status.workloads.is_empty() {
            say!("no sidecars are registered");
        } else {
            say!("{:<48} {:<40} ADDRESS", "WORKLOAD (SPIFFE ID)", "INSTANCE");
            for w in &status.workloads {
                for e in &w.endpoints {
                    say!("{:<48} {:<40} {}", w.spiffe_id, e.instance, e.address);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The secrets store's state in one line, from `/v1/sys/seal-status`.
fn seal_line(seal: &serde_json::Value) -> String {
    let state = match (seal["initialized"] == true, seal["sealed"] == true) {
        (false, _) => "not initialized",
        (true, true) => "sealed",
        (true, false) => "unsealed",
    };
    let kind = seal["type"].as_str().unwrap_or("?");
    format!("secrets store: {state} ({kind} seal)")
}

/// A control-plane client from the command line's (or environment's) credentials.
pub fn client(url: &str, auth: &ControlAuth) -> anyhow::Result<ControlClient> {
    let token = match &auth.token {
        Some(t) => t.clone(),
        None => {
            let path = rampart_control::default_token_path();
            std::fs::read_to_string(&path)
                .with_context(|| format!("no --token given and cannot read `{}` (run `rampart up` first, or set RAMPART_TOKEN)", path.display()))?
                .trim()
                .to_string()
        }
    };
    let ca = auth
        .ca
        .clone()
        .unwrap_or_else(rampart_control::default_ca_path);
    Ok(ControlClient::new(url, Sensitive::new(token), &ca)?)
}
