//! The OAuth2 authorization server's part of [`Store`]: clients, signing keys and revoked
//! access tokens.

use std::time::SystemTime;

use super::{Backend, Store};
use crate::error::StoreError;
use crate::postgres;
use crate::records::{OAuthClientRecord, SigningKeyRecord};
use crate::sqlite;

// === impl Store ===

impl Store {
    /// Registers an OAuth client (its id must be new).
    pub async fn insert_oauth_client(&self, client: &OAuthClientRecord) -> Result<(), StoreError> {
        dispatch!(self, "insert_oauth_client", |b| b
            .insert_oauth_client(client))
    }

    /// The OAuth client `id`, if registered.
    pub async fn oauth_client(&self, id: &str) -> Result<Option<OAuthClientRecord>, StoreError> {
        dispatch!(self, "oauth_client", |b| b.oauth_client(id))
    }

    /// Every OAuth client, oldest first.
    pub async fn list_oauth_clients(&self) -> Result<Vec<OAuthClientRecord>, StoreError> {
        dispatch!(self, "list_oauth_clients", |b| b.list_oauth_clients())
    }

    /// Forgets the OAuth client `id`; returns whether it was registered.
    pub async fn delete_oauth_client(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self, "delete_oauth_client", |b| b.delete_oauth_client(id))
    }

    /// Stores a new signing key (its kid must be new).
    pub async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        dispatch!(self, "insert_signing_key", |b| b.insert_signing_key(key))
    }

    /// Every signing key, oldest first.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        dispatch!(self, "list_signing_keys", |b| b.list_signing_keys())
    }

    /// One rotation step, in one transaction: when a `next` key exists, the `active` key
    /// becomes `retired` (kept until `retire_after`) and the `next` key becomes `active` (as of
    /// `now`); then `new_next` is stored as given (normally as the new `next`).
    pub async fn rotate_signing_keys(
        &self,
        new_next: &SigningKeyRecord,
        now: SystemTime,
        retire_after: SystemTime,
    ) -> Result<(), StoreError> {
        dispatch!(self, "rotate_signing_keys", |b| b.rotate_signing_keys(
            new_next,
            now,
            retire_after
        ))
    }

    /// Forgets the retired keys whose `retire_after` is at or before `now`; returns how many.
    pub async fn prune_signing_keys(&self, now: SystemTime) -> Result<u64, StoreError> {
        dispatch!(self, "prune_signing_keys", |b| b.prune_signing_keys(now))
    }

    /// Marks the signing key `kid` as kept in the secrets store: its `private_pkcs8` is
    /// emptied and `public_jwk` (JSON) stored for the JWKS. Returns whether the key exists.
    pub async fn seal_signing_key(&self, kid: &str, public_jwk: &str) -> Result<bool, StoreError> {
        dispatch!(self, "seal_signing_key", |b| b
            .seal_signing_key(kid, public_jwk))
    }

    /// The public JWK (JSON) stored for each signing key, `(kid, jwk)`, oldest first; `None`
    /// for a key whose private part is still in the table (not moved yet).
    pub async fn signing_key_publics(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        dispatch!(self, "signing_key_publics", |b| b.signing_key_publics())
    }

    /// Replaces the `secret_hash` of the OAuth client `id` (`None` once the hash is kept in
    /// the secrets store). Returns whether the client exists.
    pub async fn set_oauth_client_secret_hash(
        &self,
        id: &str,
        secret_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, "set_oauth_client_secret_hash", |b| b
            .set_oauth_client_secret_hash(id, secret_hash))
    }

    /// Records the access token `jti` revoked until `expires_at` (also used to remember
    /// client-assertion ids against replay). Idempotent: returns whether it was not recorded
    /// before.
    pub async fn revoke_token(
        &self,
        jti: &str,
        expires_at: SystemTime,
    ) -> Result<bool, StoreError> {
        dispatch!(self, "revoke_token", |b| b.revoke_token(jti, expires_at))
    }

    /// Whether the access token `jti` is recorded revoked.
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        dispatch!(self, "is_token_revoked", |b| b.is_token_revoked(jti))
    }

    /// Forgets the revoked tokens expired at `now` (they are refused anyway); returns how many.
    pub async fn prune_revoked_tokens(&self, now: SystemTime) -> Result<u64, StoreError> {
        dispatch!(self, "prune_revoked_tokens", |b| b
            .prune_revoked_tokens(now))
    }
}
