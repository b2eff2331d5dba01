//! The OAuth2 authorization server (`docs/oauth.md`): registered clients, the signing keys
//! and the grants (`client_credentials`, RFC 8693 token exchange), introspection (RFC 7662)
//! and revocation (RFC 7009). The HTTP surface is in `server/routes/oauth.rs`.

mod client_secrets;
mod clients;
mod error;
mod grants;
mod keys;
mod params;
mod secret;
mod tokens;

use std::time::Duration;

use rampart_secrets::{Platform, Secrets};
use rampart_store::Store;

pub(crate) use self::clients::{Authenticated, ClientCredentials, TlsPeer};
pub(crate) use self::error::OAuthError;
pub(crate) use self::grants::TOKEN_EXCHANGE as TOKEN_EXCHANGE_GRANT;
pub(crate) use self::keys::{Keys, SignError};
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
    /// The `aud` an access token needs for the secrets API (`secrets.token_audience`);
    /// `None`: `<issuer>/v1/secret`.
    pub secrets_audience: Option<String>,
}

/// The audience an access token needs for the secrets API: `configured`, else
/// `<issuer>/v1/secret`.
pub(crate) fn secrets_audience(issuer: &str, configured: Option<&str>) -> String {
    match configured {
        Some(audience) => audience.to_owned(),
        None => format!("{}/v1/secret", issuer.trim_end_matches('/')),
    }
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
    /// The secrets store's platform keys (signing keys, client secret hashes), if any.
    pub(crate) platform: Option<Platform>,
    /// The audience an access token must carry to be accepted on `/v1/secret/…`.
    pub(crate) secrets_audience: String,
    /// Every client secret hash of an older release has been moved into the secrets store.
    pub(crate) hashes_moved: std::sync::atomic::AtomicBool,
}

// === impl OAuthSettings ===

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            secrets_audience: None,
        }
    }
}

// === impl AuthServer ===

impl AuthServer {
    /// Loads (or creates) the signing keys; `issuer` is the resolved issuer URL,
    /// `secrets_audience` the configured audience of the secrets API (`None`: the default).
    /// With `secrets`, the platform keys live there (`docs/secrets.md`, "Platform keys"):
    /// rows of an older release are moved into it now when it is unsealed.
    pub(crate) async fn new(
        store: Store,
        issuer: &str,
        token_ttl: Duration,
        secrets_audience: Option<&str>,
        secrets: Option<&Secrets>,
    ) -> Result<Self, ControlError> {
        let platform = secrets.map(Secrets::platform);
        let keys = Keys::load(store.clone(), token_ttl, platform.clone()).await?;
        let issuer = issuer.trim_end_matches('/').to_owned();
        let server = Self {
            store,
            secrets_audience: self::secrets_audience(&issuer, secrets_audience),
            issuer,
            token_ttl,
            keys,
            verified_secrets: secret::VerifiedSecrets::default(),
            platform,
            hashes_moved: std::sync::atomic::AtomicBool::new(false),
        };
        server.move_client_hashes().await?;
        Ok(server)
    }

    /// Whether the verified claims' `aud` (a string or an array) names the secrets audience.
    pub(crate) fn allows_secrets(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => *aud == self.secrets_audience,
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .any(|a| a.as_str() == Some(self.secrets_audience.as_str())),
            _ => false,
        }
    }

    /// `<issuer><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
