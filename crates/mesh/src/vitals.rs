//! How long this sidecar can go on without the control plane, as process-wide gauges
//! (`docs/metrics.md`, `docs/resilience-control.md`): the identity budget (how long the current
//! SVID stays valid), whether the control plane answered last time, and the age and version of
//! the snapshot served from. Shown on the admin listener's `/metrics` when the binary installed
//! the process recorder; `rampart status --sidecar` reads them from there.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime},
};

use crate::agent::Agent;

/// Seconds the current SVID stays valid (0 once expired).
pub const IDENTITY_BUDGET: &str = "rampart_identity_budget_seconds";
/// 1 when the last call to the control plane (watch or renewal) got through, 0 when it failed.
pub const CONTROL_PLANE_REACHABLE: &str = "rampart_control_plane_reachable";
/// Seconds since the snapshot served from was received from the control plane.
pub const SNAPSHOT_AGE: &str = "rampart_snapshot_age_seconds";
/// The version of the snapshot served from.
pub const SNAPSHOT_VERSION: &str = "rampart_snapshot_version";
/// Seconds since the control plane was last reachable (0 while it is).
pub const CONTROL_PLANE_UNREACHABLE_FOR: &str = "rampart_control_plane_unreachable_seconds";

/// How often the gauges that move with time are refreshed.
const TICK: Duration = Duration::from_secs(1);

/// What the gauges are computed from.
#[derive(Debug, Default)]
pub(crate) struct Vitals {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The snapshot served from: its version and when it came from the control plane.
    snapshot: Option<(u64, SystemTime)>,
    /// `None` until the first call; then whether it got through and since when.
    reachable: Option<(bool, SystemTime)>,
}

// === impl Vitals ===

impl Vitals {
    /// Notes the snapshot served from: `version`, received at `at`.
    pub fn snapshot(&self, version: u64, at: SystemTime) {
        if let Ok(mut s) = self.state.lock() {
            s.snapshot = Some((version, at));
        }
    }

    /// Notes whether a call to the control plane got through; a change restarts the clock.
    pub fn reachable(&self, reachable: bool) {
        if let Ok(mut s) = self.state.lock()
            && s.reachable.is_none_or(|(r, _)| r != reachable)
        {
            s.reachable = Some((reachable, SystemTime::now()));
        }
        metrics::gauge!(CONTROL_PLANE_REACHABLE).set(f64::from(u8::from(reachable)));
    }

    /// Sets every gauge from the state and `budget`.
    fn publish(&self, budget: Duration) {
        metrics::gauge!(IDENTITY_BUDGET).set(budget.as_secs_f64());
        let Ok(s) = self.state.lock() else {
            return;
        };
        let now = SystemTime::now();
        let since = |at: SystemTime| now.duration_since(at).unwrap_or_default().as_secs_f64();
        if let Some((version, at)) = s.snapshot {
            metrics::gauge!(SNAPSHOT_AGE).set(since(at));
            // Versions stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(SNAPSHOT_VERSION).set(version as f64);
        }
        if let Some((reachable, at)) = s.reachable {
            metrics::gauge!(CONTROL_PLANE_REACHABLE).set(f64::from(u8::from(reachable)));
            let away = if reachable { 0.0 } else { since(at) };
            metrics::gauge!(CONTROL_PLANE_UNREACHABLE_FOR).set(away);
        }
    }
}

/// Refreshes the gauges every second, for as long as the task runs.
pub(crate) async fn run(agent: std::sync::Arc<Agent>) {
    loop {
        agent.vitals.publish(crate::startup::remaining(&agent.svid));
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_changes_restart_the_clock_but_repeats_do_not() {
        let v = Vitals::default();
        v.reachable(false);
        let first = v.state.lock().unwrap().reachable.unwrap().1;
        std::thread::sleep(Duration::from_millis(5));
        v.reachable(false);
        assert_eq!(v.state.lock().unwrap().reachable.unwrap().1, first);
        v.reachable(true);
        let (r, at) = v.state.lock().unwrap().reachable.unwrap();
        assert!(r);
        assert!(at > first);
    }
}
