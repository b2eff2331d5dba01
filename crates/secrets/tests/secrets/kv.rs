//! The KV v2 rules: versions, CAS, pruning, soft delete, metadata, patch, subkeys, list.

use rampart_secrets::{KvConfigUpdate, MetadataUpdate, SecretsError, Versioned};
use serde_json::json;

use crate::harness::{Ctx, obj};

pub async fn round_trip_and_versions(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let v1 = kv
        .write("/app/db/", obj(json!({"user": "u1", "n": 1})), None)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert!(v1.deletion_time_ms.is_none());
    let v2 = kv
        .write("app/db", obj(json!({"user": "u2"})), None)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);

    let latest = kv.read("app/db", None).await.unwrap();
    assert_eq!(latest.value(), Some(&obj(json!({"user": "u2"}))));
    assert_eq!(latest.meta().version, 2);
    let first = kv.read("app/db", Some(1)).await.unwrap();
    assert_eq!(first.value(), Some(&obj(json!({"user": "u1", "n": 1}))));
    assert!(matches!(
        kv.read("app/db", Some(3)).await,
        Err(SecretsError::NotFound)
    ));
    assert!(matches!(
        kv.read("nope", None).await,
        Err(SecretsError::NotFound)
    ));
    assert!(matches!(
        kv.read("a/../b", None).await,
        Err(SecretsError::InvalidPath(_))
    ));
    // Debug never shows the value.
    assert!(!format!("{latest:?}").contains("u2"));
}

pub async fn cas_rules(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let data = || obj(json!({"k": "v"}));
    kv.write("c", data(), Some(0)).await.unwrap();
    assert!(matches!(
        kv.write("c", data(), Some(0)).await,
        Err(SecretsError::CasMismatch)
    ));
    assert!(matches!(
        kv.write("c", data(), Some(5)).await,
        Err(SecretsError::CasMismatch)
    ));
    assert_eq!(kv.write("c", data(), Some(1)).await.unwrap().version, 2);

    let required = MetadataUpdate {
        cas_required: Some(true),
        ..MetadataUpdate::default()
    };
    kv.put_metadata("c", &required).await.unwrap();
    assert!(matches!(
        kv.write("c", data(), None).await,
        Err(SecretsError::CasRequired)
    ));
    assert_eq!(kv.write("c", data(), Some(2)).await.unwrap().version, 3);

    // Mount-wide cas_required applies to every secret.
    let mount = KvConfigUpdate {
        cas_required: Some(true),
        ..KvConfigUpdate::default()
    };
    assert!(kv.put_config(&mount).await.unwrap().cas_required);
    assert!(matches!(
        kv.write("other", data(), None).await,
        Err(SecretsError::CasRequired)
    ));
    kv.write("other", data(), Some(0)).await.unwrap();
    assert!(kv.config().unwrap().cas_required);
}

pub async fn max_versions_prunes_oldest(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let update = MetadataUpdate {
        max_versions: Some(3),
        ..MetadataUpdate::default()
    };
    kv.put_metadata("p", &update).await.unwrap();
    for i in 1..=5u64 {
        let meta = kv.write("p", obj(json!({"i": i})), None).await.unwrap();
        assert_eq!(meta.version, i);
    }
    let meta = kv.metadata("p").await.unwrap();
    assert_eq!(meta.current_version, 5);
    assert_eq!(meta.oldest_version, 3);
    assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), [3, 4, 5]);
    assert!(matches!(
        kv.read("p", Some(2)).await,
        Err(SecretsError::NotFound)
    ));
    assert_eq!(
        kv.read("p", Some(3)).await.unwrap().value(),
        Some(&obj(json!({"i": 3})))
    );

    // The mount default applies when the secret does not say.
    kv.put_config(&KvConfigUpdate {
        max_versions: Some(2),
        ..KvConfigUpdate::default()
    })
    .await
    .unwrap();
    for i in 1..=4u64 {
        kv.write("q", obj(json!({"i": i})), None).await.unwrap();
    }
    let meta = kv.metadata("q").await.unwrap();
    assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), [3, 4]);
}

pub async fn delete_undelete_destroy(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    for i in 1..=3u64 {
        kv.write("d", obj(json!({"i": i})), None).await.unwrap();
    }
    kv.delete_versions("d", &[]).await.unwrap();
    let latest = kv.read("d", None).await.unwrap();
    assert!(
        matches!(&latest, Versioned::Deleted { meta } if meta.version == 3 && meta.deletion_time_ms.is_some())
    );
    // Patch needs a live current version.
    assert!(matches!(
        kv.patch("d", &json!({"x": 1}), None).await,
        Err(SecretsError::NotFound)
    ));
    kv.undelete("d", &[3]).await.unwrap();
    assert_eq!(
        kv.read("d", None).await.unwrap().value(),
        Some(&obj(json!({"i": 3})))
    );

    kv.delete_versions("d", &[1]).await.unwrap();
    assert!(kv.read("d", Some(1)).await.unwrap().value().is_none());
    kv.destroy("d", &[2]).await.unwrap();
    let destroyed = kv.read("d", Some(2)).await.unwrap();
    assert!(matches!(&destroyed, Versioned::Deleted { meta } if meta.destroyed));
    // Undelete cannot bring a destroyed version back.
    kv.undelete("d", &[1, 2]).await.unwrap();
    assert_eq!(
        kv.read("d", Some(1)).await.unwrap().value(),
        Some(&obj(json!({"i": 1})))
    );
    assert!(kv.read("d", Some(2)).await.unwrap().value().is_none());
    let meta = kv.metadata("d").await.unwrap();
    assert!(meta.versions[&2].destroyed);
    assert!(!meta.versions[&1].destroyed);
    // The destroyed row holds no ciphertext any more.
    let (_, row) = ctx.store.secret_read("d", Some(2)).await.unwrap().unwrap();
    let row = row.unwrap();
    assert!(row.ciphertext.is_empty() && row.wrapped_dek.is_empty());
    assert!(matches!(
        kv.delete_latest("none").await,
        Err(SecretsError::NotFound)
    ));
}

