//! The admin API of the OAuth2 authorization server: clients and signing-key rotation.

use serde::{Deserialize, Serialize};

/// How an OAuth client authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthClientAuth {
    /// `client_secret_basic` or `client_secret_post` with a generated secret.
    #[default]
    Secret,
    /// `private_key_jwt` (RFC 7523) with a registered public JWK.
    PrivateKeyJwt,
    /// `tls_client_auth` (RFC 8705) with an SVID; its tokens are certificate-bound.
    Tls,
}

/// `POST /v1/oauth/clients`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOAuthClient {
    /// For people: 1 to 128 characters.
    pub name: String,
    /// The scopes it may ask for: each 1 to 128 printable ASCII characters without spaces,
    /// `"` or `\`.
    pub scopes: Vec<String>,
    #[serde(default)]
    pub auth: OAuthClientAuth,
    /// For `private_key_jwt`: the public JWK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<serde_json::Value>,
    /// For `tls`: the SPIFFE id its client certificate (an SVID of this control plane's
    /// trust bundle) must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_subject: Option<String>,
    /// The `aud` of its tokens when it asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// A registered OAuth client (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClientInfo {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// `client_secret`, `private_key_jwt` or `tls_client_auth`.
    pub auth_method: String,
    #[serde(default)]
    pub default_audience: Option<String>,
    /// For `tls_client_auth`: the SPIFFE id its certificate must carry.
    #[serde(default)]
    pub tls_subject: Option<String>,
    pub created_at_ms: i64,
}

/// `201` to [`CreateOAuthClient`]: the only answer that ever shows the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClientCreated {
    #[serde(flatten)]
    pub client: OAuthClientInfo,
    /// For `secret` clients; shown once, stored only as an argon2id hash.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// `GET /v1/oauth/clients`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClientList {
    pub clients: Vec<OAuthClientInfo>,
}

/// `POST /v1/oauth/keys/rotate`: the signing keys after the step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysRotated {
    /// The key that signs from now on (the previous `next`, published since the last step).
    pub active_kid: String,
    /// The new key, published now, signing after the next rotation.
    pub next_kid: String,
    /// Keys still published until their last token expires.
    pub retired_kids: Vec<String>,
}
