//! Where the private keys of the CA generations above 1 live (`docs/secrets.md`, "Platform
//! keys"): in the secrets store at `sys/platform/ca-generations/gen-<n>/key` when the store is
//! unsealed at start (`seal: auto`), else in `gen-<n>/ca-key.pem` (0600). The certificate
//! stays in `gen-<n>/ca.pem` either way.
//!
//! With the store, key files of an older release (or of starts with a sealed store) are
//! imported, then removed; new generations never write one. The choice is made once, at
//! start: a store sealed at start keeps the files because the control plane serves TLS —
//! and may need a generation's CA — before it can receive the unseal shares.

use std::{path::PathBuf, sync::Arc};

use rampart_identity::{IdentityError, LocalCa};
use rampart_secrets::{Platform, SecretsError};

use crate::ControlError;

/// Where the generations' keys are kept, decided at start.
pub(crate) enum KeyHome {
    /// `gen-<n>/ca-key.pem`: no secrets store, or one sealed at start (`seal: shamir`).
    Files,
    /// The secrets store, unsealed at start.
    Store(Platform),
}

// === impl KeyHome ===

impl KeyHome {
    /// The store when it is unsealed now, else the key files.
    pub(crate) fn at_start(platform: Option<Platform>) -> Self {
        match platform {
            Some(platform) if platform.is_unsealed() => Self::Store(platform),
            _ => Self::Files,
        }
    }

    /// Whether the keys are kept in the secrets store.
    pub(crate) fn is_store(&self) -> bool {
        matches!(self, Self::Store(_))
    }

    /// Opens generation `n`'s existing CA in `path` (its `ca.pem` exists). With the store:
    /// the key comes from it, or from a key file that is then imported and removed.
    pub(crate) async fn open(&self, path: PathBuf, n: u32) -> Result<Arc<LocalCa>, ControlError> {
        match self {
            Self::Files => {
                let key_file = LocalCa::key_file(&path);
                if !tokio::fs::try_exists(&key_file).await.unwrap_or(false) {
                    return Err(ControlError::CaGeneration {
                        generation: n,
                        reason: format!(
                            "`{}` is missing; if the control plane last ran with the secrets \
                             store unsealed at start (`seal: auto`), the key is in the store, \
                             which cannot be read while it is sealed",
                            key_file.display()
                        ),
                    });
                }
                blocking(move || LocalCa::load_or_create(&path))
                    .await
                    .map(Arc::new)
            }
            Self::Store(platform) => match open_stored(platform, path, n).await? {
                Some(ca) => Ok(ca),
                None => Err(ControlError::CaGeneration {
                    generation: n,
                    reason: "its key is neither in the secrets store nor in a key file".to_owned(),
                }),
            },
        }
    }

    /// Creates generation `n`'s CA in `path` (a rollover's `prepare`). The leftovers of an
    /// interrupted `prepare` of the same generation (never recorded) are reused when whole,
    /// else discarded. With the store, the key is written there and no key file is.
    pub(crate) async fn create(&self, path: PathBuf, n: u32) -> Result<Arc<LocalCa>, ControlError> {
        let platform = match self {
            Self::Files => return blocking(move || create_file_ca(&path)).await.map(Arc::new),
            Self::Store(platform) => platform,
        };
        if !platform.is_unsealed() {
            return Err(sealed());
        }
        let has_cert = {
            let path = path.clone();
            blocking(move || LocalCa::has_cert(&path)).await?
        };
        if has_cert {
            match open_stored(platform, path.clone(), n).await {
                Ok(Some(ca)) => return Ok(ca),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    generation = n,
                    %error,
                    "ca rollover: discarding the leftovers of an interrupted prepare"
                ),
            }
        }
        let ca = blocking(move || {
            LocalCa::remove_files(&path)?;
            LocalCa::create_without_key_file(&path)
        })
        .await?;
        platform
            .put(&key_name(n), ca.key_pem().as_bytes())
            .await
            .map_err(|e| store_error(n, e))?;
        Ok(Arc::new(ca))
    }

    /// Moves the key file of generation `n`, whose CA is not loaded (it is retired), into
    /// the store, then removes it. Nothing to do with key files, or when there is none.
    /// The caller may go on after an error: nothing needs this key.
    pub(crate) async fn import_unloaded(&self, path: PathBuf, n: u32) -> Result<(), ControlError> {
        let Self::Store(platform) = self else {
            return Ok(());
        };
        let read = path.clone();
        let Some(key) = blocking(move || LocalCa::read_key_file(&read)).await? else {
            return Ok(());
        };
        platform
            .put(&key_name(n), &key)
            .await
            .map_err(|e| store_error(n, e))?;
        blocking(move || LocalCa::remove_key_file(&path)).await?;
        tracing::info!(
            generation = n,
            "ca generation key moved into the secrets store"
        );
        Ok(())
    }
}

