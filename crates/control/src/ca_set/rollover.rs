//! The three steps of a CA rollover:
//!
//! 1. `prepare` creates generation `n + 1` in `<ca_dir>/gen-<n+1>/` (its key in the secrets
//!    store when the keys are kept there, see [`super::keys`]) and adds its root to the
//!    bundle, so that every member trusts both roots before any SVID of the new one exists;
//! 2. `activate` makes it sign every SVID from now on (members renew onto it at half-life);
//! 3. `retire` removes every other generation's root from the bundle, refused while an
//!    unexpired, unrevoked SVID signed by one of them exists, unless forced.
//!
//! Each step is recorded in the store before it takes effect, so a restart resumes from it.

use std::{collections::BTreeSet, time::SystemTime};

use rampart_identity::expiry_time;
use rampart_store::CaGenerationRecord;

use super::{CaSet, Generation, generation_dir, signer, status};
use crate::{ControlError, api, ca_fingerprint, registry::unix_ms};

// === impl CaSet ===

impl CaSet {
    /// Carries out `step` and returns the generations after it.
    pub(crate) async fn rollover(
        &self,
        step: api::RolloverStep,
        force: bool,
    ) -> Result<api::CaStatus, ControlError> {
        let mut generations = self.generations.lock().await;
        match step {
            api::RolloverStep::Prepare => self.prepare(&mut generations).await?,
            api::RolloverStep::Activate => self.activate(&mut generations).await?,
            api::RolloverStep::Retire => self.retire(&mut generations, force).await?,
        }
        Ok(status(&generations))
    }

    async fn prepare(&self, generations: &mut Vec<Generation>) -> Result<(), ControlError> {
        let dir = self.dir.as_deref().ok_or(ControlError::NoCaDir)?;
        let active = self.active.load().generation;
        if let Some(prepared) = generations
            .iter()
            .find(|g| g.record.trusted && g.record.generation > active)
        {
            return Err(ControlError::Rollover {
                reason: format!(
                    "generation {} is already prepared: activate it, or retire it to start over",
                    prepared.record.generation
                ),
            });
        }
        let next = generations
            .iter()
            .map(|g| g.record.generation)
            .max()
            .unwrap_or(1)
            .saturating_add(1);
        let ca = self.keys.create(generation_dir(dir, next), next).await?;
        let record = CaGenerationRecord {
            generation: next,
            fingerprint: ca_fingerprint(ca.cert_der()),
            not_after: expiry_time(ca.cert_der())?,
            created_at: SystemTime::now(),
            trusted: true,
            active: false,
        };
        self.store.upsert_ca_generation(&record).await?;
        generations.push(Generation {
            record,
            ca: Some(ca),
        });
        self.publish_bundle(generations)?;
        tracing::info!(
            generation = next,
            "ca rollover: new generation prepared and trusted"
        );
        Ok(())
    }

    async fn activate(&self, generations: &mut [Generation]) -> Result<(), ControlError> {
        let active = self.active.load().generation;
        let next = generations
            .iter()
            .filter(|g| g.record.trusted && g.record.generation > active)
            .max_by_key(|g| g.record.generation)
            .ok_or_else(|| ControlError::Rollover {
                reason: format!(
                    "no generation newer than the active {active} is prepared: run `prepare` first"
                ),
            })?;
        let number = next.record.generation;
        let new_signer = signer(next)?;
        if !self.store.activate_ca_generation(number).await? {
            return Err(ControlError::CaGeneration {
                generation: number,
                reason: "not recorded in the store".to_owned(),
            });
        }
        for generation in generations.iter_mut() {
            generation.record.active = generation.record.generation == number;
        }
        self.active.store(new_signer.into());
        tracing::info!(
            generation = number,
            "ca rollover: new generation signs every SVID from now on"
        );
        Ok(())
    }

    async fn retire(
        &self,
        generations: &mut [Generation],
        force: bool,
    ) -> Result<(), ControlError> {
        let active = self.active.load().generation;
        let retiring: Vec<usize> = (0..generations.len())
            .filter(|&i| {
                generations[i].record.trusted && generations[i].record.generation != active
            })
            .collect();
        if retiring.is_empty() {
            return Err(ControlError::Rollover {
                reason: format!(
                    "nothing to retire: only the active generation {active} is trusted"
                ),
            });
        }
        let fingerprints: BTreeSet<&str> = retiring
            .iter()
            .map(|&i| generations[i].record.fingerprint.as_str())
            .collect();
        let all_live = self.store.live_svids(None, SystemTime::now()).await?;
        // An SVID its holder has already renewed is superseded: the holder uses the new one,
        // so it does not hold the retirement back.
        let superseded: BTreeSet<&str> = all_live
            .iter()
            .filter_map(|svid| svid.renewed_from.as_deref())
            .collect();
        let live: Vec<_> = all_live
            .iter()
            .filter(|svid| fingerprints.contains(svid.ca_fingerprint.as_str()))
            .filter(|svid| !superseded.contains(svid.serial.as_str()))
            .collect();
        if !live.is_empty() {
            let last = live.iter().map(|s| s.expires_at).max().map_or(0, unix_ms);
            let numbers = numbers(generations, &retiring);
            if !force {
                return Err(ControlError::Rollover {
                    reason: format!(
                        "{} unexpired, unrevoked, not yet renewed SVID(s) signed by generation \
                         {numbers} still exist (the last expires at unix ms {last}); wait until their holders \
                         renew and they expire, or retire with `force`",
                        live.len()
                    ),
                });
            }
            tracing::warn!(
                svids = live.len(),
                generations = %numbers,
                "ca rollover: retiring by force; holders of these SVIDs can no longer be verified"
            );
        }
        for &i in &retiring {
            let generation = &mut generations[i];
            let record = CaGenerationRecord {
                trusted: false,
                active: false,
                ..generation.record.clone()
            };
            self.store.upsert_ca_generation(&record).await?;
            generation.record = record;
        }
        self.publish_bundle(generations)?;
        // Generation 1 stays loaded: it is the control plane's own CA.
        for &i in &retiring {
            if generations[i].record.generation != 1 {
                generations[i].ca = None;
            }
        }
        tracing::info!(generations = %numbers(generations, &retiring), "ca rollover: generations retired");
        Ok(())
    }
}

// === helpers ===

/// `2` or `1, 2`: the numbers of `generations[indices]`.
fn numbers(generations: &[Generation], indices: &[usize]) -> String {
    indices
        .iter()
        .map(|&i| generations[i].record.generation.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
