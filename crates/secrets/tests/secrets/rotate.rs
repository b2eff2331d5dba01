//! Root rotation: new writes use the new KEK, every old data key is rewrapped, old data reads.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Ctx, obj};

pub async fn rotate_rewraps_everything(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let count = 300u64; // more than one rewrap batch
    for i in 0..count {
        kv.write(&format!("r/{}", i % 7), obj(json!({"i": i})), None)
            .await
            .unwrap();
    }
    let before = ctx.secrets.key_status().await.unwrap();
    assert_eq!(before.term, 1);
    assert_eq!(before.rewrap_remaining, 0);

    let status = ctx.secrets.rotate_root().await.unwrap();
    assert_eq!(status.term, 2);
    // New writes use the new KEK at once.
    kv.write("r/new", obj(json!({"fresh": true})), None)
        .await
        .unwrap();
    let (_, row) = ctx.store.secret_read("r/new", None).await.unwrap().unwrap();
    assert_eq!(row.unwrap().kek_id, 2);

    assert!(ctx.secrets.wait_rewrapped(Duration::from_secs(60)).await);
    let after = ctx.secrets.key_status().await.unwrap();
    assert_eq!(
        (after.term, after.rewrap_remaining, after.rewrapping),
        (2, 0, false)
    );
    assert!(
        ctx.store
            .secret_versions_by_kek(1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for i in 0..7u64 {
        let meta = kv.metadata(&format!("r/{i}")).await.unwrap();
        for version in meta.versions.keys() {
            let read = kv.read(&format!("r/{i}"), Some(*version)).await.unwrap();
            assert!(read.value().is_some());
        }
    }
    // A second rotation works the same way.
    assert_eq!(ctx.secrets.rotate_root().await.unwrap().term, 3);
    assert!(ctx.secrets.wait_rewrapped(Duration::from_secs(60)).await);
    assert_eq!(
        kv.read("r/3", None).await.unwrap().value().unwrap()["i"],
        json!(297) // the last write to r/3: 297 % 7 == 3
    );
    // The persisted keyring reopens with the same key file: data still reads after restart.
    let reopened = rampart_secrets::Secrets::open(
        ctx.store.clone(),
        &crate::harness::auto_config(),
        ctx.data_dir(),
    )
    .await
    .unwrap();
    assert_eq!(reopened.key_status().await.unwrap().term, 3);
    assert!(
        reopened
            .kv()
            .read("r/new", None)
            .await
            .unwrap()
            .value()
            .is_some()
    );
}

/// A rotation interrupted by a seal keeps the old KEK and finishes when the store is opened
/// again; nothing becomes unreadable.
pub async fn interrupted_rewrap_resumes(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    for i in 0..600u64 {
        kv.write(&format!("i/{}", i % 50), obj(json!({"i": i})), None)
            .await
            .unwrap();
    }
    ctx.secrets.rotate_root().await.unwrap();
    ctx.secrets.seal();
    let reopened = rampart_secrets::Secrets::open(
        ctx.store.clone(),
        &crate::harness::auto_config(),
        ctx.data_dir(),
    )
    .await
    .unwrap();
    assert!(reopened.wait_rewrapped(Duration::from_secs(60)).await);
    let status = reopened.key_status().await.unwrap();
    assert_eq!((status.term, status.rewrap_remaining), (2, 0));
    for i in 0..50u64 {
        let read = reopened
            .kv()
            .read(&format!("i/{i}"), Some(5))
            .await
            .unwrap();
        assert!(read.value().is_some());
    }
}
