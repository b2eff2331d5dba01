//! The signing keys of access tokens and their rotation.
//!
//! There is always an `active` key (signs) and a `next` key (published in the JWKS, not yet
//! signing). A rotation makes `next` active, retires the old active key (still published until
//! its last token has expired) and creates a new `next`. So every key is in the JWKS for at
//! least one rotation period before it signs anything, and validators that cache the JWKS
//! know it already.
//!
//! With a secrets store (`docs/secrets.md`, "Platform keys") the private keys live there,
//! encrypted, at `sys/platform/oauth-signing/<kid>`; the `signing_keys` table keeps the public
//! JWK and an empty `private_pkcs8`. Rows of an older release that still hold the PKCS#8 are
//! moved at the first unsealed start. While the store is sealed nothing signs
//! ([`SignError::Sealed`]: the token endpoint answers `503 temporarily_unavailable`) and the
//! JWKS is served from the stored public keys. Without a secrets store (tests, embedders that
//! start the control plane bare) the PKCS#8 stays in the table as before.

use std::time::{Duration, SystemTime};

use rampart_secrets::Platform;
use rampart_store::{SigningKeyRecord, Store};
use rampart_token::{Algorithm, Jwk, Jwks, SigningKey};
use tokio::sync::RwLock;

use crate::ControlError;

/// Retired keys stay published this much longer than the token lifetime (clock skew).
const RETIRE_MARGIN: Duration = Duration::from_secs(60);
/// The platform-key name prefix of the signing keys.
const PLATFORM_NAME: &str = "oauth-signing";

/// The keys in memory, loaded from the store.
pub(crate) struct Keys {
    store: Store,
    token_ttl: Duration,
    /// The secrets store's platform keys; `None`: the private keys stay in the table.
    platform: Option<Platform>,
    current: RwLock<Current>,
}

/// What is in memory: the private keys once loaded (unsealed), and the public keys always.
struct Current {
    /// `None` while the secrets store is sealed (or before the first unsealed use).
    private: Option<Loaded>,
    /// Every published key's JWK with its retirement time (`None`: active or next).
    published: Vec<(Jwk, Option<SystemTime>)>,
}

struct Loaded {
    active: SigningKey,
}

/// Why nothing was signed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    /// The secrets store holding the private keys is sealed.
    #[error("the secrets store is sealed")]
    Sealed,
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// The kids after a rotation.
#[derive(Clone, Debug)]
pub(crate) struct Rotated {
    pub(crate) active: String,
    pub(crate) next: String,
    pub(crate) retired: Vec<String>,
}

// === impl Keys ===

impl Keys {
    /// Loads the keys, creating the active and next keys when missing. With `platform`, a
    /// sealed store defers that to the first use after unsealing; the public keys are loaded
    /// at once either way.
    pub(crate) async fn load(
        store: Store,
        token_ttl: Duration,
        platform: Option<Platform>,
    ) -> Result<Self, ControlError> {
        let keys = Self {
            store,
            token_ttl,
            platform,
            current: RwLock::new(Current {
                private: None,
                published: Vec::new(),
            }),
        };
        {
            let mut current = keys.current.write().await;
            match keys.prepare(&mut current).await {
                Ok(()) => {}
                Err(SignError::Sealed) => current.published = keys.stored_publics().await?,
                Err(SignError::Control(error)) => return Err(error),
            }
        }
        Ok(keys)
    }

    /// Signs `claims` with the active key.
    pub(crate) async fn sign(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        if self.platform.as_ref().is_some_and(|p| !p.is_unsealed()) {
            let mut current = self.current.write().await;
            // Sealed: the keys leave memory (zeroized on drop) until the next unseal.
            current.private = None;
            return Err(SignError::Sealed);
        }
        {
            let current = self.current.read().await;
            if let Some(loaded) = &current.private {
                return sign_with(&loaded.active, claims);
            }
        }
        let mut current = self.current.write().await;
        if current.private.is_none() {
            self.prepare(&mut current).await?;
        }
        match &current.private {
            Some(loaded) => sign_with(&loaded.active, claims),
            None => Err(SignError::Sealed),
        }
    }

    /// The public keys: active, next and the retired ones not past their retirement.
    pub(crate) async fn jwks(&self) -> Jwks {
        let now = SystemTime::now();
        let current = self.current.read().await;
        Jwks {
            keys: current
                .published
                .iter()
                .filter(|(_, retire)| retire.is_none_or(|at| at > now))
                .map(|(jwk, _)| jwk.clone())
                .collect(),
        }
    }

