//! The policy service (`docs/policy.md`, "Distribution"): validates Cedar sets, versions them
//! in the store, and publishes the [`Distribution`] every proxy runs through a watch channel
//! (which the mesh snapshot carries to sidecars). Sets are applied one at a time; an invalid
//! set is never stored and the enforced one keeps deciding.

mod enforced;
mod ledger;
mod problems;
mod record;
mod seed;

use std::{sync::Arc, time::SystemTime};

use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use rampart_policy::{Distribution, PolicyRelease, PolicySource, Segments, ShadowEntry};
use rampart_store::{
    POLICY_MODE_DRY_RUN, POLICY_MODE_ENFORCE, POLICY_ORIGIN_API, PolicyVersionRecord, Store,
};
use tokio::sync::{Mutex, watch};

pub(crate) use self::enforced::EnforcedEngine;
use self::ledger::Ledger;
pub(crate) use self::problems::Rejected;
use crate::{
    ControlError,
    api::{
        ApplyPolicy, DryRunReport, PolicyApplied, PolicyHistoryEntry, PolicyStatus,
        PolicyVersionDetail,
    },
};

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";
/// The most history entries one call returns.
pub(crate) const MAX_HISTORY: u32 = 1000;
/// The longest author.
const MAX_AUTHOR: usize = 128;
/// The longest message.
const MAX_MESSAGE: usize = 4096;

/// The policy service. Cheap to clone; clones share everything.
#[derive(Clone)]
pub(crate) struct PolicyService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bus: EventBus,
    tx: watch::Sender<Distribution>,
    /// Applies one at a time, so that versions and diffs follow one order.
    apply: Mutex<()>,
    /// The shadow disagreements reported for the current dry run.
    ledger: std::sync::Mutex<Ledger>,
}

/// Who applies a version, why, and in which mode.
struct NewVersion {
    author: String,
    message: String,
    dry_run: bool,
}

/// Why a set was not applied.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// The request itself is malformed (author, message).
    Invalid(String),
    /// The set does not compile.
    Rejected(Rejected),
    Control(ControlError),
}

// === impl PolicyService ===

