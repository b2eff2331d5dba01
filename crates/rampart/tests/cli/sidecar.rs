//! `rampart sidecar` end to end: a control plane (`rampart up`), two sidecars and their apps
//! on loopback, as separate processes.

use crate::support::*;
use rampart_core::spiffe::SpiffeId;
use rampart_identity::{SpiffeServerVerifier, SvidSource, TrustBundle};
use rampart_testkit::process::{RampartProcess, free_port};
use rampart_testkit::raw::{RawReply, send_raw};
use rampart_testkit::{RecordingUpstream, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep, timeout};

const TRUST_DOMAIN: &str = "rampart.local";

/// A control plane started with `rampart up`.
struct Control {
    process: RampartProcess,
    url: String,
    ca: PathBuf,
    admin_token: String,
    _tmp: tempfile::TempDir,
}

/// The ports of one sidecar.
#[derive(Clone, Copy)]
struct SidecarPorts {
    inbound: u16,
    outbound: u16,
    admin: u16,
}

impl Control {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ports = Ports::new();
        let file = write(tmp.path(), "rampart.yaml", &config(&ports, "mesh"));
        let data = tmp.path().join("data");
        let process = up(&file, &data, &ports).await;
        let admin_token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            process,
            url: format!("https://127.0.0.1:{}", ports.control),
            ca: data.join("ca.pem"),
            admin_token,
            _tmp: tmp,
        }
    }

    /// A one-time join token for `service` in namespace `default`.
    async fn join_token(&self, service: &str) -> String {
        let mut p = RampartProcess::spawn(
            BIN,
            &[
                "identity",
                "join-token",
                "--service",
                service,
                "--control",
                &self.url,
                "--ca",
                self.ca.to_str().unwrap(),
                "--json",
            ],
            &[("RAMPART_TOKEN", &self.admin_token)],
        );
        let status = p.wait_exit(WAIT).await.expect("join-token exits");
        assert!(status.success(), "{}", p.output());
        let v: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }
}

impl SidecarPorts {
    fn new() -> Self {
        Self {
            inbound: free_port(),
            outbound: free_port(),
            admin: free_port(),
        }
    }
}

/// Starts `rampart sidecar` for `service` in front of `app`, with `token` (if any) in the
/// environment, and waits until it is up. The process's own directory is not used for data.
fn spawn_sidecar(
    control: &Control,
    service: &str,
    app: &RecordingUpstream,
    ports: SidecarPorts,
    data: &Path,
    token: Option<&str>,
) -> RampartProcess {
    let inbound = format!("127.0.0.1:{}", ports.inbound);
    let outbound = format!("127.0.0.1:{}", ports.outbound);
    let admin = format!("127.0.0.1:{}", ports.admin);
    let app = app.addr().to_string();
    let args = [
        "sidecar",
        "--service",
        service,
        "--app",
        &app,
        "--control",
        &control.url,
        "--inbound",
        &inbound,
        "--outbound",
        &outbound,
        "--admin",
        &admin,
        "--data-dir",
        data.to_str().unwrap(),
        "--drain",
        "2s",
    ];
    let env: Vec<(&str, &str)> = match token {
        Some(t) => vec![("RAMPART_JOIN_TOKEN", t), ("RAMPART_LOG", "info")],
        None => vec![("RAMPART_LOG", "info")],
    };
    RampartProcess::spawn(BIN, &args, &env)
}

async fn wait_up(p: &mut RampartProcess, ports: SidecarPorts) {
    p.wait_for_line("sidecar", WAIT).await;
    p.wait_for_line("identity", WAIT).await;
    p.wait_for_port(Ports::addr(ports.inbound), WAIT).await;
    p.wait_for_port(Ports::addr(ports.outbound), WAIT).await;
}

/// `GET path` on the outbound listener at `port` with `Host: host`.
async fn call(port: u16, host: &str, path: &str) -> RawReply {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(5)).await
}

/// Calls until the answer is 200 (the target's registration and the caller's snapshot take
/// a moment), or panics with the last answer after `limit`.
async fn call_until_ok(port: u16, host: &str, path: &str, limit: Duration) -> RawReply {
    let deadline = Instant::now() + limit;
    loop {
        let reply = call(port, host, path).await;
        if reply.status() == Some(200) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "no 200 from {host} via port {port} within {limit:?}; last reply: {reply:?}"
        );
        sleep(Duration::from_millis(200)).await;
    }
}

fn spiffe(service: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/{service}")
}

/// The trust bundle a sidecar keeps in its data directory.
fn bundle_of(data: &Path) -> TrustBundle {
    let pem = std::fs::read(data.join("bundle.pem")).unwrap();
    let mut bundle =
        TrustBundle::new(rampart_core::spiffe::TrustDomain::parse(TRUST_DOMAIN).unwrap());
    for cert in CertificateDer::pem_slice_iter(&pem) {
        bundle.add(cert.unwrap()).unwrap();
    }
    bundle
}

