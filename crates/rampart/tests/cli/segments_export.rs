//! `rampart segments export`: the quickstart's and a config's segments rendered for the network
//! layer and checked by the real tools: `kubernetes-validate` (the Kubernetes schema) for the
//! NetworkPolicy manifests, `nft -c` (a dry run of the kernel's parser) for the ruleset. Both
//! are installed by scripts/test.

use crate::support::*;
use rampart_testkit::process::RampartProcess;
use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
policy:
  segments:
    edge: { services: [gateway], cidrs: [10.0.0.0/24] }
    app:  { services: [orders, billing], cidrs: [10.0.1.0/24, 10.0.2.0/24] }
    data: { services: [db], cidrs: [10.0.3.0/24] }
  flows:
    - { from: edge, to: app }
    - { from: app, to: app }
    - { from: app, to: data, actions: [GET, POST] }
"#;

async fn export(args: &[&str]) -> String {
    let mut full = vec!["segments", "export"];
    full.extend(args);
    let mut p = RampartProcess::spawn(BIN, &full, &[]);
    let status = p.wait_exit(WAIT).await.expect("export exits");
    assert!(status.success(), "{}", p.output());
    p.stdout()
}

fn tool(name: &str) -> String {
    for dir in ["/usr/sbin", "/sbin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path.display().to_string();
        }
    }
    name.to_owned()
}

#[tokio::test]
async fn kubernetes_manifests_pass_the_kubernetes_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = export(&["--format", "kubernetes", "--namespace", "shop"]).await;
    assert!(yaml.contains("kind: NetworkPolicy"), "{yaml}");
    assert!(yaml.contains("namespace: shop"), "{yaml}");
    for service in ["gateway", "orders", "billing", "db"] {
        assert!(yaml.contains(service), "{service} missing: {yaml}");
    }
    let file = write(tmp.path(), "netpol.yaml", &yaml);
    let out = Command::new("kubernetes-validate")
        .args(["--strict", file.to_str().unwrap()])
        .output()
        .expect("kubernetes-validate is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}\n{}\n{yaml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_nftables_ruleset_parses_and_holds_each_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "rampart.yaml", CONFIG);
    let rules = export(&["--format", "nftables", "--config", config.to_str().unwrap()]).await;
    assert!(rules.contains("table inet rampart"), "{rules}");
    assert!(rules.contains("10.0.2.0/24"), "{rules}");
    for (from, to) in [("edge", "app"), ("app", "app"), ("app", "data")] {
        let flow = format!("ip saddr @seg_{from}_v4 ip daddr @seg_{to}_v4");
        assert!(rules.contains(&flow), "no `{flow}` in {rules}");
    }
    assert!(
        !rules.contains("ip saddr @seg_data_v4"),
        "data has no outgoing flow: {rules}"
    );
    let file = write(tmp.path(), "rampart.nft", &rules);
    let out = Command::new(tool("nft"))
        .args(["-c", "-f", file.to_str().unwrap()])
        .output()
        .expect("nft is installed (scripts/test installs nftables)");
    assert!(
        out.status.success(),
        "{}\n{rules}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_config_without_segments_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "rampart.yaml", "gateway: {}\n");
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "segments",
            "export",
            "--format",
            "kubernetes",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    assert!(p.stderr().contains("no `policy` section"), "{}", p.output());
}
