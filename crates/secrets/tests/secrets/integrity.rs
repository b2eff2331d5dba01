//! Edited or swapped rows fail with `Integrity`; nothing readable reaches the database file.

use rampart_secrets::SecretsError;
use rampart_store::{SecretVersionRecord, SecretWrite};
use serde_json::json;

use crate::harness::{Ctx, obj};

/// Replaces version 1 of `path` (its only version) with `row`, through the store.
async fn replace_row(ctx: &Ctx, path: &str, row: SecretVersionRecord) {
    let (meta, _) = ctx.store.secret_read(path, None).await.unwrap().unwrap();
    assert!(ctx.store.secret_delete_all(path).await.unwrap());
    let write = SecretWrite {
        expected_current: 0,
        meta,
        version: row,
        prune_below: 0,
    };
    assert!(ctx.store.secret_write(&write).await.unwrap());
    // Edited behind the engine's back: drop what it cached (SQLite).
    ctx.secrets.clear_cache();
}

async fn row(ctx: &Ctx, path: &str) -> SecretVersionRecord {
    ctx.store
        .secret_read(path, None)
        .await
        .unwrap()
        .unwrap()
        .1
        .unwrap()
}

pub async fn tampered_ciphertext(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    kv.write("t/a", obj(json!({"password": "hunter2"})), None)
        .await
        .unwrap();
    let original = row(ctx, "t/a").await;
    for (field, index) in [
        ("ciphertext", 20usize),
        ("ciphertext", 3),
        ("wrapped_dek", 15),
    ] {
        let mut bad = original.clone();
        let blob = if field == "ciphertext" {
            &mut bad.ciphertext
        } else {
            &mut bad.wrapped_dek
        };
        blob[index] ^= 0x01;
        replace_row(ctx, "t/a", bad).await;
        let err = kv.read("t/a", None).await.unwrap_err();
        assert!(
            matches!(&err, SecretsError::Integrity { path, version: 1 } if path == "t/a"),
            "{field}[{index}]: {err:?}"
        );
        assert!(!err.to_string().contains("hunter2"));
    }
    // A wrong KEK id fails too.
    let mut bad = original.clone();
    bad.kek_id = 7;
    replace_row(ctx, "t/a", bad).await;
    assert!(matches!(
        kv.read("t/a", None).await,
        Err(SecretsError::Integrity { .. })
    ));
    replace_row(ctx, "t/a", original).await;
    assert!(kv.read("t/a", None).await.unwrap().value().is_some());
}

pub async fn swapped_rows(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    kv.write("sw/a", obj(json!({"who": "a"})), None)
        .await
        .unwrap();
    kv.write("sw/b", obj(json!({"who": "b"})), None)
        .await
        .unwrap();
    let a = row(ctx, "sw/a").await;
    let b = row(ctx, "sw/b").await;
    let mut a_with_b = a.clone();
    a_with_b.ciphertext = b.ciphertext.clone();
    a_with_b.wrapped_dek = b.wrapped_dek.clone();
    replace_row(ctx, "sw/a", a_with_b).await;
    assert!(matches!(
        kv.read("sw/a", None).await,
        Err(SecretsError::Integrity { .. })
    ));
    // Only the ciphertext swapped (the DEK stays a's): still refused.
    let mut a_ct_b = a.clone();
    a_ct_b.ciphertext = b.ciphertext.clone();
    replace_row(ctx, "sw/a", a_ct_b).await;
    assert!(matches!(
        kv.read("sw/a", None).await,
        Err(SecretsError::Integrity { .. })
    ));

    // Moving version 1 to version 2 of the same path fails as well.
    kv.write("sw/b", obj(json!({"who": "b2"})), None)
        .await
        .unwrap();
    let (meta, _) = ctx.store.secret_read("sw/b", None).await.unwrap().unwrap();
    assert!(ctx.store.secret_delete_all("sw/b").await.unwrap());
    let mut moved = b.clone();
    moved.version = 2;
    let write = SecretWrite {
        expected_current: 0,
        meta,
        version: moved,
        prune_below: 0,
    };
    assert!(ctx.store.secret_write(&write).await.unwrap());
    ctx.secrets.clear_cache();
    assert!(matches!(
        kv.read("sw/b", Some(2)).await,
        Err(SecretsError::Integrity { version: 2, .. })
    ));
}

/// SQLite only: the plaintext and the root key appear nowhere in the database or its WAL.
#[tokio::test]
async fn no_plaintext_or_key_bytes_in_the_sqlite_files() {
    let ctx = Ctx::sqlite().await;
    let kv = ctx.secrets.kv();
    let marker = "PLAINTEXT-MARKER-7f3a9c";
    for i in 0..20 {
        kv.write(
            &format!("leak/{i}"),
            obj(json!({"value": marker, "n": i})),
            None,
        )
        .await
        .unwrap();
    }
    let key_text = std::fs::read_to_string(ctx.data_dir().join("secrets-root.key")).unwrap();
    let root = base64_decode(key_text.trim());
    assert_eq!(root.len(), 32);
    let db = ctx.db_file.clone().unwrap();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        if let Ok(b) = std::fs::read(&name) {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(bytes.len() > 4096, "the database files were read");
    assert!(contains(&bytes, b"leak/0"), "the scan sees stored paths");
    assert!(!contains(&bytes, marker.as_bytes()));
    assert!(!contains(&bytes, &root));
    assert!(!contains(&bytes, key_text.trim().as_bytes()));
    ctx.finish().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
