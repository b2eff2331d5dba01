//! Counts failed authentications per client address in fixed windows.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

/// Addresses tracked at once. Past this, expired windows are dropped first, then the oldest:
/// memory stays bounded whatever number of addresses an attacker uses.
const MAX_TRACKED: usize = 8192;

/// Blocks a client address for the rest of a window once it failed `max` times in it.
///
/// IPv6 clients are counted per /64, the block a single host usually controls.
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    failures: u32,
}

// === impl FailureLimiter ===

impl FailureLimiter {
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long `ip` stays blocked, if it is.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let window = entries.get(&key(ip))?;
        let ends = window.start + self.window;
        (window.failures >= self.max && now < ends).then(|| ends - now)
    }

    /// Counts a failure of `ip`; whether it just reached the limit.
    pub(crate) fn record(&self, ip: IpAddr, now: Instant) -> bool {
        let key = key(ip);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key) {
            entries.retain(|_, w| now < w.start + self.window);
            if entries.len() >= MAX_TRACKED {
                let oldest = entries.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        let window = entries.entry(key).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now >= window.start + self.window {
            *window = Window {
                start: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        window.failures == self.max
    }
}

// === helpers ===

/// The address failures are counted under.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let limiter = FailureLimiter::new(3, WINDOW);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(!limiter.record(ip, t0));
        assert!(!limiter.record(ip, t0));
        assert_eq!(limiter.blocked(ip, t0), None);
        assert!(limiter.record(ip, t0));
        assert_eq!(
            limiter.blocked(ip, t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(limiter.blocked("192.0.2.2".parse().unwrap(), t0), None);
        assert_eq!(limiter.blocked(ip, t0 + WINDOW), None);
        assert!(!limiter.record(ip, t0 + WINDOW));
    }

    #[test]
    fn counts_ipv6_per_slash_64() {
        let limiter = FailureLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        limiter.record("2001:db8::1".parse().unwrap(), t0);
        assert!(limiter.record("2001:db8::ffff:2".parse().unwrap(), t0));
        assert!(
            limiter
                .blocked("2001:db8::3".parse().unwrap(), t0)
                .is_some()
        );
        assert!(
            limiter
                .blocked("2001:db8:0:1::3".parse().unwrap(), t0)
                .is_none()
        );
        limiter.record("::ffff:192.0.2.9".parse().unwrap(), t0);
        assert!(limiter.record("192.0.2.9".parse().unwrap(), t0));
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = FailureLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            limiter.record(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(limiter.entries.lock().unwrap().len() <= MAX_TRACKED);
    }
}
