//! Revoked serials: their spelling and their refusal by both SPIFFE verifiers.

use std::time::SystemTime;

use rampart_identity::{
    RevocationList, SharedRevocations, SpiffeClientVerifier, SpiffeServerVerifier, serial_hex,
};
use rustls::{
    CertificateError,
    client::danger::ServerCertVerifier,
    pki_types::{ServerName, UnixTime},
    server::danger::ClientCertVerifier,
};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::support::{bundle, id, issue, test_ca};

fn revoked(serials: &[&str]) -> SharedRevocations {
    SharedRevocations::new(RevocationList::new(serials.iter().map(|s| s.to_string())))
}

#[test]
fn serial_hex_is_the_lowercase_hex_of_the_serial_bytes() {
    let ca = test_ca();
    let svid = issue(&ca, &id("billing"));
    let serial = serial_hex(&svid.chain[0]).unwrap();
    let (_, x509) = X509Certificate::from_der(&svid.chain[0]).unwrap();
    let expected: String = x509
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // SVID serials are 16 bytes without a leading zero byte.
    assert_eq!(serial, expected);
    assert_eq!(serial.len(), 32);
    let list = RevocationList::new([serial.to_uppercase()]);
    assert!(list.is_cert_revoked(&svid.chain[0]));
    assert!(!list.is_cert_revoked(&issue(&ca, &id("billing")).chain[0]));
}

#[test]
fn client_verifier_refuses_a_revoked_serial() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let svid = issue(&ca, &id("orders"));
    let serial = serial_hex(&svid.chain[0]).unwrap();
    let revocations = revoked(&["00ff"]);
    let verifier = SpiffeClientVerifier::with_revocations(shared, revocations.clone());
    assert!(verifier.client_auth_mandatory());
    let now = UnixTime::now();
    verifier
        .verify_client_cert(&svid.chain[0], &[], now)
        .unwrap();

    revocations.store(RevocationList::new([serial]));
    let err = verifier
        .verify_client_cert(&svid.chain[0], &[], now)
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::Revoked)
    );
}

#[test]
fn server_verifier_refuses_a_revoked_serial() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let svid = issue(&ca, &id("billing"));
    let serial = serial_hex(&svid.chain[0]).unwrap();
    let revocations = SharedRevocations::default();
    let verifier =
        SpiffeServerVerifier::with_revocations(id("billing"), shared, revocations.clone());
    let name = ServerName::try_from("billing").unwrap();
    let now = UnixTime::now();
    verifier
        .verify_server_cert(&svid.chain[0], &[], &name, &[], now)
        .unwrap();

    revocations.store(RevocationList::new([format!("0000{serial}")]));
    let err = verifier
        .verify_server_cert(&svid.chain[0], &[], &name, &[], now)
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::Revoked)
    );
}

#[test]
fn plain_constructors_revoke_nothing() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let svid = issue(&ca, &id("billing"));
    let now = UnixTime::since_unix_epoch(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap(),
    );
    SpiffeClientVerifier::new(shared.clone())
        .verify_client_cert(&svid.chain[0], &[], now)
        .unwrap();
    SpiffeServerVerifier::new(id("billing"), shared)
        .verify_server_cert(
            &svid.chain[0],
            &[],
            &ServerName::try_from("billing").unwrap(),
            &[],
            now,
        )
        .unwrap();
}