impl PolicyService {
    /// Seeds the store from the configuration's `policy` section (see [`seed`]) and loads the
    /// current distribution. An invalid configured set fails the start.
    pub(crate) async fn load(
        store: Store,
        bus: EventBus,
        config: Option<rampart_config::PolicyConfig>,
    ) -> Result<Self, ControlError> {
        if let Some(config) = config {
            seed::from_config(&store, &bus, config).await?;
        }
        let distribution = record::distribution(&store).await?;
        let shadow = distribution.shadow.as_ref().map(|s| s.version);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                bus,
                tx: watch::channel(distribution).0,
                apply: Mutex::new(()),
                ledger: std::sync::Mutex::new(Ledger::new(shadow)),
            }),
        })
    }

    /// The distribution now and every later one.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Distribution> {
        self.inner.tx.subscribe()
    }

    /// `GET /v1/policy`.
    pub(crate) async fn status(&self) -> Result<PolicyStatus, ControlError> {
        let store = &self.inner.store;
        let enforced = store.latest_enforced_policy().await?;
        let shadow = store.current_shadow_policy().await?;
        Ok(PolicyStatus {
            enforced: enforced.as_ref().map(record::info).transpose()?,
            shadow: shadow.as_ref().map(record::info).transpose()?,
        })
    }

    /// Validates, records and publishes `request` (see `POST /v1/policy`).
    pub(crate) async fn apply(&self, request: ApplyPolicy) -> Result<PolicyApplied, ApplyError> {
        check(&request).map_err(ApplyError::Invalid)?;
        let inner = &self.inner;
        let _one_at_a_time = inner.apply.lock().await;
        let current = self.inner.tx.borrow().clone();
        let mut source = request.source;
        if request.segments_from_current
            && source.segments == Segments::default()
            && let Some(enforced) = &current.enforced
        {
            source.segments = enforced.source.segments.clone();
        }
        let (source, compiled) = compile(source).await;
        if let Err(problems) = compiled {
            self.publish(
                SecurityKind::PolicyRejected,
                format!(
                    "policy set by `{}` rejected: {}",
                    request.author,
                    problems.summary()
                ),
            );
            return Err(ApplyError::Rejected(problems));
        }
        let digest = source.digest();
        let target = match request.dry_run {
            true => &current.shadow,
            false => &current.enforced,
        };
        let in_force = target.as_ref().is_some_and(|r| r.digest == digest);
        if in_force && (request.dry_run || current.shadow.is_none()) {
            let version = target.as_ref().map_or(0, |r| r.version);
            return Ok(PolicyApplied {
                version,
                digest,
                diff: String::new(),
                unchanged: true,
            });
        }
        let new = NewVersion {
            author: request.author,
            message: request.message,
            dry_run: request.dry_run,
        };
        self.record(current, source, digest, new).await
    }

    /// Stores `source` as the next version and publishes it.
    async fn record(
        &self,
        current: Distribution,
        source: PolicySource,
        digest: String,
        new: NewVersion,
    ) -> Result<PolicyApplied, ApplyError> {
        let empty = PolicySource::default();
        let old = current.enforced.as_ref().map_or(&empty, |r| &r.source);
        let diff = source.diff_from(old);
        let mode = match new.dry_run {
            true => POLICY_MODE_DRY_RUN,
            false => POLICY_MODE_ENFORCE,
        };
        let row = PolicyVersionRecord {
            version: 0,
            created_at: SystemTime::now(),
            author: new.author.clone(),
            message: new.message,
            mode: mode.to_owned(),
            digest: digest.clone(),
            source: record::source_json(&source).map_err(ApplyError::Control)?,
            diff: diff.clone(),
            origin: POLICY_ORIGIN_API.to_owned(),
        };
        let version = self
            .inner
            .store
            .insert_policy_version(&row)
            .await
            .map_err(|e| ApplyError::Control(e.into()))?;
        let version = u64::try_from(version).unwrap_or(0);
        let released = PolicyRelease {
            version,
            digest: digest.clone(),
            source,
        };
        let next = match new.dry_run {
            true => Distribution {
                shadow: Some(released),
                ..current
            },
            false => Distribution {
                enforced: Some(released),
                shadow: None,
            },
        };
        self.publish_distribution(next);
        tracing::info!(version, mode, author = %new.author, "policy set applied");
        self.publish(
            SecurityKind::PolicyApplied,
            format!(
                "policy version {version} ({mode}) applied by `{}`",
                new.author
            ),
        );
        Ok(PolicyApplied {
            version,
            digest,
            diff,
            unchanged: false,
        })
    }

    /// `DELETE /v1/policy/dry-run`: stops the dry run; whether one ran.
    pub(crate) async fn clear_dry_run(&self) -> Result<bool, ControlError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.apply.lock().await;
        let cleared = inner.store.clear_policy_dry_run().await?;
        let current = inner.tx.borrow().clone();
        if current.shadow.is_some() {
            self.publish_distribution(Distribution {
                shadow: None,
                ..current
            });
        }
        if cleared {
            self.publish(SecurityKind::PolicyApplied, "policy dry run stopped".into());
        }
        Ok(cleared)
    }

    /// `GET /v1/policy/history`: the `limit` newest versions.
    pub(crate) async fn history(
        &self,
        limit: u32,
    ) -> Result<Vec<PolicyHistoryEntry>, ControlError> {
        let rows = self
            .inner
            .store
            .list_policy_versions(limit.min(MAX_HISTORY))
            .await?;
        Ok(rows.iter().map(record::history_entry).collect())
    }

    /// `GET /v1/policy/versions/{n}`.
    pub(crate) async fn version(
        &self,
        version: u64,
    ) -> Result<Option<PolicyVersionDetail>, ControlError> {
        let Ok(version) = i64::try_from(version) else {
            return Ok(None);
        };
        let row = self.inner.store.policy_version(version).await?;
        row.as_ref().map(record::detail).transpose()
    }

    /// Merges shadow disagreements reported by a proxy; entries of another shadow version
    /// than the current one are dropped. Returns how many were kept.
    pub(crate) fn record_shadow(&self, entries: Vec<ShadowEntry>) -> usize {
        let shadow = self.inner.tx.borrow().shadow.as_ref().map(|s| s.version);
        match self.inner.ledger.lock() {
            Ok(mut ledger) => ledger.add(shadow, entries),
            Err(_) => 0,
        }
    }

    /// `GET /v1/policy/dry-run-report`.
    pub(crate) fn report(&self) -> DryRunReport {
        let shadow = self.inner.tx.borrow().shadow.as_ref().map(|s| s.version);
        match self.inner.ledger.lock() {
            Ok(mut ledger) => ledger.report(shadow),
            Err(_) => DryRunReport::default(),
        }
    }

    fn publish_distribution(&self, next: Distribution) {
        let shadow = next.shadow.as_ref().map(|s| s.version);
        if let Ok(mut ledger) = self.inner.ledger.lock() {
            ledger.retain(shadow);
        }
        self.inner.tx.send_replace(next);
    }

    fn publish(&self, kind: SecurityKind, detail: String) {
        self.inner.bus.publish(Event::Security(SecurityEvent::new(
            kind, SOURCE, None, detail,
        )));
    }
}

impl std::fmt::Debug for PolicyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.inner.tx.borrow();
        f.debug_struct("PolicyService")
            .field("enforced", &d.enforced.as_ref().map(|r| r.version))
            .field("shadow", &d.shadow.as_ref().map(|r| r.version))
            .finish_non_exhaustive()
    }
}

// === impl ApplyError ===

impl From<ControlError> for ApplyError {
    fn from(e: ControlError) -> Self {
        Self::Control(e)
    }
}

// === helpers ===

fn check(request: &ApplyPolicy) -> Result<(), String> {
    let author = request.author.trim();
    if author.is_empty() || author.chars().count() > MAX_AUTHOR {
        return Err(format!("`author` must be 1 to {MAX_AUTHOR} characters"));
    }
    if request.message.chars().count() > MAX_MESSAGE {
        return Err(format!(
            "`message` must be at most {MAX_MESSAGE} characters"
        ));
    }
    Ok(())
}

/// Compiles `source` off the async threads (a large set takes a while); gives it back with
/// the outcome.
pub(crate) async fn compile(source: PolicySource) -> (PolicySource, Result<(), Rejected>) {
    let job = tokio::task::spawn_blocking(move || {
        let outcome = source.compile().map(drop).map_err(|e| Rejected::from(&e));
        (source, outcome)
    });
    match job.await {
        Ok(done) => done,
        Err(e) => (
            PolicySource::default(),
            Err(Rejected::internal(format!(
                "policy compilation failed: {e}"
            ))),
        ),
    }
}
