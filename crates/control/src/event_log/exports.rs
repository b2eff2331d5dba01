//! Copies of stored events elsewhere (`docs/logs.md`): a JSON-lines file, an OpenTelemetry
//! collector (OTLP logs), and the NATS consumer group that feeds the log from JetStream.
//! Exporters follow the log's broadcast of stored records; an exporter that falls behind
//! loses the oldest and counts them (`rampart_events_export_dropped_total`).

use std::{path::PathBuf, sync::Arc};

use rampart_events::{EventRecord, IngestOutcome};
use rampart_logs::{LogStore, StoredEvent};
use rampart_ship::{
    BoxFuture, CollectorOptions, EventIngest, NatsCollector, NatsOptions, OtlpExporter, OtlpOptions,
};
use tokio::{io::AsyncWriteExt, sync::broadcast, sync::watch, task::JoinHandle};

use super::EventLog;
use crate::ControlError;

/// What to export, and whether to consume NATS.
#[derive(Debug, Default)]
pub struct Exports {
    /// Append every stored record to this file (created 0640).
    pub jsonl: Option<PathBuf>,
    pub otlp: Option<OtlpOptions>,
    /// Consume the JetStream stream as one of the collector group.
    pub nats: Option<NatsOptions>,
}

/// The event log as the NATS consumer group's destination.
struct LogIngest(Arc<LogStore>);

impl EventIngest for LogIngest {
    fn ingest(&self, batch: Vec<EventRecord>) -> BoxFuture<'_, Result<IngestOutcome, String>> {
        Box::pin(async move { self.0.ingest(batch).await.map_err(|e| e.to_string()) })
    }
}

// === impl EventLog ===

impl EventLog {
    /// Starts the configured exporters and the NATS consumer; they stop with the log or when
    /// `shutdown` turns true.
    pub async fn start_exports(
        &mut self,
        exports: Exports,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), ControlError> {
        // Every exporter subscribes before the first await (opening the file), so that all of
        // them start from the same stored record.
        let for_jsonl = exports.jsonl.as_ref().map(|_| self.store.subscribe());
        let for_otlp = exports.otlp.as_ref().map(|_| self.store.subscribe());
        if let (Some(path), Some(stored)) = (exports.jsonl, for_jsonl) {
            let task = jsonl(stored, &path).await?;
            self.attach(task);
        }
        if let (Some(options), Some(mut stored)) = (exports.otlp, for_otlp) {
            let exporter = OtlpExporter::spawn(options, shutdown.clone()).map_err(|e| {
                ControlError::Events {
                    reason: e.to_string(),
                }
            })?;
            let sender = exporter.sender();
            self.attach(tokio::spawn(async move {
                let _exporter = exporter;
                while let Some(event) = next(&mut stored, "otlp").await {
                    if let Ok(record) = EventRecord::parse(event.json.as_bytes()) {
                        sender.export(record);
                    }
                }
            }));
        }
        if let Some(options) = exports.nats {
            let collector = NatsCollector::run(
                options,
                CollectorOptions::default(),
                Arc::new(LogIngest(self.store.clone())),
                shutdown,
            );
            self.attach(tokio::spawn(async move {
                // The collector runs its own task; this one holds it for the log's lifetime.
                let _collector = collector;
                std::future::pending::<()>().await;
            }));
        }
        Ok(())
    }
}

async fn jsonl(
    mut stored: broadcast::Receiver<Arc<StoredEvent>>,
    path: &std::path::Path,
) -> Result<JoinHandle<()>, ControlError> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .await
        .map_err(|e| ControlError::Events {
            reason: format!("cannot open `{}`: {e}", path.display()),
        })?;
    let shown = path.display().to_string();
    Ok(tokio::spawn(async move {
        let mut buf = Vec::with_capacity(64 * 1024);
        while let Some(event) = next(&mut stored, "jsonl").await {
            buf.extend_from_slice(event.json.as_bytes());
            buf.push(b'\n');
            while buf.len() < 60 * 1024 {
                match stored.try_recv() {
                    Ok(event) => {
                        buf.extend_from_slice(event.json.as_bytes());
                        buf.push(b'\n');
                    }
                    Err(broadcast::error::TryRecvError::Lagged(n)) => dropped("jsonl", n),
                    Err(_) => break,
                }
            }
            if let Err(e) = file.write_all(&buf).await {
                tracing::error!(file = %shown, error = %e, "cannot write the event export");
            }
            buf.clear();
        }
        let _ = file.flush().await;
    }))
}

/// The next stored record, counting what a lagging exporter lost; `None` when the log closes.
async fn next(
    stored: &mut broadcast::Receiver<Arc<StoredEvent>>,
    exporter: &'static str,
) -> Option<Arc<StoredEvent>> {
    loop {
        match stored.recv().await {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(n)) => dropped(exporter, n),
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

fn dropped(exporter: &'static str, n: u64) {
    tracing::warn!(
        exporter,
        lost = n,
        "event exporter fell behind; oldest events not exported"
    );
    metrics::counter!("rampart_events_export_dropped_total", "exporter" => exporter).increment(n);
}