    /// One rotation step (see the module documentation). [`SignError::Sealed`] while sealed.
    pub(crate) async fn rotate(&self) -> Result<Rotated, SignError> {
        if self.platform.as_ref().is_some_and(|p| !p.is_unsealed()) {
            return Err(SignError::Sealed);
        }
        let mut current = self.current.write().await;
        if current.private.is_none() {
            self.prepare(&mut current).await?;
        }
        let now = SystemTime::now();
        let key = generate()?;
        let new_next = self.stored_record(&key, "next", now).await?;
        let retire_after = now + self.token_ttl + RETIRE_MARGIN;
        self.store
            .rotate_signing_keys(&new_next, now, retire_after)
            .await
            .map_err(ControlError::from)?;
        self.mark_sealed(&key).await?;
        let before = self.kids().await?;
        self.store
            .prune_signing_keys(now)
            .await
            .map_err(ControlError::from)?;
        let records = self
            .store
            .list_signing_keys()
            .await
            .map_err(ControlError::from)?;
        if let Some(platform) = &self.platform {
            for gone in before
                .iter()
                .filter(|kid| !records.iter().any(|r| &r.kid == *kid))
            {
                platform
                    .delete(&platform_name(gone))
                    .await
                    .map_err(secrets_error)?;
            }
        }
        self.prepare(&mut current).await?;
        let kids = |state: &str| {
            records
                .iter()
                .filter(|k| k.state == state)
                .map(|k| k.kid.clone())
                .collect::<Vec<_>>()
        };
        let active = kids("active").into_iter().next().unwrap_or_default();
        Ok(Rotated {
            active,
            next: new_next.kid,
            retired: kids("retired"),
        })
    }

    /// Creates missing keys, moves plaintext rows into the secrets store and loads every key
    /// into `current`. [`SignError::Sealed`] when the secrets store is sealed.
    async fn prepare(&self, current: &mut Current) -> Result<(), SignError> {
        if self.platform.as_ref().is_some_and(|p| !p.is_unsealed()) {
            return Err(SignError::Sealed);
        }
        let records = self
            .store
            .list_signing_keys()
            .await
            .map_err(ControlError::from)?;
        let now = SystemTime::now();
        for state in ["active", "next"] {
            if !records.iter().any(|k| k.state == state) {
                let key = generate()?;
                let record = self.stored_record(&key, state, now).await?;
                self.store
                    .insert_signing_key(&record)
                    .await
                    .map_err(ControlError::from)?;
                self.mark_sealed(&key).await?;
            }
        }
        let publics = self
            .store
            .signing_key_publics()
            .await
            .map_err(ControlError::from)?;
        let mut active = None;
        let mut published = Vec::new();
        for rec in self
            .store
            .list_signing_keys()
            .await
            .map_err(ControlError::from)?
        {
            let key = self.private_key(&rec).await?;
            let has_public = publics
                .iter()
                .any(|(kid, jwk)| kid == &rec.kid && jwk.is_some());
            if self.platform.is_some() && (!rec.private_pkcs8.is_empty() || !has_public) {
                // A row of an older release (or a half-done insert): into the store first,
                // then the plaintext column is blanked.
                if !rec.private_pkcs8.is_empty()
                    && let Some(platform) = &self.platform
                {
                    platform
                        .put(&platform_name(&rec.kid), &rec.private_pkcs8)
                        .await
                        .map_err(secrets_error)?;
                }
                self.mark_sealed(&key).await?;
                tracing::info!(kid = %rec.kid, "oauth signing key moved into the secrets store");
            }
            let retire = (rec.state == "retired")
                .then_some(rec.retire_after)
                .flatten();
            published.push((key.public_jwk(), retire));
            if rec.state == "active" {
                active = Some(key);
            }
        }
        let active = active.ok_or_else(|| ControlError::Signing {
            reason: "no active signing key in the store".to_owned(),
        })?;
        *current = Current {
            private: Some(Loaded { active }),
            published,
        };
        Ok(())
    }

    /// The private key of `rec`: from the table, else from the secrets store.
    async fn private_key(&self, rec: &SigningKeyRecord) -> Result<SigningKey, SignError> {
        let alg = Algorithm::parse(&rec.alg).ok_or_else(|| ControlError::Signing {
            reason: format!(
                "stored key `{}` has unknown algorithm `{}`",
                rec.kid, rec.alg
            ),
        })?;
        let parse = |der: &[u8]| {
            SigningKey::from_pkcs8(alg, der).map_err(|e| ControlError::Signing {
                reason: format!("stored key `{}`: {e}", rec.kid),
            })
        };
        if !rec.private_pkcs8.is_empty() {
            return Ok(parse(&rec.private_pkcs8)?);
        }
        let platform = self.platform.as_ref().ok_or_else(|| ControlError::Signing {
            reason: format!(
                "the private key of `{}` is in the secrets store, and this control plane has none",
                rec.kid
            ),
        })?;
        let der = platform
            .get(&platform_name(&rec.kid))
            .await
            .map_err(secrets_error)?
            .ok_or_else(|| ControlError::Signing {
                reason: format!(
                    "the private key of `{}` is missing from the secrets store",
                    rec.kid
                ),
            })?;
        Ok(parse(&der)?)
    }

