//! Platform keys through `rampart up` (`docs/secrets.md`, "Platform keys"): with the default
//! auto-unseal, an existing `ca-key.pem` is imported into the secrets store and removed, the
//! token signing keys and client secret hashes are kept there, `rotate-root` and a restart
//! keep everything working, and a grep of the whole data directory finds none of those keys.

use std::path::Path;

use rampart_identity::LocalCa;
use rampart_secrets::Secrets;
use rampart_store::Store;

use crate::secrets::{Instance, text};

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
