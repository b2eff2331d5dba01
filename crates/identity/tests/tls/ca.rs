//! The local CA: files, permissions, reload and certificates that verify.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use rampart_identity::{IdentityError, LocalCa, client_config};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::support::{alpn, connect, echo, peer_cert, san_names, serve, single};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_then_reloads_the_same_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data/ca");

    let created = LocalCa::load_or_create(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(created.cert_path(), dir.join("ca.pem"));
    assert_eq!(
        fs::read_to_string(created.cert_path()).unwrap(),
        created.cert_pem()
    );
    assert!(
        created
            .cert_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let (_, x509) = X509Certificate::from_der(created.cert_der()).unwrap();
    assert!(x509.is_ca());
    assert_eq!(x509.subject().to_string(), "CN=Rampart local CA");
    let usage = x509.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign());
    let years = (x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp())
        / (365 * 86_400);
    assert_eq!(years, 10);

    let reloaded = LocalCa::load_or_create(&dir).unwrap();
    assert_eq!(reloaded.cert_pem(), created.cert_pem());
    assert_eq!(reloaded.cert_der(), created.cert_der());
}

#[test]
fn debug_does_not_print_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let key_pem = fs::read_to_string(tmp.path().join("ca-key.pem")).unwrap();
    let debug = format!("{ca:?}");
    assert!(!debug.contains("PRIVATE KEY"));
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line), "debug output shows key material");
    }
}

#[test]
fn refuses_a_key_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(tmp.path()).unwrap();
    let key = tmp.path().join("ca-key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();

    let err = LocalCa::load_or_create(tmp.path()).unwrap_err();
    assert!(
        matches!(err, IdentityError::KeyPermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&key.display().to_string()),
        "{err}"
    );
}

#[test]
fn never_overwrites_a_key_without_its_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(tmp.path()).unwrap();
    let key = fs::read(tmp.path().join("ca-key.pem")).unwrap();
    fs::remove_file(tmp.path().join("ca.pem")).unwrap();

    let err = LocalCa::load_or_create(tmp.path()).unwrap_err();
    assert!(matches!(err, IdentityError::CaIncomplete { .. }), "{err:?}");
    assert!(err.to_string().contains("ca.pem"), "{err}");
    assert_eq!(fs::read(tmp.path().join("ca-key.pem")).unwrap(), key);
}

#[test]
fn refuses_a_certificate_of_another_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    LocalCa::load_or_create(&one).unwrap();
    LocalCa::load_or_create(&two).unwrap();
    fs::copy(two.join("ca.pem"), one.join("ca.pem")).unwrap();

    let err = LocalCa::load_or_create(&one).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn issued_certificates_have_server_properties() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from);
    let ck = ca.issue_server_cert(&names).unwrap();
    let (_, x509) = X509Certificate::from_der(&ck.cert[0]).unwrap();

    assert!(!x509.is_ca());
    assert_eq!(x509.subject().to_string(), "CN=localhost");
    assert!(
        x509.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert!(x509.key_usage().unwrap().unwrap().value.digital_signature());
    let days =
        (x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp()) / 86_400;
    assert_eq!(days, 90);
    assert_eq!(
        san_names(&ck.cert[0]),
        ["localhost", "127.0.0.1", "::1"].map(|n| n.to_string())
    );

    assert!(matches!(
        ca.issue_server_cert(&[]),
        Err(IdentityError::NoNames)
    ));
    let bad = ca
        .issue_server_cert(&["not a name".to_owned()])
        .unwrap_err();
    assert!(matches!(bad, IdentityError::InvalidName { .. }), "{bad:?}");
}

/// A client trusting only the CA accepts the issued certificate, for a DNS name and for an IP
/// address, even when the CA was reloaded from disk before issuing.
#[tokio::test]
async fn issued_certificate_verifies_against_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(tmp.path()).unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let ck = ca
        .issue_server_cert(&["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    let addr = serve(single(ck.clone())).await;
    let client = client_config(Some(ca.cert_path()), false, alpn()).unwrap();

    for name in ["localhost", "127.0.0.1"] {
        let mut tls = connect(client.clone(), addr, name).await.unwrap();
        assert_eq!(peer_cert(&tls), ck.cert[0]);
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        echo(&mut tls, name.as_bytes()).await;
    }

    // A name the certificate is not for, and a client trusting another CA, are refused.
    assert!(connect(client, addr, "other.test").await.is_err());
    let other = LocalCa::load_or_create(&tmp.path().join("other")).unwrap();
    let stranger = client_config(Some(other.cert_path()), false, alpn()).unwrap();
    assert!(connect(stranger, addr, "localhost").await.is_err());
}
