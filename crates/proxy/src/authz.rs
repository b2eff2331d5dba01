//! Authorization in the request path (`docs/policy.md`, "Enforcement (proxy)" and "Dry-run"):
//! the installed policy sets, the decision of one request against them, and the ledger of
//! shadow (dry-run) disagreements.
//!
//! The installed [`PolicyState`] is swapped atomically; a request decides on the state it
//! loaded, so a swap never changes a decision half-way. With no enforced set installed,
//! authorization is off unless the configuration has a `policy` section: then every request is
//! denied (`policy_unavailable`, fail closed).
//!
//! Cedar costs several microseconds per decision, so each installed state remembers its
//! decisions for the second they were made in ([`memo`]): a request whose key (peer id or
//! token, method, service, and of host, normalised path and client address what the sets'
//! policies read — a path only tested with `like` / `==` by the outcomes of those tests)
//! equals an earlier one's in the same second gets the same decision without evaluating
//! again. Decisions are pure functions of the key and the sets, so this changes no outcome.

#[cfg(test)]
mod cost;
mod ledger;
mod memo;
#[cfg(test)]
mod memo_keys;
mod question;

pub use ledger::ShadowLedger;
pub use question::Ask;

use memo::{Decided, Memo};

use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use metrics::Counter;
use rampart_events::{AuthzRecord, Decision as Outcome, ShadowRecord};
use rampart_policy::{
    Abstraction, Decision, Distribution, PolicyEngine, PolicyError, PolicyRelease, Principal,
    Request, ShadowEntry,
};
use std::fmt::Write as _;
use std::sync::Arc;

/// One compiled policy set and the version it was released as.
#[derive(Debug, Clone)]
pub struct InstalledPolicy {
    /// The release's version in the control plane's history.
    pub version: u64,
    /// The compiled set.
    pub engine: Arc<PolicyEngine>,
}

/// What a gateway decides requests with: the enforced set and, during a dry run, a shadow set
/// whose decisions are only recorded.
#[derive(Debug, Clone, Default)]
pub struct PolicyState {
    /// The set whose decisions are enforced; `None` means authorization is off, unless the
    /// configuration requires a policy (then everything is denied).
    pub enforced: Option<InstalledPolicy>,
    /// The dry-run set: decided too, disagreements recorded, never enforced.
    pub shadow: Option<InstalledPolicy>,
}

/// The gateway's authorization runtime: the installed sets with their memo of decisions, the
/// shadow ledger and the decision counters (registered once).
#[derive(Debug)]
pub struct AuthzRt {
    installed: ArcSwap<Installed>,
    ledger: ShadowLedger,
    allowed: Counter,
    denied: Counter,
}

/// A policy state as installed: the decisions it made this second belong to it.
#[derive(Debug, Default)]
struct Installed {
    policy: PolicyState,
    memo: Memo,
}

/// The outcome of the authorization stage.
#[derive(Debug)]
pub enum Verdict {
    /// Authorization is off: no set installed and none required.
    Off,
    /// Allowed; the access event's record when the request is observed.
    Allowed(Option<Box<AuthzRecord>>),
    /// Denied (403).
    Denied(Denial),
}

/// Why a request was denied, for the refusal, its security event and its access event.
#[derive(Debug)]
pub struct Denial {
    /// The reason code (the only thing the 403 body shows): `forbidden` or
    /// `policy_unavailable`.
    pub reason: &'static str,
    /// The security event's detail (principal, action, resource, policies), when observed.
    pub detail: Option<String>,
    /// The access event's record, when observed.
    pub record: Option<Box<AuthzRecord>>,
}

// === impl PolicyState ===

impl PolicyState {
    /// Compiles both sets of `d`. Blocking (Cedar validation): run it off the async threads.
    pub fn compile(d: &Distribution) -> Result<Self, PolicyError> {
        fn install(r: &PolicyRelease) -> Result<InstalledPolicy, PolicyError> {
            Ok(InstalledPolicy {
                version: r.version,
                engine: Arc::new(r.source.compile()?),
            })
        }
        Ok(Self {
            enforced: d.enforced.as_ref().map(install).transpose()?,
            shadow: d.shadow.as_ref().map(install).transpose()?,
        })
    }

