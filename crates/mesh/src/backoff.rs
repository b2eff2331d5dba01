//! Exponential backoff with jitter, for retrying the control plane.

use std::time::Duration;

/// Delays that double from `min` up to `max`, each shortened by up to a quarter at random
/// so that many sidecars retrying a restarted control plane do not arrive in step.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

// === impl Backoff ===

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let mut byte = [0u8; 1];
        let jitter = match aws_lc_rs::rand::fill(&mut byte) {
            Ok(()) => base / 4 * u32::from(byte[0]) / 255,
            Err(_) => Duration::ZERO,
        };
        base - jitter
    }

    /// Starts again from `min` (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(700));
        let ranges = [(75, 100), (150, 200), (300, 400), (525, 700), (525, 700)];
        for (low, high) in ranges {
            let d = b.next_delay().as_millis();
            assert!((low..=high).contains(&d), "{d} not in {low}..={high}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
