//! TLS listeners: ALPN (h2 and HTTP/1.1), SNI certificate choice, refused old protocols and
//! weak suites, certificate reload, and certificates issued by a local CA.

use crate::support::{Gw, H1, H2, config, metric};
use rampart_identity::LocalCa;
use rampart_testkit::{RecordingUpstream, TestCa, TestCert};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A gateway with an HTTPS listener serving `certs` (first one is the default).
fn tls_config(dir: &Path, certs: &[&TestCert], upstream: SocketAddr) -> rampart_config::Config {
    let files: String = certs
        .iter()
        .map(|c| {
            let (cert, key) = c.write_to(dir);
            format!(
                "        - {{ cert: \"{}\", key: \"{}\" }}\n",
                cert.display(),
                key.display()
            )
        })
        .collect();
    config(&format!(
        "listeners:\n  - {{ name: http, address: \"127.0.0.1:0\" }}\n  - name: https\n    address: \"127.0.0.2:0\"\n    tls:\n      certificates:\n{files}{}",
        crate::support::one_route(upstream)
    ))
}

async fn connect(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    sni: &str,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let mut cfg = (*client).clone();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake timed out")
    .unwrap_or_else(|e| panic!("TLS handshake with {sni} failed: {e}"))
}

fn peer_cert(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("a server certificate")[0]
        .clone()
        .into_owned()
}

