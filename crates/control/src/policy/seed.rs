//! Seeding the store from the configuration's `policy` section: the configured set becomes a
//! new enforced version (author `config`) when it differs from the last version that came from
//! the configuration; otherwise what was applied through the API stays in force.

use std::time::SystemTime;

use rampart_events::{Event, EventBus, SecurityEvent, SecurityKind};
use rampart_policy::PolicySource;
use rampart_store::{POLICY_MODE_ENFORCE, POLICY_ORIGIN_CONFIG, PolicyVersionRecord, Store};

use super::{SOURCE, compile, record};
use crate::ControlError;

/// The author of versions seeded from the configuration.
pub(super) const CONFIG_AUTHOR: &str = "config";

/// Records the configured set if it changed since it was last recorded; an invalid set fails.
pub(super) async fn from_config(
    store: &Store,
    bus: &EventBus,
    config: rampart_config::PolicyConfig,
) -> Result<(), ControlError> {
    let loaded = tokio::task::spawn_blocking(move || PolicySource::from_config(&config))
        .await
        .map_err(|e| ControlError::Policy {
            reason: format!("cannot load the configured policy set: {e}"),
        })?;
    let source = loaded.map_err(|e| ControlError::Policy {
        reason: format!("cannot load the configured policy set: {e}"),
    })?;
    let (source, compiled) = compile(source).await;
    if let Err(rejected) = compiled {
        bus.publish(Event::Security(SecurityEvent::new(
            SecurityKind::PolicyRejected,
            SOURCE,
            None,
            format!("configured policy set rejected: {}", rejected.summary()),
        )));
        return Err(ControlError::Policy {
            reason: format!(
                "the configured policy set is invalid: {}\n{}",
                rejected.error,
                rejected.problems.join("\n")
            ),
        });
    }
    let digest = source.digest();
    let last = store.latest_config_policy().await?;
    if last.is_some_and(|last| last.digest == digest) {
        tracing::debug!(%digest, "configured policy set unchanged since it was recorded");
        return Ok(());
    }
    let previous = store.latest_enforced_policy().await?;
    let old = match &previous {
        Some(row) => record::release(row)?.source,
        None => PolicySource::default(),
    };
    let row = PolicyVersionRecord {
        version: 0,
        created_at: SystemTime::now(),
        author: CONFIG_AUTHOR.to_owned(),
        message: "from the configuration file".to_owned(),
        mode: POLICY_MODE_ENFORCE.to_owned(),
        digest,
        source: record::source_json(&source)?,
        diff: source.diff_from(&old),
        origin: POLICY_ORIGIN_CONFIG.to_owned(),
    };
    let version = store.insert_policy_version(&row).await?;
    tracing::info!(version, "configured policy set recorded");
    bus.publish(Event::Security(SecurityEvent::new(
        SecurityKind::PolicyApplied,
        SOURCE,
        None,
        format!("policy version {version} (enforce) applied by `{CONFIG_AUTHOR}`"),
    )));
    Ok(())
}
