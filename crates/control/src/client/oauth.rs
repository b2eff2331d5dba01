//! The OAuth admin calls of [`ControlClient`] (the admin token): clients and key rotation.

use http::{Method, StatusCode};

use super::{ControlClient, json};
use crate::{
    ControlError,
    api::{CreateOAuthClient, KeysRotated, OAuthClientCreated, OAuthClientList},
};

// === impl ControlClient ===

impl ControlClient {
    /// `POST /v1/oauth/clients`: registers a client; the answer holds its secret, shown once.
    pub async fn create_oauth_client(
        &self,
        request: &CreateOAuthClient,
    ) -> Result<OAuthClientCreated, ControlError> {
        let answer = self
            .call(Method::POST, "/v1/oauth/clients", Some(json(request)?))
            .await?;
        answer.decode(&[StatusCode::CREATED])
    }

    /// `GET /v1/oauth/clients`.
    pub async fn list_oauth_clients(&self) -> Result<OAuthClientList, ControlError> {
        let answer = self.call(Method::GET, "/v1/oauth/clients", None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `DELETE /v1/oauth/clients/{id}`: whether the client was registered.
    pub async fn delete_oauth_client(&self, id: &str) -> Result<bool, ControlError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
        {
            return Err(ControlError::InvalidRequest {
                reason: format!("invalid oauth client id `{}`", id.escape_default()),
            });
        }
        let answer = self
            .call(Method::DELETE, &format!("/v1/oauth/clients/{id}"), None)
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(answer.error()),
        }
    }

    /// `POST /v1/oauth/keys/rotate`: one rotation step of the token signing keys.
    pub async fn rotate_oauth_keys(&self) -> Result<KeysRotated, ControlError> {
        let answer = self
            .call(Method::POST, "/v1/oauth/keys/rotate", None)
            .await?;
        answer.decode(&[StatusCode::OK])
    }
}
