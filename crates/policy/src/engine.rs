//! The compiled, immutable policy engine and its decisions.

use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Authorizer, Entities, EntityId, EntityTypeName, EntityUid, PolicySet};

use crate::cedar_inputs::InputBuilder;

use crate::error::PolicyError;
use crate::index::{Index, PRINCIPAL_TYPES, RESOURCE_TYPES};
use crate::memo_key::{Abstraction, MemoKey, PathClass};
use crate::policies::{Policies, PolicyId};
use crate::request::{Action, Request, Resource};
use crate::segments::{SEGMENTS_FILE, Segments};
use crate::usage::Usage;

/// The outcome of one authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The determining policies, sorted: the satisfied permits when allowed; the satisfied
    /// forbids when a forbid denied; the erroring policies when an error denied; empty on
    /// default deny.
    pub policies: Vec<PolicyId>,
    /// Evaluation errors (each denies), as `policy id: message`; sorted.
    pub errors: Vec<String>,
}

impl Decision {
    fn deny_error(message: String) -> Self {
        Self {
            allowed: false,
            policies: Vec::new(),
            errors: vec![message],
        }
    }
}

/// What Cedar said, accumulated over one or more policy sets.
#[derive(Default)]
struct Tally {
    permits: Vec<PolicyId>,
    forbids: Vec<PolicyId>,
    erroring: Vec<PolicyId>,
    errors: Vec<String>,
}

impl Tally {
    fn add(&mut self, response: &cedar_policy::Response) {
        let reasons = response
            .diagnostics()
            .reason()
            .map(|id| PolicyId::new(id.as_ref()));
        match response.decision() {
            cedar_policy::Decision::Allow => self.permits.extend(reasons),
            cedar_policy::Decision::Deny => self.forbids.extend(reasons),
        }
        for error in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = error;
            self.erroring.push(PolicyId::new(e.policy_id().as_ref()));
            self.errors.push(error.to_string());
        }
    }

    /// Forbid wins, then errors (fail closed), then permits, else default deny.
    fn finish(self) -> Decision {
        let mut errors = self.errors;
        errors.sort();
        let (allowed, mut policies) = if !self.forbids.is_empty() {
            (false, self.forbids)
        } else if !errors.is_empty() {
            (false, self.erroring)
        } else if !self.permits.is_empty() {
            (true, self.permits)
        } else {
            (false, Vec::new())
        };
        policies.sort();
        policies.dedup();
        Decision {
            allowed,
            policies,
            errors,
        }
    }
}

