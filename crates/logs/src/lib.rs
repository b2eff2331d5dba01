//! The event log: where every event of the platform ends up, once.
//!
//! Owns: the event tables and every SQL statement on them (SQLite in its own file by default,
//! PostgreSQL when configured), ingest with de-duplication by event id, the query language of
//! `rampart logs query`, live tailing, retention, and the audit chain (hash links over security,
//! admin, alert and incident records, signed checkpoints, verification online and from an export).
//! Must not: know HTTP, NATS or the control plane's types, or hold the platform's other state
//! (that is `rampart-store`). The contract is `docs/logs.md`.
//!
//! # API
//!
//! - [`LogStore::open`]`(url, `[`LogStoreOptions`]`)`: `sqlite://PATH` (WAL, `synchronous=NORMAL`)
//!   or `postgres://…`; migrations tracked in `_rampart_logs_migrations`.
//! - [`LogStore::ingest`] / [`LogStore::try_ingest`] (`Err(LogError::Busy)` when the bounded queue
//!   is full) → [`IngestOutcome`](rampart_events::IngestOutcome). One writer task per store
//!   coalesces queued batches into one transaction; duplicate ids are dropped and counted;
//!   chained records get `chain_seq`, `prev_hash` and `hash = audit::link_hash(prev, body)` under
//!   the head lock (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).
//! - Checkpoints every `checkpoint_every` chained records or `checkpoint_interval` (if the head
//!   moved), signed with `LogStoreOptions::signer`; [`LogStore::checkpoint_now`].
//! - [`Query::parse`] (see [`query`] for the language), [`LogStore::query`],
//!   [`LogStore::query_after`], [`LogStore::count`], [`LogStore::subscribe`] (in-process tail).
//! - [`LogStore::enforce_retention`] (also run every `retention_every`): [`Retention`].
//! - For `audit::verify`/`audit::export`: [`LogStore::chain_rows`] ([`ChainRow`]),
//!   [`LogStore::checkpoints`], [`LogStore::audit_head`], [`LogStore::audit_start`] (the
//!   `audit::StartPoint` after retention), [`LogStore::audit_keys`]; `ChainRow` converts into
//!   `audit::ChainEntry`.
//!
//! Metrics: `rampart_events_ingested_total`, `rampart_events_duplicates_total`,
//! `rampart_events_ingest_lag_seconds` (histogram, event time to commit),
//! `rampart_audit_checkpoints_total`.

pub mod audit;
mod audit_io;
mod chain_rows;
mod error;
mod migrations;
mod options;
pub mod query;
mod retention;
mod store;
mod stored;
mod url;
mod writer;

pub use chain_rows::{ChainRow, RowColumns};
pub use error::LogError;
pub use options::{LogStoreOptions, Retention};
pub use query::{Query, QueryError};
pub use retention::RetentionReport;
pub use store::LogStore;
pub use stored::StoredEvent;
