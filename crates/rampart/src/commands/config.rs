//! `rampart config check FILE`: the configuration, and its policy set compiled as every proxy
//! would compile it.

use crate::output::say;
use rampart_config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn check(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = match rampart_config::from_file(file) {
        Ok(c) => c,
        Err(e) => {
            if json {
                let errors: Vec<_> = e
                    .errors
                    .iter()
                    .map(|x| serde_json::json!({"path": x.path, "message": x.message}))
                    .collect();
                say!(
                    "{}",
                    serde_json::json!({"ok": false, "file": e.source_name, "errors": errors})
                );
            } else {
                eprintln!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let policies = match policy_problems(&config) {
        Ok(count) => count,
        Err(problems) => {
            if json {
                let errors: Vec<_> = problems
                    .iter()
                    .map(|m| serde_json::json!({"path": "policy", "message": m}))
                    .collect();
                say!(
                    "{}",
                    serde_json::json!({"ok": false, "file": file.display().to_string(), "errors": errors})
                );
            } else {
                eprintln!("`{}`: the policy set does not compile:", file.display());
                for p in &problems {
                    eprintln!("  - policy: {p}");
                }
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let g = &config.gateway;
    if json {
        let doc = serde_json::json!({
            "ok": true,
            "file": file.display().to_string(),
            "listeners": g.listeners.len(),
            "clusters": g.clusters.len(),
            "routes": g.routes.len(),
            "policies": policies,
            "errors": [],
        });
        say!("{doc}");
    } else {
        let authz = match policies {
            Some(n) => format!(", {n} policies"),
            None => ", authorization off".to_owned(),
        };
        say!(
            "{}: ok ({} listeners, {} clusters, {} routes{authz})",
            file.display(),
            g.listeners.len(),
            g.clusters.len(),
            g.routes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Compiles the configuration's policy set: the number of policies (segment flows included),
/// `None` without a `policy` section, or the pointed problems (`file:line:col [policy id]: …`).
fn policy_problems(config: &Config) -> Result<Option<usize>, Vec<String>> {
    let Some(section) = &config.policy else {
        return Ok(None);
    };
    let lines = |e: rampart_policy::PolicyError| -> Vec<String> {
        e.to_string()
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    };
    let source = rampart_policy::PolicySource::from_config(section).map_err(lines)?;
    let engine = source.compile().map_err(lines)?;
    Ok(Some(engine.policies().len()))
}
