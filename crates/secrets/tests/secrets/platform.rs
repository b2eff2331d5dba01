//! Platform keys (`docs/secrets.md`, "Platform keys"): stored encrypted under the reserved
//! prefix, refused and hidden by the public KV API, rewrapped by a root rotation, and never
//! in the database in clear.

use std::time::Duration;

use rampart_secrets::{Platform, SecretsError};
use serde_json::json;

use crate::harness::{Ctx, obj};

/// A key-like value that is easy to grep for.
const KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----platform-key-material-0123456789";

pub async fn platform_keys_round_trip_and_are_reserved(ctx: &Ctx) {
    let platform = ctx.secrets.platform();
    assert!(platform.is_unsealed());
    assert!(platform.get("oauth-signing/k1").await.unwrap().is_none());
    platform.put("oauth-signing/k1", KEY).await.unwrap();
    assert_eq!(
        platform
            .get("oauth-signing/k1")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        KEY
    );
    // A new value replaces the old one; only the latest version is kept.
    platform.put("oauth-signing/k1", b"second").await.unwrap();
    assert_eq!(
        platform
            .get("oauth-signing/k1")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"second"
    );
    let versions = ctx
        .store
        .secret_versions(&Platform::path("oauth-signing/k1"))
        .await
        .unwrap();
    assert_eq!(versions.len(), 1, "older versions are pruned");
    platform.put("oauth-signing/k1", KEY).await.unwrap();

    // The public KV API refuses the reserved prefix and hides it from LIST.
    let kv = ctx.secrets.kv();
    kv.write("sys/other", obj(json!({"a": 1})), None)
        .await
        .unwrap();
    for path in [
        "sys/platform/oauth-signing/k1",
        "/sys/platform/",
        "sys/platform",
    ] {
        assert!(
            matches!(kv.read(path, None).await, Err(SecretsError::Reserved)),
            "{path}"
        );
        assert!(matches!(
            kv.write(path, obj(json!({"x": 1})), None).await,
            Err(SecretsError::Reserved)
        ));
        assert!(matches!(
            kv.delete_metadata(path).await,
            Err(SecretsError::Reserved)
        ));
        assert!(matches!(
            kv.metadata(path).await,
            Err(SecretsError::Reserved)
        ));
        assert!(matches!(kv.list(path).await, Err(SecretsError::Reserved)));
    }
    assert_eq!(kv.list("sys").await.unwrap(), ["other"]);
    assert!(!kv.list("").await.unwrap().is_empty());
    platform.put("only/this", b"x").await.unwrap();
    // Only the reserved prefix is hidden: a root holding nothing else lists only `sys/`.
    assert_eq!(kv.list("").await.unwrap(), ["sys/"]);

    // Delete forgets it.
    assert!(platform.delete("only/this").await.unwrap());
    assert!(!platform.delete("only/this").await.unwrap());
    assert!(platform.get("only/this").await.unwrap().is_none());

    // Never in the database in clear.
    if let Some(file) = &ctx.db_file {
        for entry in walk(file.parent().unwrap()) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                !bytes.windows(KEY.len()).any(|w| w == KEY),
                "plaintext key found in {}",
                entry.display()
            );
        }
    }
}

pub async fn platform_keys_are_rewrapped_by_rotate_root(ctx: &Ctx) {
    let platform = ctx.secrets.platform();
    platform.put("local-ca/key", KEY).await.unwrap();
    let path = Platform::path("local-ca/key");
    let (_, row) = ctx.store.secret_read(&path, None).await.unwrap().unwrap();
    assert_eq!(row.unwrap().kek_id, 1);
    ctx.secrets.rotate_root().await.unwrap();
    assert!(ctx.secrets.wait_rewrapped(Duration::from_secs(60)).await);
    let (_, row) = ctx.store.secret_read(&path, None).await.unwrap().unwrap();
    assert_eq!(row.unwrap().kek_id, 2, "rewrapped under the new KEK");
    assert_eq!(
        platform
            .get("local-ca/key")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        KEY
    );

    // Sealed: nothing reads or writes.
    ctx.secrets.seal();
    assert!(!platform.is_unsealed());
    assert!(matches!(
        platform.get("local-ca/key").await,
        Err(SecretsError::Sealed)
    ));
    assert!(matches!(
        platform.put("x", b"y").await,
        Err(SecretsError::Sealed)
    ));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