    /// No set installed: authorization off (or, when the configuration requires a policy,
    /// every request denied).
    pub fn off() -> Self {
        Self::default()
    }
}

// === impl AuthzRt ===

impl AuthzRt {
    /// Nothing installed; counters registered in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        let decisions =
            |d: &str| metrics.counter("rampart_policy_decisions_total", &[("decision", d)]);
        Self {
            installed: ArcSwap::from_pointee(Installed::default()),
            ledger: ShadowLedger::new(metrics),
            allowed: decisions("allow"),
            denied: decisions("deny"),
        }
    }

    /// Installs `state` for the requests that start from now on.
    pub fn install(&self, state: PolicyState) {
        self.ledger
            .retain_version(state.shadow.as_ref().map(|s| s.version));
        self.installed.store(Arc::new(Installed {
            policy: state,
            memo: Memo::new(),
        }));
    }

    /// The enforced set's version, if one is installed.
    pub fn version(&self) -> Option<u64> {
        self.versions().0
    }

    /// The versions of the installed sets (enforced, shadow).
    pub fn versions(&self) -> (Option<u64>, Option<u64>) {
        let i = self.installed.load();
        (
            i.policy.enforced.as_ref().map(|e| e.version),
            i.policy.shadow.as_ref().map(|e| e.version),
        )
    }

    /// Takes the disagreements recorded so far.
    pub fn take_shadow_entries(&self) -> Vec<ShadowEntry> {
        self.ledger.take()
    }

    /// Decides one request. `required`: the configuration has a `policy` section.
    pub fn authorize(&self, required: bool, ask: &Ask<'_>) -> Verdict {
        let installed = self.installed.load();
        let policy = &installed.policy;
        let Some(enforced) = &policy.enforced else {
            if required {
                self.denied.increment(1);
                return Verdict::Denied(Denial {
                    reason: "policy_unavailable",
                    detail: ask
                        .observed
                        .then(|| "no policy set installed: denied (fail closed)".to_owned()),
                    record: None,
                });
            }
            if let Some(shadow) = &policy.shadow {
                // A dry run before any set is enforced: the enforced side allows everything.
                self.shadow_only(shadow, ask);
            }
            return Verdict::Off;
        };
        let now = question::unix_now();
        let decided = remembered(&installed, enforced, ask, now);
        let decision = &decided.enforced;
        let disagreement = decided
            .shadow
            .as_ref()
            .filter(|(_, d)| d.allowed != decision.allowed);
        // The principal's values are needed only for events and the ledger.
        let principal = (ask.observed || disagreement.is_some())
            .then(|| ask.principal(enforced.engine.segments()));
        if let (Some((version, shadow)), Some(p)) = (disagreement, &principal) {
            self.ledger.record(ShadowEntry {
                shadow_version: *version,
                from: p.label(),
                to: ask.service().0.to_owned(),
                action: ask.method.as_str().to_owned(),
                enforced_allowed: decision.allowed,
                shadow_allowed: shadow.allowed,
                policies: ids(shadow),
                sample_path: ask.path.to_owned(),
                count: 1,
                first_seen: now,
                last_seen: now,
            });
        }
        let observed = principal.as_ref().filter(|_| ask.observed);
        let record = observed.map(|p| record(p, decision, enforced.version, disagreement));
        if decision.allowed {
            self.allowed.increment(1);
            return Verdict::Allowed(record);
        }
        self.denied.increment(1);
        Verdict::Denied(Denial {
            reason: "forbidden",
            detail: observed.map(|p| denial_detail(ask, p, decision)),
            record,
        })
    }

    /// Decides `ask` with the shadow set alone (nothing enforced: the enforced side allows).
    fn shadow_only(&self, shadow: &InstalledPolicy, ask: &Ask<'_>) {
        let now = question::unix_now();
        let Ok(request) = ask.question(shadow.engine.segments(), now) else {
            return;
        };
        let d = shadow.engine.decide(&request);
        if !d.allowed {
            self.ledger.record(ShadowEntry {
                shadow_version: shadow.version,
                from: request.principal.label(),
                to: ask.service().0.to_owned(),
                action: request.action.name().to_owned(),
                enforced_allowed: true,
                shadow_allowed: false,
                policies: ids(&d),
                sample_path: ask.path.to_owned(),
                count: 1,
                first_seen: now,
                last_seen: now,
            });
        }
    }
}

