//! Certificates and keys from PEM files.

use std::{fs, path::Path};

use rampart_identity::{IdentityError, certificate_names, client_config, load_certified_key};
use rcgen::{
    CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
    SignatureAlgorithm,
};

use crate::support::{
    alpn, connect, echo, openssl, openssl_rsa, openssl_self_signed, peer_cert, serve, single,
};

/// Writes a self-signed certificate for `name` with a new `alg` key (PKCS#8) into `dir`.
fn rcgen_pair(
    dir: &Path,
    name: &str,
    alg: &'static SignatureAlgorithm,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate_for(alg).unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    fs::write(&cert_path, cert.pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

#[test]
fn loads_ecdsa_and_ed25519_pkcs8_keys() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, alg) in [
        ("p256.test", &PKCS_ECDSA_P256_SHA256),
        ("p384.test", &PKCS_ECDSA_P384_SHA384),
        ("ed25519.test", &PKCS_ED25519),
    ] {
        let (cert, key) = rcgen_pair(tmp.path(), name, alg);
        let ck = load_certified_key(&cert, &key).unwrap();
        assert_eq!(certificate_names(&ck), [name]);
    }
}

#[test]
fn loads_sec1_ec_keys() {
    let tmp = tempfile::tempdir().unwrap();
    openssl(
        tmp.path(),
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec-key.pem",
        ],
    );
    assert!(
        fs::read_to_string(tmp.path().join("ec-key.pem"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    openssl_self_signed(tmp.path(), "ec-key.pem", "ec.pem", "ec.test");

    let ck =
        load_certified_key(&tmp.path().join("ec.pem"), &tmp.path().join("ec-key.pem")).unwrap();
    assert_eq!(certificate_names(&ck), ["ec.test", "localhost"]);
}

/// RSA keys in PKCS#8 and PKCS#1 load, and a server using one completes handshakes.
#[tokio::test]
async fn loads_rsa_keys_and_serves_them() {
    let tmp = tempfile::tempdir().unwrap();
    for traditional in [false, true] {
        let (cert, key) = openssl_rsa(tmp.path(), 2048, traditional);
        let marker = match traditional {
            true => "BEGIN RSA PRIVATE KEY",
            false => "BEGIN PRIVATE KEY",
        };
        assert!(fs::read_to_string(&key).unwrap().contains(marker));

        let ck = load_certified_key(&cert, &key).unwrap();
        assert_eq!(certificate_names(&ck), ["rsa.test", "localhost"]);
        let addr = serve(single(ck.clone())).await;
        // The certificate is self-signed: only the key's use in the handshake is checked here.
        let client = client_config(None, true, alpn()).unwrap();
        let mut tls = connect(client, addr, "rsa.test").await.unwrap();
        assert_eq!(peer_cert(&tls), ck.cert[0]);
        echo(&mut tls, b"rsa").await;
    }
}

#[test]
fn refuses_small_rsa_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_rsa(tmp.path(), 1024, false);
    let err = load_certified_key(&cert, &key).unwrap_err();
    assert!(
        matches!(err, IdentityError::UnsupportedKey { .. }),
        "{err:?}"
    );
    assert_names_without_secrets(&err, &key, &key);
}

#[test]
fn refuses_a_key_of_another_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, _) = rcgen_pair(tmp.path(), "a.test", &PKCS_ECDSA_P256_SHA256);
    let (_, other_key) = rcgen_pair(tmp.path(), "b.test", &PKCS_ECDSA_P256_SHA256);

    let err = load_certified_key(&cert, &other_key).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err:?}");
    assert_names_without_secrets(&err, &cert, &other_key);
    assert_names_without_secrets(&err, &other_key, &other_key);
}

#[test]
fn bad_files_are_named_in_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = rcgen_pair(tmp.path(), "good.test", &PKCS_ECDSA_P256_SHA256);
    let garbage = tmp.path().join("garbage.pem");
    fs::write(&garbage, "this is not PEM at all\n").unwrap();
    let empty = tmp.path().join("empty.pem");
    fs::write(&empty, "\n").unwrap();
    let missing = tmp.path().join("missing.pem");
    // A key cut short: no end line.
    let truncated = tmp.path().join("truncated-key.pem");
    let key_text = fs::read_to_string(&key).unwrap();
    fs::write(&truncated, &key_text[..key_text.len() / 2]).unwrap();

    type Check = fn(&IdentityError) -> bool;
    let no_cert: Check = |e| matches!(e, IdentityError::NoCertificate { .. });
    let no_key: Check = |e| matches!(e, IdentityError::NoPrivateKey { .. });
    let empty_file: Check = |e| matches!(e, IdentityError::EmptyFile { .. });
    let unreadable: Check = |e| matches!(e, IdentityError::Read { .. });
    let malformed: Check = |e| matches!(e, IdentityError::MalformedPem { .. });
    // (certificate file, key file, the file to blame, the expected error)
    let cases = [
        (&garbage, &key, &garbage, no_cert),
        (&cert, &garbage, &garbage, no_key),
        (&key, &key, &key, no_cert),
        (&cert, &cert, &cert, no_key),
        (&empty, &key, &empty, empty_file),
        (&cert, &empty, &empty, empty_file),
        (&missing, &key, &missing, unreadable),
        (&cert, &missing, &missing, unreadable),
        (&cert, &truncated, &truncated, malformed),
    ];
    for (cert_path, key_path, blamed, expected) in cases {
        let err = load_certified_key(cert_path, key_path).unwrap_err();
        assert!(expected(&err), "{}: unexpected {err:?}", blamed.display());
        assert_names_without_secrets(&err, blamed, &key);
    }
}

/// The error's message names `file` and shows nothing of the private key in `key`.
fn assert_names_without_secrets(err: &IdentityError, file: &Path, key: &Path) {
    let message = err.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(!message.contains("PRIVATE KEY"), "{message}");
    for line in fs::read_to_string(key)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!message.contains(line), "key material in: {message}");
    }
}
