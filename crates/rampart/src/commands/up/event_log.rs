//! The event log of `rampart up`: its own SQLite file in the data directory (or the configured
//! database), the audit key beside it, the exporters, and the NATS consumer group when
//! configured (see `docs/logs.md`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rampart_config::LogsConfig;
use rampart_control::{EventLog, Exports};
use rampart_events::{EventBus, Origin};
use rampart_logs::audit::{AuditKey, AuditSigner};
use rampart_logs::{LogStore, LogStoreOptions, Retention};
use rampart_ship::{NatsOptions, OtlpOptions};
use tokio::sync::watch;

/// The audit key's file in the data directory.
pub const AUDIT_KEY_FILE: &str = "audit-signing.key";

/// Opens the log and starts storing what `bus` carries; exporters stop when `shutdown` turns.
pub async fn start(
    dir: &Path,
    config: &LogsConfig,
    bus: &EventBus,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Arc<EventLog>> {
    let url = config
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("events.db").display()));
    let signer = AuditSigner::load_or_create(&dir.join(AUDIT_KEY_FILE))
        .context("cannot load the audit signing key")?;
    let trusted_keys = config
        .trusted_keys
        .iter()
        .map(|k| {
            AuditKey::parse(k).with_context(|| format!("invalid logs.trusted_keys entry `{k}`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = LogStoreOptions {
        trusted_keys,
        checkpoint_every: config.checkpoint_every,
        checkpoint_interval: config.checkpoint_interval.0,
        signer: Some(Arc::new(signer)),
        retention: Retention {
            max_age: config.max_age.0,
            max_bytes: config.max_bytes.0,
            audit_max_age: config.audit_max_age.0,
        },
        ..LogStoreOptions::default()
    };
    let store = LogStore::open(&url, options)
        .await
        .context("cannot open the event log")?;
    let origin = Origin {
        component: "control".to_string(),
        name: "rampart".to_string(),
        identity: None,
    };
    let mut log = EventLog::start(bus, store, origin);
    let exports = Exports {
        jsonl: config.jsonl.clone(),
        otlp: config.otlp.as_ref().map(|o| {
            let mut options = OtlpOptions::new(o.endpoint.clone());
            options.headers = o
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            options.timeout = o.timeout.0;
            options
        }),
        nats: config.nats.as_ref().filter(|n| n.consume).map(|n| {
            let mut options = NatsOptions::new(n.url.clone());
            options.stream = n.stream.clone();
            options
        }),
    };
    log.start_exports(exports, shutdown)
        .await
        .context("cannot start the event exporters")?;
    Ok(log.shared())
}
