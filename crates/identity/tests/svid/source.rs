//! The workload's own SVID: checks on load, replacement, and what it shows.

use std::time::SystemTime;

use rampart_identity::{SvidError, SvidSource, expiry_time, renewal_time, serial_hex};
use rustls::{SignatureScheme, client::ResolvesClientCert};

use crate::support::{id, issue, test_ca};

#[test]
fn holds_the_svid_and_reads_its_leaf() {
    let ca = test_ca();
    let svid = issue(&ca, &id("billing"));
    let source = SvidSource::new(svid.chain.clone(), svid.key.clone_key()).unwrap();
    assert_eq!(source.spiffe_id(), id("billing"));
    assert_eq!(source.chain(), svid.chain);
    assert_eq!(source.certified_key().cert, svid.chain);
    assert_eq!(source.serial(), serial_hex(&svid.chain[0]).unwrap());
    assert_eq!(source.expires_at(), expiry_time(&svid.chain[0]).unwrap());
    assert_eq!(source.renew_at(), renewal_time(&svid.chain[0]).unwrap());
    assert!(source.renew_at() > SystemTime::now() && source.renew_at() < source.expires_at());
    assert!(ResolvesClientCert::has_certs(&*source));
    let offered =
        ResolvesClientCert::resolve(&*source, &[], &[SignatureScheme::ECDSA_NISTP256_SHA256]);
    assert_eq!(offered.unwrap().cert, svid.chain);

    let debug = format!("{source:?}");
    assert!(debug.contains("spiffe://td/ns/a/sa/billing"), "{debug}");
    assert!(!debug.to_lowercase().contains("key:"), "{debug}");
}

#[test]
fn refuses_a_key_that_does_not_match_the_leaf() {
    let ca = test_ca();
    let svid = issue(&ca, &id("billing"));
    let other = issue(&ca, &id("billing"));
    let err = SvidSource::new(svid.chain.clone(), other.key.clone_key()).unwrap_err();
    assert!(matches!(err, SvidError::KeyMismatch), "{err}");

    let source = SvidSource::new(svid.chain.clone(), svid.key.clone_key()).unwrap();
    let err = source
        .replace(other.chain.clone(), svid.key.clone_key())
        .unwrap_err();
    assert!(matches!(err, SvidError::KeyMismatch), "{err}");
    assert_eq!(source.chain(), svid.chain);
}

#[test]
fn refuses_a_certificate_without_spiffe_id() {
    let ca = test_ca();
    let server = ca.ca.issue_server_cert(&["localhost".to_owned()]).unwrap();
    let svid = issue(&ca, &id("billing"));
    let err = SvidSource::new(server.cert.clone(), svid.key.clone_key()).unwrap_err();
    assert!(matches!(err, SvidError::NoUriSan), "{err}");
    let err = SvidSource::new(Vec::new(), svid.key.clone_key()).unwrap_err();
    assert!(matches!(err, SvidError::NoCertificate), "{err}");
}

#[test]
fn replace_swaps_the_svid_but_never_the_identity() {
    let ca = test_ca();
    let first = issue(&ca, &id("billing"));
    let source = SvidSource::new(first.chain.clone(), first.key.clone_key()).unwrap();

    let renewed = issue(&ca, &id("billing"));
    source
        .replace(renewed.chain.clone(), renewed.key.clone_key())
        .unwrap();
    assert_eq!(source.chain(), renewed.chain);
    assert_eq!(source.serial(), serial_hex(&renewed.chain[0]).unwrap());

    let imposter = issue(&ca, &id("orders"));
    let err = source
        .replace(imposter.chain.clone(), imposter.key.clone_key())
        .unwrap_err();
    assert!(
        matches!(&err, SvidError::IdChanged { expected, found }
            if *expected == id("billing") && *found == id("orders")),
        "{err}"
    );
    assert_eq!(source.chain(), renewed.chain);
    assert_eq!(source.spiffe_id(), id("billing"));
}
