//! Overload protection of the door itself (`docs/overload.md`): connection bounds per listener
//! and per client address, and a gateway-wide bound on requests in flight.
//!
//! Nothing here queues. A connection over a bound is accepted and closed at once, so the accept
//! queue keeps draining and a flood cannot hold legitimate clients in the kernel's backlog; a
//! request over the concurrency bound is answered 503 with `Retry-After: 1` at once.

use crate::metrics::Metrics;
use metrics::Counter;
use rampart_config::Overload;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// At most one `rate_limited` event per listener per this period for refused connections.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The connection bounds of one listener, and its open connections.
#[derive(Debug)]
pub struct Door {
    max_connections: Option<usize>,
    max_per_ip: Option<usize>,
    open: AtomicUsize,
    /// Open connections per client address; only kept when `max_per_ip` is set.
    by_ip: Mutex<HashMap<IpKey, usize>>,
    refused_full: Counter,
    refused_ip: Counter,
    /// Refusals since the last security event, and when that was (ms since `epoch`).
    unreported: AtomicU64,
    last_report_ms: AtomicU64,
    epoch: Instant,
}

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    ListenerFull,
    PerIpLimit,
}

/// A client address as the per-address bound counts it: IPv4 alone, IPv6 by its /64 (one
/// host usually owns a whole /64), IPv4-mapped IPv6 as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6(u64),
}

/// One admitted connection; frees its place when dropped.
#[derive(Debug)]
pub struct ConnPermit {
    door: Arc<Door>,
    ip: Option<IpKey>,
}

/// The gateway-wide bound on requests in flight.
#[derive(Debug)]
pub struct RequestGate {
    max: Option<usize>,
    in_flight: AtomicUsize,
    shed: Counter,
}

/// One request in flight; frees its place when dropped.
#[derive(Debug)]
pub struct RequestPermit(Option<Arc<RequestGate>>);

// === impl Refused ===

impl Refused {
    pub fn reason(self) -> &'static str {
        match self {
            Self::ListenerFull => "listener_full",
            Self::PerIpLimit => "per_ip_limit",
        }
    }
}

// === impl IpKey ===

impl IpKey {
    fn of(ip: IpAddr) -> Self {
        match crate::access::canonical(ip) {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

// === impl Door ===

impl Door {
    /// The bounds of listener `name`: its override in `overload.listeners`, else the defaults.
    pub fn new(name: &str, config: &Overload, metrics: &Metrics) -> Self {
        let own = config.listeners.get(name);
        let pick = |own: Option<u32>, default: Option<u32>| {
            own.or(default)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let refused = |reason| {
            metrics.counter(
                "rampart_connections_refused_total",
                &[("listener", name), ("reason", reason)],
            )
        };
        Self {
            max_connections: pick(own.and_then(|o| o.max_connections), config.max_connections),
            max_per_ip: pick(
                own.and_then(|o| o.max_connections_per_ip),
                config.max_connections_per_ip,
            ),
            open: AtomicUsize::new(0),
            by_ip: Mutex::new(HashMap::new()),
            refused_full: refused("listener_full"),
            refused_ip: refused("per_ip_limit"),
            unreported: AtomicU64::new(0),
            last_report_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// A place for a new connection from `ip`, or why there is none (counted).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        if self.max_connections.is_some_and(|max| open >= max) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_full.increment(1);
            return Err(Refused::ListenerFull);
        }
        let Some(max) = self.max_per_ip else {
            return Ok(ConnPermit {
                door: self.clone(),
                ip: None,
            });
        };
        let key = IpKey::of(ip);
        let mut map = self.map();
        let n = map.entry(key).or_insert(0);
        if *n >= max {
            drop(map);
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_ip.increment(1);
            return Err(Refused::PerIpLimit);
        }
        *n += 1;
        Ok(ConnPermit {
            door: self.clone(),
            ip: Some(key),
        })
    }

    /// Whether a refusal should raise a security event now, and how many refusals it stands
    /// for: at most one event per second per listener, so a flood cannot flood the event
    /// pipeline too (the metric counts every refusal).
    pub fn report(&self) -> Option<u64> {
        self.unreported.fetch_add(1, Ordering::AcqRel);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_report_ms.load(Ordering::Acquire);
        let due = last == 0 || now.saturating_sub(last) >= REPORT_EVERY.as_millis() as u64;
        if !due
            || self
                .last_report_ms
                .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        Some(self.unreported.swap(0, Ordering::AcqRel).max(1))
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn map(&self) -> MutexGuard<'_, HashMap<IpKey, usize>> {
        // The map holds plain counts: a panic elsewhere cannot leave it inconsistent.
        self.by_ip.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if let Some(key) = self.ip {
            let mut map = self.door.map();
            if let Some(n) = map.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        self.door.open.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl RequestGate ===

impl RequestGate {
    pub fn new(config: &Overload, metrics: &Metrics) -> Self {
        Self {
            max: config
                .max_concurrent_requests
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            in_flight: AtomicUsize::new(0),
            shed: metrics.counter("rampart_requests_shed_total", &[("reason", "overloaded")]),
        }
    }

    /// A place for one more request, or `None` when the gateway is at its bound (counted).
    pub fn enter(self: &Arc<Self>) -> Option<RequestPermit> {
        let Some(max) = self.max else {
            return Some(RequestPermit(None));
        };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.shed.increment(1);
            return None;
        }
        Some(RequestPermit(Some(self.clone())))
    }
}

impl Drop for RequestPermit {
    fn drop(&mut self) {
        if let Some(gate) = &self.0 {
            gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_config::ListenerOverload;

    fn door(max: Option<u32>, per_ip: Option<u32>) -> Arc<Door> {
        let config = Overload {
            max_connections: max,
            max_connections_per_ip: per_ip,
            ..Overload::default()
        };
        Arc::new(Door::new("l", &config, &Metrics::new()))
    }

    #[test]
    fn per_ip_bound_counts_v6_by_64() {
        let d = door(None, Some(1));
        let a = d.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            d.admit("2001:db8::2".parse().unwrap()).unwrap_err(),
            Refused::PerIpLimit
        );
        assert!(d.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
        drop(a);
        assert!(d.admit("2001:db8::2".parse().unwrap()).is_ok());
        assert_eq!(d.open(), 0);
    }

    #[test]
    fn listener_bound_and_overrides() {
        let d = door(Some(2), None);
        let _a = d.admit("10.0.0.1".parse().unwrap()).unwrap();
        let _b = d.admit("10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(
            d.admit("10.0.0.3".parse().unwrap()).unwrap_err(),
            Refused::ListenerFull
        );
        let mut config = Overload::default();
        config.listeners.insert(
            "l".into(),
            ListenerOverload {
                max_connections: Some(1),
                max_connections_per_ip: None,
            },
        );
        let d = Arc::new(Door::new("l", &config, &Metrics::new()));
        let _a = d.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert!(d.admit("10.0.0.2".parse().unwrap()).is_err());
    }

    #[test]
    fn refusals_are_reported_at_most_once_a_second() {
        let d = door(Some(1), None);
        assert_eq!(d.report(), Some(1));
        assert_eq!(d.report(), None);
        assert_eq!(d.report(), None);
    }

    #[test]
    fn request_gate_sheds_beyond_bound() {
        let config = Overload {
            max_concurrent_requests: Some(1),
            ..Overload::default()
        };
        let g = Arc::new(RequestGate::new(&config, &Metrics::new()));
        let p = g.enter().unwrap();
        assert!(g.enter().is_none());
        drop(p);
        assert!(g.enter().is_some());
    }
}
