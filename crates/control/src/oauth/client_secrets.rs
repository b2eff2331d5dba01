//! The argon2id hashes of client secrets as platform keys (`docs/secrets.md`, "Platform
//! keys"): with a secrets store, a hash lives encrypted at `sys/platform/oauth-client/<id>`
//! and the `oauth_clients.secret_hash` column is empty; a row of an older release that still
//! holds its hash is moved at the first unsealed start (or at its first use after unsealing).
//! While the store is sealed no client secret can be checked: `503 temporarily_unavailable`.

use std::sync::atomic::Ordering;

use rampart_secrets::SecretsError;
use rampart_store::OAuthClientRecord;

use super::{AuthServer, OAuthError};
use crate::ControlError;

/// The platform-key name prefix of client secret hashes.
const PLATFORM_NAME: &str = "oauth-client";

// === impl AuthServer ===

impl AuthServer {
    /// Whether a secrets store holds the platform keys and is sealed.
    pub(crate) fn platform_sealed(&self) -> bool {
        self.platform.as_ref().is_some_and(|p| !p.is_unsealed())
    }

    /// Keeps `phc` for the new client `id`: in the secrets store (returns `None`, the row
    /// holds no hash) or, without one, in the row (returns `Some(phc)`).
    pub(crate) async fn keep_secret_hash(
        &self,
        id: &str,
        phc: String,
    ) -> Result<Option<String>, ControlError> {
        let Some(platform) = &self.platform else {
            return Ok(Some(phc));
        };
        platform
            .put(&platform_name(id), phc.as_bytes())
            .await
            .map_err(control_error)?;
        Ok(None)
    }

    /// The stored hash of `client` (a `client_secret` client): from its row (moving it into
    /// the secrets store when there is one) or from the secrets store.
    pub(crate) async fn secret_hash(
        &self,
        client: &OAuthClientRecord,
    ) -> Result<Option<String>, OAuthError> {
        let Some(platform) = &self.platform else {
            return Ok(client.secret_hash.clone());
        };
        // Unsealed for the first time since a start that found it sealed: move the rows of an
        // older release now (once).
        if platform.is_unsealed()
            && !self.hashes_moved.load(Ordering::Acquire)
            && let Err(error) = self.move_client_hashes().await
        {
            tracing::warn!(%error, "oauth: cannot move the client secret hashes into the secrets store");
        }
        if let Some(phc) = &client.secret_hash {
            if platform.is_unsealed()
                && let Err(error) = self.move_hash(&client.id, phc).await
            {
                tracing::warn!(%error, client_id = %client.id, "oauth: cannot move a client secret hash into the secrets store");
            }
            return Ok(Some(phc.clone()));
        }
        match platform.get(&platform_name(&client.id)).await {
            Ok(Some(bytes)) => Ok(String::from_utf8(bytes.to_vec()).ok()),
            Ok(None) => Ok(None),
            Err(SecretsError::Sealed | SecretsError::NotInitialized) => {
                Err(OAuthError::temporarily_unavailable())
            }
            Err(error) => {
                tracing::error!(%error, client_id = %client.id, "oauth: cannot read a client secret hash");
                Err(OAuthError::server_error())
            }
        }
    }

    /// Forgets the hash of the deleted client `id` in the secrets store (if any).
    pub(crate) async fn forget_secret_hash(&self, id: &str) -> Result<(), ControlError> {
        if let Some(platform) = &self.platform {
            platform
                .delete(&platform_name(id))
                .await
                .map_err(control_error)?;
        }
        Ok(())
    }

    /// Moves every hash still in the `oauth_clients` table into the secrets store (when there
    /// is one and it is unsealed); returns how many.
    pub(crate) async fn move_client_hashes(&self) -> Result<usize, ControlError> {
        if !self.platform.as_ref().is_some_and(|p| p.is_unsealed()) {
            return Ok(0);
        }
        let mut moved = 0;
        for client in self.store.list_oauth_clients().await? {
            if let Some(phc) = &client.secret_hash {
                self.move_hash(&client.id, phc).await?;
                moved += 1;
            }
        }
        if moved > 0 {
            tracing::info!(
                moved,
                "oauth client secret hashes moved into the secrets store"
            );
        }
        self.hashes_moved.store(true, Ordering::Release);
        Ok(moved)
    }

    /// Into the secrets store first, then the column is emptied.
    async fn move_hash(&self, id: &str, phc: &str) -> Result<(), ControlError> {
        if let Some(platform) = &self.platform {
            platform
                .put(&platform_name(id), phc.as_bytes())
                .await
                .map_err(control_error)?;
            self.store.set_oauth_client_secret_hash(id, None).await?;
        }
        Ok(())
    }
}

// === helpers ===

fn platform_name(id: &str) -> String {
    format!("{PLATFORM_NAME}/{id}")
}

fn control_error(error: SecretsError) -> ControlError {
    match error {
        SecretsError::Sealed | SecretsError::NotInitialized => ControlError::InvalidRequest {
            reason: "the secrets store holding the platform keys is sealed; unseal it first"
                .to_owned(),
        },
        other => ControlError::Signing {
            reason: format!("secrets store: {other}"),
        },
    }
}
