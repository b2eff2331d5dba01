//! The record cache (SQLite only): a read after any acknowledged mutation sees it, versions
//! never go backwards under concurrent writers and readers, and PostgreSQL does not cache.

use std::time::{Duration, Instant};

use rampart_secrets::{MetadataUpdate, Secrets, SecretsError, Versioned};
use serde_json::json;

use crate::harness::{Ctx, auto_config, obj};

/// Reads `path` (filling the cache when it is on) and returns (version, value of "n" or None
/// when deleted).
async fn current(ctx: &Ctx, path: &str) -> (u64, Option<i64>) {
    match ctx.secrets.kv().read(path, None).await.unwrap() {
        Versioned::Live { value, meta } => (meta.version, value["n"].as_i64()),
        Versioned::Deleted { meta } => (meta.version, None),
    }
}

pub async fn read_after_every_mutation(ctx: &Ctx) {
    assert_eq!(ctx.secrets.caches(), ctx.db_file.is_some());
    let kv = ctx.secrets.kv();
    let p = "cache/rw";
    kv.write(p, obj(json!({"n": 1})), None).await.unwrap();
    assert_eq!(current(ctx, p).await, (1, Some(1)));
    assert_eq!(
        current(ctx, p).await,
        (1, Some(1)),
        "a second read (cached)"
    );

    kv.write(p, obj(json!({"n": 2})), Some(1)).await.unwrap();
    assert_eq!(current(ctx, p).await, (2, Some(2)), "write");

    kv.patch(p, &json!({"n": 3}), None).await.unwrap();
    assert_eq!(current(ctx, p).await, (3, Some(3)), "patch");

    kv.delete_latest(p).await.unwrap();
    assert_eq!(current(ctx, p).await, (3, None), "delete latest");

    kv.undelete(p, &[3]).await.unwrap();
    assert_eq!(current(ctx, p).await, (3, Some(3)), "undelete");

    kv.delete_versions(p, &[3]).await.unwrap();
    assert_eq!(current(ctx, p).await, (3, None), "delete versions");
    kv.undelete(p, &[3]).await.unwrap();
    assert_eq!(current(ctx, p).await, (3, Some(3)));

    kv.destroy(p, &[3]).await.unwrap();
    let read = kv.read(p, None).await.unwrap();
    assert!(
        matches!(&read, Versioned::Deleted { meta } if meta.destroyed),
        "destroy: {read:?}"
    );

    kv.write(p, obj(json!({"n": 4})), None).await.unwrap();
    assert_eq!(current(ctx, p).await, (4, Some(4)));
    let update = MetadataUpdate {
        custom_metadata: Some([("owner".to_owned(), "team-a".to_owned())].into()),
        cas_required: Some(true),
        ..MetadataUpdate::default()
    };
    kv.put_metadata(p, &update).await.unwrap();
    let read = kv.read(p, None).await.unwrap();
    assert_eq!(
        read.meta().custom_metadata["owner"],
        "team-a",
        "put_metadata"
    );
    // The cached metadata's cas_required is the new one.
    assert!(matches!(
        kv.write(p, obj(json!({"n": 5})), None).await,
        Err(SecretsError::CasRequired)
    ));
    // The cached current version is the one a CAS write compares with.
    assert!(matches!(
        kv.write(p, obj(json!({"n": 5})), Some(3)).await,
        Err(SecretsError::CasMismatch)
    ));
    kv.write(p, obj(json!({"n": 5})), Some(4)).await.unwrap();
    assert_eq!(current(ctx, p).await, (5, Some(5)));

    kv.delete_metadata(p).await.unwrap();
    assert!(matches!(
        kv.read(p, None).await,
        Err(SecretsError::NotFound)
    ));
    kv.write(p, obj(json!({"n": 6})), None).await.unwrap();
    assert_eq!(
        current(ctx, p).await,
        (1, Some(6)),
        "starts again at 1 after metadata delete"
    );
    // Reading an older version by number still goes to the store.
    assert!(matches!(
        kv.read(p, Some(5)).await,
        Err(SecretsError::NotFound)
    ));
}

