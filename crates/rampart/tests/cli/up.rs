use crate::support::*;
use rampart_testkit::process::RampartProcess;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn up_serves_requests_and_guards_the_control_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let file = write(tmp.path(), "rampart.yaml", &config(&ports, "one"));
    let data = tmp.path().join("data");
    let mut p = up(&file, &data, &ports).await;

    // It tells where everything listens.
    let out = p.stdout();
    for want in [
        format!("127.0.0.1:{}", ports.http),
        format!("127.0.0.1:{}", ports.control),
        "ca.pem".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want} in:\n{out}");
    }

    // A request through the gateway reaches the built-in echo upstream.
    let r = get(ports.http, "/api/hello?x=1").await;
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert!(r.text().contains("\"path\": \"/hello\""), "{}", r.text());
    assert!(r.text().contains("x-version: one"));

    // Secrets on disk are private; the CA key lives in the secrets store (seal: auto).
    assert!(
        !data.join("ca-key.pem").exists(),
        "the CA key moved into the secrets store"
    );
    for f in ["admin-token", "secrets-root.key"] {
        let mode = std::fs::metadata(data.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert!(data.join("ca.pem").is_file());

    // HTTPS with the local CA: a client trusting ca.pem gets through, by name.
    let ca_pem = std::fs::read(data.join("ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    use rustls::pki_types::pem::PemObject;
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(Ports::addr(ports.https))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /api/tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await.ok();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    // The control plane refuses missing and wrong credentials, and accepts the token file.
    let control = format!("https://127.0.0.1:{}", ports.control);
    let ca = data.join("ca.pem");
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let mut wrong = RampartProcess::spawn(
        BIN,
        &[
            "status",
            "--control",
            &control,
            "--ca",
            ca.to_str().unwrap(),
            "--token",
            &"x".repeat(40),
        ],
        &[],
    );
    let status = wrong.wait_exit(WAIT).await.unwrap();
    assert!(!status.success());
    assert!(wrong.stderr().contains("401"), "{}", wrong.stderr());
    assert!(
        !wrong.stderr().contains(&"x".repeat(40)),
        "the presented token must not be echoed"
    );

    let mut ok = RampartProcess::spawn(
        BIN,
        &[
            "status",
            "--control",
            &control,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", token.trim())],
    );
    assert!(
        ok.wait_exit(WAIT).await.unwrap().success(),
        "{}",
        ok.output()
    );
    let v: serde_json::Value = serde_json::from_str(&ok.stdout()).unwrap();
    assert_eq!(v["status"], "ok");

    // A join token for a workload, pinned to the control plane's CA.
    let mut join = RampartProcess::spawn(
        BIN,
        &[
            "identity",
            "join-token",
            "--service",
            "orders",
            "--ttl",
            "5m",
            "--control",
            &control,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", token.trim())],
    );
    assert!(
        join.wait_exit(WAIT).await.unwrap().success(),
        "{}",
        join.output()
    );
    let j: serde_json::Value = serde_json::from_str(&join.stdout()).unwrap();
    assert_eq!(
        j["spiffe_id"],
        "spiffe://rampart.local/ns/default/sa/orders"
    );
    assert!(j["token"].as_str().unwrap().starts_with("rampart-join."));
    assert!(j["expires_at_ms"].as_i64().unwrap() > 0);
    let proxies = v["proxies"].as_array().unwrap();
    assert!(
        proxies
            .iter()
            .any(|p| p["kind"] == "gateway" && p["connected"] == true),
        "{v}"
    );

    // A plain HTTP request to the control port is not served.
    let r = get(ports.control, "/v1/status").await;
    assert_ne!(r.status(), Some(200));

    // SIGTERM drains and exits cleanly.
    p.signal("TERM");
    let exit = p
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("exits after SIGTERM");
    assert!(exit.success(), "{}", p.output());
}

#[tokio::test]
async fn standalone_gateway_reports_to_the_control_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let file = write(tmp.path(), "rampart.yaml", &config(&ports, "cp"));
    let data = tmp.path().join("data");
    let _cp = up(&file, &data, &ports).await;

    let gw_http = rampart_testkit::process::free_port();
    let gw_admin = rampart_testkit::process::free_port();
    let gw_cfg = write(
        tmp.path(),
        "gw.yaml",
        &format!(
            "admin: {{ listen: \"127.0.0.1:{gw_admin}\" }}\ncontrol: {{ listen: \"127.0.0.1:{}\" }}\ngateway:\n  listeners: [{{ name: edge, address: \"127.0.0.1:{gw_http}\" }}]\n  clusters: [{{ name: e, builtin: echo }}]\n  routes: [{{ name: all, cluster: e }}]\n",
            rampart_testkit::process::free_port()
        ),
    );
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let control = format!("https://127.0.0.1:{}", ports.control);
    let mut gw = RampartProcess::spawn(
        BIN,
        &[
            "gateway",
            "--config",
            gw_cfg.to_str().unwrap(),
            "--name",
            "edge-2",
            "--control",
            &control,
            "--ca",
            data.join("ca.pem").to_str().unwrap(),
        ],
        &[("RAMPART_TOKEN", token.trim())],
    );
    gw.wait_for_port(Ports::addr(gw_http), WAIT).await;
    assert_eq!(get(gw_http, "/anything").await.status(), Some(200));

    let mut seen = false;
    for _ in 0..50 {
        let mut st = RampartProcess::spawn(
            BIN,
            &[
                "status",
                "--control",
                &control,
                "--ca",
                data.join("ca.pem").to_str().unwrap(),
                "--json",
            ],
            &[("RAMPART_TOKEN", token.trim())],
        );
        st.wait_exit(WAIT).await;
        let v: serde_json::Value = serde_json::from_str(&st.stdout()).unwrap_or_default();
        if v["proxies"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["name"] == "edge-2" && p["connected"] == true)
        }) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        seen,
        "the standalone gateway never showed up as connected:\n{}",
        gw.output()
    );
}
