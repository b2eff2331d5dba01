//! The grants of the token endpoint: `client_credentials` (RFC 6749 §4.4) and token exchange
//! (RFC 8693), both answering a JWT access token per RFC 9068.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{AuthServer, OAuthError, Params, clients::Authenticated, keys::SignError, secret};

/// The RFC 8693 grant type.
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The RFC 8693 token type of our access tokens.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A successful token answer (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Debug, Serialize)]
pub(crate) struct TokenAnswer {
    pub(crate) access_token: String,
    pub(crate) token_type: &'static str,
    pub(crate) expires_in: u64,
    pub(crate) scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) issued_token_type: Option<&'static str>,
}

// === impl AuthServer ===

impl AuthServer {
    /// `grant_type=client_credentials` for the authenticated client (its token bound to its
    /// certificate for `tls_client_auth`).
    pub(crate) async fn client_credentials(
        &self,
        caller: &Authenticated,
        params: &Params,
    ) -> Result<TokenAnswer, OAuthError> {
        let client = &caller.client;
        let scopes = granted_scopes(params.get("scope"), &client.scopes)?;
        let audience = audience(params, client.default_audience.as_deref())?;
        let mut claims = self.claims(&client.id, &client.id, &audience, &scopes, None)?;
        bind(&mut claims, caller.binding.as_deref());
        self.issue(claims, &scopes, None).await
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`: a token for the subject
    /// of `subject_token` (one of ours, live), acted on by `client`, with at most the scopes of
    /// both.
    pub(crate) async fn exchange(
        &self,
        caller: &Authenticated,
        params: &Params,
    ) -> Result<TokenAnswer, OAuthError> {
        let client = &caller.client;
        let subject_token = params.require("subject_token")?;
        let subject_type = params.require("subject_token_type")?;
        if subject_type != ACCESS_TOKEN_TYPE && subject_type != JWT_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(
                "`subject_token_type` must be an access token of this issuer",
            ));
        }
        if let Some(requested) = params.get("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(
                "only access tokens can be requested",
            ));
        }
        if params.get("actor_token").is_some() {
            return Err(OAuthError::invalid_request(
                "`actor_token` is not supported",
            ));
        }
        let subject = self
            .live_token(subject_token)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the subject token is not valid"))?;
        let allowed: Vec<String> = subject
            .scopes
            .iter()
            .filter(|s| client.scopes.contains(s))
            .cloned()
            .collect();
        let scopes = granted_scopes(params.get("scope"), &allowed)?;
        let default_aud = client
            .default_audience
            .clone()
            .or_else(|| first_audience(&subject.claims));
        let audience = audience(params, default_aud.as_deref())?;
        let mut act = Map::new();
        act.insert("sub".to_owned(), Value::String(client.id.clone()));
        if let Some(previous) = subject.claims.get("act") {
            act.insert("act".to_owned(), previous.clone());
        }
        let mut claims = self.claims(
            &subject.subject,
            &client.id,
            &audience,
            &scopes,
            Some(Value::Object(act)),
        )?;
        bind(&mut claims, caller.binding.as_deref());
        self.issue(claims, &scopes, Some(ACCESS_TOKEN_TYPE)).await
    }

    fn claims(
        &self,
        sub: &str,
        client_id: &str,
        aud: &str,
        scopes: &[String],
        act: Option<Value>,
    ) -> Result<Value, OAuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| OAuthError::server_error())?
            .as_secs();
        let jti = secret::new_jti().map_err(|_| OAuthError::server_error())?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl.as_secs(),
            "jti": jti,
            "client_id": client_id,
            "scope": scopes.join(" "),
        });
        if let (Some(act), Some(map)) = (act, claims.as_object_mut()) {
            map.insert("act".to_owned(), act);
        }
        Ok(claims)
    }

    async fn issue(
        &self,
        claims: Value,
        scopes: &[String],
        issued_token_type: Option<&'static str>,
    ) -> Result<TokenAnswer, OAuthError> {
        let access_token = self.keys.sign(&claims).await.map_err(|error| match error {
            SignError::Sealed => OAuthError::temporarily_unavailable(),
            SignError::Control(error) => {
                tracing::error!(%error, "oauth: cannot sign an access token");
                OAuthError::server_error()
            }
        })?;
        Ok(TokenAnswer {
            access_token,
            token_type: "Bearer",
            expires_in: self.token_ttl.as_secs(),
            scope: scopes.join(" "),
            issued_token_type,
        })
    }
}

// === helpers ===

/// The requested scopes (space-separated), each allowed, or all allowed ones when none is
/// asked for.
fn granted_scopes(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.iter().any(|a| a == scope) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{}` is not allowed",
                scope.escape_default()
            )));
        }
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

/// `audience` (RFC 8693) or `resource` (RFC 8707), or the default.
fn audience(params: &Params, default: Option<&str>) -> Result<String, OAuthError> {
    let aud = match (params.get("audience"), params.get("resource")) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthError::invalid_request(
                "`audience` and `resource` disagree",
            ));
        }
        (Some(a), _) | (None, Some(a)) => Some(a),
        (None, None) => default,
    };
    match aud {
        Some(aud) if aud.len() <= 512 && !aud.chars().any(char::is_control) => Ok(aud.to_owned()),
        Some(_) => Err(OAuthError::invalid_request("invalid `audience`")),
        None => Err(OAuthError::invalid_request(
            "no audience: send `audience` or `resource`, or register the client with a default audience",
        )),
    }
}

/// Adds `cnf.x5t#S256` (RFC 8705 §3.1) for a certificate-bound token.
fn bind(claims: &mut Value, thumbprint: Option<&str>) {
    if let (Some(thumbprint), Some(map)) = (thumbprint, claims.as_object_mut()) {
        map.insert("cnf".to_owned(), json!({ "x5t#S256": thumbprint }));
    }
}

fn first_audience(claims: &Map<String, Value>) -> Option<String> {
    match claims.get("aud")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_all_and_must_be_allowed() {
        let allowed = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(granted_scopes(None, &allowed).unwrap(), allowed);
        assert_eq!(granted_scopes(Some("b  b"), &allowed).unwrap(), ["b"]);
        assert_eq!(
            granted_scopes(Some("a c"), &allowed).unwrap_err().code,
            "invalid_scope"
        );
    }
}
