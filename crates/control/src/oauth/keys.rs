//! The signing keys of access tokens and their rotation.
//!
//! There is always an `active` key (signs) and a `next` key (published in the JWKS, not yet
//! signing). A rotation makes `next` active, retires the old active key (still published until
//! its last token has expired) and creates a new `next`. So every key is in the JWKS for at
//! least one rotation period before it signs anything, and validators that cache the JWKS
//! know it already.

use std::time::{Duration, SystemTime};

use rampart_store::{SigningKeyRecord, Store};
use rampart_token::{Algorithm, Jwks, SigningKey};
use tokio::sync::RwLock;

use crate::ControlError;

/// Retired keys stay published this much longer than the token lifetime (clock skew).
const RETIRE_MARGIN: Duration = Duration::from_secs(60);

/// The keys in memory, loaded from the store.
pub(crate) struct Keys {
    store: Store,
    token_ttl: Duration,
    current: RwLock<Loaded>,
}

struct Loaded {
    active: SigningKey,
    /// Every published key with its retirement time (`None`: active or next).
    published: Vec<(SigningKey, Option<SystemTime>)>,
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
    /// Loads the keys, creating the active and next keys when missing.
    pub(crate) async fn load(store: Store, token_ttl: Duration) -> Result<Self, ControlError> {
        let records = store.list_signing_keys().await?;
        let now = SystemTime::now();
        if !records.iter().any(|k| k.state == "active") {
            store
                .insert_signing_key(&record(&generate()?, "active", now))
                .await?;
        }
        if !records.iter().any(|k| k.state == "next") {
            store
                .insert_signing_key(&record(&generate()?, "next", now))
                .await?;
        }
        let current = RwLock::new(read(&store).await?);
        Ok(Self {
            store,
            token_ttl,
            current,
        })
    }

    /// Signs `claims` with the active key; returns the token and the key's kid.
    pub(crate) async fn sign(&self, claims: &serde_json::Value) -> Result<String, ControlError> {
        let current = self.current.read().await;
        current
            .active
            .sign("at+jwt", claims)
            .map_err(|e| ControlError::Signing {
                reason: e.to_string(),
            })
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
                .map(|(key, _)| key.public_jwk())
                .collect(),
        }
    }

    /// One rotation step (see the module documentation).
    pub(crate) async fn rotate(&self) -> Result<Rotated, ControlError> {
        let mut current = self.current.write().await;
        let now = SystemTime::now();
        let new_next = record(&generate()?, "next", now);
        let retire_after = now + self.token_ttl + RETIRE_MARGIN;
        self.store
            .rotate_signing_keys(&new_next, now, retire_after)
            .await?;
        self.store.prune_signing_keys(now).await?;
        *current = read(&self.store).await?;
        let records = self.store.list_signing_keys().await?;
        let kids = |state: &str| {
            records
                .iter()
                .filter(|k| k.state == state)
                .map(|k| k.kid.clone())
                .collect::<Vec<_>>()
        };
        Ok(Rotated {
            active: current.active.kid().to_owned(),
            next: new_next.kid,
            retired: kids("retired"),
        })
    }
}

// === helpers ===

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

async fn read(store: &Store) -> Result<Loaded, ControlError> {
    let mut active = None;
    let mut published = Vec::new();
    for rec in store.list_signing_keys().await? {
        let alg = Algorithm::parse(&rec.alg).ok_or_else(|| ControlError::Signing {
            reason: format!(
                "stored key `{}` has unknown algorithm `{}`",
                rec.kid, rec.alg
            ),
        })?;
        let key =
            SigningKey::from_pkcs8(alg, &rec.private_pkcs8).map_err(|e| ControlError::Signing {
                reason: format!("stored key `{}`: {e}", rec.kid),
            })?;
        if rec.state == "active" {
            let copy = SigningKey::from_pkcs8(alg, &rec.private_pkcs8).map_err(|e| {
                ControlError::Signing {
                    reason: format!("stored key `{}`: {e}", rec.kid),
                }
            })?;
            active = Some(copy);
        }
        let retire = (rec.state == "retired")
            .then_some(rec.retire_after)
            .flatten();
        published.push((key, retire));
    }
    let active = active.ok_or_else(|| ControlError::Signing {
        reason: "no active signing key in the store".to_owned(),
    })?;
    Ok(Loaded { active, published })
}
