//! What only the SQLite backend promises: a WAL file on disk, and an in-memory mode.

use rampart_store::Store;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use crate::harness::TestDb;

#[tokio::test]
async fn file_store_is_created_with_its_directories_in_wal_mode() {
    let db = TestDb::sqlite().await;
    let store = db.open().await;
    store.put_meta("k", "v").await.unwrap();

    let path = db.url.strip_prefix("sqlite://").unwrap();
    assert!(std::path::Path::new(path).is_file());
    // The journal mode is stored in the file, so a fresh connection sees what the store set.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();

    store.close().await;
    db.finish().await;
}

#[tokio::test]
async fn sqlite_url_forms_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short-form.db");
    for url in [
        format!("sqlite:{}", path.display()),
        "sqlite::memory:".to_owned(),
    ] {
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend_name(), "sqlite");
        store.put_meta("k", "v").await.unwrap();
        assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v"));
        store.close().await;
    }
    assert!(path.is_file());
}

#[tokio::test]
async fn memory_stores_are_private_and_keep_data_while_open() {
    let a = Store::open("sqlite::memory:").await.unwrap();
    let b = Store::open("sqlite::memory:").await.unwrap();
    a.put_meta("k", "a").await.unwrap();
    assert_eq!(b.get_meta("k").await.unwrap(), None);
    // Let the pool sit idle a moment: the one connection must not be recycled.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(a.clone().get_meta("k").await.unwrap().as_deref(), Some("a"));
}
