//! Access control at the door: CIDR allow/deny lists and local rate limiting.

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use rampart_config::{AccessList, RateKey, RateLimit};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// A compiled CIDR list. A matching `deny` wins; a non-empty `allow` list admits only its nets.
#[derive(Debug, Clone)]
pub struct Cidrs {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// What a rate limiter keys on, per request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Ip(IpAddr),
    Route,
    Value(String),
}

/// A keyed token bucket (GCRA) for one route.
#[derive(Debug)]
pub struct Limiter {
    pub config: RateLimit,
    limiter: RateLimiter<
        LimitKey,
        governor::state::keyed::DefaultKeyedStateStore<LimitKey>,
        DefaultClock,
    >,
    clock: DefaultClock,
}

// === impl Cidrs ===

impl Cidrs {
    pub fn new(list: &AccessList) -> Self {
        Self {
            allow: list.allow.clone(),
            deny: list.deny.clone(),
        }
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses are checked as IPv4, so `::ffff:10.0.0.1` cannot dodge a v4 rule.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

// === impl Limiter ===

impl Limiter {
    pub fn new(config: &RateLimit) -> Option<Self> {
        let rate = NonZeroU32::new(config.requests_per_second)?;
        let burst = config.burst.and_then(NonZeroU32::new).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self {
            config: config.clone(),
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// The key for a request, or `None` when the request has no value for it (for example a
    /// missing header): such requests share one bucket, so leaving the header out is no escape.
    pub fn key(
        &self,
        ip: IpAddr,
        header: impl FnOnce(&str) -> Option<String>,
        principal: Option<&str>,
    ) -> LimitKey {
        match &self.config.key {
            RateKey::ClientIp => LimitKey::Ip(canonical(ip)),
            RateKey::Route => LimitKey::Route,
            RateKey::Header(name) => LimitKey::Value(header(name).unwrap_or_default()),
            RateKey::Principal => LimitKey::Value(principal.unwrap_or_default().to_string()),
        }
    }

    /// `Ok` to go on, or how long until the key may send again.
    pub fn check(&self, key: &LimitKey) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys that are back to a full bucket (bounded memory under many clients).
    pub fn housekeep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules() {
        let c = Cidrs::new(&AccessList {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny: vec!["10.9.0.0/16".parse().unwrap()],
        });
        assert!(c.admits("10.1.2.3".parse().unwrap()));
        assert!(!c.admits("10.9.2.3".parse().unwrap()));
        assert!(!c.admits("11.0.0.1".parse().unwrap()));
        assert!(!c.admits("::ffff:10.9.0.1".parse().unwrap()));
        assert!(c.admits("::ffff:10.1.0.1".parse().unwrap()));
    }

    #[test]
    fn buckets_are_per_key() {
        let l = Limiter::new(&RateLimit {
            requests_per_second: 1,
            burst: Some(2),
            key: RateKey::ClientIp,
        })
        .unwrap();
        let a = l.key("1.1.1.1".parse().unwrap(), |_| None, None);
        let b = l.key("2.2.2.2".parse().unwrap(), |_| None, None);
        assert!(l.check(&a).is_ok());
        assert!(l.check(&a).is_ok());
        let wait = l.check(&a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(l.check(&b).is_ok());
    }
}
