//! Sealing: Shamir init/unseal, auto-unseal key file rules, and the sealed state refusing
//! every data operation.

use std::os::unix::fs::PermissionsExt as _;

use rampart_secrets::{KvConfigUpdate, MetadataUpdate, Secrets, SecretsError};
use serde_json::json;

use crate::harness::{Ctx, auto_config, obj, open_store, shamir_config};

async fn fresh_shamir() -> (tempfile::TempDir, rampart_store::Store, Secrets) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = open_store(&url).await;
    let secrets = Secrets::open(store.clone(), &shamir_config(), dir.path())
        .await
        .unwrap();
    (dir, store, secrets)
}

#[tokio::test]
async fn shamir_three_of_five() {
    let (dir, store, secrets) = fresh_shamir().await;
    let status = secrets.status();
    assert!(!status.initialized && status.sealed);
    assert_eq!(status.seal_type, "shamir");
    assert!(matches!(
        secrets.unseal(&"01".repeat(33)).await,
        Err(SecretsError::NotInitialized)
    ));
    assert!(matches!(
        secrets.init(5, 6).await,
        Err(SecretsError::InvalidRequest(_))
    ));
    assert!(matches!(
        secrets.init(3, 1).await,
        Err(SecretsError::InvalidRequest(_))
    ));

    let shares = secrets.init(5, 3).await.unwrap();
    assert_eq!(shares.len(), 5);
    assert!(matches!(
        secrets.init(5, 3).await,
        Err(SecretsError::AlreadyInitialized)
    ));
    let status = secrets.status();
    assert!(status.initialized && status.sealed);
    assert_eq!(
        (status.shares, status.threshold, status.progress),
        (5, 3, 0)
    );
    assert!(matches!(
        secrets.kv().read("x", None).await,
        Err(SecretsError::Sealed)
    ));

    // Two shares (one given twice) do not unseal.
    let p = secrets.unseal(&shares[0]).await.unwrap();
    assert_eq!((p.sealed, p.progress, p.threshold), (true, 1, 3));
    assert_eq!(secrets.unseal(&shares[0]).await.unwrap().progress, 1);
    assert_eq!(secrets.unseal(&shares[3]).await.unwrap().progress, 2);
    assert!(secrets.is_sealed());
    assert!(matches!(
        secrets.unseal("not hex").await,
        Err(SecretsError::BadShare)
    ));
    assert_eq!(secrets.status().progress, 2);

    let p = secrets.unseal(&shares[4]).await.unwrap();
    assert!(!p.sealed);
    let kv = secrets.kv();
    kv.write("k", obj(json!({"v": "one"})), None).await.unwrap();
    let blob = store.secret_keyring().await.unwrap().unwrap();

    // Every 3-subset unseals; reopen from scratch each time.
    for set in [[0, 1, 2], [1, 2, 3], [0, 2, 4], [2, 3, 4]] {
        secrets.seal();
        assert!(secrets.is_sealed());
        assert!(matches!(
            kv.read("k", None).await,
            Err(SecretsError::Sealed)
        ));
        let fresh = Secrets::open(store.clone(), &shamir_config(), dir.path())
            .await
            .unwrap();
        for i in set {
            fresh.unseal(&shares[i]).await.unwrap();
        }
        assert!(!fresh.is_sealed(), "{set:?}");
        assert_eq!(
            fresh.kv().read("k", None).await.unwrap().value().unwrap()["v"],
            "one"
        );
    }

    // A wrong share: WrongShares, progress reset, nothing written.
    secrets.seal();
    let mut wrong = hex::decode(&shares[1]).unwrap();
    wrong[5] ^= 0x55;
    secrets.unseal(&shares[0]).await.unwrap();
    secrets.unseal(&hex::encode(&wrong)).await.unwrap();
    assert!(matches!(
        secrets.unseal(&shares[2]).await,
        Err(SecretsError::WrongShares)
    ));
    assert_eq!(secrets.status().progress, 0);
    assert!(secrets.is_sealed());
    assert_eq!(store.secret_keyring().await.unwrap().unwrap(), blob);
    // Shares of another initialization do not open this keyring either.
    let (_d2, _s2, other) = fresh_shamir().await;
    let foreign = other.init(5, 3).await.unwrap();
    for share in &foreign[..2] {
        secrets.unseal(share).await.unwrap();
    }
    assert!(matches!(
        secrets.unseal(&foreign[2]).await,
        Err(SecretsError::WrongShares)
    ));
    // The right shares still work, and the data is unchanged.
    for share in &shares[2..] {
        secrets.unseal(share).await.unwrap();
    }
    assert!(!secrets.is_sealed());
    assert_eq!(
        kv.read("k", None).await.unwrap().value().unwrap()["v"],
        "one"
    );
}

