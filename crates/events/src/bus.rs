//! The in-process bus: a bounded broadcast channel of shared events.

use crate::model::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Carries events from every producer to every subscriber. Cheap to clone.
///
/// Bounded: when a subscriber falls more than `capacity` events behind, it loses the oldest ones
/// and the loss is added to [`EventBus::dropped`]. Producers never block.
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    dropped: Arc<AtomicU64>,
}

/// A consumer's end of the bus.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    dropped: Arc<AtomicU64>,
}

// === impl EventBus ===

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes an event. Without subscribers it is discarded.
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Whether anyone listens; producers may skip building events when not.
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            dropped: self.dropped.clone(),
        }
    }

    /// Events lost by subscribers that fell behind, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(16 * 1024)
    }
}

// === impl Subscription ===

impl Subscription {
    /// The next event; `None` once every producer is gone.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(
                        lost = n,
                        "event subscriber fell behind; oldest events dropped"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is ready now.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.dropped.fetch_add(n, Ordering::Relaxed);
                }
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SecurityEvent, SecurityKind};

    fn ev(n: usize) -> Event {
        Event::Security(SecurityEvent::new(
            SecurityKind::RateLimited,
            "t",
            None,
            n.to_string(),
        ))
    }

    #[tokio::test]
    async fn delivers_to_every_subscriber_and_counts_losses() {
        let bus = EventBus::new(4);
        assert!(!bus.has_subscribers());
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(ev(1));
        for s in [&mut a, &mut b] {
            match &*s.recv().await.unwrap() {
                Event::Security(e) => assert_eq!(e.detail, "1"),
                other => panic!("unexpected {other:?}"),
            }
        }
        for i in 0..10 {
            bus.publish(ev(i));
        }
        let mut seen = Vec::new();
        while let Some(e) = a.try_recv() {
            if let Event::Security(e) = &*e {
                seen.push(e.detail.clone());
            }
        }
        assert_eq!(seen, ["6", "7", "8", "9"]);
        assert_eq!(bus.dropped(), 6);
    }
}
