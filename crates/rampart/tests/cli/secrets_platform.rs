//! Platform keys through `rampart up` (`docs/secrets.md`, "Platform keys"): with the default
//! auto-unseal, an existing `ca-key.pem` is imported into the secrets store and removed, the
//! token signing keys and client secret hashes are kept there, `rotate-root` and a restart
//! keep everything working, and a grep of the whole data directory finds none of those keys.
//! The keys of the CA generations of `rampart identity ca rollover` follow: kept in 0600 files
//! while the store is sealed at start (`seal: shamir`), imported at the first auto-unsealed
//! start, never written to disk after it, and SVIDs keep issuing and verifying. A configured
//! `secrets.token_audience` replaces the default audience of the secrets API.

use std::path::Path;

use rampart_control::{
    ControlClient,
    api::{CreateJoinToken, SvidIssued},
};
use rampart_core::{Sensitive, spiffe::TrustDomain};
use rampart_identity::{LocalCa, TrustBundle, make_csr, verify_svid};
use rampart_secrets::Secrets;
use rampart_store::Store;
use rustls::pki_types::CertificateDer;

use crate::secrets::{Instance, python, secrets_config, text};

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The base64 body lines of a PEM (each line of the key, as it would appear in a file).
fn pem_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn up_keeps_the_platform_keys_encrypted_in_the_secrets_store() {
    let tmp = tempfile::tempdir().unwrap();
    // A data directory of an older release: its CA key is a 0600 file.
    let data = tmp.path().join("data");
    rampart_identity::install_default_provider();
    let old = LocalCa::load_or_create(&data).unwrap();
    let old_key = old.key_pem();
    let old_cert = std::fs::read(data.join("ca.pem")).unwrap();
    drop(old);

    let mut up = Instance::start(tmp.path(), "{}", &[]).await;
    assert!(
        !data.join("ca-key.pem").exists(),
        "the CA key file is removed once imported"
    );
    assert_eq!(
        std::fs::read(data.join("ca.pem")).unwrap(),
        old_cert,
        "same CA"
    );
    let created = up
        .cli_ok(
            &[
                "oauth", "client", "create", "--name", "svc", "--scopes", "s", "--json",
            ],
            None,
        )
        .await;
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    up.cli_ok(&["secret", "put", "app/db", "password=pw"], None)
        .await;
    // The reserved prefix is refused to the admin token.
    let refused = up
        .cli(&["secret", "get", "sys/platform/local-ca/key"], None)
        .await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403")
            || String::from_utf8_lossy(&refused.stderr).contains("permission denied"),
        "{}",
        text(&refused)
    );

    let rotated = up.cli_ok(&["operator", "rotate-root"], None).await;
    assert!(rotated.contains("term 2"), "{rotated}");
    up.cli_ok(&["oauth", "rotate-keys"], None).await;
    up.stop().await;
    // A restart reads the CA key from the store (TLS works) and the data is there.
    up.restart(&[]).await;
    assert!(!data.join("ca-key.pem").exists());
    let got = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    assert_eq!(got.trim(), "pw");
    up.stop().await;

    // Open the store as the control plane does and fetch the keys, to grep for them.
    let store = Store::open(&format!("sqlite://{}", data.join("rampart.db").display()))
        .await
        .unwrap();
    let config = rampart_config::SecretsConfig::default();
    let secrets = Secrets::open(store.clone(), &config, &data).await.unwrap();
    let platform = secrets.platform();
    let ca_key = platform.get("local-ca/key").await.unwrap().unwrap();
    assert_eq!(ca_key.as_slice(), old_key.as_bytes(), "the same CA key");
    let mut needles: Vec<Vec<u8>> = pem_lines(&old_key)
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let keys = store.list_signing_keys().await.unwrap();
    assert!(keys.len() >= 3, "active, next and the retired one");
    for key in &keys {
        assert!(
            key.private_pkcs8.is_empty(),
            "signing key {} in clear",
            key.kid
        );
        let der = platform
            .get(&format!("oauth-signing/{}", key.kid))
            .await
            .unwrap()
            .unwrap();
        needles.push(der.to_vec());
    }
    let phc = platform
        .get(&format!("oauth-client/{client_id}"))
        .await
        .unwrap()
        .unwrap();
    needles.push(phc.to_vec());
    store.close().await;

    let haystack = all_bytes(&data);
    assert!(
        contains(&haystack, client_id.as_bytes()),
        "the scan sees rows"
    );
    for needle in &needles {
        assert!(
            !contains(&haystack, needle),
            "a platform key in clear in the data directory"
        );
    }
}

