//! Auto-unseal from the environment variable, with an injected environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsString;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rampart_config::SecretsConfig;
use rampart_store::Store;
use serde_json::json;

use super::Secrets;
use crate::error::SecretsError;

fn env_with(value: String) -> impl Fn(&str) -> Option<OsString> + Sync {
    move |name| (name == "RAMPART_ROOT_KEY").then(|| OsString::from(value.clone()))
}

#[tokio::test]
async fn env_key_unseals_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = Store::open(&url).await.unwrap();
    let config = SecretsConfig::default();
    let good = STANDARD.encode([9u8; 32]);

    let secrets =
        Secrets::open_with_env(store.clone(), &config, dir.path(), &env_with(good.clone()))
            .await
            .unwrap();
    assert!(!secrets.is_sealed());
    let data = json!({"k": "v"}).as_object().unwrap().clone();
    secrets.kv().write("a", data.clone(), None).await.unwrap();
    // The env var wins: no key file is created.
    assert!(!dir.path().join("secrets-root.key").exists());
    let blob = store.secret_keyring().await.unwrap().unwrap();

    let wrong = STANDARD.encode([8u8; 32]);
    let err = Secrets::open_with_env(store.clone(), &config, dir.path(), &env_with(wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey), "{err:?}");
    let err = Secrets::open_with_env(
        store.clone(),
        &config,
        dir.path(),
        &env_with("short".into()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey), "{err:?}");
    assert_eq!(store.secret_keyring().await.unwrap().unwrap(), blob);

    let again = Secrets::open_with_env(store, &config, dir.path(), &env_with(good))
        .await
        .unwrap();
    let read = again.kv().read("a", None).await.unwrap();
    assert_eq!(read.value(), Some(&data));
}
