//! An intermediate CA under an operator's root (`ca.upstream`): its certificate, reuse,
//! refusals, and SVIDs that verify against a bundle holding only the operator's root.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rampart_identity::{
    DEFAULT_SVID_TTL, IdentityError, LocalCa, SvidError, TrustBundle, make_csr, peer_spiffe_id,
    sign_svid_csr, verify_svid,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::support::{Svid, client, exchange, id, serve, td};

const DAY: Duration = Duration::from_secs(86_400);

/// An operator's root CA, as PEM files in a temporary directory.
struct OperatorRoot {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
    _dir: TempDir,
}

fn operator_root(name: &str, lifetime: Duration) -> OperatorRoot {
    let dir = TempDir::new().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = SystemTime::now();
    params.not_before = (now - DAY).into();
    params.not_after = (now + lifetime).into();
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("root.pem");
    let key_path = dir.path().join("root-key.pem");
    fs::write(&cert_path, cert.pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
    OperatorRoot {
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
        _dir: dir,
    }
}

fn intermediate(dir: &Path, root: &OperatorRoot) -> Result<LocalCa, IdentityError> {
    LocalCa::load_or_create_intermediate(dir, &root.cert, &root.key)
}

fn root_bundle(root: &CertificateDer<'static>) -> TrustBundle {
    let mut bundle = TrustBundle::new(td());
    bundle.add(root.clone()).unwrap();
    bundle
}

/// An SVID from `ca`, sent with the CA's chain.
fn issue_with_chain(ca: &LocalCa, service: &str) -> Svid {
    let (key, csr) = make_csr().unwrap();
    let leaf = sign_svid_csr(ca, &csr, &id(service), DEFAULT_SVID_TTL).unwrap();
    let mut chain = vec![leaf];
    chain.extend(ca.chain_der().iter().cloned());
    Svid {
        chain,
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

#[test]
fn intermediate_is_a_constrained_ca_under_the_operator_root() {
    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    assert!(ca.is_intermediate());

    let (_, x509) = X509Certificate::from_der(ca.cert_der()).unwrap();
    let bc = x509.basic_constraints().unwrap().unwrap();
    assert!(bc.critical);
    assert!(bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = x509.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert!(!ku.digital_signature());

    let (_, root_x509) = X509Certificate::from_der(&root.der).unwrap();
    assert_eq!(x509.issuer(), root_x509.subject());
    x509.verify_signature(Some(root_x509.public_key())).unwrap();
    let lifetime = x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp();
    assert!(lifetime <= 366 * 86_400, "{lifetime}");
    assert!(x509.validity().not_after <= root_x509.validity().not_after);

    let key_file = dir.path().join("intermediate-ca-key.pem");
    let mode = fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    assert_eq!(ca.chain_der(), std::slice::from_ref(ca.cert_der()));
    assert_eq!(ca.root_der(), &root.der);
    assert_eq!(ca.chain_pem(), ca.cert_pem());
    assert_eq!(ca.root_pem(), fs::read_to_string(&root.cert).unwrap());

    // The operator's key is neither copied nor its path mentioned in the CA's state.
    let root_key = fs::read_to_string(&root.key).unwrap();
    for entry in fs::read_dir(dir.path()).unwrap() {
        let content = fs::read_to_string(entry.unwrap().path()).unwrap();
        assert_ne!(content, root_key);
    }
    assert!(!format!("{ca:?}").contains("PRIVATE"));
}

#[test]
fn a_root_ca_is_its_own_root_with_an_empty_chain() {
    let dir = TempDir::new().unwrap();
    let ca = LocalCa::load_or_create(dir.path()).unwrap();
    assert!(!ca.is_intermediate());
    assert!(ca.chain_der().is_empty());
    assert_eq!(ca.chain_pem(), "");
    assert_eq!(ca.root_der(), ca.cert_der());
    assert_eq!(ca.root_pem(), ca.cert_pem());
}

#[test]
fn validity_never_outlives_the_upstream() {
    let root = operator_root("Short-lived root", DAY * 30);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    let (_, x509) = X509Certificate::from_der(ca.cert_der()).unwrap();
    let (_, root_x509) = X509Certificate::from_der(&root.der).unwrap();
    assert_eq!(x509.validity().not_after, root_x509.validity().not_after);
}

#[test]
fn later_starts_reuse_the_intermediate() {
    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let first = intermediate(dir.path(), &root).unwrap();
    let second = intermediate(dir.path(), &root).unwrap();
    assert_eq!(first.cert_der(), second.cert_der());
    assert_eq!(second.chain_der(), first.chain_der());
    // An SVID of the reloaded CA verifies as well.
    let svid = issue_with_chain(&second, "billing");
    let found = verify_svid(&svid.chain, &root_bundle(&root.der), SystemTime::now()).unwrap();
    assert_eq!(found, id("billing"));
}

#[test]
fn a_changed_upstream_is_refused_with_a_clear_error() {
    let root = operator_root("Operator root", DAY * 3_650);
    let other = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    intermediate(dir.path(), &root).unwrap();
    let err = intermediate(dir.path(), &other).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, IdentityError::InvalidCertificate { path, .. }
            if path.ends_with("intermediate-ca.pem")),
        "{err:?}"
    );
    assert!(
        message.contains("not issued by the upstream CA"),
        "{message}"
    );
    assert!(
        message.contains(&other.cert.display().to_string()),
        "{message}"
    );
    assert!(!message.contains("PRIVATE KEY"), "{message}");
}

#[test]
fn upstream_key_readable_by_others_or_not_matching_is_refused() {
    let root = operator_root("Operator root", DAY * 3_650);
    let other = operator_root("Other root", DAY * 3_650);
    let dir = TempDir::new().unwrap();

    let err = LocalCa::load_or_create_intermediate(dir.path(), &root.cert, &other.key).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err:?}");

    fs::set_permissions(&root.key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = intermediate(dir.path(), &root).unwrap_err();
    assert!(
        matches!(&err, IdentityError::KeyPermissions { path, .. } if *path == root.key),
        "{err:?}"
    );
    // Nothing was created on refusal.
    assert!(!dir.path().join("intermediate-ca-key.pem").exists());
}

#[test]
fn svid_chains_verify_against_a_bundle_with_only_the_operator_root() {
    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    let bundle = root_bundle(ca.root_der());
    let svid = issue_with_chain(&ca, "billing");
    assert_eq!(svid.chain.len(), 2);
    assert_eq!(
        verify_svid(&svid.chain, &bundle, SystemTime::now()).unwrap(),
        id("billing")
    );

    // Without the intermediate the leaf does not chain to the root.
    let err = verify_svid(&svid.chain[..1], &bundle, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Untrusted { .. }), "{err:?}");

    // Server certificates come with the chain too.
    let server = ca.issue_server_cert(&["localhost".to_owned()]).unwrap();
    assert_eq!(server.cert.len(), 2);
    assert_eq!(&server.cert[1], ca.cert_der());
}

#[test]
fn a_leaf_from_another_ca_is_still_refused() {
    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    let bundle = root_bundle(ca.root_der());

    // A leaf signed directly by an unrelated CA, even sent with our intermediate.
    let rogue_dir = TempDir::new().unwrap();
    let rogue = LocalCa::load_or_create(rogue_dir.path()).unwrap();
    let mut forged = issue_with_chain(&rogue, "billing").chain;
    forged.push(ca.cert_der().clone());
    let err = verify_svid(&forged, &bundle, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Untrusted { .. }), "{err:?}");

    // An intermediate of another operator root is not trusted either.
    let other_root = operator_root("Operator root", DAY * 3_650);
    let other_dir = TempDir::new().unwrap();
    let other = intermediate(other_dir.path(), &other_root).unwrap();
    let svid = issue_with_chain(&other, "billing");
    let err = verify_svid(&svid.chain, &bundle, SystemTime::now()).unwrap_err();
    assert!(matches!(err, SvidError::Untrusted { .. }), "{err:?}");
}