pub async fn metadata_and_delete_metadata(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let update = MetadataUpdate {
        custom_metadata: Some([("owner".to_owned(), "team-a".to_owned())].into()),
        delete_version_after_secs: Some(3600),
        ..MetadataUpdate::default()
    };
    kv.put_metadata("m", &update).await.unwrap();
    let meta = kv.metadata("m").await.unwrap();
    assert_eq!(meta.current_version, 0);
    assert_eq!(meta.custom_metadata["owner"], "team-a");
    assert_eq!(meta.delete_version_after_secs, 3600);
    let written = kv.write("m", obj(json!({"a": 1})), None).await.unwrap();
    assert_eq!(written.custom_metadata["owner"], "team-a");
    let read = kv.read("m", None).await.unwrap();
    assert!(read.value().is_some(), "an expiry an hour away still reads");
    assert!(read.meta().deletion_time_ms.is_some());

    kv.delete_metadata("m").await.unwrap();
    assert!(matches!(
        kv.metadata("m").await,
        Err(SecretsError::NotFound)
    ));
    assert!(matches!(
        kv.read("m", None).await,
        Err(SecretsError::NotFound)
    ));
    assert!(matches!(
        kv.delete_metadata("m").await,
        Err(SecretsError::NotFound)
    ));
    // After a metadata delete the path starts again at version 1.
    assert_eq!(
        kv.write("m", obj(json!({"b": 2})), Some(0))
            .await
            .unwrap()
            .version,
        1
    );
}

pub async fn merge_patch(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    assert!(matches!(
        kv.patch("mp", &json!({"a": 1}), None).await,
        Err(SecretsError::NotFound)
    ));
    kv.write(
        "mp",
        obj(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": "x"})),
        None,
    )
    .await
    .unwrap();
    let meta = kv
        .patch("mp", &json!({"a": null, "b": {"c": 20}, "f": [1]}), Some(1))
        .await
        .unwrap();
    assert_eq!(meta.version, 2);
    assert_eq!(
        kv.read("mp", None).await.unwrap().value(),
        Some(&obj(json!({"b": {"c": 20, "d": 3}, "e": "x", "f": [1]})))
    );
    assert!(matches!(
        kv.patch("mp", &json!({"a": 1}), Some(1)).await,
        Err(SecretsError::CasMismatch)
    ));
    assert!(matches!(
        kv.patch("mp", &json!([1]), None).await,
        Err(SecretsError::InvalidRequest(_))
    ));
}

pub async fn subkeys_and_list(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    kv.write(
        "s",
        obj(json!({"a": "x", "b": {"c": 1, "d": {"e": 2}}})),
        None,
    )
    .await
    .unwrap();
    let all = kv.subkeys("s", None, 0).await.unwrap();
    assert_eq!(
        all.value(),
        Some(&json!({"a": null, "b": {"c": null, "d": {"e": null}}}))
    );
    let top = kv.subkeys("s", Some(1), 1).await.unwrap();
    assert_eq!(top.value(), Some(&json!({"a": null, "b": null})));

    for path in ["app/db", "app/web/tls", "app/web/key", "apple", "b/c/d"] {
        kv.write(path, obj(json!({"v": 1})), None).await.unwrap();
    }
    assert_eq!(kv.list("").await.unwrap(), ["app/", "apple", "b/", "s"]);
    assert_eq!(kv.list("app/").await.unwrap(), ["db", "web/"]);
    assert_eq!(kv.list("app").await.unwrap(), ["db", "web/"]);
    assert_eq!(kv.list("app/web").await.unwrap(), ["key", "tls"]);
    assert!(kv.list("zzz").await.unwrap().is_empty());
}

pub async fn delete_version_after_reads_as_deleted(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    kv.write("old", obj(json!({"v": 1})), None).await.unwrap();
    // Age the version by rewriting its row's creation time through the store.
    let (meta, row) = ctx.store.secret_read("old", None).await.unwrap().unwrap();
    let mut row = row.unwrap();
    row.created_at_ms -= 10_000;
    let update = MetadataUpdate {
        delete_version_after_secs: Some(5),
        ..MetadataUpdate::default()
    };
    // Rewrite version 1 as an aged copy: delete the path and store the same row back.
    assert!(ctx.store.secret_delete_all("old").await.unwrap());
    let write = rampart_store::SecretWrite {
        expected_current: 0,
        meta,
        version: row,
        prune_below: 0,
    };
    assert!(ctx.store.secret_write(&write).await.unwrap());
    ctx.secrets.clear_cache();
    assert!(kv.read("old", None).await.unwrap().value().is_some());
    kv.put_metadata("old", &update).await.unwrap();
    let read = kv.read("old", None).await.unwrap();
    assert!(matches!(read, Versioned::Deleted { .. }), "{read:?}");
}

pub async fn concurrent_writers_get_distinct_versions(ctx: &Ctx) {
    let kv = ctx.secrets.kv();
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            kv.write("race", obj(json!({"i": i})), None)
                .await
                .unwrap()
                .version
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}
