//! The rows of the OAuth2 authorization server: clients, signing keys.

use std::fmt;
use std::time::SystemTime;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::time::from_millis;

/// A registered OAuth client.
///
/// Only the argon2id hash of a secret is stored. Times are stored with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClientRecord {
    pub id: String,
    pub name: String,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
    /// `client_secret`, `private_key_jwt` or `tls_client_auth`.
    pub auth_method: String,
    /// For `client_secret`: the PHC string of the secret's argon2id hash.
    pub secret_hash: Option<String>,
    /// For `private_key_jwt`: the registered public JWK (JSON).
    pub public_jwk: Option<String>,
    /// For `tls_client_auth`: the SPIFFE id or subject its client certificate must carry.
    pub tls_subject: Option<String>,
    /// The `aud` of its tokens when it asks for none.
    pub default_audience: Option<String>,
    pub created_at: SystemTime,
}

/// A key that signs access tokens, with its place in the rotation.
///
/// Its `Debug` never shows the private key. Times are stored with millisecond precision.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The RFC 7638 thumbprint of its public key.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: String,
    /// The PKCS#8 DER of the private key (stored as is for now; encrypted at rest later).
    pub private_pkcs8: Vec<u8>,
    /// `next` (published, not signing yet), `active` (signs) or `retired` (published until
    /// `retire_after`).
    pub state: String,
    pub created_at: SystemTime,
    /// When it became active.
    pub activates_at: Option<SystemTime>,
    /// For a retired key: when its last token has expired and it leaves the JWKS.
    pub retire_after: Option<SystemTime>,
}

// === impl OAuthClientRecord ===

impl OAuthClientRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        Option<String>: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
    {
        let scopes: String = row.try_get("scopes")?;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            auth_method: row.try_get("auth_method")?,
            secret_hash: row.try_get("secret_hash")?,
            public_jwk: row.try_get("public_jwk")?,
            tls_subject: row.try_get("tls_subject")?,
            default_audience: row.try_get("default_audience")?,
            created_at: from_millis(row.try_get("created_at_ms")?),
        })
    }

    /// The scopes as stored: space-separated.
    pub(crate) fn scopes_column(&self) -> String {
        self.scopes.join(" ")
    }
}

// === impl SigningKeyRecord ===

impl SigningKeyRecord {
    pub(crate) fn from_row<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: Row,
        &'static str: ColumnIndex<R>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let activates_at: Option<i64> = row.try_get("activates_at_ms")?;
        let retire_after: Option<i64> = row.try_get("retire_after_ms")?;
        Ok(Self {
            kid: row.try_get("kid")?,
            alg: row.try_get("alg")?,
            private_pkcs8: row.try_get("private_pkcs8")?,
            state: row.try_get("state")?,
            created_at: from_millis(row.try_get("created_at_ms")?),
            activates_at: activates_at.map(from_millis),
            retire_after: retire_after.map(from_millis),
        })
    }
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_pkcs8", &"**REDACTED**")
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retire_after", &self.retire_after)
            .finish()
    }
}

/// The column lists of the OAuth tables, for `concat!`, shared by both backends.
pub(crate) mod columns {
    macro_rules! client_columns {
        () => {
            "id, name, scopes, auth_method, secret_hash, public_jwk, tls_subject, default_audience, created_at_ms"
        };
    }
    macro_rules! key_columns {
        () => {
            "kid, alg, private_pkcs8, state, created_at_ms, activates_at_ms, retire_after_ms"
        };
    }
    pub(crate) use {client_columns, key_columns};
}
