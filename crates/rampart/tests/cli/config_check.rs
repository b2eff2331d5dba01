use crate::support::*;
use rampart_testkit::process::RampartProcess;

#[tokio::test]
async fn config_check_reports_every_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(
        tmp.path(),
        "bad.yaml",
        "gateway:\n  routes:\n    - { name: r, cluster: missing }\n  clusters:\n    - { name: c, endpoints: [\"nohost\"] }\n  bogus: 1\n",
    );
    let mut p = RampartProcess::spawn(BIN, &["config", "check", bad.to_str().unwrap()], &[]);
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    let err = p.stderr();
    for want in [
        "bad.yaml",
        "gateway.bogus",
        "gateway.routes[0].cluster",
        "gateway.clusters[0].endpoints[0]",
    ] {
        assert!(err.contains(want), "missing {want} in {err}");
    }

    let mut p = RampartProcess::spawn(
        BIN,
        &["config", "check", "--json", bad.to_str().unwrap()],
        &[],
    );
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    let v: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 3, "{v}");

    let quickstart = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart.yaml"
    );
    let mut p = RampartProcess::spawn(BIN, &["config", "check", quickstart], &[]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    assert!(p.stdout().contains("ok"));
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(tmp.path(), "good.yaml", "gateway: {}\n");
    let mut child = std::process::Command::new(BIN)
        .args(["config", "check", "--json", good.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the command writes (as `| head -0` would).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}
