//! `rampart config check FILE`.

use crate::output::say;
use std::path::Path;
use std::process::ExitCode;

pub fn check(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    match rampart_config::from_file(file) {
        Ok(c) => {
            let g = &c.gateway;
            if json {
                let doc = serde_json::json!({
                    "ok": true,
                    "file": file.display().to_string(),
                    "listeners": g.listeners.len(),
                    "clusters": g.clusters.len(),
                    "routes": g.routes.len(),
                    "errors": [],
                });
                say!("{doc}");
            } else {
                say!(
                    "{}: ok ({} listeners, {} clusters, {} routes)",
                    file.display(),
                    g.listeners.len(),
                    g.clusters.len(),
                    g.routes.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
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
            Ok(ExitCode::FAILURE)
        }
    }
}