/// A compiled, immutable, indexed policy set. Cheap to share (`Arc`/`ArcSwap`); `decide`
/// takes `&self` and touches only the policies that can apply.
pub struct PolicyEngine {
    policies: Policies,
    full: PolicySet,
    buckets: Vec<PolicySet>,
    /// What each bucket's policies read of the request (for memo keys).
    usage: Vec<Usage>,
    index: Index,
    segments: Segments,
    inputs: InputBuilder,
    authorizer: Authorizer,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.policies.len())
            .field("buckets", &self.buckets.len())
            .finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// Compiles policies plus the segment flows into an engine; the union is validated against
    /// the schema in strict mode (a failure names file, line, column and policy id).
    pub fn compile(policies: Policies, segments: &Segments) -> Result<Self, PolicyError> {
        let mut all = policies;
        if !segments.flows.is_empty() {
            let text = segments.to_cedar()?;
            let mut flow_policies = Policies::new();
            flow_policies.add_source(SEGMENTS_FILE, &text)?;
            all.extend(&flow_policies)?;
        }
        all.validate()?;
        let full = all.to_policy_set()?;

        let mut index = Index::default();
        let mut members: Vec<Vec<cedar_policy::Policy>> = Vec::new();
        let mut usage: Vec<Usage> = Vec::new();
        for entry in all.entries() {
            let used = Usage::of_policy(&entry.policy);
            for bucket in index.insert(&entry.policy) {
                if members.len() <= bucket {
                    members.resize_with(bucket + 1, Vec::new);
                    usage.resize_with(bucket + 1, Usage::default);
                }
                if let Some(m) = members.get_mut(bucket) {
                    m.push(entry.policy.clone());
                }
                if let Some(u) = usage.get_mut(bucket) {
                    u.merge(&used);
                }
            }
        }
        debug_assert_eq!(members.len(), index.bucket_count());
        let buckets = members
            .into_iter()
            .map(|m| PolicySet::from_policies(m).map_err(|e| PolicyError::Assemble(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;

        let type_name =
            |t: &str| EntityTypeName::from_str(t).map_err(|e| PolicyError::Schema(e.to_string()));
        let principal_types = PRINCIPAL_TYPES
            .iter()
            .map(|t| type_name(t))
            .collect::<Result<Vec<_>, _>>()?;
        let resource_types = RESOURCE_TYPES
            .iter()
            .map(|t| type_name(t))
            .collect::<Result<Vec<_>, _>>()?;
        let action_type = type_name("Rampart::Action")?;
        let actions: Vec<EntityUid> = Action::ALL
            .iter()
            .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.name())))
            .collect();
        let inputs = InputBuilder::new(&principal_types, &resource_types, &actions)
            .map_err(PolicyError::Schema)?;
        Ok(Self {
            policies: all,
            full,
            buckets,
            usage,
            index,
            segments: segments.clone(),
            inputs,
            authorizer: Authorizer::new(),
        })
    }

    /// All compiled policies (user policies and segment flows).
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The segments configuration the engine was compiled with.
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// Decides one request with the indexed slice of the policy set. Default deny; any
    /// evaluation error denies and is reported.
    pub fn decide(&self, request: &Request) -> Decision {
        let (cedar_request, entities) = match self.cedar_inputs(request) {
            Ok(inputs) => inputs,
            Err(message) => return Decision::deny_error(message),
        };
        let mut tally = Tally::default();
        self.index.for_each_bucket(request, |bucket| {
            if let Some(set) = self.buckets.get(bucket) {
                tally.add(
                    &self
                        .authorizer
                        .is_authorized(&cedar_request, set, &entities),
                );
            }
        });
        tally.finish()
    }

    /// Decides one request against the whole set, bypassing the index. Same rules as
    /// [`PolicyEngine::decide`]; for cross-checks and explanations, not the hot path.
    pub fn decide_unindexed(&self, request: &Request) -> Decision {
        let (cedar_request, entities) = match self.cedar_inputs(request) {
            Ok(inputs) => inputs,
            Err(message) => return Decision::deny_error(message),
        };
        let mut tally = Tally::default();
        tally.add(
            &self
                .authorizer
                .is_authorized(&cedar_request, &self.full, &entities),
        );
        tally.finish()
    }

    /// Number of policies in the slice `decide` evaluates for `request`.
    pub fn slice_len(&self, request: &Request) -> usize {
        let mut n = 0;
        self.index.for_each_bucket(request, |bucket| {
            n += self.buckets.get(bucket).map_or(0, |s| s.policies().count());
        });
        n
    }

    /// What the decision of `request` depends on beyond principal, action, resource kind,
    /// service and segment: the path whole or only through the truth of the `like` / `==`
    /// tests of the policies in its slice, and which of host, source address, mTLS flag,
    /// scopes and time those policies read. Requests with equal abstractions and equal other
    /// inputs get equal decisions (see [`PolicyEngine::memo_key`]).
    pub fn abstraction(&self, request: &Request) -> Abstraction {
        let mut out = Abstraction {
            path: PathClass::Tests(Vec::new()),
            host: false,
            source_ip: false,
            mtls: false,
            scopes: false,
            time: false,
        };
        let (path, mut whole, route) = match &request.resource {
            Resource::Route { path, .. } => (path.as_str(), false, true),
            Resource::Service { path, .. } => (path.as_str(), false, false),
            // A secret's path is its uid, which the index files policies under.
            Resource::Secret { path } => (path.as_str(), true, false),
        };
        let mut words: Vec<u64> = Vec::new();
        self.index.for_each_bucket(request, |bucket| {
            let Some(used) = self.usage.get(bucket) else {
                return;
            };
            // A route's uid is its host and path.
            let route_uid = route && used.resource_uid;
            out.host |= used.host || route_uid;
            out.source_ip |= used.source_ip;
            out.mtls |= used.mtls;
            out.scopes |= used.scopes;
            out.time |= used.time;
            whole |= used.path_whole || route_uid;
            if whole {
                return;
            }
            words.push(bucket as u64);
            for chunk in used.tests.chunks(64) {
                let mut word = 0u64;
                for (i, test) in chunk.iter().enumerate() {
                    if test.holds(path) {
                        word |= 1 << i;
                    }
                }
                words.push(word);
            }
        });
        out.path = if whole {
            PathClass::Whole
        } else {
            PathClass::Tests(words)
        };
        out
    }

    /// `request` reduced to what its decision depends on (see
    /// [`PolicyEngine::abstraction`]): two requests with equal keys get equal decisions —
    /// allowed, determining policies and errors — from this engine.
    pub fn memo_key<'a>(&self, request: &'a Request) -> MemoKey<'a> {
        MemoKey::new(request, self.abstraction(request))
    }

    /// A human-readable account of the decision: which policies allowed or denied, and why.
    pub fn explain(&self, request: &Request) -> String {
        let decision = self.decide(request);
        let mut out = format!(
            "decision: {}\n",
            if decision.allowed { "ALLOW" } else { "DENY" }
        );
        let why = if decision.allowed {
            "allowed by"
        } else if !decision.errors.is_empty() && !decision.policies.is_empty() {
            "denied (fail closed) because evaluation failed in"
        } else if !decision.policies.is_empty() {
            "denied by forbid"
        } else {
            "denied by default: no permit policy matched"
        };
        out.push_str(why);
        out.push('\n');
        for id in &decision.policies {
            match self.policies.describe(id) {
                Some((file, text)) => {
                    out.push_str(&format!("  {id} ({file}):\n"));
                    for line in text.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
                None => out.push_str(&format!("  {id}\n")),
            }
        }
        for error in &decision.errors {
            out.push_str(&format!("error: {error}\n"));
        }
        out.push_str(&format!(
            "evaluated {} of {} policies\n",
            self.slice_len(request),
            self.policies.len()
        ));
        out
    }

    fn cedar_inputs(&self, request: &Request) -> Result<(cedar_policy::Request, Entities), String> {
        self.inputs.build(request)
    }
}

/// How proxies share an engine: `Arc<PolicyEngine>`, typically inside an `ArcSwap` so a new
/// policy set replaces the old one atomically.
pub type SharedEngine = Arc<PolicyEngine>;
