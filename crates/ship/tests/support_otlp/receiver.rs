//! The OTLP test receiver: `scripts/otlp_receiver.py` (decoding with the PyPI package
//! `opentelemetry-proto`) on a free 127.0.0.1 port, writing each received log record as a JSON
//! line. Without Python or the module the tests fail when `CI` is set (scripts/test installs
//! `opentelemetry-proto==1.45.2 protobuf`) and are skipped with a note otherwise.

use rampart_testkit::{RampartProcess, free_port};
use std::path::PathBuf;
use std::time::Duration;

pub struct OtlpReceiver {
    pub endpoint: String,
    pub out: PathBuf,
    _process: RampartProcess,
    _dir: tempfile::TempDir,
}

fn python() -> String {
    std::env::var("RAMPART_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether Python can import the OTLP protobuf classes; fails under CI when it cannot.
fn available() -> bool {
    let ok = std::process::Command::new(python())
        .args([
            "-c",
            "import opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let message = "python3 cannot import opentelemetry.proto; install it with \
                       `pip install opentelemetry-proto==1.45.2 protobuf`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    ok
}

impl OtlpReceiver {
    /// Starts the receiver; the first `fail_first` requests are answered 503.
    pub async fn start(fail_first: u32) -> Option<Self> {
        if !available() {
            return None;
        }
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/otlp_receiver.py");
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = dir.path().join("received.jsonl");
        let port = free_port();
        let fail = fail_first.to_string();
        let mut process = RampartProcess::spawn(
            python(),
            &[
                script.to_str().expect("script path"),
                &port.to_string(),
                out.to_str().expect("out path"),
                "--fail-first",
                &fail,
            ],
            &[],
        );
        process
            .wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20))
            .await;
        Some(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            out,
            _process: process,
            _dir: dir,
        })
    }

    /// The records received so far, one JSON value each.
    pub fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("receiver writes JSON lines"))
            .collect()
    }

    /// Waits until at least `n` records arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} OTLP records within {limit:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
