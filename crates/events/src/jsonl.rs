//! A consumer that appends every event as one JSON line to a file.

use crate::bus::EventBus;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// Writes events to a JSON-lines file until the bus closes or the sink is dropped.
#[derive(Debug)]
pub struct JsonLinesSink {
    task: JoinHandle<()>,
    path: PathBuf,
}

// === impl JsonLinesSink ===

impl JsonLinesSink {
    /// Opens (appending, creating with mode 0640) `path` and starts writing events to it.
    pub async fn spawn(bus: &EventBus, path: &Path) -> std::io::Result<Self> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)
            .await?;
        let mut sub = bus.subscribe();
        let shown = path.display().to_string();
        let task = tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            while let Some(ev) = sub.recv().await {
                push_line(&mut buf, &ev);
                // Batch whatever else is already queued into the same write.
                while buf.len() < 60 * 1024 {
                    match sub.try_recv() {
                        Some(ev) => push_line(&mut buf, &ev),
                        None => break,
                    }
                }
                if let Err(e) = file.write_all(&buf).await {
                    tracing::error!(file = %shown, error = %e, "cannot write access log");
                }
                buf.clear();
            }
            let _ = file.flush().await;
        });
        Ok(Self {
            task,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JsonLinesSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn push_line(buf: &mut Vec<u8>, ev: &crate::model::Event) {
    if serde_json::to_writer(&mut *buf, ev).is_ok() {
        buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, SecurityEvent, SecurityKind};

    #[tokio::test]
    async fn writes_one_json_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let bus = EventBus::new(64);
        let _sink = JsonLinesSink::spawn(&bus, &path).await.unwrap();
        for i in 0..3 {
            bus.publish(Event::Security(SecurityEvent::new(
                SecurityKind::EgressDenied,
                "gw",
                None,
                format!("host-{i}"),
            )));
        }
        let mut lines = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let text = std::fs::read_to_string(&path).unwrap();
            lines = text.lines().map(str::to_string).collect();
            if lines.len() == 3 {
                break;
            }
        }
        assert_eq!(lines.len(), 3);
        let v: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(v["event.kind"], "security");
        assert_eq!(v["event.action"], "egress_denied");
        assert_eq!(v["event.reason"], "host-2");
    }
}
