//! Exponential back-off with jitter, honouring a receiver's `Retry-After`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// The longest `Retry-After` obeyed; a receiver asking for more is retried after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(super) struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
    rng: u64,
}

// === impl Backoff ===

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Self {
            min,
            max: max.max(min),
            current: min,
            rng: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    /// The delay before the next attempt: uniformly in `[d/2, d]` for the current step `d`
    /// (which then doubles, up to the maximum), but never less than `retry_after`.
    pub(super) fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        let jitter = half.mul_f64(self.fraction());
        let delay = half + jitter;
        match retry_after {
            Some(ra) => delay.max(ra.min(MAX_RETRY_AFTER)),
            None => delay,
        }
    }

    pub(super) fn reset(&mut self) {
        self.current = self.min;
    }

    /// A number in [0, 1) from xorshift64.
    fn fraction(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_honours_retry_after() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let d: Vec<_> = (0..6).map(|_| b.next(None)).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[3] >= Duration::from_millis(400) && d[3] <= Duration::from_millis(800));
        assert!(d[5] <= Duration::from_millis(800));
        assert!(b.next(Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(100));
    }
}
