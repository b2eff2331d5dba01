//! The generations of the workload CA: which exist, which are trusted (their roots are in the
//! shared trust bundle) and which one signs new SVIDs, persisted in the store.
//!
//! Generation 1 is the control plane's own CA (the one given in the options, whose certificate
//! also signs the control plane's serving certificate and whose fingerprint join tokens pin).
//! A rollover creates generation `n` in `<ca_dir>/gen-<n>/` (see [`rollover`]); on start, every
//! trusted generation is loaded from there again and checked against its recorded fingerprint.
//! Their private keys live in the secrets store when it is unsealed at start, else in key
//! files beside the certificates (see [`keys`]).

mod keys;
mod rollover;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use arc_swap::ArcSwap;
use rampart_core::spiffe::TrustDomain;
use rampart_identity::{LocalCa, SharedTrustBundle, TrustBundle, expiry_time};
use rampart_secrets::Platform;
use rampart_store::{CaGenerationRecord, Store};
use tokio::sync::Mutex;

use self::keys::KeyHome;
use crate::{ControlError, api, ca_fingerprint, registry::unix_ms};

/// The CA set. Signing reads the active generation without locking; rollover steps are
/// serialized.
pub(crate) struct CaSet {
    trust_domain: TrustDomain,
    store: Store,
    bundle: SharedTrustBundle,
    dir: Option<PathBuf>,
    /// Where the private keys of generations above 1 are kept.
    keys: KeyHome,
    generations: Mutex<Vec<Generation>>,
    active: ArcSwap<Signer>,
}

/// The generation that signs new SVIDs.
pub(crate) struct Signer {
    pub(crate) generation: u32,
    pub(crate) ca: Arc<LocalCa>,
    /// The hex SHA-256 of the CA certificate, recorded with every SVID it signs.
    pub(crate) fingerprint: String,
}

/// One generation: its record and, while it is trusted, its CA.
#[derive(Clone)]
struct Generation {
    record: CaGenerationRecord,
    ca: Option<Arc<LocalCa>>,
}

// === impl CaSet ===

impl CaSet {
    /// Loads the generations recorded in `store` (recording generation 1, `first`, on the first
    /// start), checks each trusted one against its files in `dir`, and sets `bundle` to the
    /// roots of the trusted ones. With `platform` unsealed now, the keys of generations above
    /// 1 are kept there: key files found are imported, then removed.
    pub(crate) async fn load(
        store: Store,
        trust_domain: TrustDomain,
        bundle: SharedTrustBundle,
        first: Arc<LocalCa>,
        dir: Option<PathBuf>,
        platform: Option<Platform>,
    ) -> Result<Self, ControlError> {
        let keys = KeyHome::at_start(platform);
        let mut records = store.list_ca_generations().await?;
        let first_record = first_record(&first, records.first())?;
        if records.first() != Some(&first_record) {
            if let Some(old) = records.first().filter(|r| r.generation == 1)
                && old.fingerprint != first_record.fingerprint
            {
                tracing::warn!(
                    recorded = %old.fingerprint,
                    found = %first_record.fingerprint,
                    "the control plane's CA changed since generation 1 was recorded; recording the new one"
                );
            }
            store.upsert_ca_generation(&first_record).await?;
            records.retain(|r| r.generation != 1);
            records.insert(0, first_record);
        }
        let mut generations = Vec::with_capacity(records.len());
        for record in records {
            let ca = match (record.generation, record.trusted || record.active) {
                (1, _) => Some(first.clone()),
                (_, true) => Some(load_generation(dir.as_deref(), &record, &keys).await?),
                (n, false) => {
                    if let Some(dir) = &dir
                        && let Err(error) = keys.import_unloaded(generation_dir(dir, n), n).await
                    {
                        tracing::warn!(
                            generation = n,
                            %error,
                            "cannot move a retired ca generation's key file into the secrets store"
                        );
                    }
                    None
                }
            };
            generations.push(Generation { record, ca });
        }
        let signer = active_signer(&mut generations, &store).await?;
        let set = Self {
            trust_domain,
            store,
            bundle,
            dir,
            keys,
            generations: Mutex::new(generations),
            active: ArcSwap::from_pointee(signer),
        };
        {
            let generations = set.generations.lock().await;
            set.publish_bundle(&generations)?;
            tracing::info!(
                generations = generations.len(),
                active = set.active.load().generation,
                keys_in_secrets_store = set.keys.is_store(),
                "ca generations loaded"
            );
        }
        Ok(set)
    }

