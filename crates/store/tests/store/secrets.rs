//! The secrets tables, on both backends: CAS writes, versions, soft delete and destroy, listing,
//! the keyring and key rotation.

use rampart_store::{SecretMetaRecord, SecretVersionRecord, SecretWrite, Store};

use crate::harness::TestDb;

const T0: i64 = 1_700_000_000_000;

fn meta(path: &str, current: i64, oldest: i64) -> SecretMetaRecord {
    SecretMetaRecord {
        path: path.to_owned(),
        current_version: current,
        oldest_version: oldest,
        max_versions: 0,
        cas_required: false,
        delete_version_after_secs: 0,
        custom_metadata: r#"{"owner":"team-a"}"#.to_owned(),
        created_at_ms: T0,
        updated_at_ms: T0 + current,
    }
}

fn version(path: &str, version: i64, kek_id: i64) -> SecretVersionRecord {
    SecretVersionRecord {
        path: path.to_owned(),
        version,
        created_at_ms: T0 + version,
        deleted_at_ms: None,
        destroyed: false,
        kek_id,
        wrapped_dek: format!("dek-{path}-{version}").into_bytes(),
        ciphertext: format!("ct-{path}-{version}\0\u{ff}").into_bytes(),
    }
}

/// The write of version `expected + 1` of `path`, keeping versions from `oldest` on.
fn write(path: &str, expected: i64, oldest: i64) -> SecretWrite {
    SecretWrite {
        expected_current: expected,
        meta: meta(path, expected + 1, oldest),
        version: version(path, expected + 1, 1),
        prune_below: oldest,
    }
}

/// Writes versions 1..=n of `path` (no pruning).
async fn write_versions(store: &Store, path: &str, n: i64) {
    for v in 0..n {
        assert!(store.secret_write(&write(path, v, 1)).await.unwrap());
    }
}

fn metadata_only(mut v: SecretVersionRecord) -> SecretVersionRecord {
    v.wrapped_dek.clear();
    v.ciphertext.clear();
    v
}

pub async fn secret_write_and_read_current_and_by_version(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.secret_read("app/db", None).await.unwrap(), None);
    assert_eq!(store.secret_meta("app/db").await.unwrap(), None);

    write_versions(&store, "app/db", 3).await;
    let (m, v) = store.secret_read("app/db", None).await.unwrap().unwrap();
    assert_eq!(m, meta("app/db", 3, 1));
    assert_eq!(v, Some(version("app/db", 3, 1)));
    let (_, v1) = store.secret_read("app/db", Some(1)).await.unwrap().unwrap();
    assert_eq!(v1, Some(version("app/db", 1, 1)));
    let (m, none) = store.secret_read("app/db", Some(9)).await.unwrap().unwrap();
    assert_eq!((m.current_version, none), (3, None));
    assert_eq!(
        store.secret_meta("app/db").await.unwrap(),
        Some(meta("app/db", 3, 1))
    );
    let listed = store.secret_versions("app/db").await.unwrap();
    let expected: Vec<_> = (1..=3)
        .map(|n| metadata_only(version("app/db", n, 1)))
        .collect();
    assert_eq!(listed, expected, "oldest first, without the blobs");

    // A metadata-only row (no version yet) reads as meta without a version.
    assert!(
        !store
            .secret_put_meta(&meta("app/empty", 0, 0))
            .await
            .unwrap()
    );
    let (m, v) = store.secret_read("app/empty", None).await.unwrap().unwrap();
    assert_eq!((m.current_version, v), (0, None));
}

pub async fn secret_cas_conflict_returns_false_and_changes_nothing(db: &TestDb) {
    let store = db.open().await;
    assert!(
        !store.secret_write(&write("app/db", 1, 1)).await.unwrap(),
        "no row means current 0"
    );
    assert_eq!(store.secret_meta("app/db").await.unwrap(), None);
    write_versions(&store, "app/db", 2).await;

    for stale in [0, 1, 5] {
        let mut w = write("app/db", stale, 1);
        w.meta.current_version = 3;
        w.version.version = 3;
        assert!(!store.secret_write(&w).await.unwrap(), "expected {stale}");
    }
    // A version row that already exists is a conflict too, and rolls the meta update back.
    let mut duplicate = write("app/db", 2, 1);
    duplicate.version = version("app/db", 1, 9);
    assert!(!store.secret_write(&duplicate).await.unwrap());
    assert_eq!(
        store.secret_meta("app/db").await.unwrap(),
        Some(meta("app/db", 2, 1))
    );
    assert_eq!(store.secret_versions("app/db").await.unwrap().len(), 2);
    let (_, v) = store.secret_read("app/db", Some(3)).await.unwrap().unwrap();
    assert_eq!(v, None);
    let (_, v) = store.secret_read("app/db", Some(1)).await.unwrap().unwrap();
    assert_eq!(v, Some(version("app/db", 1, 1)));
}

