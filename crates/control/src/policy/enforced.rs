//! The enforced policy set compiled once per version, for the decisions the control plane
//! takes itself (the secrets API). Compilation runs off the async threads; until the
//! current version is compiled, callers wait for it (bounded), so a set applied through the
//! API decides the very next request.

use std::{sync::Arc, time::Duration};

use rampart_policy::{Distribution, PolicyEngine};
use tokio::{sync::watch, task::JoinHandle};

/// How long a decision waits for a newly applied set to compile before it denies.
const COMPILE_WAIT: Duration = Duration::from_secs(10);

/// The enforced set's engine, or none when authorization is off.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    /// The enforced version (0: none).
    pub(crate) version: u64,
    /// `None`: no enforced set, or it does not compile (both deny everyone but the admin).
    pub(crate) engine: Option<Arc<PolicyEngine>>,
}

/// The compiled enforced set, following the distribution.
#[derive(Clone, Debug)]
pub(crate) struct EnforcedEngine {
    distribution: watch::Receiver<Distribution>,
    compiled: watch::Receiver<Arc<Compiled>>,
}

// === impl EnforcedEngine ===

impl EnforcedEngine {
    /// Compiles the current enforced set, then follows `distribution` on a task (the handle
    /// the caller aborts on shutdown).
    pub(crate) async fn follow(
        distribution: watch::Receiver<Distribution>,
    ) -> (Self, JoinHandle<()>) {
        let first = compile(&distribution.borrow().clone()).await;
        let (tx, compiled) = watch::channel(Arc::new(first));
        let mut changes = distribution.clone();
        let task = tokio::spawn(async move {
            loop {
                if changes.changed().await.is_err() {
                    return;
                }
                let next = changes.borrow_and_update().clone();
                let version = enforced_version(&next);
                if tx.borrow().version == version {
                    continue;
                }
                tx.send_replace(Arc::new(compile(&next).await));
            }
        });
        let engine = Self {
            distribution,
            compiled,
        };
        (engine, task)
    }

    /// The compiled enforced set now: when a newer version is being compiled, waits for it
    /// (up to [`COMPILE_WAIT`]); `None` when it did not come in time (the caller denies).
    pub(crate) async fn current(&self) -> Option<Arc<Compiled>> {
        let wanted = enforced_version(&self.distribution.borrow());
        let now = self.compiled.borrow().clone();
        if now.version == wanted {
            return Some(now);
        }
        let mut compiled = self.compiled.clone();
        let wait = compiled.wait_for(|c| c.version >= wanted);
        match tokio::time::timeout(COMPILE_WAIT, wait).await {
            Ok(Ok(c)) => Some(c.clone()),
            _ => None,
        }
    }
}

// === helpers ===

fn enforced_version(distribution: &Distribution) -> u64 {
    distribution.enforced.as_ref().map_or(0, |r| r.version)
}

async fn compile(distribution: &Distribution) -> Compiled {
    let Some(release) = distribution.enforced.clone() else {
        return Compiled {
            version: 0,
            engine: None,
        };
    };
    let version = release.version;
    let job = tokio::task::spawn_blocking(move || release.source.compile());
    let engine = match job.await {
        Ok(Ok(engine)) => Some(Arc::new(engine)),
        Ok(Err(error)) => {
            // A stored set was validated when applied; failing now means every decision
            // denies (fail closed) until a set that compiles is applied.
            tracing::error!(version, %error, "enforced policy set does not compile");
            None
        }
        Err(error) => {
            tracing::error!(version, %error, "policy compilation failed");
            None
        }
    };
    // Without an engine only the admin token passes, as with no enforced set.
    Compiled { version, engine }
}
