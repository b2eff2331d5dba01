//! A write the secrets store acknowledged survives `kill -9`: a client writes in a loop and
//! records each acknowledged version, the process is killed mid-stream, and after a restart
//! every acknowledged version reads back with its value.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use crate::secrets::{Instance, python};

const MAX_WRITES: u32 = 200_000;

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    // Enough versions per secret that none of the acknowledged ones is pruned.
    let mut up = Instance::start(tmp.path(), "{ max_versions: 100000 }", &[]).await;
    let acks = tmp.path().join("acks.jsonl");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/secrets_writer.py");
    let mut writer = Command::new("python3")
        .arg(&script)
        .args([
            "write",
            up.addr().as_str(),
            up.ca().to_str().unwrap(),
            up.token_file().to_str().unwrap(),
        ])
        .args([MAX_WRITES.to_string(), "60".to_owned()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&acks).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");

    // Kill once the stream is well under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = std::fs::read_to_string(&acks)
            .unwrap_or_default()
            .lines()
            .count();
        if lines >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {lines} writes acknowledged in 30 s"
        );
        assert!(
            writer.try_wait().unwrap().is_none(),
            "the writer stopped early"
        );
        sleep(Duration::from_millis(20)).await;
    }
    up.process.kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    while writer.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the writer did not notice the kill"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let acknowledged = std::fs::read_to_string(&acks).unwrap().lines().count();
    assert!(
        acknowledged < usize::try_from(MAX_WRITES).unwrap(),
        "the kill happened mid-stream"
    );

    up.restart(&[]).await;
    let out = python(
        "secrets_writer.py",
        vec![
            "check".to_owned(),
            up.addr(),
            up.ca().display().to_string(),
            up.token_file().display().to_string(),
            acks.display().to_string(),
        ],
    )
    .await;
    assert!(out["checked"].as_u64().unwrap() >= 300, "{out}");
    assert_eq!(out["missing"], serde_json::json!([]), "{out}");
    assert_eq!(out["wrong"], serde_json::json!([]), "{out}");
    up.stop().await;
}
