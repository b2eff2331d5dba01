//! The typed rows callers read and write, and how rows map onto them.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::time::from_millis;

mod mesh;
mod oauth;
mod policy;
mod secrets;

pub(crate) use self::mesh::columns as mesh_columns;
pub use self::mesh::{
    CaGenerationRecord, IssuedSvidRecord, RevocationRecord, WorkloadEndpointRecord,
};
pub(crate) use self::oauth::columns as oauth_columns;
pub use self::oauth::{OAuthClientRecord, SigningKeyRecord};
pub(crate) use self::policy::columns as policy_columns;
pub use self::policy::{
    POLICY_MODE_DRY_RUN, POLICY_MODE_DRY_RUN_CLEARED, POLICY_MODE_ENFORCE, POLICY_ORIGIN_API,
    POLICY_ORIGIN_CONFIG, PolicyVersionRecord,
};
pub(crate) use self::secrets::columns as secret_columns;
pub(crate) use self::secrets::prefix_successor;
pub use self::secrets::{SecretMetaRecord, SecretVersionRecord, SecretWrite};

/// A proxy (gateway or sidecar) known to the control plane.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRecord {
    pub id: String,
    /// `gateway` or `sidecar`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub address: String,
    /// The configuration version the proxy last reported running.
    pub config_version: String,
    pub started_at: SystemTime,
    pub last_seen: SystemTime,
}

/// One configuration the control plane tried to apply.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigVersion {
    /// Assigned by the store; ignored by [`Store::record_config_version`](crate::Store::record_config_version).
    pub id: i64,
    pub hash: String,
    /// Where the configuration came from (a file path, an API call, …).
    pub source: String,
    pub applied_at: SystemTime,
    pub accepted: bool,
    /// Why it was rejected, when it was.
    pub error: Option<String>,
}

/// A one-time token that bootstraps a workload's identity.
///
/// Only the hash of the secret is stored. Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinTokenRecord {
    /// The token's public id.
    pub id: String,
    /// The hex SHA-256 of the token's secret.
    pub secret_hash: String,
    pub trust_domain: String,
    pub namespace: String,
    pub service: String,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    /// When the token was redeemed; `None` while it is unused.
    pub used_at: Option<SystemTime>,
}

/// The outcome of [`Store::redeem_join_token`](crate::Store::redeem_join_token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The token was valid and is now used; the record as it is after redeeming.
    Accepted(JoinTokenRecord),
    /// No token has this id and secret hash.
    Unknown,
    /// The token was redeemed before.
    AlreadyUsed,
    /// The token expired unused.
    Expired,
}

// === impl ProxyRecord ===

impl ProxyRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            address: row.try_get("address")?,
            config_version: row.try_get("config_version")?,
            started_at: from_millis(row.try_get("started_at_ms")?),
            last_seen: from_millis(row.try_get("last_seen_ms")?),
        })
    }
}

// === impl ConfigVersion ===

impl ConfigVersion {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        Option<String>: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            id: row.try_get("id")?,
            hash: row.try_get("hash")?,
            source: row.try_get("source")?,
            applied_at: from_millis(row.try_get("applied_at_ms")?),
            accepted: row.try_get("accepted")?,
            error: row.try_get("error")?,
        })
    }
}

// === impl JoinTokenRecord ===

impl JoinTokenRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let used_at: Option<i64> = row.try_get("used_at_ms")?;
        Ok(Self {
            id: row.try_get("id")?,
            secret_hash: row.try_get("secret_hash")?,
            trust_domain: row.try_get("trust_domain")?,
            namespace: row.try_get("namespace")?,
            service: row.try_get("service")?,
            created_at: from_millis(row.try_get("created_at_ms")?),
            expires_at: from_millis(row.try_get("expires_at_ms")?),
            used_at: used_at.map(from_millis),
        })
    }
}

/// Why a redeem that matched no unused, unexpired token failed, from the token's
/// `(used_at_ms, expires_at_ms)` when the id and secret hash matched a row.
pub(crate) fn refusal(state: Option<(Option<i64>, i64)>, now_ms: i64) -> Redeemed {
    match state {
        None => Redeemed::Unknown,
        Some((Some(_), _)) => Redeemed::AlreadyUsed,
        Some((None, expires_at_ms)) if expires_at_ms <= now_ms => Redeemed::Expired,
        // Unused and unexpired yet not updated: cannot happen, as `used_at_ms` is only ever
        // set; refuse it all the same.
        Some((None, _)) => Redeemed::AlreadyUsed,
    }
}
