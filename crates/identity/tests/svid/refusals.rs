//! `verify_svid` refuses each kind of bad certificate with its own error.

use std::time::{Duration, SystemTime};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::{
    DEFAULT_SVID_TTL, SvidError, TrustBundle, make_csr, sign_svid_csr, verify_svid,
};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose, SanType};
use rustls::pki_types::CertificateDer;

use crate::support::{TestCa, bundle, id, issue, leaf_params, sign, test_ca};

const HOUR: Duration = Duration::from_secs(3_600);
const BILLING: &str = "spiffe://td/ns/a/sa/billing";

fn verify(
    cert: &CertificateDer<'static>,
    ca: &TestCa,
    now: SystemTime,
) -> Result<SpiffeId, SvidError> {
    verify_svid(std::slice::from_ref(cert), &bundle(&[ca]), now)
}

#[test]
fn a_well_formed_leaf_is_accepted() {
    let ca = test_ca();
    let cert = sign(&ca, &leaf_params(&[BILLING]));
    assert_eq!(
        verify(&cert, &ca, SystemTime::now()).unwrap(),
        id("billing")
    );
}

#[test]
fn zero_uri_sans() {
    let ca = test_ca();
    let mut params = leaf_params(&[]);
    params.subject_alt_names = vec![SanType::DnsName("billing.example.org".try_into().unwrap())];
    let err = verify(&sign(&ca, &params), &ca, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::NoUriSan), "{err:?}");
}

#[test]
fn two_uri_sans() {
    let ca = test_ca();
    let params = leaf_params(&[BILLING, "spiffe://td/ns/a/sa/orders"]);
    let err = verify(&sign(&ca, &params), &ca, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::SeveralUriSans(2)), "{err:?}");
}

#[test]
fn uri_san_that_is_not_spiffe_or_names_only_the_trust_domain() {
    let ca = test_ca();
    let err = verify(
        &sign(&ca, &leaf_params(&["https://td/x"])),
        &ca,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, SvidError::NotSpiffe { .. }), "{err:?}");
    let err = verify(
        &sign(&ca, &leaf_params(&["spiffe://td"])),
        &ca,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, SvidError::TrustDomainId { .. }), "{err:?}");
}

#[test]
fn ca_certificate_as_leaf() {
    let ca = test_ca();
    let mut params = leaf_params(&[BILLING]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let err = verify(&sign(&ca, &params), &ca, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::CaAsLeaf), "{err:?}");
    // The root itself, presented as a leaf.
    let err = verify(ca.ca.cert_der(), &ca, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::CaAsLeaf), "{err:?}");
}

#[test]
fn another_trust_domain() {
    let ours = test_ca();
    let theirs = test_ca();
    let other =
        SpiffeId::workload(&TrustDomain::parse("other.td").unwrap(), "a", "billing").unwrap();
    let svid = issue(&theirs, &other);
    let err = verify(&svid.chain[0], &ours, SystemTime::now()).unwrap_err();
    assert!(
        matches!(&err, SvidError::WrongTrustDomain { expected, found }
            if expected.as_str() == "td" && found.as_str() == "other.td"),
        "{err:?}"
    );
    // The other CA's bundle, for the other trust domain, accepts it.
    let mut other_bundle = TrustBundle::new(other.trust_domain().clone());
    other_bundle.add(theirs.ca.cert_der().clone()).unwrap();
    assert_eq!(
        verify_svid(&svid.chain, &other_bundle, SystemTime::now()).unwrap(),
        other
    );
}

#[test]
fn our_trust_domain_from_an_untrusted_ca() {
    let ours = test_ca();
    let rogue = test_ca();
    let svid = issue(&rogue, &id("billing"));
    let err = verify(&svid.chain[0], &ours, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Untrusted { .. }), "{err:?}");
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = test_ca();
    let (_, csr) = make_csr().unwrap();
    let cert = sign_svid_csr(&ca.ca, &csr, &id("billing"), DEFAULT_SVID_TTL).unwrap();
    let now = SystemTime::now();
    assert!(verify(&cert, &ca, now + HOUR - Duration::from_secs(10)).is_ok());
    let err = verify(&cert, &ca, now + 2 * HOUR).unwrap_err();
    assert!(matches!(err, SvidError::Expired), "{err:?}");
    let err = verify(&cert, &ca, now - HOUR).unwrap_err();
    assert!(matches!(err, SvidError::NotYetValid), "{err:?}");

    // A certificate whose whole validity lies in the past.
    let mut params = leaf_params(&[BILLING]);
    params.not_before = (now - 3 * HOUR).into();
    params.not_after = (now - 2 * HOUR).into();
    let err = verify(&sign(&ca, &params), &ca, now).unwrap_err();
    assert!(matches!(err, SvidError::Expired), "{err:?}");
}

#[test]
fn bad_key_usages() {
    let ca = test_ca();
    let now = SystemTime::now();
    for (usages, what) in [
        (vec![], "missing"),
        (vec![KeyUsagePurpose::KeyEncipherment], "digitalSignature"),
        (
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ],
            "keyCertSign",
        ),
        (
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign],
            "cRLSign",
        ),
    ] {
        let mut params = leaf_params(&[BILLING]);
        params.key_usages = usages;
        let err = verify(&sign(&ca, &params), &ca, now).unwrap_err();
        assert!(
            matches!(err, SvidError::KeyUsage { reason } if reason.contains(what)),
            "{what}: {err:?}"
        );
    }
    let mut params = leaf_params(&[BILLING]);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let err = verify(&sign(&ca, &params), &ca, now).unwrap_err();
    assert!(matches!(err, SvidError::ExtendedKeyUsage), "{err:?}");
}

#[test]
fn empty_chain_and_garbage() {
    let ca = test_ca();
    let err = verify_svid(&[], &bundle(&[&ca]), SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::NoCertificate), "{err:?}");
    let err = verify(
        &CertificateDer::from(b"junk".to_vec()),
        &ca,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, SvidError::Malformed { .. }), "{err:?}");
}