/// Runs `openssl s_client` against `addr`; whether it succeeded, and its output.
async fn s_client(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let run = tokio::process::Command::new("/usr/bin/openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("openssl s_client hung")
        .expect("run /usr/bin/openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn h2_and_http11_by_alpn_with_the_certificate_chosen_by_sni() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let a = ca.issue(&["a.test", "localhost"]);
    let b = ca.issue(&["b.test"]);
    let up = RecordingUpstream::start();
    let gw = Gw::start_config(tls_config(dir.path(), &[&a, &b], up.addr()), None).await;
    let addr = gw.listener("https");

    // h2 by ALPN.
    let tls = connect(addr, ca.client_config(), "a.test", &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert!(
        peer_cert(&tls) == a.cert_der(),
        "SNI a.test got the wrong certificate"
    );
    let mut h2 = H2::handshake(tls).await;
    let r = h2.get("https://a.test/over-h2").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.version, http::Version::HTTP_2);
    let seen = up.requests().pop().unwrap();
    assert_eq!(seen.path, "/over-h2");
    assert_eq!(seen.header_str("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header_str("host"), Some("a.test"));

    // HTTP/1.1 by ALPN, with the other certificate.
    let tls = connect(addr, ca.client_config(), "b.test", &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert!(
        peer_cert(&tls) == b.cert_der(),
        "SNI b.test got the wrong certificate"
    );
    let mut h1 = H1::handshake(tls).await;
    let r = h1.get("/over-h1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.requests().pop().unwrap().path, "/over-h1");

    // No ALPN at all: HTTP/1.1.
    let tls = connect(addr, ca.client_config(), "localhost", &[]).await;
    assert!(peer_cert(&tls) == a.cert_der());
    assert_eq!(H1::handshake(tls).await.get("/no-alpn").await.status, 200);
}

#[tokio::test]
async fn old_protocols_and_weak_suites_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let a = ca.issue(&["a.test"]);
    let up = RecordingUpstream::start();
    let gw = Gw::start_config(tls_config(dir.path(), &[&a], up.addr()), None).await;
    let addr = gw.listener("https");

    let refused: [&[&str]; 3] = [
        &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
        &["-tls1_2", "-cipher", "AES128-SHA"],
    ];
    for (i, args) in refused.iter().enumerate() {
        let (ok, out) = s_client(addr, &[args, &["-servername", "a.test"][..]].concat()).await;
        assert!(!ok, "{args:?} was accepted:\n{out}");
        // The gateway saw the attempt and refused it (not just a client that never tried).
        let text = gw.metrics().await;
        let errors = metric(
            &text,
            "rampart_tls_handshake_errors_total",
            &[("listener", "https")],
        )
        .unwrap_or(0.0);
        assert!(
            errors >= (i + 1) as f64,
            "{args:?}: no handshake error counted ({errors}):\n{out}"
        );
    }

    let (ok, out) = s_client(addr, &["-tls1_3", "-servername", "a.test"]).await;
    assert!(ok && out.contains("TLSv1.3"), "TLS 1.3 failed:\n{out}");
    let (ok, out) = s_client(addr, &["-tls1_2", "-servername", "a.test"]).await;
    assert!(
        ok && out.contains("ECDHE"),
        "TLS 1.2 with an AEAD suite failed:\n{out}"
    );
}

#[tokio::test]
async fn reloaded_certificates_serve_new_connections_and_keep_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let first = ca.issue(&["a.test"]);
    let up = RecordingUpstream::start();
    let gw = Gw::start_config(tls_config(dir.path(), &[&first], up.addr()), None).await;
    let addr = gw.listener("https");

    let tls = connect(addr, ca.client_config(), "a.test", &[b"http/1.1"]).await;
    assert!(peer_cert(&tls) == first.cert_der());
    let mut old = H1::handshake(tls).await;
    assert_eq!(old.get("/before").await.status, 200);

    // Same names, same file paths, new certificate and key.
    let second = ca.issue(&["a.test"]);
    second.write_to(dir.path());
    assert_eq!(gw.handle.reload(&gw.config).unwrap(), 2);
    assert_eq!(gw.handle.config_version(), 2);

    let tls = connect(addr, ca.client_config(), "a.test", &[b"http/1.1"]).await;
    assert!(
        peer_cert(&tls) == second.cert_der(),
        "a new connection still got the old certificate"
    );
    assert_eq!(H1::handshake(tls).await.get("/new").await.status, 200);

    // The connection opened before the reload keeps working.
    assert!(old.is_open());
    assert_eq!(old.get("/after").await.status, 200);
    assert_eq!(up.count(), 3);
}

#[tokio::test]
async fn a_broken_certificate_file_is_refused_by_reload_and_the_old_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let first = ca.issue(&["a.test"]);
    let up = RecordingUpstream::start();
    let gw = Gw::start_config(tls_config(dir.path(), &[&first], up.addr()), None).await;
    let addr = gw.listener("https");

    // A key that does not belong to the certificate.
    let other = ca.issue(&["a.test"]);
    let (_, key) = first.write_to(dir.path());
    std::fs::write(&key, &other.key_pem).unwrap();
    assert!(gw.handle.reload(&gw.config).is_err());
    assert_eq!(gw.handle.config_version(), 1);
    let tls = connect(addr, ca.client_config(), "a.test", &[]).await;
    assert!(peer_cert(&tls) == first.cert_der());
}

#[tokio::test]
async fn a_listener_without_certificates_gets_one_from_the_local_ca() {
    let dir = tempfile::tempdir().unwrap();
    let local_ca = Arc::new(LocalCa::load_or_create(&dir.path().join("ca")).unwrap());
    let up = RecordingUpstream::start();
    let cfg = config(&format!(
        "listeners:\n  - {{ name: http, address: \"127.0.0.1:0\" }}\n  - {{ name: https, address: \"127.0.0.2:0\", tls: {{}} }}\n{}",
        crate::support::one_route(up.addr())
    ));

    // Without a CA to issue one, such a listener cannot start.
    let refused = rampart_proxy::Gateway::start(
        &cfg,
        rampart_proxy::GatewayOptions {
            name: "t".into(),
            bus: rampart_events::EventBus::new(16),
            local_ca: None,
            mesh: None,
        },
    )
    .await;
    assert!(
        matches!(refused, Err(rampart_proxy::ProxyError::NoCertificate(_))),
        "{refused:?}"
    );

    let gw = Gw::start_config(cfg, Some(local_ca.clone())).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(local_ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = connect(
        gw.listener("https"),
        Arc::new(client),
        "localhost",
        &[b"h2"],
    )
    .await;
    let r = H2::handshake(tls)
        .await
        .get("https://localhost/local-ca")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(up.requests()[0].path, "/local-ca");
}

#[tokio::test]
async fn framing_is_checked_over_tls_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let a = ca.issue(&["a.test"]);
    let up = RecordingUpstream::start();
    let cfg = tls_config(dir.path(), &[&a], up.addr());
    let gw = Gw::start_config(cfg, None).await;

    let mut tls = connect(
        gw.listener("https"),
        ca.client_config(),
        "a.test",
        &[b"http/1.1"],
    )
    .await;
    tls.write_all(b"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut reply))
        .await
        .expect("connection left open");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    assert_eq!(up.count(), 0);
}
