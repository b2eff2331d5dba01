//! [`Secrets`]: the sealing state machine `Uninitialized → Sealed → Unsealed` (Shamir shares
//! or auto-unseal), and the entry point to the KV engine and root rotation.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::{ArcSwap, ArcSwapOption};
use rampart_config::{SealMode, SecretsConfig};
use rampart_store::Store;
use serde::{Deserialize, Serialize};

use crate::auto::{self, KeySource};
use crate::error::SecretsError;
use crate::keyring::Keyring;
use crate::keys::RootKey;
use crate::kv::{self, Kv};
use crate::rotate;
use crate::shamir::{self, Share};
use crate::state::{Shared, UnsealState, Unsealed};

/// The secrets store: cheap to clone, every clone shares the same state.
#[derive(Clone)]
pub struct Secrets {
    pub(crate) shared: Arc<Shared>,
}

/// The answer to [`Secrets::unseal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnsealProgress {
    /// Still sealed after this share.
    pub sealed: bool,
    /// Distinct shares given so far (0 once unsealed).
    pub progress: u8,
    /// Shares needed.
    pub threshold: u8,
}

/// The answer to [`Secrets::status`] (Vault's `seal-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SealStatus {
    /// A root key and keyring exist.
    pub initialized: bool,
    /// Data operations answer [`SecretsError::Sealed`].
    pub sealed: bool,
    /// Shares needed to unseal (1 for auto).
    pub threshold: u8,
    /// Shares handed out (1 for auto).
    pub shares: u8,
    /// Distinct shares given so far.
    pub progress: u8,
    /// `"shamir"` or `"auto"`.
    pub seal_type: &'static str,
}

/// The stored seal configuration.
#[derive(Serialize, Deserialize)]
struct SealConfig {
    #[serde(rename = "type")]
    seal_type: String,
    shares: u8,
    threshold: u8,
}

// === impl Secrets ===

impl Secrets {
    /// Opens the secrets store on `store`. Auto mode reads (or at first start creates) the root
    /// key and unseals, initializing the keyring at first start; a key that does not open the
    /// stored keyring gives [`SecretsError::WrongKey`] and changes nothing. Shamir mode starts
    /// uninitialized or sealed.
    pub async fn open(
        store: Store,
        config: &SecretsConfig,
        data_dir: &Path,
    ) -> Result<Secrets, SecretsError> {
        Self::open_with_env(store, config, data_dir, &|name| std::env::var_os(name)).await
    }