    /// The generation that signs new SVIDs now.
    pub(crate) fn active(&self) -> Arc<Signer> {
        self.active.load_full()
    }

    /// Every generation, by number.
    pub(crate) async fn status(&self) -> api::CaStatus {
        let generations = self.generations.lock().await;
        status(&generations)
    }

    /// Replaces the shared bundle with the roots of the trusted generations.
    fn publish_bundle(&self, generations: &[Generation]) -> Result<(), ControlError> {
        let mut bundle = TrustBundle::new(self.trust_domain.clone());
        for generation in generations.iter().filter(|g| g.record.trusted) {
            if let Some(ca) = &generation.ca {
                bundle.add(ca.root_der().clone())?;
            }
        }
        self.bundle.store(Arc::new(bundle));
        Ok(())
    }
}

// === helpers ===

/// Generation 1's record for `ca`, keeping the flags of `recorded` when it is generation 1.
fn first_record(
    ca: &LocalCa,
    recorded: Option<&CaGenerationRecord>,
) -> Result<CaGenerationRecord, ControlError> {
    let recorded = recorded.filter(|r| r.generation == 1);
    Ok(CaGenerationRecord {
        generation: 1,
        fingerprint: ca_fingerprint(ca.cert_der()),
        not_after: expiry_time(ca.cert_der())?,
        created_at: recorded.map_or_else(SystemTime::now, |r| r.created_at),
        trusted: recorded.is_none_or(|r| r.trusted || r.active),
        active: recorded.is_none_or(|r| r.active),
    })
}

/// The CA of a trusted generation above 1, from `<dir>/gen-<n>/`, which must hold it already
/// and match its recorded fingerprint.
async fn load_generation(
    dir: Option<&Path>,
    record: &CaGenerationRecord,
    keys: &KeyHome,
) -> Result<Arc<LocalCa>, ControlError> {
    let fail = |reason: String| ControlError::CaGeneration {
        generation: record.generation,
        reason,
    };
    let dir = dir.ok_or_else(|| {
        fail("it is trusted, but the control plane was started without `ca_dir`".to_owned())
    })?;
    let path = generation_dir(dir, record.generation);
    if !tokio::fs::try_exists(path.join("ca.pem"))
        .await
        .unwrap_or(false)
    {
        return Err(fail(format!(
            "it is trusted, but `{}` holds no CA",
            path.display()
        )));
    }
    let ca = keys.open(path.clone(), record.generation).await?;
    let fingerprint = ca_fingerprint(ca.cert_der());
    if fingerprint != record.fingerprint {
        return Err(fail(format!(
            "the CA in `{}` has fingerprint `{fingerprint}`, the store recorded `{}`",
            path.display(),
            record.fingerprint
        )));
    }
    Ok(ca)
}

/// Where generation `n` lives under `dir`.
pub(crate) fn generation_dir(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("gen-{n}"))
}

/// The signer of the active generation; generation 1 when none is recorded active (which is
/// then recorded).
async fn active_signer(
    generations: &mut [Generation],
    store: &Store,
) -> Result<Signer, ControlError> {
    if !generations.iter().any(|g| g.record.active) {
        store.activate_ca_generation(1).await?;
        for generation in generations.iter_mut() {
            generation.record.active = generation.record.generation == 1;
        }
    }
    let active = generations
        .iter()
        .filter(|g| g.record.active)
        .max_by_key(|g| g.record.generation)
        .ok_or_else(|| ControlError::CaGeneration {
            generation: 1,
            reason: "not recorded".to_owned(),
        })?;
    signer(active)
}

fn signer(generation: &Generation) -> Result<Signer, ControlError> {
    let ca = generation
        .ca
        .clone()
        .ok_or_else(|| ControlError::CaGeneration {
            generation: generation.record.generation,
            reason: "it is active but its CA is not loaded".to_owned(),
        })?;
    Ok(Signer {
        generation: generation.record.generation,
        ca,
        fingerprint: generation.record.fingerprint.clone(),
    })
}

fn status(generations: &[Generation]) -> api::CaStatus {
    api::CaStatus {
        generations: generations
            .iter()
            .map(|g| api::CaGeneration {
                generation: g.record.generation,
                fingerprint: g.record.fingerprint.clone(),
                not_after_ms: unix_ms(g.record.not_after),
                active: g.record.active,
                trusted: g.record.trusted,
            })
            .collect(),
    }
}
