//! First contact with a pinned CA: the server sends its root, the client trusts it only if
//! its SHA-256 is the pin.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use rampart_identity::{LocalCa, pinned_client_config};
use rustls::{CertificateError, pki_types::CertificateDer, sign::CertifiedKey};

use crate::support::{alpn, connect, echo, serve, single};

fn new_ca() -> (LocalCa, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (LocalCa::load_or_create(dir.path()).unwrap(), dir)
}

fn pin(cert: &CertificateDer<'_>) -> String {
    digest(&SHA256, cert)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn localhost() -> Vec<String> {
    vec!["localhost".to_owned()]
}

/// Connects to a server presenting `ck` with a client pinning `pin`; the client's error.
async fn refusal(ck: Arc<CertifiedKey>, pin: &str, name: &str) -> rustls::Error {
    let addr = serve(single(ck)).await;
    let config = pinned_client_config(pin, alpn(), None).unwrap();
    let err = connect(config, addr, name).await.unwrap_err();
    err.into_inner()
        .unwrap()
        .downcast::<rustls::Error>()
        .map(|e| *e)
        .unwrap()
}

#[tokio::test]
async fn accepts_a_server_sending_the_pinned_root() {
    let (ca, _dir) = new_ca();
    let ck = ca.issue_server_cert_with_root(&localhost()).unwrap();
    assert_eq!(ck.cert.len(), 2);
    assert_eq!(&ck.cert[1], ca.cert_der());
    let addr = serve(single(ck)).await;
    let config = pinned_client_config(&pin(ca.cert_der()), alpn(), None).unwrap();
    let mut tls = connect(config, addr, "localhost").await.unwrap();
    echo(&mut tls, b"hello").await;
}

#[tokio::test]
async fn refuses_a_wrong_pin() {
    let (ca, _dir) = new_ca();
    let (other, _other_dir) = new_ca();
    let ck = ca.issue_server_cert_with_root(&localhost()).unwrap();
    let err = refusal(ck, &pin(other.cert_der()), "localhost").await;
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[tokio::test]
async fn refuses_a_chain_without_the_root() {
    let (ca, _dir) = new_ca();
    let ck = ca.issue_server_cert(&localhost()).unwrap();
    assert_eq!(ck.cert.len(), 1);
    let err = refusal(ck, &pin(ca.cert_der()), "localhost").await;
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[tokio::test]
async fn refuses_another_cas_leaf_with_the_pinned_root_appended() {
    let (ca, _dir) = new_ca();
    let (rogue, _rogue_dir) = new_ca();
    let forged = rogue.issue_server_cert(&localhost()).unwrap();
    let chain = vec![forged.cert[0].clone(), ca.cert_der().clone()];
    let ck = Arc::new(CertifiedKey::new(chain, forged.key.clone()));
    let err = refusal(ck, &pin(ca.cert_der()), "localhost").await;
    // Both CAs have the same subject, so webpki tries the pinned root and its signature fails.
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::BadSignature | CertificateError::UnknownIssuer
            )
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn refuses_a_server_certificate_for_another_name() {
    let (ca, _dir) = new_ca();
    let ck = ca
        .issue_server_cert_with_root(&["control.test".to_owned()])
        .unwrap();
    let err = refusal(ck, &pin(ca.cert_der()), "localhost").await;
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
}
