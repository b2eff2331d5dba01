//! What the server refuses, checked with real clients configured for it: `openssl s_client`
//! for old protocols and non-AEAD suites, rustls for the post-quantum key exchange.

use std::{net::SocketAddr, process::Stdio, sync::Arc, time::Duration};

use rampart_identity::{LocalCa, client_config, load_certified_key};
use rustls::{ClientConfig, NamedGroup, RootCertStore, crypto::aws_lc_rs};
use tokio::process::Command;

use crate::support::{connect, echo, openssl_rsa, serve, single};

/// Runs `openssl s_client` against `addr` with `args` and stdin closed; returns whether the
/// handshake completed and what openssl printed.
async fn s_client(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let connect = addr.to_string();
    let run = Command::new("/usr/bin/openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("openssl s_client timed out")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

async fn assert_accepted(addr: SocketAddr, args: &[&str], protocol: &str) {
    let (ok, out) = s_client(addr, args).await;
    assert!(ok, "{args:?} failed:\n{out}");
    assert!(
        out.contains(&format!("New, {protocol}, Cipher is ")),
        "{args:?}:\n{out}"
    );
}

async fn assert_refused(addr: SocketAddr, args: &[&str]) {
    let (ok, out) = s_client(addr, args).await;
    assert!(!ok, "{args:?} succeeded:\n{out}");
    // The connection was made and a handshake attempted, but none was agreed.
    assert!(out.contains("Cipher is (NONE)"), "{args:?}:\n{out}");
}

/// The refusals, with the accepted cases as the control that the server is up and this
/// `key_type`'s TLS 1.2 suites work.
async fn check_protocols_and_suites(addr: SocketAddr, key_type: &str) {
    assert_accepted(addr, &["-tls1_3"], "TLSv1.3").await;
    assert_accepted(addr, &["-tls1_2"], "TLSv1.2").await;
    let (_, out) = s_client(addr, &["-tls1_2"]).await;
    assert!(
        out.contains(&format!("Cipher is ECDHE-{key_type}-")),
        "{out}"
    );

    assert_refused(addr, &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]).await;
    assert_refused(addr, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]).await;
    assert_refused(addr, &["-tls1_2", "-cipher", "AES128-SHA"]).await;
    assert_refused(addr, &["-tls1_2", "-cipher", "AES128-GCM-SHA256"]).await;
    let cbc = format!("ECDHE-{key_type}-AES128-SHA256");
    assert_refused(addr, &["-tls1_2", "-cipher", &cbc]).await;
    let cbc = format!("ECDHE-{key_type}-AES128-SHA");
    assert_refused(addr, &["-tls1_2", "-cipher", &cbc]).await;
}

#[tokio::test]
async fn ecdsa_server_refuses_old_protocols_and_non_aead_suites() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let ck = ca.issue_server_cert(&["localhost".to_owned()]).unwrap();
    let addr = serve(single(ck)).await;
    check_protocols_and_suites(addr, "ECDSA").await;
}

#[tokio::test]
async fn rsa_server_refuses_old_protocols_and_non_aead_suites() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_rsa(tmp.path(), 2048, false);
    let addr = serve(single(load_certified_key(&cert, &key).unwrap())).await;
    check_protocols_and_suites(addr, "RSA").await;
}

/// A rustls client with its default settings gets the post-quantum hybrid group; one that
/// offers only classical groups still connects.
#[tokio::test]
async fn tls13_negotiates_the_post_quantum_hybrid() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let ck = ca.issue_server_cert(&["localhost".to_owned()]).unwrap();
    let addr = serve(single(ck)).await;
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();

    let client = |provider: rustls::crypto::CryptoProvider| {
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth()
    };
    let mut tls = connect(client(aws_lc_rs::default_provider()), addr, "localhost")
        .await
        .unwrap();
    let conn = tls.get_ref().1;
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let group = conn.negotiated_key_exchange_group().unwrap().name();
    assert_eq!(group, NamedGroup::X25519MLKEM768);
    echo(&mut tls, b"pq").await;

    // Rampart's own client configuration offers the hybrid first too.
    let ours = client_config(Some(ca.cert_path()), false, Vec::new()).unwrap();
    let tls = connect(ours, addr, "localhost").await.unwrap();
    let group = tls
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name();
    assert_eq!(group, NamedGroup::X25519MLKEM768);

    let classical = rustls::crypto::CryptoProvider {
        kx_groups: vec![aws_lc_rs::kx_group::SECP256R1],
        ..aws_lc_rs::default_provider()
    };
    let tls = connect(client(classical), addr, "localhost").await.unwrap();
    let group = tls
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name();
    assert_eq!(group, NamedGroup::secp256r1);
}