/// The files under `dir` that hold a PEM private key.
fn private_key_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(private_key_files(&path));
        } else if contains(&std::fs::read(&path).unwrap_or_default(), b"PRIVATE KEY") {
            out.push(path);
        }
    }
    out
}

/// An SVID for `service` from `up`'s control plane, through a join token.
async fn join(up: &Instance, service: &str) -> SvidIssued {
    let admin = ControlClient::new(&up.addr(), Sensitive::new(up.token()), &up.ca()).unwrap();
    let token = admin
        .create_join_token(&CreateJoinToken {
            service: service.to_owned(),
            namespace: "shop".to_owned(),
            ttl_secs: 600,
        })
        .await
        .unwrap()
        .token;
    let (_key, csr) = make_csr().unwrap();
    let csr = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr.to_vec()));
    ControlClient::workload(&up.addr(), &up.ca())
        .unwrap()
        .request_svid(&token, &csr)
        .await
        .unwrap()
}

fn der(pem_text: &str) -> CertificateDer<'static> {
    CertificateDer::from(pem::parse(pem_text).unwrap().into_contents())
}

/// Whether `svid` verifies against exactly the roots `roots` (PEM).
fn verifies(svid: &SvidIssued, roots: &[String]) -> bool {
    let domain = svid
        .spiffe_id
        .trim_start_matches("spiffe://")
        .split('/')
        .next()
        .unwrap();
    let mut bundle = TrustBundle::new(TrustDomain::parse(domain).unwrap());
    for root in roots {
        bundle.add(der(root)).unwrap();
    }
    let chain: Vec<_> = svid.svid_chain_pem.iter().map(|p| der(p)).collect();
    verify_svid(&chain, &bundle, std::time::SystemTime::now()).is_ok()
}

/// Generation `n`'s root certificate (PEM), from `<data>/ca-generations/gen-<n>/ca.pem`.
fn generation_root(data: &Path, n: u32) -> String {
    std::fs::read_to_string(data.join(format!("ca-generations/gen-{n}/ca.pem"))).unwrap()
}