/// The decisions about `ask`: remembered from a request of this second with an equal key,
/// else made now (and remembered).
fn remembered(
    installed: &Installed,
    enforced: &InstalledPolicy,
    ask: &Ask<'_>,
    now: i64,
) -> Arc<Decided> {
    let policy = &installed.policy;
    let question = ask.question(enforced.engine.segments(), now);
    // The shadow set's question differs only when its segments do.
    let shadow_question = match (&question, &policy.shadow) {
        (Ok(request), Some(shadow)) => question::resegmented(request, shadow.engine.segments()),
        _ => None,
    };
    let (enforced_reads, shadow_reads) = match &question {
        Ok(request) => (
            enforced.engine.abstraction(request),
            policy.shadow.as_ref().map(|s| {
                s.engine
                    .abstraction(shadow_question.as_ref().unwrap_or(request))
            }),
        ),
        Err(_) => (
            Abstraction::everything(),
            policy.shadow.as_ref().map(|_| Abstraction::everything()),
        ),
    };
    let decide = || decide(policy, enforced, ask, &question, shadow_question.as_ref());
    let Some(key) = ask.memo_key(now, enforced_reads, shadow_reads) else {
        return Arc::new(decide());
    };
    let hash = installed.memo.hash(&key);
    if let Some(d) = installed.memo.get(hash, &key) {
        return d;
    }
    let d = Arc::new(decide());
    installed.memo.insert(hash, &key, d.clone());
    d
}

/// Decides `question` with the enforced set and, if installed, the shadow set (with
/// `shadow_question` when its segments make it differ).
fn decide(
    policy: &PolicyState,
    enforced: &InstalledPolicy,
    ask: &Ask<'_>,
    question: &Result<Request, Principal>,
    shadow_question: Option<&Request>,
) -> Decided {
    let Ok(request) = question else {
        return Decided {
            enforced: no_action(ask),
            shadow: policy.shadow.as_ref().map(|s| (s.version, no_action(ask))),
        };
    };
    Decided {
        enforced: enforced.engine.decide(request),
        shadow: policy.shadow.as_ref().map(|s| {
            (
                s.version,
                s.engine.decide(shadow_question.unwrap_or(request)),
            )
        }),
    }
}

/// A method that is no Cedar action is denied, by no policy.
fn no_action(ask: &Ask<'_>) -> Decision {
    Decision {
        allowed: false,
        policies: Vec::new(),
        errors: vec![format!(
            "method `{}` is not an authorization action",
            ask.method
        )],
    }
}

fn outcome(allowed: bool) -> Outcome {
    if allowed {
        Outcome::Allow
    } else {
        Outcome::Deny
    }
}

fn ids(d: &Decision) -> Vec<String> {
    d.policies.iter().map(|p| p.as_str().to_owned()).collect()
}

/// The access event's `rampart.authz`.
fn record(
    principal: &Principal,
    decision: &Decision,
    version: u64,
    shadow: Option<&(u64, Decision)>,
) -> Box<AuthzRecord> {
    Box::new(AuthzRecord {
        decision: outcome(decision.allowed),
        principal: principal.cedar_uid(),
        policies: ids(decision),
        version,
        shadow: shadow.map(|(version, d)| ShadowRecord {
            decision: outcome(d.allowed),
            policies: ids(d),
            version: *version,
        }),
    })
}

/// `PolicyDenied`'s detail: who, what, on what, and by which policies (never in the 403).
fn denial_detail(ask: &Ask<'_>, principal: &Principal, d: &Decision) -> String {
    let mut s = format!(
        "{} {} {}: denied",
        principal.cedar_uid(),
        ask.method,
        ask.resource_uid()
    );
    if d.policies.is_empty() && d.errors.is_empty() {
        s.push_str(" by default (no permit matches)");
    } else if !d.policies.is_empty() {
        let _ = write!(s, " by {}", ids(d).join(", "));
    }
    if !d.errors.is_empty() {
        let _ = write!(s, "; errors: {}", d.errors.join("; "));
    }
    s
}