#[tokio::test]
async fn one_of_one_share() {
    let (_dir, _store, secrets) = fresh_shamir().await;
    let shares = secrets.init(1, 1).await.unwrap();
    assert_eq!(shares.len(), 1);
    assert!(!secrets.unseal(&shares[0]).await.unwrap().sealed);
}

#[tokio::test]
async fn auto_key_file_created_0600_and_loose_file_refused() {
    let ctx = Ctx::sqlite().await;
    let key_file = ctx.data_dir().join("secrets-root.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let status = ctx.secrets.status();
    assert!(status.initialized && !status.sealed);
    assert_eq!(status.seal_type, "auto");
    ctx.secrets
        .kv()
        .write("a", obj(json!({"v": 1})), None)
        .await
        .unwrap();

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Secrets::open(ctx.store.clone(), &auto_config(), ctx.data_dir())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SecretsError::InsecureKeyFile { .. }),
        "{err:?}"
    );

    // A different key in a 0600 file: WrongKey, keyring untouched.
    let blob = ctx.store.secret_keyring().await.unwrap().unwrap();
    std::fs::write(&key_file, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = Secrets::open(ctx.store.clone(), &auto_config(), ctx.data_dir())
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::WrongKey), "{err:?}");
    assert_eq!(ctx.store.secret_keyring().await.unwrap().unwrap(), blob);

    // The key file gone while a keyring exists: refused, no new key made.
    std::fs::remove_file(&key_file).unwrap();
    let err = Secrets::open(ctx.store.clone(), &auto_config(), ctx.data_dir())
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::KeyFile { .. }), "{err:?}");
    assert!(!key_file.exists());
    ctx.finish().await;
}

pub async fn sealed_refuses_every_data_op(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    kv.write("z", obj(json!({"v": 1})), None).await.unwrap();
    ctx.secrets.seal();
    let status = ctx.secrets.status();
    assert!(status.sealed && status.initialized);
    let sealed =
        |r: Result<(), SecretsError>| assert!(matches!(r, Err(SecretsError::Sealed)), "{r:?}");
    sealed(kv.write("z", obj(json!({"v": 2})), None).await.map(drop));
    sealed(kv.patch("z", &json!({"v": 2}), None).await.map(drop));
    sealed(kv.read("z", None).await.map(drop));
    sealed(kv.subkeys("z", None, 0).await.map(drop));
    sealed(kv.delete_versions("z", &[1]).await);
    sealed(kv.delete_latest("z").await);
    sealed(kv.undelete("z", &[1]).await);
    sealed(kv.destroy("z", &[1]).await);
    sealed(kv.metadata("z").await.map(drop));
    sealed(kv.put_metadata("z", &MetadataUpdate::default()).await);
    sealed(kv.delete_metadata("z").await);
    sealed(kv.list("").await.map(drop));
    sealed(kv.config().map(drop));
    sealed(kv.put_config(&KvConfigUpdate::default()).await.map(drop));
    sealed(ctx.secrets.rotate_root().await.map(drop));
    sealed(ctx.secrets.key_status().await.map(drop));
    // Nothing changed underneath.
    let meta = ctx.store.secret_meta("z").await.unwrap().unwrap();
    assert_eq!(meta.current_version, 1);
}
