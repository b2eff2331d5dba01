//! `ca.upstream`: Rampart runs an intermediate CA under a root the operator brings (made here
//! with the OpenSSL command line), and everything it issues chains to that root: the control
//! plane's certificate, and the SVIDs of sidecars that join with a token.

use crate::support::*;
use rampart_testkit::RecordingUpstream;
use rampart_testkit::process::{RampartProcess, free_port};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// An ECDSA P-256 root CA, `root.pem` and `root-key.pem` (0600), made by OpenSSL.
fn operator_root(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", "/CN=Operator Root CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(dir.join("root-key.pem"))
        .arg("-out")
        .arg(dir.join("root.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(
        dir.join("root-key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn everything_issued_chains_to_the_operators_root() {
    let tmp = tempfile::tempdir().unwrap();
    operator_root(tmp.path());
    let ports = Ports::new();
    let yaml = format!(
        "{}ca:\n  trust_domain: example.org\n  upstream: {{ cert: root.pem, key: root-key.pem }}\n",
        config(&ports, "upstream")
    );
    let file = write(tmp.path(), "rampart.yaml", &yaml);
    let data = tmp.path().join("data");
    let _control = up(&file, &data, &ports).await;

    // Clients are told to trust the operator's root; the intermediate's key stays private.
    let root = std::fs::read_to_string(tmp.path().join("root.pem")).unwrap();
    assert_eq!(std::fs::read_to_string(data.join("ca.pem")).unwrap(), root);
    let key = data.join("intermediate-ca").join("intermediate-ca-key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!data.join("ca-key.pem").exists());

    // The control plane's certificate verifies against the operator's root alone.
    let url = format!("https://127.0.0.1:{}", ports.control);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let root_path = tmp.path().join("root.pem");
    let mut join = RampartProcess::spawn(
        BIN,
        &[
            "identity",
            "join-token",
            "--service",
            "orders",
            "--control",
            &url,
            "--ca",
            root_path.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", token.trim())],
    );
    let status = join.wait_exit(WAIT).await.expect("join-token exits");
    assert!(status.success(), "{}", join.output());
    let created: serde_json::Value = serde_json::from_str(&join.stdout()).unwrap();
    let join_token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(
        created["spiffe_id"],
        "spiffe://example.org/ns/default/sa/orders"
    );

    // A sidecar joins with it (pinning the intermediate) and gets an SVID under the root.
    let app = RecordingUpstream::start();
    let side = tmp.path().join("orders");
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let args = [
        "sidecar".to_owned(),
        "--service".to_owned(),
        "orders".to_owned(),
        "--app".to_owned(),
        app.addr().to_string(),
        "--control".to_owned(),
        url.clone(),
        "--inbound".to_owned(),
        format!("127.0.0.1:{inbound}"),
        "--outbound".to_owned(),
        format!("127.0.0.1:{outbound}"),
        "--admin".to_owned(),
        format!("127.0.0.1:{admin}"),
        "--data-dir".to_owned(),
        side.to_str().unwrap().to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut sidecar =
        RampartProcess::spawn(BIN, &args, &[("RAMPART_JOIN_TOKEN", join_token.as_str())]);
    sidecar.wait_for_port(Ports::addr(inbound), WAIT).await;

    // Split the kept chain: leaf, then the intermediate.
    let chain = std::fs::read_to_string(side.join("svid.pem")).unwrap();
    let pems: Vec<String> = chain
        .split("-----END CERTIFICATE-----")
        .filter(|p| p.contains("-----BEGIN CERTIFICATE-----"))
        .map(|p| format!("{}-----END CERTIFICATE-----\n", p.trim_start()))
        .collect();
    assert_eq!(pems.len(), 2, "leaf and intermediate expected:\n{chain}");
    let leaf = write(tmp.path(), "leaf.pem", &pems[0]);
    let intermediate = write(tmp.path(), "intermediate.pem", &pems[1]);
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        root_path.to_str().unwrap(),
        "-untrusted",
        intermediate.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(ok, "openssl refused the SVID chain: {text}");
    // Without the intermediate it does not verify: the root did not sign the SVID itself.
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        root_path.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(!ok);
    let (_, text) = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        leaf.to_str().unwrap(),
    ]);
    assert!(
        text.contains("URI:spiffe://example.org/ns/default/sa/orders"),
        "{text}"
    );
    sidecar.kill();
}

#[tokio::test]
async fn a_data_directory_with_a_local_root_is_not_reused_for_an_upstream() {
    let tmp = tempfile::tempdir().unwrap();
    operator_root(tmp.path());
    let ports = Ports::new();
    let data = tmp.path().join("data");
    // First a local root of Rampart's own…
    let plain = write(tmp.path(), "plain.yaml", &config(&ports, "plain"));
    let mut first = up(&plain, &data, &ports).await;
    first.kill();
    let _ = first.wait_exit(WAIT).await;
    // …then the same directory with an upstream: refused, the local CA left as it was.
    let before = std::fs::read(data.join("ca.pem")).unwrap();
    let yaml = format!(
        "{}ca:\n  upstream: {{ cert: root.pem, key: root-key.pem }}\n",
        config(&ports, "upstream")
    );
    let file = write(tmp.path(), "rampart.yaml", &yaml);
    let mut second = RampartProcess::spawn(
        BIN,
        &[
            "up",
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let status = second.wait_exit(WAIT).await.expect("it exits");
    assert!(!status.success());
    assert!(
        second.output().contains("new data directory"),
        "{}",
        second.output()
    );
    assert_eq!(std::fs::read(data.join("ca.pem")).unwrap(), before);
}