/// A TLS 1.3 client that checks the server is `expected` in `bundle` and presents
/// `client` (chain and key), or nothing.
fn client_config(
    expected: &str,
    bundle: TrustBundle,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Arc<rustls::ClientConfig> {
    let verifier = SpiffeServerVerifier::new(SpiffeId::parse(expected).unwrap(), bundle.shared());
    let builder = rustls::ClientConfig::builder_with_provider(rampart_identity::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Sends one request over TLS to `port` and returns what came back, or the error that ended
/// the exchange (handshake, alert, reset).
async fn tls_get(port: u16, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(Ports::addr(port))
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("b.default").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tls.write_all(b"GET /direct HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The secret part of a join token (`rampart-join.<id>.<secret>.<pin>`).
fn secret_of(token: &str) -> &str {
    token.split('.').nth(2).unwrap()
}

#[tokio::test]
async fn a_calls_b_through_two_sidecars_over_mtls() {
    let control = Control::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let (ports_a, ports_b) = (SidecarPorts::new(), SidecarPorts::new());
    let (data_a, data_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let token_a = control.join_token("a").await;
    let token_b = control.join_token("b").await;
    let mut sidecar_b = spawn_sidecar(&control, "b", &app_b, ports_b, &data_b, Some(&token_b));
    wait_up(&mut sidecar_b, ports_b).await;
    let mut sidecar_a = spawn_sidecar(&control, "a", &app_a, ports_a, &data_a, Some(&token_a));
    wait_up(&mut sidecar_a, ports_a).await;
    assert!(
        sidecar_a.stdout().contains(&spiffe("a")),
        "{}",
        sidecar_a.output()
    );

    // App A calls B by name through its sidecar; B's app sees A's identity.
    let reply = call_until_ok(ports_a.outbound, "b", "/orders?id=1", WAIT).await;
    assert!(
        reply.text().contains("x-upstream: app-b"),
        "{}",
        reply.text()
    );
    let seen = app_b.requests().last().cloned().unwrap();
    assert_eq!(seen.path, "/orders?id=1");
    assert_eq!(
        seen.header_str("x-rampart-peer-id"),
        Some(spiffe("a").as_str())
    );
    assert_eq!(app_a.count(), 0, "nothing went to A's own app");

    // The qualified name works too; an unknown service is not routed anywhere.
    let reply = call(ports_a.outbound, "b.default", "/q").await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
    let before = app_b.count();
    let reply = call(ports_a.outbound, "nobody", "/").await;
    assert_ne!(reply.status(), Some(200), "{}", reply.text());
    assert_eq!(app_b.count(), before);

    // B's inbound port speaks only mutual TLS: plaintext gets no HTTP answer.
    let plain = call(ports_b.inbound, "b", "/plain").await;
    assert_eq!(plain.status(), None, "{plain:?}");
    assert_eq!(app_b.count(), before);

    // A TLS client with no certificate, or with one from another CA naming `a`, is refused.
    let bundle = bundle_of(&data_b);
    let no_cert = tls_get(
        ports_b.inbound,
        client_config(&spiffe("b"), bundle.clone(), None),
    )
    .await;
    assert!(
        no_cert.as_ref().map_or(true, |r| !r.contains("200 OK")),
        "{no_cert:?}"
    );
    let other_ca = TestCa::new();
    let forged = other_ca.issue(&[&spiffe("a")]);
    let forged_client = Some((vec![forged.cert_der()], forged.key_der()));
    let forged_reply = tls_get(
        ports_b.inbound,
        client_config(&spiffe("b"), bundle.clone(), forged_client),
    )
    .await;
    assert!(
        forged_reply
            .as_ref()
            .map_or(true, |r| !r.contains("200 OK")),
        "{forged_reply:?}"
    );
    assert_eq!(app_b.count(), before, "no refused client reached the app");

    // The same client with A's real SVID gets through: the refusals were about the certificate.
    let chain: Vec<_> =
        CertificateDer::pem_slice_iter(&std::fs::read(data_a.join("svid.pem")).unwrap())
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(data_a.join("svid-key.pem")).unwrap();
    let svid = SvidSource::new(chain.clone(), key.clone_key()).unwrap();
    assert_eq!(svid.spiffe_id().to_string(), spiffe("a"));
    let real = tls_get(
        ports_b.inbound,
        client_config(&spiffe("b"), bundle, Some((chain, key))),
    )
    .await;
    let real = real.unwrap();
    assert!(real.starts_with("HTTP/1.1 200"), "{real}");
    assert_eq!(app_b.count(), before + 1);

    // What the sidecar keeps on disk is private, and no output shows a token's secret.
    assert_eq!(mode(&data_a), 0o700);
    assert_eq!(mode(&data_a.join("svid-key.pem")), 0o600);
    for f in ["svid.pem", "bundle.pem", "pin", "snapshot.json"] {
        assert!(data_a.join(f).is_file(), "{f} missing");
    }
    for (p, t) in [(&sidecar_a, &token_a), (&sidecar_b, &token_b)] {
        assert!(
            !p.output().contains(secret_of(t)),
            "a join token was printed"
        );
    }
    assert!(!control.process.output().contains(secret_of(&token_a)));

    // SIGTERM drains and exits cleanly.
    sidecar_a.signal("TERM");
    let exit = sidecar_a
        .wait_exit(WAIT)
        .await
        .expect("exits after SIGTERM");
    assert!(exit.success(), "{}", sidecar_a.output());
}

#[tokio::test]
async fn join_tokens_are_single_use_and_required_without_a_kept_svid() {
    let control = Control::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let app = RecordingUpstream::start();
    let token = control.join_token("a").await;
    let ports = SidecarPorts::new();
    let mut first = spawn_sidecar(
        &control,
        "a",
        &app,
        ports,
        &tmp.path().join("1"),
        Some(&token),
    );
    wait_up(&mut first, ports).await;

    // The same token again, from a fresh data directory, is refused.
    let ports2 = SidecarPorts::new();
    let mut replay = spawn_sidecar(
        &control,
        "a",
        &app,
        ports2,
        &tmp.path().join("2"),
        Some(&token),
    );
    let exit = replay
        .wait_exit(WAIT)
        .await
        .expect("a refused sidecar exits");
    assert!(!exit.success());
    let err = replay.stderr();
    assert!(err.contains("refused"), "{err}");
    assert!(
        !err.contains(secret_of(&token)),
        "the token was echoed: {err}"
    );
    assert!(!tmp.path().join("2/svid.pem").exists());

    // No token and nothing kept: a clear error.
    let ports3 = SidecarPorts::new();
    let mut bare = spawn_sidecar(&control, "a", &app, ports3, &tmp.path().join("3"), None);
    let exit = bare.wait_exit(WAIT).await.expect("exits without a token");
    assert!(!exit.success());
    assert!(bare.stderr().contains("join token"), "{}", bare.stderr());

    // A token for another service is not accepted as this one's identity.
    let token_b = control.join_token("b").await;
    let ports4 = SidecarPorts::new();
    let mut wrong = spawn_sidecar(
        &control,
        "a",
        &app,
        ports4,
        &tmp.path().join("4"),
        Some(&token_b),
    );
    let exit = wrong
        .wait_exit(WAIT)
        .await
        .expect("exits with a wrong token");
    assert!(!exit.success());
    assert!(wrong.stderr().contains(&spiffe("b")), "{}", wrong.stderr());
    assert!(!tmp.path().join("4/svid-key.pem").exists());
}

#[tokio::test]
async fn sidecars_restarted_while_the_control_plane_is_down_resume_and_serve() {
    let mut control = Control::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let (ports_a, ports_b) = (SidecarPorts::new(), SidecarPorts::new());
    let (data_a, data_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let token_a = control.join_token("a").await;
    let token_b = control.join_token("b").await;
    let mut sidecar_b = spawn_sidecar(&control, "b", &app_b, ports_b, &data_b, Some(&token_b));
    wait_up(&mut sidecar_b, ports_b).await;
    let mut sidecar_a = spawn_sidecar(&control, "a", &app_a, ports_a, &data_a, Some(&token_a));
    wait_up(&mut sidecar_a, ports_a).await;
    call_until_ok(ports_a.outbound, "b", "/before", WAIT).await;

    // The control plane goes away, then both sidecars restart, without tokens.
    control.process.kill();
    sidecar_a.signal("TERM");
    sidecar_b.signal("TERM");
    assert!(
        sidecar_a.wait_exit(WAIT).await.is_some(),
        "{}",
        sidecar_a.output()
    );
    assert!(
        sidecar_b.wait_exit(WAIT).await.is_some(),
        "{}",
        sidecar_b.output()
    );
    let mut sidecar_b = spawn_sidecar(&control, "b", &app_b, ports_b, &data_b, None);
    wait_up(&mut sidecar_b, ports_b).await;
    let mut sidecar_a = spawn_sidecar(&control, "a", &app_a, ports_a, &data_a, None);
    wait_up(&mut sidecar_a, ports_a).await;
    assert!(
        sidecar_a.stdout().contains("resumed"),
        "{}",
        sidecar_a.output()
    );
    assert!(
        sidecar_b.stdout().contains("resumed"),
        "{}",
        sidecar_b.output()
    );

    // A still reaches B, from the kept SVIDs and the last-known-good snapshot.
    let reply = call_until_ok(ports_a.outbound, "b", "/after", Duration::from_secs(10)).await;
    assert!(
        reply.text().contains("x-upstream: app-b"),
        "{}",
        reply.text()
    );
    let seen = app_b.requests().last().cloned().unwrap();
    assert_eq!(seen.path, "/after");
    assert_eq!(
        seen.header_str("x-rampart-peer-id"),
        Some(spiffe("a").as_str())
    );
}
