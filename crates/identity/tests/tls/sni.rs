//! Certificate choice by SNI, and swapping certificates while connections are open.

use std::sync::Arc;

use rampart_identity::{IdentityError, LocalCa, SniResolver, certificate_names, client_config};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::{
    crypto::aws_lc_rs::sign::any_supported_type, pki_types::PrivateKeyDer, sign::CertifiedKey,
};

use crate::support::{alpn, connect, echo, peer_cert, san_names, serve};

/// A certificate for `names` (wildcards allowed) signed by `ca`.
fn signed(ca: &LocalCa, names: &[&str]) -> Arc<CertifiedKey> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = ca.sign(&params, &key).unwrap();
    let signing_key = any_supported_type(&PrivateKeyDer::from(key)).unwrap();
    Arc::new(CertifiedKey::new(vec![cert], signing_key))
}

fn named(cks: &[&Arc<CertifiedKey>]) -> Vec<(Vec<String>, Arc<CertifiedKey>)> {
    cks.iter()
        .map(|ck| (certificate_names(ck), Arc::clone(ck)))
        .collect()
}

#[tokio::test]
async fn picks_the_certificate_by_sni() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let a = ca.issue_server_cert(&["a.test".to_owned()]).unwrap();
    let b = ca.issue_server_cert(&["b.test".to_owned()]).unwrap();
    let w = signed(&ca, &["*.w.test"]);
    assert_eq!(certificate_names(&w), ["*.w.test"]);
    let resolver = Arc::new(SniResolver::new(named(&[&a, &b, &w])).unwrap());
    let addr = serve(resolver.clone()).await;
    let verifying = client_config(Some(ca.cert_path()), false, alpn()).unwrap();

    for (sni, expected, san) in [
        ("a.test", &a, "a.test"),
        ("b.test", &b, "b.test"),
        ("x.w.test", &w, "*.w.test"),
        ("B.Test", &b, "b.test"),
    ] {
        let mut tls = connect(verifying.clone(), addr, sni).await.unwrap();
        assert_eq!(peer_cert(&tls), expected.cert[0], "{sni}");
        assert_eq!(san_names(&peer_cert(&tls)), [san], "{sni}");
        echo(&mut tls, sni.as_bytes()).await;
    }

    // Unknown names, names deeper than a wildcard reaches, and no SNI at all (an IP address)
    // get the first certificate; a verifying client rightly refuses it for those names.
    let trusting = client_config(None, true, alpn()).unwrap();
    for sni in ["unknown.test", "y.x.w.test", "w.test", "127.0.0.1"] {
        let tls = connect(trusting.clone(), addr, sni).await.unwrap();
        assert_eq!(san_names(&peer_cert(&tls)), ["a.test"], "{sni}");
        assert!(
            connect(verifying.clone(), addr, sni).await.is_err(),
            "{sni}"
        );
    }

    // Matching ignores case and a final dot.
    assert!(Arc::ptr_eq(&resolver.select(Some("B.TEST.")), &b));
    assert!(Arc::ptr_eq(&resolver.select(Some("X.W.Test")), &w));
    assert!(Arc::ptr_eq(&resolver.select(None), &a));
}

#[tokio::test]
async fn replacing_certificates_keeps_open_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(tmp.path()).unwrap();
    let a = ca.issue_server_cert(&["a.test".to_owned()]).unwrap();
    let b = ca.issue_server_cert(&["b.test".to_owned()]).unwrap();
    let resolver = Arc::new(SniResolver::new(named(&[&a, &b])).unwrap());
    let addr = serve(resolver.clone()).await;
    let client = client_config(Some(ca.cert_path()), false, alpn()).unwrap();

    let mut before = connect(client.clone(), addr, "b.test").await.unwrap();
    echo(&mut before, b"before").await;
    assert_eq!(peer_cert(&before), b.cert[0]);

    let renewed = ca.issue_server_cert(&["b.test".to_owned()]).unwrap();
    resolver.replace(named(&[&renewed])).unwrap();

    let mut after = connect(client.clone(), addr, "b.test").await.unwrap();
    assert_eq!(peer_cert(&after), renewed.cert[0]);
    assert_ne!(peer_cert(&after), b.cert[0]);
    echo(&mut after, b"after").await;
    // The connection opened before the swap still carries data.
    echo(&mut before, b"still here").await;
    // `a.test` is gone: the new default is for `b.test` only.
    assert!(connect(client.clone(), addr, "a.test").await.is_err());

    // A rejected replacement leaves the current set in place.
    let empty = resolver.replace(Vec::new()).unwrap_err();
    assert!(matches!(empty, IdentityError::NoCertificates), "{empty:?}");
    let bad = resolver
        .replace(vec![(vec!["a.*.test".to_owned()], a.clone())])
        .unwrap_err();
    assert!(matches!(bad, IdentityError::InvalidName { .. }), "{bad:?}");
    let tls = connect(client, addr, "b.test").await.unwrap();
    assert_eq!(peer_cert(&tls), renewed.cert[0]);
}

#[test]
fn needs_at_least_one_certificate() {
    let err = SniResolver::new(Vec::new()).unwrap_err();
    assert!(matches!(err, IdentityError::NoCertificates), "{err:?}");
}
