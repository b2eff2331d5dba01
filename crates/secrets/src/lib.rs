//! Rampart's secrets store engine: key hierarchy, sealing (Shamir, auto-unseal), the KV v2
//! rules and root rotation; no HTTP, no SQL (see `docs/secrets.md`).
//!
//! [`Secrets::open`] gives the sealing state machine; [`Secrets::kv`] the KV v2 engine
//! [`Kv`]. Plaintext keys live only in memory while unsealed, in zeroizing buffers; values and
//! keys never appear in errors or `Debug` output.

mod auto;
#[doc(hidden)]
pub mod bench_support;
mod error;
mod keyring;
mod keys;
mod kv;
mod platform;
mod rotate;
mod seal;
mod shamir;
mod state;

pub use crate::error::SecretsError;
pub use crate::keys::{DataKey, Kek, RootKey};
pub use crate::kv::{
    Kv, KvConfig, KvConfigUpdate, MetadataUpdate, RESERVED_PREFIX, ReadOutcome, SecretMetadata,
    VersionMeta, Versioned, is_reserved, validate_path,
};
pub use crate::platform::Platform;
pub use crate::rotate::KeyStatus;
pub use crate::seal::{SealStatus, Secrets, UnsealProgress};
