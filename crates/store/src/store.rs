//! [`Store`]: the one storage interface, dispatching to a SQLite or PostgreSQL backend.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::StoreError;
use crate::postgres::{self, PgStore};
use crate::records::{ConfigVersion, JoinTokenRecord, ProxyRecord, Redeemed};
use crate::sqlite::{self, SqliteStore};
use crate::url::{Target, parse, redact};

/// How long a query waits for a free pooled connection.
pub(crate) const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle on Rampart's database; cloning it is cheap and shares the connection pool.
///
/// Its `Debug` shows the backend and the URL with any password redacted.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    url: Arc<str>,
}

/// Settings for [`Store::open_with`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) max_connections: u32,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs `$call` on whichever backend `$store` holds, tagging a failure with `$op`.
macro_rules! dispatch {
    ($store:expr, $op:literal, |$b:ident| $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($b) => $call.await.map_err(|source| StoreError::Query {
                backend: sqlite::NAME,
                op: $op,
                source,
            }),
            Backend::Postgres($b) => $call.await.map_err(|source| StoreError::Query {
                backend: postgres::NAME,
                op: $op,
                source,
            }),
        }
    };
}

// After `dispatch!`, which it uses.
mod mesh;
mod oauth;
mod policy;
mod secrets;

// === impl Store ===

impl Store {
    /// Opens the store at `url` with default [`StoreOptions`] and applies pending migrations.
    ///
    /// `sqlite://PATH` or `sqlite:PATH` opens (creating it and its directory if missing) a file in
    /// WAL mode; `sqlite::memory:` a private in-memory database; `postgres://…` or
    /// `postgresql://…` a PostgreSQL server. A server that cannot be reached fails at once, without
    /// retrying: the caller decides whether to try again.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// Like [`Store::open`], with explicit options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let redacted: Arc<str> = redact(url).into();
        let backend = match parse(url)? {
            Target::SqliteFile(path) => {
                Backend::Sqlite(SqliteStore::open_file(&path, options, &redacted).await?)
            }
            Target::SqliteMemory => {
                Backend::Sqlite(SqliteStore::open_memory(options, &redacted).await?)
            }
            Target::Postgres(connect) => {
                Backend::Postgres(PgStore::open(*connect, options, &redacted).await?)
            }
        };
        let store = Store {
            backend,
            url: redacted,
        };
        tracing::info!(backend = store.backend_name(), url = %store.url, "store opened");
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => sqlite::NAME,
            Backend::Postgres(_) => postgres::NAME,
        }
    }

    /// Closes every connection; later queries on this store or its clones fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(b) => b.close().await,
            Backend::Postgres(b) => b.close().await,
        }
    }

    /// Inserts the proxy, or replaces every field of the one with the same `id`.
    pub async fn upsert_proxy(&self, proxy: &ProxyRecord) -> Result<(), StoreError> {
        dispatch!(self, "upsert_proxy", |b| b.upsert_proxy(proxy))
    }

    /// Every known proxy, ordered by `id`.
    pub async fn list_proxies(&self) -> Result<Vec<ProxyRecord>, StoreError> {
        dispatch!(self, "list_proxies", |b| b.list_proxies())
    }

    /// Forgets the proxy `id`; returns whether it was known.
    pub async fn remove_proxy(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self, "remove_proxy", |b| b.remove_proxy(id))
    }

    /// Forgets every proxy last seen strictly before `older_than`; returns how many.
    pub async fn prune_proxies(&self, older_than: SystemTime) -> Result<u64, StoreError> {
        dispatch!(self, "prune_proxies", |b| b.prune_proxies(older_than))
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub async fn put_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        dispatch!(self, "put_meta", |b| b.put_meta(key, value))
    }

    /// The value of `key`, if set.
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, "get_meta", |b| b.meta(key))
    }

    /// Unsets `key`; returns whether it was set.
    pub async fn delete_meta(&self, key: &str) -> Result<bool, StoreError> {
        dispatch!(self, "delete_meta", |b| b.delete_meta(key))
    }

    /// Appends `version` to the history and returns its assigned id (`version.id` is ignored).
    ///
    /// Ids grow with every call, so they order the history.
    pub async fn record_config_version(&self, version: &ConfigVersion) -> Result<i64, StoreError> {
        dispatch!(self, "record_config_version", |b| b
            .record_config_version(version))
    }

    /// The `limit` most recently recorded versions, newest first.
    pub async fn list_config_versions(&self, limit: u32) -> Result<Vec<ConfigVersion>, StoreError> {
        dispatch!(self, "list_config_versions", |b| b
            .list_config_versions(limit))
    }

    /// Stores a new join token (its id must be new).
    pub async fn insert_join_token(&self, token: &JoinTokenRecord) -> Result<(), StoreError> {
        dispatch!(self, "insert_join_token", |b| b.insert_join_token(token))
    }

    /// Marks the token `id` used, atomically, if its secret hash is `secret_hash`, it is
    /// unused and it expires after `now`; otherwise says why not.
    ///
    /// Of any number of concurrent calls for one token, at most one gets
    /// [`Redeemed::Accepted`]. A wrong secret is [`Redeemed::Unknown`], like a wrong id.
    pub async fn redeem_join_token(
        &self,
        id: &str,
        secret_hash: &str,
        now: SystemTime,
    ) -> Result<Redeemed, StoreError> {
        dispatch!(self, "redeem_join_token", |b| b.redeem_join_token(
            id,
            secret_hash,
            now
        ))
    }

    /// Every join token, used or not, oldest first.
    pub async fn list_join_tokens(&self) -> Result<Vec<JoinTokenRecord>, StoreError> {
        dispatch!(self, "list_join_tokens", |b| b.list_join_tokens())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .field("url", &self.url)
            .finish()
    }
}

// === impl StoreOptions ===

impl StoreOptions {
    /// How long opening may wait for the database to accept a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The most connections the pool keeps open (default 8; an in-memory SQLite store uses 1).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// Awaits a backend's first connection, bounded by the connect timeout.
pub(crate) async fn connect_within<T>(
    backend: &'static str,
    url: &str,
    options: &StoreOptions,
    connect: impl Future<Output = sqlx::Result<T>>,
) -> Result<T, StoreError> {
    let source = match tokio::time::timeout(options.connect_timeout, connect).await {
        Ok(Ok(connected)) => return Ok(connected),
        Ok(Err(e)) => e,
        Err(_) => sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no connection within {} ms",
                options.connect_timeout.as_millis()
            ),
        )),
    };
    Err(StoreError::Connect {
        backend,
        url: url.to_owned(),
        source,
    })
}
