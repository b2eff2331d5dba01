//! Fresh, isolated databases for each test (a temp dir for SQLite, a new schema for PostgreSQL),
//! and a builder for records.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_events::{EventRecord, RecordKind};
use rampart_logs::audit::AuditSigner;
use rampart_logs::{LogStore, LogStoreOptions};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
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

/// Holds the database's write path (SQLite write lock, or the PostgreSQL audit head row) so the
/// writer blocks; released on `release`.
pub enum Blocker {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

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
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/events.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            cleanup: Cleanup::Dir { _dir: dir },
        }
    }

    pub async fn postgres() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin_url = postgres_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "rampart_logs_test_{}_{}_{nanos}",
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

    /// Options for tests: a signer, no periodic checkpoints or retention runs during the test.
    pub fn options() -> LogStoreOptions {
        let (signer, _) = AuditSigner::generate().unwrap();
        LogStoreOptions {
            signer: Some(Arc::new(signer)),
            checkpoint_interval: Duration::from_secs(3600),
            retention_every: Duration::from_secs(3600),
            ..LogStoreOptions::default()
        }
    }

    pub async fn open(&self) -> LogStore {
        self.open_with(Self::options()).await
    }

    pub async fn open_with(&self, opts: LogStoreOptions) -> LogStore {
        let store = LogStore::open(&self.url, opts).await.unwrap();
        assert_eq!(store.backend_name(), self.backend);
        store
    }

    /// Blocks the writer's next transaction that touches the chain.
    pub async fn block_writer(&self) -> Blocker {
        if self.backend == "sqlite" {
            let path = self.url.trim_start_matches("sqlite://");
            let mut conn = SqliteConnection::connect(&format!("sqlite://{path}"))
                .await
                .unwrap();
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Blocker::Sqlite(conn)
        } else {
            let mut conn = PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql("BEGIN; SELECT * FROM audit_head FOR UPDATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Blocker::Postgres(conn)
        }
    }

    pub async fn finish(self) {
        if let Cleanup::Schema { admin_url, schema } = &self.cleanup {
            admin_exec(admin_url, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
        }
    }
}

impl Blocker {
    pub async fn release(self) {
        match self {
            Blocker::Sqlite(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Blocker::Postgres(mut c) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
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

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A record builder: `R::access().service("orders").status(500).build()`.
#[derive(Clone)]
pub struct R {
    kind: RecordKind,
    action: String,
    service: String,
    principal: Option<String>,
    decision: Option<String>,
    status: Option<u16>,
    time_ms: i64,
    message: String,
}

impl R {
    pub fn access() -> Self {
        Self {
            kind: RecordKind::Access,
            action: "http_request".into(),
            service: "orders".into(),
            principal: None,
            decision: Some("allow".into()),
            status: Some(200),
            time_ms: now_ms(),
            message: String::new(),
        }
    }

    pub fn chained(kind: RecordKind, action: &str) -> Self {
        Self {
            kind,
            action: action.into(),
            decision: None,
            status: None,
            ..Self::access()
        }
    }

    pub fn security() -> Self {
        Self::chained(RecordKind::Security, "policy_denied")
    }

    pub fn service(mut self, s: &str) -> Self {
        self.service = s.into();
        self
    }
    pub fn principal(mut self, s: &str) -> Self {
        self.principal = Some(s.into());
        self
    }
    pub fn decision(mut self, s: &str) -> Self {
        self.decision = Some(s.into());
        self
    }
    pub fn status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }
    pub fn time(mut self, ms: i64) -> Self {
        self.time_ms = ms;
        self
    }
    pub fn message(mut self, s: &str) -> Self {
        self.message = s.into();
        self
    }

    pub fn build(&self) -> EventRecord {
        let mut v = serde_json::json!({
            "event.id": uuid::Uuid::now_v7().hyphenated().to_string(),
            "rampart.schema": 1,
            "@timestamp": self.time_ms,
            "event.kind": self.kind,
            "event.action": self.action,
            "service.name": self.service,
            "message": self.message,
        });
        if let Some(p) = &self.principal {
            v["user.id"] = p.clone().into();
        }
        if let Some(d) = &self.decision {
            v["decision"] = d.clone().into();
        }
        if let Some(s) = self.status {
            v["http.response.status_code"] = s.into();
        }
        EventRecord::parse(v.to_string().as_bytes()).unwrap()
    }
}
