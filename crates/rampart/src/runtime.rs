//! The tokio runtime, sized by the configuration.

use anyhow::Context;

/// A runtime with `workers` threads (0: one per core). One worker means a current-thread
/// runtime: everything runs on the main thread, with no cross-thread wake-ups at all.
pub fn build(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if workers > 1 {
        b.worker_threads(workers);
    }
    b.enable_all()
        .thread_name("rampart")
        .build()
        .context("cannot start the async runtime")
}
