//! CSR → SVID: the CA sets every field itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_identity::{
    DEFAULT_SVID_TTL, SvidError, make_csr, renewal_time, sign_svid_csr, verify_svid,
};
use rcgen::{
    BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA512, PKCS_ED25519, PublicKeyData, SanType,
};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer};

use crate::support::{bundle, id, td, test_ca};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn svid_has_exactly_the_spiffe_fields_whatever_the_csr_asks() {
    let ca = test_ca();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    // A greedy CSR: another identity, a DNS name, CA status and keyCertSign.
    let mut params = CertificateParams::new(vec!["admin.example.org".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::URI(
        "spiffe://td/ns/kube-system/sa/admin".try_into().unwrap(),
    ));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let csr = params.serialize_request(&key).unwrap();

    let billing = id("billing");
    let der = sign_svid_csr(&ca.ca, csr.der(), &billing, DEFAULT_SVID_TTL).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI("spiffe://td/ns/a/sa/billing")]
    );
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_encipherment() && !ku.value.key_cert_sign() && !ku.value.crl_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert!(!eku.any && !eku.code_signing && eku.other.is_empty());

    let now = now_secs();
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    assert!(
        (now - 60 - 5..=now - 60).contains(&not_before),
        "{not_before} vs {now}"
    );
    assert!(
        (now + 3_600 - 5..=now + 3_600).contains(&not_after),
        "{not_after} vs {now}"
    );

    assert_eq!(cert.raw_serial().len(), 16);
    let (_, ca_cert) = X509Certificate::from_der(ca.ca.cert_der()).unwrap();
    assert_eq!(cert.issuer(), ca_cert.subject());
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice()
    );

    let bundle = bundle(&[&ca]);
    assert_eq!(
        verify_svid(std::slice::from_ref(&der), &bundle, SystemTime::now()).unwrap(),
        billing
    );
    let renew = renewal_time(&der).unwrap();
    let half = Duration::from_secs(1_830); // (3600 + 60) / 2 after notBefore
    let expected = UNIX_EPOCH + Duration::from_secs(not_before as u64) + half;
    assert_eq!(renew, expected);
}

#[test]
fn serials_are_random() {
    let ca = test_ca();
    let (_, csr) = make_csr().unwrap();
    let a = sign_svid_csr(&ca.ca, &csr, &id("x"), DEFAULT_SVID_TTL).unwrap();
    let b = sign_svid_csr(&ca.ca, &csr, &id("x"), DEFAULT_SVID_TTL).unwrap();
    let serial = |der| {
        X509Certificate::from_der(der)
            .unwrap()
            .1
            .raw_serial()
            .to_vec()
    };
    assert_ne!(serial(&a), serial(&b));
}

#[test]
fn p384_and_ed25519_keys_are_signed_with_their_own_key_type() {
    let ca = test_ca();
    for alg in [&PKCS_ECDSA_P384_SHA384, &PKCS_ED25519] {
        let key = KeyPair::generate_for(alg).unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap();
        let der = sign_svid_csr(&ca.ca, csr.der(), &id("x"), DEFAULT_SVID_TTL).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            cert.public_key().raw,
            key.subject_public_key_info().as_slice()
        );
        verify_svid(
            std::slice::from_ref(&der),
            &bundle(&[&ca]),
            SystemTime::now(),
        )
        .unwrap();
    }
}

#[test]
fn forged_csr_is_refused() {
    let ca = test_ca();
    let (_, csr) = make_csr().unwrap();
    let mut forged = csr.to_vec();
    // The last byte belongs to the signature.
    *forged.last_mut().unwrap() ^= 0x01;
    let err = sign_svid_csr(&ca.ca, &forged, &id("x"), DEFAULT_SVID_TTL).unwrap_err();
    assert!(matches!(err, SvidError::CsrSignature), "{err:?}");

    let err = sign_svid_csr(&ca.ca, b"not a csr", &id("x"), DEFAULT_SVID_TTL).unwrap_err();
    assert!(matches!(err, SvidError::InvalidCsr { .. }), "{err:?}");
}

#[test]
fn unsupported_keys_are_refused() {
    let ca = test_ca();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap();
    let err = sign_svid_csr(&ca.ca, csr.der(), &id("x"), DEFAULT_SVID_TTL).unwrap_err();
    assert!(matches!(err, SvidError::UnsupportedKey { .. }), "{err:?}");
    assert!(err.to_string().contains("unsupported key type"), "{err}");
}

#[test]
fn trust_domain_ids_are_not_issued() {
    let ca = test_ca();
    let (_, csr) = make_csr().unwrap();
    let err = sign_svid_csr(&ca.ca, &csr, &td().id(), DEFAULT_SVID_TTL).unwrap_err();
    assert!(matches!(err, SvidError::TrustDomainId { .. }), "{err:?}");
}
