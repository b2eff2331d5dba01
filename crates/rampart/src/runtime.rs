//! The tokio runtime, sized by the configuration.

use anyhow::Context;

/// A multi-threaded runtime with `workers` threads (0: one per core).
pub fn build(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        b.worker_threads(workers);
    }
    b.enable_all()
        .thread_name("rampart")
        .build()
        .context("cannot start the async runtime")
}