pub async fn secret_write_prunes_versions_below(db: &TestDb) {
    let store = db.open().await;
    write_versions(&store, "app/db", 4).await;
    let mut w = write("app/db", 4, 3);
    w.prune_below = 3;
    assert!(store.secret_write(&w).await.unwrap());
    let kept: Vec<i64> = store
        .secret_versions("app/db")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [3, 4, 5]);
    assert_eq!(
        store
            .secret_meta("app/db")
            .await
            .unwrap()
            .unwrap()
            .oldest_version,
        3
    );
    let (_, gone) = store.secret_read("app/db", Some(2)).await.unwrap().unwrap();
    assert_eq!(gone, None);
}

pub async fn concurrent_secret_writers_one_wins(db: &TestDb) {
    let store = db.open().await;
    for expected in [0, 1] {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let mut w = write("app/race", expected, 1);
                w.version.ciphertext = format!("writer-{i}").into_bytes();
                tokio::spawn(async move { store.secret_write(&w).await.unwrap() })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap());
        }
        assert_eq!(won, 1, "expected_current {expected}");
        let m = store.secret_meta("app/race").await.unwrap().unwrap();
        assert_eq!(m.current_version, expected + 1);
    }
    assert_eq!(store.secret_versions("app/race").await.unwrap().len(), 2);
}

