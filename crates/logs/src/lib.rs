//! The event log: where every event of the platform ends up, once.
//!
//! Owns: the event tables and every SQL statement on them (SQLite in its own file by default,
//! PostgreSQL when configured), ingest with de-duplication by event id, the query language of
//! `rampart logs query`, live tailing, retention, and the audit chain (hash links over security,
//! admin, alert and incident records, signed checkpoints, verification online and from an export).
//! Must not: know HTTP, NATS or the control plane's types, or hold the platform's other state
//! (that is `rampart-store`). The contract is `docs/logs.md`.

pub mod audit;
