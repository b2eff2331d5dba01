//! The rows of the mesh: issued SVIDs, revocations, workload endpoints and CA generations.

use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::time::from_millis;

/// An X.509-SVID the control plane issued.
///
/// Serials are lowercase hex of the certificate's serial bytes without leading zero bytes.
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedSvidRecord {
    pub serial: String,
    pub spiffe_id: String,
    pub issued_at: SystemTime,
    /// The certificate's notAfter.
    pub expires_at: SystemTime,
    /// `join` (redeemed a join token), `renew` (over mTLS with the previous SVID) or `local`
    /// (issued in-process to the control plane's own gateway).
    pub how: String,
    /// The serial of the SVID this one renewed, for `renew`.
    pub renewed_from: Option<String>,
    /// The hex SHA-256 of the certificate (DER) of the CA that signed it.
    pub ca_fingerprint: String,
    /// When it was revoked; set by [`Store::insert_revocation`](crate::Store::insert_revocation),
    /// ignored on insert.
    pub revoked_at: Option<SystemTime>,
}

/// A revoked serial, kept until its certificate expires.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRecord {
    pub serial: String,
    pub spiffe_id: String,
    pub revoked_at: SystemTime,
    /// The certificate's notAfter: past it, the revocation is pruned.
    pub expires_at: SystemTime,
    /// Why (for people), e.g. `service orders.shop revoked by an administrator`.
    pub reason: String,
}

/// One registered instance (a sidecar) of a workload identity.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadEndpointRecord {
    pub spiffe_id: String,
    /// Chosen by the workload, unique per identity (e.g. a pod or host name).
    pub instance: String,
    pub service: String,
    pub namespace: String,
    /// `host:port` of the instance's inbound mTLS listener.
    pub address: String,
    /// When the instance first registered; kept by later upserts.
    pub registered_at: SystemTime,
    /// The last heartbeat.
    pub last_seen: SystemTime,
}

/// One generation of the workload CA.
///
/// Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaGenerationRecord {
    /// 1 for the control plane's own CA, then 2, 3, … for each rollover.
    pub generation: u32,
    /// The hex SHA-256 of the CA certificate (DER).
    pub fingerprint: String,
    /// The CA certificate's notAfter.
    pub not_after: SystemTime,
    pub created_at: SystemTime,
    /// Whether its root is in the trust bundle.
    pub trusted: bool,
    /// Whether it signs new SVIDs; exactly one generation does.
    pub active: bool,
}

// === impl IssuedSvidRecord ===

impl IssuedSvidRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        Option<String>: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let revoked_at: Option<i64> = row.try_get("revoked_at_ms")?;
        Ok(Self {
            serial: row.try_get("serial")?,
            spiffe_id: row.try_get("spiffe_id")?,
            issued_at: from_millis(row.try_get("issued_at_ms")?),
            expires_at: from_millis(row.try_get("expires_at_ms")?),
            how: row.try_get("how")?,
            renewed_from: row.try_get("renewed_from")?,
            ca_fingerprint: row.try_get("ca_fingerprint")?,
            revoked_at: revoked_at.map(from_millis),
        })
    }
}

// === impl RevocationRecord ===

impl RevocationRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            serial: row.try_get("serial")?,
            spiffe_id: row.try_get("spiffe_id")?,
            revoked_at: from_millis(row.try_get("revoked_at_ms")?),
            expires_at: from_millis(row.try_get("expires_at_ms")?),
            reason: row.try_get("reason")?,
        })
    }
}

// === impl WorkloadEndpointRecord ===

impl WorkloadEndpointRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            spiffe_id: row.try_get("spiffe_id")?,
            instance: row.try_get("instance")?,
            service: row.try_get("service")?,
            namespace: row.try_get("namespace")?,
            address: row.try_get("address")?,
            registered_at: from_millis(row.try_get("registered_at_ms")?),
            last_seen: from_millis(row.try_get("last_seen_ms")?),
        })
    }
}

// === impl CaGenerationRecord ===

impl CaGenerationRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        let generation: i64 = row.try_get("generation")?;
        Ok(Self {
            generation: u32::try_from(generation).map_err(|e| sqlx::Error::ColumnDecode {
                index: "generation".to_owned(),
                source: Box::new(e),
            })?,
            fingerprint: row.try_get("fingerprint")?,
            not_after: from_millis(row.try_get("not_after_ms")?),
            created_at: from_millis(row.try_get("created_at_ms")?),
            trusted: row.try_get("trusted")?,
            active: row.try_get("active")?,
        })
    }
}

/// The column lists of the mesh tables, as literals for `concat!`, shared by both backends'
/// statements so that every `SELECT` matches the `from_row` readers above.
pub(crate) mod columns {
    macro_rules! svid_columns {
        () => {
            "serial, spiffe_id, issued_at_ms, expires_at_ms, how, renewed_from, ca_fingerprint, revoked_at_ms"
        };
    }
    macro_rules! revocation_columns {
        () => {
            "serial, spiffe_id, revoked_at_ms, expires_at_ms, reason"
        };
    }
    macro_rules! endpoint_columns {
        () => {
            "spiffe_id, instance, service, namespace, address, registered_at_ms, last_seen_ms"
        };
    }
    macro_rules! generation_columns {
        () => {
            "generation, fingerprint, not_after_ms, created_at_ms, trusted, active"
        };
    }
    pub(crate) use {endpoint_columns, generation_columns, revocation_columns, svid_columns};
}
