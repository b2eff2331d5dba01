//! SQLite specifics: the file, its pragmas, the migrations table, bad URLs.

use rampart_logs::{LogError, LogStore, LogStoreOptions};
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Connection, Row};

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

/// The chain covers the body; the indexed columns are what queries filter on. Changing a
/// column of a chained record (to hide it from `service=…` or `decision=…` queries) is found
/// by online verification and named, and undoing it verifies again.
#[tokio::test]
async fn verify_audit_checks_indexed_columns_against_the_body() {
    let db = TestDb::sqlite().await;
    let store = db.open().await;
    store
        .ingest((0..6).map(|_| R::security().build()).collect())
        .await
        .unwrap();
    assert!(store.verify_audit().await.unwrap().ok);
    let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
    for (column, value) in [
        ("service", "'someone-else'"),
        ("kind", "'access'"),
        ("action", "'nothing'"),
        ("time_ms", "1"),
        ("principal", "'forged'"),
    ] {
        // Test-only SQL over a fixed list of column names and literals.
        let before: String = sqlx::query(AssertSqlSafe(format!(
            "SELECT quote({column}) FROM events WHERE chain_seq = 4"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE events SET {column} = {value} WHERE chain_seq = 4"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let report = store.verify_audit().await.unwrap();
        assert!(!report.ok, "{column}");
        let problem = report.problem.unwrap();
        assert_eq!(problem.chain_seq, 4, "{column}");
        assert!(
            problem.detail.contains(column),
            "{column}: {}",
            problem.detail
        );
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE events SET {column} = {before} WHERE chain_seq = 4"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        assert!(store.verify_audit().await.unwrap().ok, "{column} undone");
    }
    conn.close().await.unwrap();
    store.close().await;
}