    /// [`Secrets::open`] with `env` looking up environment variables.
    pub(crate) async fn open_with_env(
        store: Store,
        config: &SecretsConfig,
        data_dir: &Path,
        env: &(dyn Fn(&str) -> Option<std::ffi::OsString> + Sync),
    ) -> Result<Secrets, SecretsError> {
        let mount = kv::load_config(&store, config.max_versions).await?;
        // Only a single-node store has this process as its only writer.
        let cache = kv::Cache::new(store.backend_name() == "sqlite");
        let secrets = Secrets {
            shared: Arc::new(Shared {
                store,
                mode: config.seal,
                keys: ArcSwapOption::empty(),
                unseal: std::sync::Mutex::new(UnsealState::default()),
                mount: ArcSwap::from_pointee(mount),
                keyring_lock: tokio::sync::Mutex::new(()),
                rewrap_running: AtomicBool::new(false),
                cache,
                write_locks: (0..crate::state::WRITE_LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            }),
        };
        match config.seal {
            SealMode::Auto => secrets.open_auto(config, data_dir, env).await?,
            SealMode::Shamir => secrets.load_seal_config().await?,
        }
        Ok(secrets)
    }

    /// The KV v2 engine.
    pub fn kv(&self) -> Kv {
        Kv::new(self.shared.clone())
    }

    /// Creates the root key and keyring and returns `shares` hex shares (any `threshold`
    /// unseal). The store is left sealed. Only when uninitialized, in Shamir mode.
    pub async fn init(&self, shares: u8, threshold: u8) -> Result<Vec<String>, SecretsError> {
        shamir::check_params(shares, threshold)?;
        let _guard = self.shared.keyring_lock.lock().await;
        if self.shared.mode != SealMode::Shamir
            || self.shared.store.secret_keyring().await?.is_some()
        {
            return Err(SecretsError::AlreadyInitialized);
        }
        let root = RootKey::generate()?;
        let out = shamir::split(&root, shares, threshold)?;
        let keyring = Keyring::first(now_ms())?;
        let blob = keyring.seal(&root)?;
        let config = SealConfig {
            seal_type: "shamir".to_owned(),
            shares,
            threshold,
        };
        let json = serde_json::to_string(&config).map_err(|_| SecretsError::Crypto)?;
        self.shared.store.secret_put_seal_config(&json).await?;
        if !self.shared.store.secret_put_keyring(&blob, None).await? {
            return Err(SecretsError::AlreadyInitialized);
        }
        let mut state = self.shared.unseal_state();
        *state = UnsealState {
            initialized: true,
            shares,
            threshold,
            given: Vec::new(),
        };
        Ok(out)
    }

    /// Adds one share. At the threshold the shares are combined and the keyring opened; a
    /// wrong set gives [`SecretsError::WrongShares`] and resets the progress. Duplicate
    /// shares are ignored. Unsealed already: reports unsealed.
    pub async fn unseal(&self, share: &str) -> Result<UnsealProgress, SecretsError> {
        let share = Share::parse(share)?;
        let threshold;
        let ready = {
            let mut state = self.shared.unseal_state();
            if !state.initialized {
                return Err(SecretsError::NotInitialized);
            }
            threshold = state.threshold;
            if self.shared.keys.load().is_some() {
                return Ok(UnsealProgress {
                    sealed: false,
                    progress: 0,
                    threshold,
                });
            }
            if self.shared.mode != SealMode::Shamir {
                return Err(SecretsError::InvalidRequest(
                    "auto-unseal store: restart the control plane to unseal".to_owned(),
                ));
            }
            if !state.given.iter().any(|s| s.index() == share.index()) {
                state.given.push(share);
            }
            if state.given.len() < usize::from(threshold) {
                return Ok(UnsealProgress {
                    sealed: true,
                    progress: u8::try_from(state.given.len()).unwrap_or(u8::MAX),
                    threshold,
                });
            }
            std::mem::take(&mut state.given)
        };
        let root = shamir::combine(&ready)?;
        let _guard = self.shared.keyring_lock.lock().await;
        let blob = self
            .shared
            .store
            .secret_keyring()
            .await?
            .ok_or(SecretsError::NotInitialized)?;
        let Some(keyring) = Keyring::open(&root, &blob)? else {
            return Err(SecretsError::WrongShares);
        };
        self.shared
            .keys
            .store(Some(Arc::new(Unsealed::new(root, keyring, blob)?)));
        rotate::resume(&self.shared);
        Ok(UnsealProgress {
            sealed: false,
            progress: 0,
            threshold,
        })
    }

    /// Seals at once: the keys are dropped (and zeroized) and the unseal progress reset.
    pub fn seal(&self) {
        self.shared.keys.store(None);
        self.shared.unseal_state().given.clear();
        self.shared.cache.clear();
    }

    /// Forgets every cached record, so the next operations read the database again. Only
    /// needed after the database was edited behind the engine's back (the cache, on SQLite
    /// only, assumes this process is the database's only writer).
    pub fn clear_cache(&self) {
        self.shared.cache.clear();
    }

    /// Whether this engine caches sealed records (SQLite stores; never on PostgreSQL, which
    /// several control planes may share).
    pub fn caches(&self) -> bool {
        self.shared.cache.enabled()
    }

    /// Vault's seal status.
    pub fn status(&self) -> SealStatus {
        let state = self.shared.unseal_state();
        SealStatus {
            initialized: state.initialized,
            sealed: self.shared.keys.load().is_none(),
            threshold: state.threshold,
            shares: state.shares,
            progress: u8::try_from(state.given.len()).unwrap_or(u8::MAX),
            seal_type: match self.shared.mode {
                SealMode::Auto => "auto",
                SealMode::Shamir => "shamir",
            },
        }
    }

    /// Whether data operations are refused.
    pub fn is_sealed(&self) -> bool {
        self.shared.keys.load().is_none()
    }

    async fn load_seal_config(&self) -> Result<(), SecretsError> {
        let initialized = self.shared.store.secret_keyring().await?.is_some();
        let config = match self.shared.store.secret_seal_config().await? {
            Some(json) => serde_json::from_str::<SealConfig>(&json).ok(),
            None => None,
        };
        let mut state = self.shared.unseal_state();
        state.initialized = initialized;
        if let Some(config) = config.filter(|_| initialized) {
            state.shares = config.shares;
            state.threshold = config.threshold;
        }
        Ok(())
    }

    async fn open_auto(
        &self,
        config: &SecretsConfig,
        data_dir: &Path,
        env: &(dyn Fn(&str) -> Option<std::ffi::OsString> + Sync),
    ) -> Result<(), SecretsError> {
        let store = &self.shared.store;
        let source = auto::load(config, data_dir, env)?;
        let existing = store.secret_keyring().await?;
        let root = match (source, &existing) {
            (KeySource::Env(root) | KeySource::File(root), _) => root,
            (KeySource::Missing(path), Some(_)) => {
                return Err(SecretsError::KeyFile {
                    path: path.display().to_string(),
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            (KeySource::Missing(path), None) => {
                let root = RootKey::generate()?;
                auto::create(&path, &root)?;
                root
            }
        };
        let unsealed = match existing {
            Some(blob) => match Keyring::open(&root, &blob)? {
                Some(keyring) => Unsealed::new(root, keyring, blob)?,
                None => return Err(SecretsError::WrongKey),
            },
            None => self.first_keyring(root).await?,
        };
        {
            let mut state = self.shared.unseal_state();
            state.initialized = true;
            state.shares = 1;
            state.threshold = 1;
        }
        self.shared.keys.store(Some(Arc::new(unsealed)));
        rotate::resume(&self.shared);
        Ok(())
    }

    /// Stores a fresh keyring sealed under `root` (auto mode, first start).
    async fn first_keyring(&self, root: RootKey) -> Result<Unsealed, SecretsError> {
        let store = &self.shared.store;
        let keyring = Keyring::first(now_ms())?;
        let blob = keyring.seal(&root)?;
        let config = SealConfig {
            seal_type: "auto".to_owned(),
            shares: 1,
            threshold: 1,
        };
        let json = serde_json::to_string(&config).map_err(|_| SecretsError::Crypto)?;
        store.secret_put_seal_config(&json).await?;
        if store.secret_put_keyring(&blob, None).await? {
            return Unsealed::new(root, keyring, blob);
        }
        // Another process initialized first: open its keyring.
        let blob = store.secret_keyring().await?.ok_or(SecretsError::Busy)?;
        let keyring = Keyring::open(&root, &blob)?.ok_or(SecretsError::WrongKey)?;
        Unsealed::new(root, keyring, blob)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("status", &self.status())
            .finish()
    }
}

#[cfg(test)]
mod tests;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
