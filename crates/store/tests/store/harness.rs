//! Fresh, isolated databases for each test: a temp dir for SQLite, a new schema for PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_store::{Store, StoreOptions};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

pub const POSTGRES_URL_VAR: &str = "RAMPART_TEST_POSTGRES_URL";

/// One test's private database, which can be opened any number of times.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir { _dir: tempfile::TempDir },
    Schema { admin_url: String, schema: String },
}

/// The server URL from the environment; panics with how to get one when it is missing.
pub fn postgres_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_VAR} is not set: the PostgreSQL tests need a server and fail rather than \
             skip. Start one with `eval \"$(scripts/start-postgres.sh | tail -1)\"`"
        ),
    }
}

impl TestDb {
    /// A database file in a new temp dir, under directories that do not exist yet.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/rampart.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            cleanup: Cleanup::Dir { _dir: dir },
        }
    }

    /// A new schema on the test server, selected through `search_path` in the URL.
    pub async fn postgres() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = postgres_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "rampart_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_exec(&admin_url, &format!("CREATE SCHEMA \"{schema}\"")).await;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        TestDb {
            url: format!("{admin_url}{sep}options=-c%20search_path%3D{schema}"),
            backend: "postgres",
            cleanup: Cleanup::Schema { admin_url, schema },
        }
    }

    /// Opens (and migrates) the store; small pools keep parallel tests under the server's limit.
    pub async fn open(&self) -> Store {
        let options = StoreOptions::default()
            .max_connections(4)
            .connect_timeout(Duration::from_secs(10));
        let store = Store::open_with(&self.url, &options).await.unwrap();
        assert_eq!(store.backend_name(), self.backend);
        store
    }

    /// Drops what the test created (a failed test leaves its schema behind to look at).
    pub async fn finish(self) {
        if let Cleanup::Schema { admin_url, schema } = &self.cleanup {
            admin_exec(admin_url, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
        }
    }
}

async fn admin_exec(admin_url: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
