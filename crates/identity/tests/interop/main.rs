//! Our SVIDs checked by independent implementations: the OpenSSL command line and Python's
//! `cryptography` package. Both must agree that the SVID chains to the root, and that it is
//! a SPIFFE X509-SVID leaf: one URI SAN, CA:false, digitalSignature, serverAuth+clientAuth.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{fs, path::Path, process::Command, time::Duration};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{LocalCa, make_csr, sign_svid_csr};
use rustls::pki_types::CertificateDer;
use tempfile::TempDir;

const CHECK_SVID_PY: &str = include_str!("check_svid.py");

fn pem(der: &CertificateDer<'_>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

struct Issued {
    dir: TempDir,
    id: SpiffeId,
}

/// A root CA, and an SVID for `spiffe://example.org/ns/prod/sa/orders` valid one hour,
/// written as `root.pem` and `leaf.pem` in a temporary directory.
fn issue(ttl: Duration) -> Issued {
    let dir = TempDir::new().unwrap();
    let ca = LocalCa::load_or_create(&dir.path().join("ca")).unwrap();
    let td = TrustDomain::parse("example.org").unwrap();
    let id = SpiffeId::workload(&td, "prod", "orders").unwrap();
    let (_key, csr) = make_csr().unwrap();
    let leaf = sign_svid_csr(&ca, &csr, &id, ttl).unwrap();
    fs::write(dir.path().join("root.pem"), pem(ca.root_der())).unwrap();
    fs::write(dir.path().join("leaf.pem"), pem(&leaf)).unwrap();
    Issued { dir, id }
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn openssl_verify(dir: &Path, purpose: &str) -> (bool, String) {
    run(Command::new("openssl")
        .arg("verify")
        .arg("-x509_strict")
        .arg("-purpose")
        .arg(purpose)
        .arg("-CAfile")
        .arg(dir.join("root.pem"))
        .arg(dir.join("leaf.pem")))
}

#[test]
fn openssl_verifies_the_svid_for_client_and_server_use() {
    let issued = issue(Duration::from_secs(3_600));
    for purpose in ["sslclient", "sslserver"] {
        let (ok, text) = openssl_verify(issued.dir.path(), purpose);
        assert!(
            ok,
            "openssl verify -purpose {purpose} refused the SVID: {text}"
        );
        assert!(text.contains(": OK"), "{text}");
    }
}

#[test]
fn openssl_reads_exactly_one_uri_san_and_the_spiffe_key_usages() {
    let issued = issue(Duration::from_secs(3_600));
    let (ok, text) = run(Command::new("openssl")
        .args(["x509", "-noout", "-ext"])
        .arg("subjectAltName,keyUsage,extendedKeyUsage,basicConstraints")
        .arg("-in")
        .arg(issued.dir.path().join("leaf.pem")));
    assert!(ok, "{text}");
    let uri = format!("URI:{}", issued.id);
    assert_eq!(text.matches("URI:").count(), 1, "{text}");
    assert!(text.contains(&uri), "{text}");
    assert!(!text.contains("DNS:"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
}

#[test]
fn openssl_refuses_the_svid_under_another_root() {
    let issued = issue(Duration::from_secs(3_600));
    let other = issue(Duration::from_secs(3_600));
    fs::copy(
        other.dir.path().join("root.pem"),
        issued.dir.path().join("root.pem"),
    )
    .unwrap();
    let (ok, text) = openssl_verify(issued.dir.path(), "sslclient");
    assert!(!ok, "openssl accepted an SVID under a foreign root: {text}");
}

fn python_check(dir: &Path, id: &SpiffeId, ttl_secs: u64) -> (bool, String) {
    let script = dir.join("check_svid.py");
    fs::write(&script, CHECK_SVID_PY).unwrap();
    run(Command::new("python3")
        .arg(&script)
        .arg(dir.join("root.pem"))
        .arg(dir.join("leaf.pem"))
        .arg(id.to_string())
        .arg(ttl_secs.to_string()))
}

#[test]
fn python_cryptography_checks_the_svid_against_the_spiffe_rules() {
    let issued = issue(Duration::from_secs(3_600));
    let (ok, text) = python_check(issued.dir.path(), &issued.id, 3_600);
    assert!(ok, "python cryptography refused the SVID: {text}");
    assert!(text.contains("svid ok"), "{text}");
}

#[test]
fn python_cryptography_notices_a_wrong_identity() {
    let issued = issue(Duration::from_secs(3_600));
    let td = TrustDomain::parse("example.org").unwrap();
    let other = SpiffeId::workload(&td, "prod", "billing").unwrap();
    let (ok, text) = python_check(issued.dir.path(), &other, 3_600);
    assert!(!ok, "the checker accepted the wrong id: {text}");
    assert!(text.contains("uri san"), "{text}");
}
