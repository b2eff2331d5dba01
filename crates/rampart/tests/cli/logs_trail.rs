//! One `rampart up` whose event log the logs tests drive and inspect: the CLI against its
//! control plane, `rampart audit-log verify`, and `logs_tamper.py` (python3's sqlite3) on its
//! `events.db`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use rampart_testkit::process::RampartProcess;
use serde_json::Value;
use tokio::time::{Instant, sleep};

use crate::secrets::{run, text};
use crate::support::*;

/// One `rampart up` and its event log.
pub struct Trail {
    pub _process: RampartProcess,
    pub ports: Ports,
    pub data: PathBuf,
}

impl Trail {
    pub async fn start(tmp: &Path, config: &str, ports: Ports) -> Self {
        let file = write(tmp, "rampart.yaml", config);
        let data = tmp.join("data");
        let process = up(&file, &data, &ports).await;
        Self {
            _process: process,
            ports,
            data,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.control)
    }

    pub fn db(&self) -> String {
        self.data.join("events.db").display().to_string()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `rampart ARGS --control … --ca …` with `token` as the admin token.
    pub async fn rampart(&self, args: &[&str], token: &str) -> Output {
        let mut full: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        full.extend([
            "--control".to_owned(),
            self.url(),
            "--ca".to_owned(),
            self.data.join("ca.pem").display().to_string(),
        ]);
        let envs = vec![("RAMPART_TOKEN".to_owned(), token.to_owned())];
        run(BIN.into(), full, envs, None).await
    }

    /// `rampart audit-log verify --json` (online, or `offline` args): exit code and report.
    pub async fn verify(&self, offline: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec!["audit-log", "verify", "--json"];
        args.extend_from_slice(offline);
        let out = self.rampart(&args, &self.token()).await;
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("verify printed no report ({e}): {}", text(&out)));
        (out.status.code(), report)
    }

    /// Verify must pass, over at least `records` records and one checkpoint.
    pub async fn verify_ok(&self, records: u64, when: &str) {
        let (code, report) = self.verify(&[]).await;
        assert_eq!(code, Some(0), "{when}: {report}");
        assert_eq!(report["ok"], true, "{when}: {report}");
        assert!(
            report["records"].as_u64().unwrap() >= records,
            "{when}: {report}"
        );
        assert!(
            report["checkpoints_verified"].as_u64().unwrap() >= 1,
            "{when}: {report}"
        );
    }

    /// Runs `logs_tamper.py COMMAND events.db ARGS`.
    pub async fn tamper(&self, command: &str, args: &[&str]) -> Value {
        let mut full = vec![command.to_owned(), self.db()];
        full.extend(args.iter().map(|a| (*a).to_owned()));
        tamper_script(full, Vec::new()).await
    }

    /// Waits until at least `chained` chained records and a checkpoint are stored and the
    /// number of stored events has stopped moving; returns the stats.
    pub async fn settled(&self, chained: u64) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last = Value::Null;
        loop {
            let stats = self.tamper("stats", &[]).await;
            let enough = stats["chained"].as_u64().unwrap() >= chained
                && stats["checkpoints"].as_u64().unwrap() >= 1;
            if enough && stats == last {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "events not stored within {WAIT:?}: {stats}"
            );
            last = stats;
            sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Runs `logs_tamper.py` with `args`; its JSON output.
pub async fn tamper_script(args: Vec<String>, envs: Vec<(String, String)>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/logs_tamper.py");
    let mut full = vec![script.display().to_string()];
    full.extend(args);
    let out = run("python3".into(), full, envs, None).await;
    assert!(
        out.status.success(),
        "logs_tamper.py failed: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