#[tokio::test]
async fn mtls_with_intermediate_chains_and_only_the_root_trusted() {
    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    let shared = root_bundle(ca.root_der()).shared();
    let billing = issue_with_chain(&ca, "billing");
    let orders = issue_with_chain(&ca, "orders");

    let (addr, mut accepted) = serve(&billing, shared.clone()).await;
    let tls = exchange(client(&orders, &id("billing"), shared.clone()), addr)
        .await
        .unwrap();
    assert_eq!(peer_spiffe_id(tls.get_ref().1), Some(id("billing")));
    assert_eq!(accepted.recv().await.unwrap().unwrap(), Some(id("orders")));

    // A client whose SVID comes from another CA is refused by the server.
    let rogue_dir = TempDir::new().unwrap();
    let rogue = LocalCa::load_or_create(rogue_dir.path()).unwrap();
    let impostor = issue_with_chain(&rogue, "orders");
    assert!(
        exchange(client(&impostor, &id("billing"), shared), addr)
            .await
            .is_err()
    );
    let refusal = accepted.recv().await.unwrap().unwrap_err();
    assert!(refusal.contains("UnknownIssuer"), "{refusal}");
}

#[test]
fn server_certs_with_root_end_with_the_operator_root_and_pass_a_pinned_client() {
    use rampart_identity::PinnedCaVerifier;
    use rustls::{
        client::danger::ServerCertVerifier,
        pki_types::{ServerName, UnixTime},
    };

    let root = operator_root("Operator root", DAY * 3_650);
    let dir = TempDir::new().unwrap();
    let ca = intermediate(dir.path(), &root).unwrap();
    let ck = ca
        .issue_server_cert_with_root(&["control.test".to_owned()])
        .unwrap();
    assert_eq!(ck.cert.len(), 3);
    assert_eq!(&ck.cert[1], ca.cert_der());
    assert_eq!(ck.cert[2], root.der);

    let pin: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &root.der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let verifier = PinnedCaVerifier::new(&pin).unwrap();
    let name = ServerName::try_from("control.test").unwrap();
    verifier
        .verify_server_cert(&ck.cert[0], &ck.cert[1..], &name, &[], UnixTime::now())
        .unwrap();
    // Without the intermediate, the leaf does not chain to the pinned root.
    assert!(
        verifier
            .verify_server_cert(&ck.cert[0], &ck.cert[2..], &name, &[], UnixTime::now())
            .is_err()
    );
}
