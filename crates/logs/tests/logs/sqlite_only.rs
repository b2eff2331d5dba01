//! SQLite specifics: the file, its pragmas, the migrations table, bad URLs.

use rampart_logs::{LogError, LogStore, LogStoreOptions};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use crate::harness::{R, TestDb};

#[tokio::test]
async fn file_is_wal_with_its_own_migrations_table() {
    let db = TestDb::sqlite().await;
    let store = db.open().await;
    store.ingest(vec![R::access().build()]).await.unwrap();
    let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM _rampart_logs_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    conn.close().await.unwrap();
    // Opening again does not re-apply anything.
    store.close().await;
    db.open().await.close().await;
}

#[tokio::test]
async fn bad_urls_are_clear_errors() {
    for url in [
        "sqlite::memory:",
        "sqlite://",
        "mysql://u:pw@h/db",
        "nothing",
    ] {
        match LogStore::open(url, LogStoreOptions::default()).await {
            Err(e @ (LogError::InvalidUrl { .. } | LogError::UnsupportedScheme { .. })) => {
                assert!(!e.to_string().contains("pw@"), "{e}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    match LogStore::open(
        "postgres://u:hunter2@127.0.0.1:1/db",
        LogStoreOptions::default(),
    )
    .await
    {
        Err(e @ LogError::Connect { .. }) => assert!(!e.to_string().contains("hunter2"), "{e}"),
        other => panic!("{other:?}"),
    }
}