// === helpers ===

/// The platform-key name of generation `n`'s key.
pub(crate) fn key_name(n: u32) -> String {
    format!("ca-generations/gen-{n}/key")
}

/// Generation `n`'s CA in `path` with its key from the store, or from a key file that is
/// then moved into the store; `None` when neither holds it.
async fn open_stored(
    platform: &Platform,
    path: PathBuf,
    n: u32,
) -> Result<Option<Arc<LocalCa>>, ControlError> {
    if let Some(pem) = platform
        .get(&key_name(n))
        .await
        .map_err(|e| store_error(n, e))?
    {
        // A key file left by an import interrupted after the store write goes too.
        let ca = blocking(move || {
            let ca = LocalCa::load_with_key(&path, &pem)?;
            LocalCa::remove_key_file(&path)?;
            Ok(ca)
        })
        .await?;
        return Ok(Some(Arc::new(ca)));
    }
    let key_file = LocalCa::key_file(&path);
    if !tokio::fs::try_exists(&key_file).await.unwrap_or(false) {
        return Ok(None);
    }
    let load = path.clone();
    let ca = blocking(move || LocalCa::load_or_create(&load)).await?;
    platform
        .put(&key_name(n), ca.key_pem().as_bytes())
        .await
        .map_err(|e| store_error(n, e))?;
    blocking(move || LocalCa::remove_key_file(&path)).await?;
    tracing::info!(
        generation = n,
        "ca generation key moved into the secrets store"
    );
    Ok(Some(Arc::new(ca)))
}

/// The CA in `path` with its key file, created when absent; a half-written directory (an
/// interrupted `prepare`, never recorded) is cleared first.
fn create_file_ca(path: &std::path::Path) -> Result<LocalCa, IdentityError> {
    match LocalCa::load_or_create(path) {
        Err(IdentityError::CaIncomplete { .. }) => {
            tracing::warn!(
                dir = %path.display(),
                "ca rollover: discarding the leftovers of an interrupted prepare"
            );
            LocalCa::remove_files(path)?;
            LocalCa::load_or_create(path)
        }
        other => other,
    }
}

/// Runs `f` (file reads, key generation) off the async threads.
async fn blocking<T, F>(f: F) -> Result<T, ControlError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, IdentityError> + Send + 'static,
{
    let value = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ControlError::Rollover {
            reason: format!("the CA task failed: {e}"),
        })??;
    Ok(value)
}

fn sealed() -> ControlError {
    ControlError::Rollover {
        reason: "the secrets store holding the CA generations' keys is sealed: unseal it, \
                 then prepare again"
            .to_owned(),
    }
}

fn store_error(n: u32, error: SecretsError) -> ControlError {
    match error {
        SecretsError::Sealed | SecretsError::NotInitialized => sealed(),
        other => ControlError::CaGeneration {
            generation: n,
            reason: format!("secrets store: {other}"),
        },
    }
}
