//! Rampart's storage interface with SQLite (embedded default) and PostgreSQL backends and their
//! migrations.
//!
//! This crate owns the schema and every SQL statement Rampart runs: a [`Store`] is opened from a
//! URL (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`), applies its backend's embedded
//! migrations, and offers typed async methods. Callers never see SQL or a backend type. It must not
//! know about HTTP, Cedar (policy sets are stored as text) or the control plane's API types, and it must never print or return a
//! password taken from a URL.
//!
//! New tables come in new, version-numbered migration files
//! (`migrations/{sqlite,postgres}/NNNN_name.sql`) listed in `migrations.rs`; an applied migration is
//! never edited.

mod error;
mod migrations;
mod postgres;
mod records;
mod sqlite;
mod store;
mod time;
mod url;

pub use crate::error::StoreError;
pub use crate::records::{
    CaGenerationRecord, ConfigVersion, IssuedSvidRecord, JoinTokenRecord, OAuthClientRecord,
    POLICY_MODE_DRY_RUN, POLICY_MODE_DRY_RUN_CLEARED, POLICY_MODE_ENFORCE, POLICY_ORIGIN_API,
    POLICY_ORIGIN_CONFIG, PolicyVersionRecord, ProxyRecord, Redeemed, RevocationRecord,
    SecretMetaRecord, SecretVersionRecord, SecretWrite, SigningKeyRecord, WorkloadEndpointRecord,
};
pub use crate::store::{Store, StoreOptions};
