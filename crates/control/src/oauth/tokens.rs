//! Our own access tokens presented back: verification against the published keys and the
//! revocation list, introspection (RFC 7662) and revocation (RFC 7009).

use std::time::SystemTime;

use rampart_store::OAuthClientRecord;
use rampart_token::{Policy, Verified, VerifyingKeys, peek_header, verify};
use serde_json::{Value, json};

use super::{AuthServer, OAuthError};

// === impl AuthServer ===

impl AuthServer {
    /// The token verified as one of ours (signature by a published key, `typ` `at+jwt`, this
    /// issuer, not expired) and not revoked; `None` otherwise.
    pub(crate) async fn live_token(&self, token: &str) -> Result<Option<Verified>, OAuthError> {
        let Some(verified) = self.verified(token, Policy::new(&self.issuer)).await else {
            return Ok(None);
        };
        match &verified.jti {
            Some(jti) if self.store.is_token_revoked(jti).await? => Ok(None),
            Some(_) => Ok(Some(verified)),
            None => Ok(None),
        }
    }

    /// RFC 7662: the claims of a live token with `active: true`, or just `active: false`.
    pub(crate) async fn introspect(&self, token: &str) -> Result<Value, OAuthError> {
        let Some(verified) = self.live_token(token).await? else {
            return Ok(json!({ "active": false }));
        };
        let mut answer = serde_json::Map::new();
        answer.insert("active".to_owned(), Value::Bool(true));
        answer.insert("token_type".to_owned(), Value::String("Bearer".to_owned()));
        for name in [
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "nbf",
            "jti",
            "act",
            "cnf",
        ] {
            if let Some(value) = verified.claims.get(name) {
                answer.insert(name.to_owned(), value.clone());
            }
        }
        Ok(Value::Object(answer))
    }

    /// RFC 7009: records the token's `jti` revoked until it expires. A token that is not ours,
    /// malformed or already expired needs nothing (and the answer is the same); a token of
    /// another client is `unauthorized_client`.
    pub(crate) async fn revoke(
        &self,
        client: &OAuthClientRecord,
        token: &str,
    ) -> Result<(), OAuthError> {
        let Some(verified) = self.verified(token, Policy::new(&self.issuer)).await else {
            return Ok(());
        };
        if verified.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(OAuthError::unauthorized_client(
                "the token was issued to another client",
            ));
        }
        if let Some(jti) = &verified.jti {
            self.store.revoke_token(jti, verified.expires_at).await?;
            tracing::info!(client_id = %client.id, jti = %jti, "oauth access token revoked");
        }
        Ok(())
    }

    /// Forgets revocations of tokens that have expired anyway.
    pub(crate) async fn prune(&self) -> Result<u64, OAuthError> {
        Ok(self.store.prune_revoked_tokens(SystemTime::now()).await?)
    }

    async fn verified(&self, token: &str, mut policy: Policy) -> Option<Verified> {
        let header = peek_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        policy.leeway = std::time::Duration::ZERO;
        let keys = VerifyingKeys::from_jwks(&self.keys.jwks().await);
        verify(token, &keys, &policy, SystemTime::now()).ok()
    }
}
