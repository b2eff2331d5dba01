//! Fault injection for drills (`docs/overload.md`): per route, delay some requests and answer
//! some with an error instead of calling the upstream. Only compiled into a snapshot when the
//! `gateway.faults` section says `danger: true` (configuration validation refuses it otherwise,
//! and this module ignores it as a second line).

use crate::shared::Shared;
use rampart_config::GatewayConfig;
use std::collections::HashMap;
use std::time::Duration;

/// The faults of every route that has some.
#[derive(Debug, Default)]
pub struct Faults {
    by_route: HashMap<String, RouteFaults>,
}

#[derive(Debug)]
struct RouteFaults {
    delay: Option<(Duration, u8)>,
    abort: Option<(u16, u8)>,
}

impl Faults {
    pub fn compile(g: &GatewayConfig) -> Self {
        let Some(f) = g.faults.as_ref().filter(|f| f.danger) else {
            return Self::default();
        };
        let by_route = f
            .routes
            .iter()
            .map(|r| {
                let faults = RouteFaults {
                    delay: r
                        .delay
                        .map(|d| (d.0, r.delay_percent.unwrap_or(100).min(100))),
                    abort: r
                        .abort_status
                        .map(|s| (s, r.abort_percent.unwrap_or(100).min(100))),
                };
                (r.route.clone(), faults)
            })
            .collect();
        Self { by_route }
    }
}

/// Applies `route`'s faults: waits out an injected delay, and returns the status of an injected
/// abort (the caller answers it and does not call the upstream).
pub async fn inject(shared: &Shared, faults: &Faults, route: &str) -> Option<u16> {
    if faults.by_route.is_empty() {
        return None;
    }
    let f = faults.by_route.get(route)?;
    if let Some((delay, percent)) = f.delay
        && roll(percent)
    {
        count(shared, route, "delay");
        tokio::time::sleep(delay).await;
    }
    match f.abort {
        Some((status, percent)) if roll(percent) => {
            count(shared, route, "abort");
            Some(status)
        }
        _ => None,
    }
}

/// True for `percent` out of 100 calls, at random.
fn roll(percent: u8) -> bool {
    match percent {
        0 => false,
        p if p >= 100 => true,
        p => {
            let mut b = [0u8; 4];
            // Without randomness, inject nothing: a drill must never break more than asked.
            if aws_lc_rs::rand::fill(&mut b).is_err() {
                return false;
            }
            u32::from_le_bytes(b) % 100 < u32::from(p)
        }
    }
}

fn count(shared: &Shared, route: &str, kind: &'static str) {
    shared
        .metrics
        .counter(
            "rampart_faults_injected_total",
            &[("route", route), ("kind", kind)],
        )
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::roll;

    #[test]
    fn rolls_respect_bounds() {
        assert!((0..1000).all(|_| !roll(0)));
        assert!((0..1000).all(|_| roll(100)));
        let hits = (0..10_000).filter(|_| roll(50)).count();
        assert!((3_000..7_000).contains(&hits), "{hits}");
    }
}
