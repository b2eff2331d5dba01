//! The network-layer exports checked by the real tools:
//! - Kubernetes manifests by `kubernetes-validate --strict` (PyPI package
//!   `kubernetes-validate`, bundles the API schemas, works offline);
//! - the nftables ruleset by `nft -c -f` (check mode; Debian package `nftables`), run inside a
//!   fresh user and network namespace (`unshare -rn`) so it needs no privileges and cannot touch
//!   the host's firewall.
//!
//! Each tool must also reject a deliberately broken input, so these tests can fail.
//! A missing tool fails the test with the command that installs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_policy::{Flow, Segment, Segments, export};

fn segments() -> Segments {
    let seg = |name: &str, cidrs: &[&str]| Segment {
        name: name.to_string(),
        cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
    };
    let flow = |from: &str, to: &str, actions: Option<Vec<String>>| Flow {
        from: from.to_string(),
        to: to.to_string(),
        actions,
    };
    Segments {
        segments: vec![
            seg("edge", &["10.0.0.0/24", "fd00:0:0:1::/64"]),
            seg(
                "app-tier",
                &["10.0.1.0/24", "10.0.2.0/24", "fd00:0:0:2::/64"],
            ),
            seg("data_store", &["10.0.3.9/24"]),
            seg("batch", &[]),
        ],
        services: [
            ("gateway", "edge"),
            ("orders", "app-tier"),
            ("billing", "app-tier"),
            ("db", "data_store"),
            ("reports", "batch"),
        ]
        .into_iter()
        .map(|(s, g)| (s.to_string(), g.to_string()))
        .collect(),
        flows: vec![
            flow("edge", "app-tier", None),
            flow("app-tier", "data_store", Some(vec![String::from("GET")])),
            flow("app-tier", "app-tier", None),
            flow("batch", "data_store", None),
        ],
    }
}

/// Runs a command with a 60 s limit.
fn run(program: &str, args: &[&str], install_hint: &str) -> Output {
    let mut child = match Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run {program} ({e}); install it with: {install_hint}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const K8S_HINT: &str = "pip install kubernetes-validate==1.37.0";
const NFT_HINT: &str = "apt-get install -y nftables (and util-linux for unshare)";

fn kubernetes_validate(file: &Path) -> Output {
    run(
        "kubernetes-validate",
        &["--strict", "--quiet", file.to_str().unwrap()],
        K8S_HINT,
    )
}

fn nft_check(file: &Path) -> Output {
    run(
        "unshare",
        &["-rn", "nft", "-c", "-f", file.to_str().unwrap()],
        NFT_HINT,
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn kubernetes_export_passes_strict_schema_validation() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = export::kubernetes(&segments(), "shop");
    // 1 default deny + 4 segments with services.
    assert_eq!(yaml.matches("kind: NetworkPolicy").count(), 5, "{yaml}");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, &yaml).unwrap();
    let out = kubernetes_validate(&good);
    assert!(out.status.success(), "{}\n{yaml}", text(&out));

    // Wrong field type: the validator must reject it.
    let broken = yaml.replacen("policyTypes:\n  - Ingress", "policyTypes: 5", 1);
    assert_ne!(broken, yaml, "the replacement must apply");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, &broken).unwrap();
    let out = kubernetes_validate(&bad);
    assert!(!out.status.success(), "broken manifest passed:\n{broken}");
    assert!(text(&out).contains("policyTypes"), "{}", text(&out));

    // Unknown field: rejected in strict mode.
    let unknown = yaml.replacen("podSelector:", "podSelektor: {}\n  podSelector:", 1);
    std::fs::write(&bad, &unknown).unwrap();
    assert!(!kubernetes_validate(&bad).status.success(), "{unknown}");
}

#[test]
fn nftables_export_passes_nft_check_mode() {
    let dir = tempfile::tempdir().unwrap();
    let rules = export::nftables(&segments()).unwrap();
    let good = dir.path().join("good.nft");
    std::fs::write(&good, &rules).unwrap();
    let out = nft_check(&good);
    assert!(out.status.success(), "{}\n{rules}", text(&out));

    // A rule naming a set that does not exist must be rejected.
    let broken = rules.replacen("@seg_edge_v4", "@seg_missing_v4", 1);
    assert_ne!(broken, rules, "the replacement must apply");
    let bad = dir.path().join("bad.nft");
    std::fs::write(&bad, &broken).unwrap();
    let out = nft_check(&bad);
    assert!(!out.status.success(), "broken ruleset passed:\n{broken}");
    assert!(text(&out).contains("seg_missing_v4"), "{}", text(&out));

    // An IPv6 range in an IPv4 set must be rejected too.
    let mixed = rules.replacen("10.0.0.0/24", "fd00::/64", 1);
    assert_ne!(mixed, rules);
    std::fs::write(&bad, &mixed).unwrap();
    assert!(!nft_check(&bad).status.success(), "{mixed}");
}
