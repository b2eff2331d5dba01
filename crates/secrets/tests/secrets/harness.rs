//! A fresh store and an auto-unsealed [`Secrets`] per test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_config::{SealMode, SecretsConfig};
use rampart_secrets::Secrets;
use rampart_store::{Store, StoreOptions};
use serde_json::{Map, Value};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

const POSTGRES_URL_VAR: &str = "RAMPART_TEST_POSTGRES_URL";

/// One test's database, data directory and engine.
pub struct Ctx {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub secrets: Secrets,
    /// The SQLite file (None on PostgreSQL).
    pub db_file: Option<PathBuf>,
    schema: Option<(String, String)>,
}

impl Ctx {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db/rampart.db");
        let url = format!("sqlite://{}", file.display());
        Self::build(dir, url, Some(file), None).await
    }

    pub async fn postgres() -> Option<Self> {
        let admin_url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                eprintln!("{POSTGRES_URL_VAR} not set: PostgreSQL case skipped");
                return None;
            }
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!(
            "rampart_secrets_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_exec(&admin_url, &format!("CREATE SCHEMA \"{schema}\"")).await;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
        let dir = tempfile::tempdir().unwrap();
        Some(Self::build(dir, url, None, Some((admin_url, schema))).await)
    }

    async fn build(
        dir: tempfile::TempDir,
        url: String,
        db_file: Option<PathBuf>,
        schema: Option<(String, String)>,
    ) -> Self {
        let store = open_store(&url).await;
        let secrets = Secrets::open(store.clone(), &auto_config(), dir.path())
            .await
            .unwrap();
        Ctx {
            dir,

            store,
            secrets,
            db_file,
            schema,
        }
    }

    /// The data directory (holds the auto-unseal key file).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, schema)) = &self.schema {
            admin_exec(admin_url, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
        }
    }
}

pub async fn open_store(url: &str) -> Store {
    let options = StoreOptions::default()
        .max_connections(4)
        .connect_timeout(Duration::from_secs(10));
    Store::open_with(url, &options).await.unwrap()
}

/// Auto mode with the key file in the data directory and no environment variable.
pub fn auto_config() -> SecretsConfig {
    SecretsConfig {
        root_key_env: String::new(),
        ..SecretsConfig::default()
    }
}

/// Shamir mode.
pub fn shamir_config() -> SecretsConfig {
    SecretsConfig {
        seal: SealMode::Shamir,
        root_key_env: String::new(),
        ..SecretsConfig::default()
    }
}

/// A JSON object literal as a map.
pub fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn admin_exec(admin_url: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin_url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