    /// The row of a new key: with a secrets store, the private key is put there first and the
    /// row carries none.
    async fn stored_record(
        &self,
        key: &SigningKey,
        state: &str,
        now: SystemTime,
    ) -> Result<SigningKeyRecord, SignError> {
        let mut rec = record(key, state, now);
        if let Some(platform) = &self.platform {
            platform
                .put(&platform_name(key.kid()), &rec.private_pkcs8)
                .await
                .map_err(secrets_error)?;
            rec.private_pkcs8.fill(0);
            rec.private_pkcs8 = Vec::new();
        }
        Ok(rec)
    }

    /// Blanks the row's private key and stores its public JWK (with a secrets store only).
    async fn mark_sealed(&self, key: &SigningKey) -> Result<(), SignError> {
        if self.platform.is_none() {
            return Ok(());
        }
        let jwk = serde_json::to_string(&key.public_jwk()).map_err(|e| ControlError::Signing {
            reason: format!("cannot encode a public key: {e}"),
        })?;
        self.store
            .seal_signing_key(key.kid(), &jwk)
            .await
            .map_err(ControlError::from)?;
        Ok(())
    }

    /// The public keys as stored (while sealed): the JWK column, or the key itself for a row
    /// not moved yet.
    async fn stored_publics(&self) -> Result<Vec<(Jwk, Option<SystemTime>)>, ControlError> {
        let publics = self.store.signing_key_publics().await?;
        let mut out = Vec::new();
        for rec in self.store.list_signing_keys().await? {
            let jwk = match publics.iter().find(|(kid, _)| kid == &rec.kid) {
                Some((_, Some(json))) => serde_json::from_str::<Jwk>(json).ok(),
                _ => None,
            };
            let jwk = match jwk {
                Some(jwk) => jwk,
                None if !rec.private_pkcs8.is_empty() => {
                    let Some(alg) = Algorithm::parse(&rec.alg) else {
                        continue;
                    };
                    match SigningKey::from_pkcs8(alg, &rec.private_pkcs8) {
                        Ok(key) => key.public_jwk(),
                        Err(_) => continue,
                    }
                }
                None => {
                    tracing::warn!(kid = %rec.kid, "oauth signing key without a public key; not published while sealed");
                    continue;
                }
            };
            let retire = (rec.state == "retired")
                .then_some(rec.retire_after)
                .flatten();
            out.push((jwk, retire));
        }
        Ok(out)
    }

    async fn kids(&self) -> Result<Vec<String>, ControlError> {
        Ok(self
            .store
            .list_signing_keys()
            .await?
            .into_iter()
            .map(|r| r.kid)
            .collect())
    }
}

// === helpers ===

/// The platform-key name of the signing key `kid`.
pub(crate) fn platform_name(kid: &str) -> String {
    format!("{PLATFORM_NAME}/{kid}")
}

fn sign_with(key: &SigningKey, claims: &serde_json::Value) -> Result<String, SignError> {
    key.sign("at+jwt", claims).map_err(|e| {
        SignError::Control(ControlError::Signing {
            reason: e.to_string(),
        })
    })
}

fn secrets_error(error: rampart_secrets::SecretsError) -> SignError {
    match error {
        rampart_secrets::SecretsError::Sealed | rampart_secrets::SecretsError::NotInitialized => {
            SignError::Sealed
        }
        other => SignError::Control(ControlError::Signing {
            reason: format!("secrets store: {other}"),
        }),
    }
}

fn generate() -> Result<SigningKey, ControlError> {
    SigningKey::generate(Algorithm::ES256).map_err(|e| ControlError::Signing {
        reason: e.to_string(),
    })
}

fn record(key: &SigningKey, state: &str, now: SystemTime) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: key.kid().to_owned(),
        alg: key.alg().as_str().to_owned(),
        private_pkcs8: key.to_pkcs8().expose().clone(),
        state: state.to_owned(),
        created_at: now,
        activates_at: (state == "active").then_some(now),
        retire_after: None,
    }
}
