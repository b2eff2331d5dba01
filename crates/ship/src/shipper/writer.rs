//! The spool writer task: takes events off the bus in bursts (`recv`, then `try_recv` while any
//! are ready), turns them into records once, and appends them to the spool in one write; syncs
//! to disk at least every second. While the spool is blocked (full, `block` mode) or failing, it
//! holds the burst and retries, so the bus (which counts what it loses) is the only place where
//! events can wait.

use super::{Shared, lock};
use crate::spool::Position;
use rampart_events::{EventRecord, Origin, Subscription};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Most events taken off the bus per spool write.
const BURST: usize = 4096;
const SYNC_EVERY: Duration = Duration::from_secs(1);
const RETRY_EVERY: Duration = Duration::from_millis(200);
/// Most bursts spooled to answer flush requests.
const FLUSH_BURSTS: usize = 64;

pub(super) async fn run(
    mut sub: Subscription,
    origin: Origin,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut flush: mpsc::Receiver<oneshot::Sender<Position>>,
) {
    let mut tick = tokio::time::interval(SYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held: Vec<String> = Vec::new();
    let mut bus_open = true;
    // Flush requests wait until what the bus held when they came is spooled.
    let mut waiting: Vec<oneshot::Sender<Position>> = Vec::new();
    loop {
        if !waiting.is_empty() && held.is_empty() {
            // Bounded: under a steady stream the bus never runs dry; a few bursts cover
            // everything it held (its capacity) when the request came.
            for _ in 0..FLUSH_BURSTS {
                let mut lines = Vec::new();
                drain(&mut sub, &origin, &mut lines);
                if lines.is_empty() {
                    break;
                }
                held = append(&shared, lines).await;
                if !held.is_empty() {
                    break;
                }
            }
            if held.is_empty() {
                let pos = shared.spool().head_position();
                for reply in waiting.drain(..) {
                    let _ = reply.send(pos);
                }
            }
        }
        if !held.is_empty() {
            tokio::select! {
                _ = stop.changed() => break,
                _ = shared.space.notified() => {}
                _ = tokio::time::sleep(RETRY_EVERY) => {}
                Some(reply) = flush.recv() => waiting.push(reply),
            }
            held = append(&shared, held).await;
            continue;
        }
        tokio::select! {
            _ = stop.changed() => break,
            event = sub.recv(), if bus_open => match event {
                Some(event) => {
                    let mut lines = vec![EventRecord::from_event(&event, &origin).json];
                    drain(&mut sub, &origin, &mut lines);
                    held = append(&shared, lines).await;
                }
                None => bus_open = false,
            },
            Some(reply) = flush.recv() => waiting.push(reply),
            _ = tick.tick() => sync(&shared).await,
        }
    }
    // Stopping: spool what the bus already holds, once, then make it durable.
    if held.is_empty() {
        drain(&mut sub, &origin, &mut held);
    }
    let left = append(&shared, held).await;
    if !left.is_empty() {
        tracing::warn!(
            events = left.len(),
            "event spool full or failing at shutdown; events not spooled"
        );
    }
    sync(&shared).await;
}

fn drain(sub: &mut Subscription, origin: &Origin, lines: &mut Vec<String>) {
    while lines.len() < BURST {
        let Some(event) = sub.try_recv() else { break };
        lines.push(EventRecord::from_event(&event, origin).json);
    }
}

/// Appends `lines`; returns those not admitted (blocked or failed), to retry.
async fn append(shared: &Arc<Shared>, lines: Vec<String>) -> Vec<String> {
    if lines.is_empty() {
        return lines;
    }
    let task = shared.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut spool = task.spool();
        let out = spool.append(&lines);
        if let Err(e) = spool.sync_if_due(SYNC_EVERY) {
            tracing::warn!(error = %e, "cannot sync the event spool");
        }
        (lines, out)
    })
    .await;
    let (mut lines, out) = match done {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "event spool writer failed");
            return Vec::new();
        }
    };
    if out.admitted > 0 {
        shared.data.notify_one();
    }
    if let Some(e) = out.error {
        tracing::warn!(error = %e, "cannot write to the event spool; retrying");
        *lock(&shared.last_error) = Some(e.to_string());
    }
    lines.drain(..out.admitted.min(lines.len()));
    lines
}

async fn sync(shared: &Arc<Shared>) {
    let task = shared.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = task.spool().sync() {
            tracing::warn!(error = %e, "cannot sync the event spool");
        }
    })
    .await;
}