#[tokio::test]
async fn ca_generation_keys_move_into_the_secrets_store_and_svids_keep_verifying() {
    let tmp = tempfile::tempdir().unwrap();
    rampart_identity::install_default_provider();
    // Sealed at start: the control plane serves TLS before the unseal, so keys stay in files.
    let mut up = Instance::start(tmp.path(), "{ seal: shamir }", &[]).await;
    let data = up.data.clone();
    let old_svid = join(&up, "orders").await;
    up.cli_ok(&["identity", "ca", "rollover", "prepare", "--json"], None)
        .await;
    up.cli_ok(&["identity", "ca", "rollover", "activate", "--json"], None)
        .await;
    let gen2_file = data.join("ca-generations/gen-2/ca-key.pem");
    let gen2_key = std::fs::read(&gen2_file).unwrap();
    assert!(contains(&gen2_key, b"PRIVATE KEY"));
    let gen2_root = generation_root(&data, 2);
    let signed_by_2 = join(&up, "billing").await;
    assert!(verifies(&signed_by_2, std::slice::from_ref(&gen2_root)));
    up.stop().await;

    // Auto-unsealed from now on: every CA key file is imported, then removed.
    std::fs::write(&up.config, secrets_config(&up.ports, "{}")).unwrap();
    up.restart(&[]).await;
    assert_eq!(
        private_key_files(&data),
        Vec::<std::path::PathBuf>::new(),
        "no private key left in the data directory"
    );
    let after_import = join(&up, "inventory").await;
    assert!(verifies(&after_import, std::slice::from_ref(&gen2_root)));
    assert!(
        verifies(&old_svid, &after_import.bundle_pem),
        "old SVIDs still verify"
    );

    // A new generation never writes its key to disk.
    up.cli_ok(&["identity", "ca", "rollover", "prepare", "--json"], None)
        .await;
    up.cli_ok(&["identity", "ca", "rollover", "activate", "--json"], None)
        .await;
    assert!(data.join("ca-generations/gen-3/ca.pem").exists());
    assert!(private_key_files(&data).is_empty());
    let gen3_root = generation_root(&data, 3);
    up.stop().await;
    up.restart(&[]).await;
    let after_restart = join(&up, "shipping").await;
    assert!(verifies(&after_restart, std::slice::from_ref(&gen3_root)));
    assert!(!verifies(&after_restart, std::slice::from_ref(&gen2_root)));
    assert!(verifies(&signed_by_2, &after_restart.bundle_pem));
    assert!(private_key_files(&data).is_empty());
    let status = up
        .cli_ok(&["identity", "ca", "status", "--json"], None)
        .await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["generations"].as_array().unwrap().len(), 3);
    up.stop().await;

    // The keys are in the store, encrypted: none of their lines is anywhere on disk.
    let store = Store::open(&format!("sqlite://{}", data.join("rampart.db").display()))
        .await
        .unwrap();
    let config = rampart_config::SecretsConfig::default();
    let secrets = Secrets::open(store.clone(), &config, &data).await.unwrap();
    let platform = secrets.platform();
    let stored2 = platform
        .get("ca-generations/gen-2/key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored2.as_slice(), gen2_key.as_slice(), "the imported key");
    let stored3 = platform
        .get("ca-generations/gen-3/key")
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    let haystack = all_bytes(&data);
    for pem_text in [&stored2, &stored3] {
        for line in pem_lines(&String::from_utf8_lossy(pem_text)) {
            assert!(
                !contains(&haystack, line.as_bytes()),
                "a CA generation key in clear in the data directory"
            );
        }
    }
}

/// A client registered with `audience` as its default, and what its token gets from
/// `GET /v1/secret/data/app/db` (`secrets_oauth_client.py`: requests, client_credentials).
async fn read_with_client_for(up: &Instance, dir: &Path, audience: &str) -> serde_json::Value {
    let created = up
        .cli_ok(
            &[
                "oauth",
                "client",
                "create",
                "--name",
                "reader",
                "--scopes",
                "secrets",
                "--audience",
                audience,
                "--json",
            ],
            None,
        )
        .await;
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let secret_file = dir.join("client-secret");
    std::fs::write(&secret_file, created["client_secret"].as_str().unwrap()).unwrap();
    python(
        "secrets_oauth_client.py",
        vec![
            up.addr(),
            up.ca().display().to_string(),
            created["client_id"].as_str().unwrap().to_owned(),
            secret_file.display().to_string(),
            "app/db".to_owned(),
        ],
    )
    .await
}

#[tokio::test]
async fn a_configured_token_audience_opens_the_secrets_api_and_the_default_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    // Every caller may read; only the audience of its token decides.
    let section = r#"{ token_audience: "urn:example:secrets" }
policy: { cedar: 'permit(principal, action == Rampart::Action::"read_secret", resource);' }"#;
    let mut up = Instance::start(tmp.path(), section, &[]).await;
    up.cli_ok(&["secret", "put", "app/db", "password=pw"], None)
        .await;
    let default = read_with_client_for(&up, tmp.path(), &format!("{}/v1/secret", up.addr())).await;
    assert_eq!(default["token"], true, "{default}");
    assert_eq!(default["x_vault_token"], 403, "{default}");
    assert_eq!(default["bearer"], 403, "{default}");
    let custom = read_with_client_for(&up, tmp.path(), "urn:example:secrets").await;
    assert_eq!(custom["token"], true, "{custom}");
    assert_eq!(custom["x_vault_token"], 200, "{custom}");
    assert_eq!(custom["bearer"], 200, "{custom}");
    up.stop().await;
}
