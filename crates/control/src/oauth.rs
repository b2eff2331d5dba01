//! The OAuth2 authorization server (`docs/oauth.md`): registered clients, the signing keys
//! and the grants (`client_credentials`, RFC 8693 token exchange), introspection (RFC 7662)
//! and revocation (RFC 7009). The HTTP surface is in `server/routes/oauth.rs`.

mod clients;
mod error;
mod grants;
mod keys;
mod params;
mod secret;
mod tokens;

use std::time::Duration;

use rampart_store::Store;

pub(crate) use self::clients::{Authenticated, ClientCredentials, TlsPeer};
pub(crate) use self::error::OAuthError;
pub(crate) use self::grants::TOKEN_EXCHANGE as TOKEN_EXCHANGE_GRANT;
pub(crate) use self::keys::Keys;
pub(crate) use self::params::Params;
use crate::ControlError;

/// How long an access token is valid unless configured otherwise.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The authorization server's settings.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    /// The `iss` of the tokens and the base of the discovery URLs; `None`:
    /// `https://<listen address>`.
    pub issuer: Option<String>,
    /// How long an access token is valid (default 5 min).
    pub access_token_ttl: Duration,
}

/// The authorization server: clients, keys, grants.
pub(crate) struct AuthServer {
    pub(crate) store: Store,
    /// Without a trailing `/`.
    pub(crate) issuer: String,
    pub(crate) token_ttl: Duration,
    pub(crate) keys: Keys,
    /// Client secrets verified recently (see [`secret::VerifiedSecrets`]).
    pub(crate) verified_secrets: secret::VerifiedSecrets,
}

// === impl OAuthSettings ===

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
        }
    }
}

// === impl AuthServer ===

impl AuthServer {
    /// Loads (or creates) the signing keys; `issuer` is the resolved issuer URL.
    pub(crate) async fn new(
        store: Store,
        issuer: &str,
        token_ttl: Duration,
    ) -> Result<Self, ControlError> {
        let keys = Keys::load(store.clone(), token_ttl).await?;
        Ok(Self {
            store,
            issuer: issuer.trim_end_matches('/').to_owned(),
            token_ttl,
            keys,
            verified_secrets: secret::VerifiedSecrets::default(),
        })
    }

    /// `<issuer><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