pub async fn secret_soft_delete_undelete_and_destroy(db: &TestDb) {
    let store = db.open().await;
    write_versions(&store, "app/db", 3).await;
    write_versions(&store, "app/other", 1).await;
    assert_eq!(
        store
            .secret_set_deleted("app/db", &[], Some(T0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .secret_set_deleted("app/db", &[1, 2, 7], Some(T0 + 50))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .secret_set_deleted("app/db", &[1], Some(T0 + 60))
            .await
            .unwrap(),
        0,
        "already deleted"
    );
    let (_, v) = store.secret_read("app/db", Some(2)).await.unwrap().unwrap();
    assert_eq!(v.unwrap().deleted_at_ms, Some(T0 + 50));
    assert_eq!(
        store
            .secret_set_deleted("app/db", &[2, 3], None)
            .await
            .unwrap(),
        1
    );
    let (_, v) = store.secret_read("app/db", Some(2)).await.unwrap().unwrap();
    assert_eq!(v, Some(version("app/db", 2, 1)), "undeleted keeps its data");

    assert_eq!(store.secret_destroy("app/db", &[1, 3]).await.unwrap(), 2);
    assert_eq!(store.secret_destroy("app/db", &[1]).await.unwrap(), 0);
    let (_, v) = store.secret_read("app/db", Some(1)).await.unwrap().unwrap();
    let v = v.unwrap();
    assert!(v.destroyed);
    assert!(v.wrapped_dek.is_empty() && v.ciphertext.is_empty());
    assert_eq!(
        store
            .secret_set_deleted("app/db", &[1], None)
            .await
            .unwrap(),
        0,
        "a destroyed version is not undeleted"
    );
    let (_, v) = store.secret_read("app/db", Some(2)).await.unwrap().unwrap();
    assert_eq!(v, Some(version("app/db", 2, 1)), "others untouched");
    let (_, v) = store.secret_read("app/other", None).await.unwrap().unwrap();
    assert_eq!(v, Some(version("app/other", 1, 1)), "other paths untouched");
}

pub async fn secret_delete_all_removes_meta_and_versions(db: &TestDb) {
    let store = db.open().await;
    write_versions(&store, "app/db", 2).await;
    write_versions(&store, "app/dbx", 1).await;
    assert!(store.secret_delete_all("app/db").await.unwrap());
    assert!(!store.secret_delete_all("app/db").await.unwrap());
    assert_eq!(store.secret_read("app/db", None).await.unwrap(), None);
    assert!(store.secret_versions("app/db").await.unwrap().is_empty());
    assert!(store.secret_read("app/dbx", None).await.unwrap().is_some());
    // The path starts over at version 1.
    assert!(store.secret_write(&write("app/db", 0, 1)).await.unwrap());
    let (m, _) = store.secret_read("app/db", None).await.unwrap().unwrap();
    assert_eq!(m.current_version, 1);
}

pub async fn secret_put_meta_creates_or_updates_settings_only(db: &TestDb) {
    let store = db.open().await;
    write_versions(&store, "app/db", 2).await;
    let mut settings = meta("app/db", 99, 99);
    settings.max_versions = 5;
    settings.cas_required = true;
    settings.delete_version_after_secs = 3600;
    settings.custom_metadata = r#"{"k":"v"}"#.to_owned();
    settings.created_at_ms = 1;
    settings.updated_at_ms = T0 + 500;
    assert!(store.secret_put_meta(&settings).await.unwrap(), "existed");
    let stored = store.secret_meta("app/db").await.unwrap().unwrap();
    assert_eq!(
        stored,
        SecretMetaRecord {
            current_version: 2,
            oldest_version: 1,
            created_at_ms: T0,
            ..settings
        }
    );
}

pub async fn secret_list_takes_the_prefix_literally(db: &TestDb) {
    let store = db.open().await;
    let paths = [
        "a%_/x",
        "a%_/y/z",
        "a%_",
        "aXY/x",
        "a%Z/x",
        "a%_0",
        "b/c",
        "a",
        "a%_/\u{e9}",
    ];
    for p in paths {
        write_versions(&store, p, 1).await;
    }
    assert_eq!(
        store.secret_list("a%_/").await.unwrap(),
        ["a%_/x", "a%_/y/z", "a%_/\u{e9}"]
    );
    assert_eq!(
        store.secret_list("a%_").await.unwrap(),
        ["a%_", "a%_/x", "a%_/y/z", "a%_/\u{e9}", "a%_0"]
    );
    assert!(store.secret_list("a_").await.unwrap().is_empty());
    let mut all: Vec<&str> = paths.to_vec();
    all.sort_unstable();
    assert_eq!(store.secret_list("").await.unwrap(), all, "sorted by bytes");
}

pub async fn secret_keyring_and_configs_compare_and_swap(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.secret_keyring().await.unwrap(), None);
    assert!(!store.secret_put_keyring(b"k2", Some(b"k1")).await.unwrap());
    assert!(store.secret_put_keyring(b"k1", None).await.unwrap());
    assert!(
        !store.secret_put_keyring(b"other", None).await.unwrap(),
        "exists"
    );
    assert!(
        !store
            .secret_put_keyring(b"k2", Some(b"stale"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.secret_keyring().await.unwrap().as_deref(),
        Some(&b"k1"[..])
    );
    assert!(store.secret_put_keyring(b"k2", Some(b"k1")).await.unwrap());
    assert_eq!(
        store.secret_keyring().await.unwrap().as_deref(),
        Some(&b"k2"[..])
    );

    assert_eq!(store.secret_seal_config().await.unwrap(), None);
    assert_eq!(store.secret_config().await.unwrap(), None);
    store
        .secret_put_seal_config(r#"{"shares":5}"#)
        .await
        .unwrap();
    store
        .secret_put_seal_config(r#"{"shares":3}"#)
        .await
        .unwrap();
    store
        .secret_put_config(r#"{"max_versions":10}"#)
        .await
        .unwrap();
    assert_eq!(
        store.secret_seal_config().await.unwrap().as_deref(),
        Some(r#"{"shares":3}"#)
    );
    assert_eq!(
        store.secret_config().await.unwrap().as_deref(),
        Some(r#"{"max_versions":10}"#)
    );
}

pub async fn secret_rewrap_moves_deks_to_the_new_kek(db: &TestDb) {
    let store = db.open().await;
    write_versions(&store, "b/s", 2).await;
    write_versions(&store, "a/s", 1).await;
    let mut w = write("c/s", 0, 1);
    w.version.kek_id = 2;
    assert!(store.secret_write(&w).await.unwrap());
    store.secret_destroy("b/s", &[1]).await.unwrap();

    let batch = store.secret_versions_by_kek(1, 10).await.unwrap();
    assert_eq!(
        batch,
        [
            ("a/s".to_owned(), 1, b"dek-a/s-1".to_vec()),
            ("b/s".to_owned(), 2, b"dek-b/s-2".to_vec()),
        ],
        "live versions under kek 1, by path and version"
    );
    assert_eq!(store.secret_versions_by_kek(1, 1).await.unwrap().len(), 1);

    assert!(
        store
            .secret_rewrap_dek("a/s", 1, 1, 2, b"new-a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .secret_rewrap_dek("a/s", 1, 1, 3, b"newer")
            .await
            .unwrap(),
        "no longer under kek 1"
    );
    assert!(
        !store.secret_rewrap_dek("b/s", 1, 1, 2, b"x").await.unwrap(),
        "destroyed"
    );
    assert!(
        !store.secret_rewrap_dek("z/s", 1, 1, 2, b"x").await.unwrap(),
        "missing"
    );
    let (_, v) = store.secret_read("a/s", None).await.unwrap().unwrap();
    let v = v.unwrap();
    assert_eq!((v.kek_id, v.wrapped_dek.as_slice()), (2, &b"new-a"[..]));
    assert_eq!(
        v.ciphertext,
        version("a/s", 1, 1).ciphertext,
        "data untouched"
    );
    assert_eq!(store.secret_versions_by_kek(1, 10).await.unwrap().len(), 1);
    assert_eq!(store.secret_versions_by_kek(2, 10).await.unwrap().len(), 2);
}

#[test]
fn secret_version_debug_hides_the_blobs() {
    let v = version("app/db", 1, 1);
    let shown = format!("{v:?}");
    assert!(
        !shown.contains("ct-app") && !shown.contains("dek-app"),
        "{shown}"
    );
    assert!(shown.contains("ciphertext_len"), "{shown}");
}
