//! What asks for a configuration reload: SIGHUP, and changes to the configuration file.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Reload requests, with what caused them. Keep it alive as long as reloads are wanted.
pub struct Triggers {
    pub rx: mpsc::Receiver<&'static str>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Starts listening for SIGHUP and, when `file` is given, for changes to it. Editors often
/// replace a file instead of writing it, so the directory is watched and events filtered.
pub fn triggers(file: Option<&Path>) -> anyhow::Result<Triggers> {
    let (tx, rx) = mpsc::channel(8);
    let hup_tx = tx.clone();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = hup_tx.try_send("SIGHUP");
        }
    });
    let watcher = match file {
        None => None,
        Some(file) => Some(watch(file, tx)?),
    };
    Ok(Triggers {
        rx,
        _watcher: watcher,
    })
}

fn watch(
    file: &Path,
    tx: mpsc::Sender<&'static str>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let file: PathBuf = std::fs::canonicalize(file)?;
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = file.file_name().map(|n| n.to_os_string());
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
            let change = ev.kind.is_modify() || ev.kind.is_create();
            if ours && change {
                let _ = raw_tx.send(());
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    // Debounce: an editor's save is several events; reload once it settles.
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(Duration::from_millis(200), raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let _ = tx.try_send("file change");
        }
    });
    Ok(watcher)
}