pub async fn versions_never_go_backwards(ctx: &Ctx) {
    const WRITERS: u64 = 4;
    const WRITES_EACH: u64 = 25;
    const READERS: usize = 4;
    let kv = ctx.secrets.kv();
    let p = "cache/race";
    kv.write(p, obj(json!({"n": 0})), None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let kv = kv.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..WRITES_EACH {
                let n = i64::try_from(w * 1000 + i).unwrap();
                let done = kv.write(p, obj(json!({"n": n})), None).await.unwrap();
                // Read after the acknowledged write: at least this version.
                let read = kv.read(p, None).await.unwrap();
                assert!(
                    read.meta().version >= done.version,
                    "read {} after write {}",
                    read.meta().version,
                    done.version
                );
                acknowledged.push(done.version);
            }
            acknowledged
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let kv = kv.clone();
        readers.push(tokio::spawn(async move {
            let mut last = 0u64;
            let mut reads = 0u32;
            while last < 1 + WRITERS * WRITES_EACH && Instant::now() < deadline {
                let version = kv.read(p, None).await.unwrap().meta().version;
                assert!(version >= last, "went back from {last} to {version}");
                last = version;
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let mut all = Vec::new();
    for writer in writers {
        all.extend(writer.await.unwrap());
    }
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    all.sort_unstable();
    assert_eq!(all, (2..=1 + WRITERS * WRITES_EACH).collect::<Vec<_>>());
    assert_eq!(
        current(ctx, p).await.0,
        1 + WRITERS * WRITES_EACH,
        "the final read sees the last write"
    );
}

/// PostgreSQL: two engines on one database (two control planes) see each other's writes at
/// once, because neither caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engines_share_the_database_without_caching() {
    let Some(ctx) = Ctx::postgres().await else {
        return;
    };
    let other = Secrets::open(ctx.store.clone(), &auto_config(), ctx.data_dir())
        .await
        .unwrap();
    assert!(!ctx.secrets.caches() && !other.caches());
    let (a, b) = (ctx.secrets.kv(), other.kv());
    a.write("shared", obj(json!({"n": 1})), None).await.unwrap();
    assert_eq!(current(&ctx, "shared").await, (1, Some(1)));
    b.write("shared", obj(json!({"n": 2})), None).await.unwrap();
    assert_eq!(current(&ctx, "shared").await, (2, Some(2)), "write");
    b.patch("shared", &json!({"n": 3}), None).await.unwrap();
    assert_eq!(current(&ctx, "shared").await, (3, Some(3)), "patch");
    b.delete_latest("shared").await.unwrap();
    assert_eq!(current(&ctx, "shared").await, (3, None), "delete");
    b.undelete("shared", &[3]).await.unwrap();
    assert_eq!(current(&ctx, "shared").await, (3, Some(3)), "undelete");
    // A's next write compares with the current version B left, not a remembered one.
    a.write("shared", obj(json!({"n": 4})), Some(3))
        .await
        .unwrap();
    b.delete_metadata("shared").await.unwrap();
    assert!(matches!(
        a.read("shared", None).await,
        Err(SecretsError::NotFound)
    ));
    ctx.finish().await;
}

/// SQLite: the engine is the only writer, so it caches; an edit behind its back shows after
/// `clear_cache` (and a fresh engine never sees stale records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_caches_until_cleared() {
    let ctx = Ctx::sqlite().await;
    assert!(ctx.secrets.caches());
    let kv = ctx.secrets.kv();
    kv.write("c", obj(json!({"n": 1})), None).await.unwrap();
    assert_eq!(current(&ctx, "c").await, (1, Some(1)));
    // A second engine writes (not a supported setup on SQLite: it shows what the cache holds).
    let other = Secrets::open(ctx.store.clone(), &auto_config(), ctx.data_dir())
        .await
        .unwrap();
    other
        .kv()
        .write("c", obj(json!({"n": 2})), None)
        .await
        .unwrap();
    assert_eq!(
        current(&ctx, "c").await,
        (1, Some(1)),
        "served from the cache"
    );
    ctx.secrets.clear_cache();
    assert_eq!(
        current(&ctx, "c").await,
        (2, Some(2)),
        "read again after clear"
    );
    // Sealing drops the cache too.
    other
        .kv()
        .write("c", obj(json!({"n": 3})), None)
        .await
        .unwrap();
    ctx.secrets.seal();
    assert!(matches!(
        kv.read("c", None).await,
        Err(SecretsError::Sealed)
    ));
    ctx.finish().await;
}
