//! The open inbound mesh connections, with their peer's serial, so that a revocation closes
//! them at once instead of when they next handshake.

use rampart_identity::RevocationList;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Open connection id → what closing it needs.
#[derive(Debug, Default)]
pub struct Conns {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

#[derive(Debug)]
struct Open {
    serial: String,
    close: Arc<Notify>,
}

/// A connection's place in [`Conns`]; leaves it when dropped.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    conns: Arc<Conns>,
    close: Arc<Notify>,
}

// === impl Conns ===

impl Conns {
    /// Registers a connection whose peer presented the SVID with `serial`.
    pub fn register(self: &Arc<Self>, serial: String) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Open {
                    serial,
                    close: close.clone(),
                },
            );
        Registration {
            id,
            conns: self.clone(),
            close,
        }
    }

    /// Tells every connection whose peer is in `list` to close; returns how many.
    pub fn close_revoked(&self, list: &RevocationList) -> usize {
        if list.is_empty() {
            return 0;
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut closed = 0;
        open.retain(|_, o| {
            if list.is_revoked(&o.serial) {
                // Stores a permit when the connection is not waiting right now.
                o.close.notify_one();
                closed += 1;
                false
            } else {
                true
            }
        });
        closed
    }

    /// How many connections are registered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

// === impl Registration ===

impl Registration {
    /// Resolves when the connection must close.
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.conns
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn only_revoked_peers_are_closed() {
        let conns = Arc::new(Conns::default());
        let revoked = conns.register("0abc".into());
        let kept = conns.register("0def".into());
        assert_eq!(
            conns.close_revoked(&RevocationList::new(["abc".to_owned()])),
            1
        );
        // The permit is stored: waiting after the close still sees it.
        tokio::time::timeout(Duration::from_secs(1), revoked.closed())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), kept.closed())
                .await
                .is_err()
        );
        drop(revoked);
        assert_eq!(conns.len(), 1);
        drop(kept);
        assert_eq!(conns.len(), 0);
    }
}
