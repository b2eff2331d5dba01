//! The compiled, immutable policy engine and its decisions.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    RestrictedExpression,
};

use crate::error::PolicyError;
use crate::index::{Index, PRINCIPAL_TYPES, RESOURCE_TYPES};
use crate::policies::{Policies, PolicyId};
use crate::request::{Action, Principal, Request, Resource};
use crate::segments::{SEGMENTS_FILE, Segments};

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
    index: Index,
    segments: Segments,
    principal_types: [EntityTypeName; 3],
    resource_types: [EntityTypeName; 3],
    actions: Vec<EntityUid>,
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
        for entry in all.entries() {
            for bucket in index.insert(&entry.policy) {
                if members.len() <= bucket {
                    members.resize_with(bucket + 1, Vec::new);
                }
                if let Some(m) = members.get_mut(bucket) {
                    m.push(entry.policy.clone());
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
        let [p0, p1, p2] = PRINCIPAL_TYPES;
        let [r0, r1, r2] = RESOURCE_TYPES;
        let action_type = type_name("Rampart::Action")?;
        let actions = Action::ALL
            .iter()
            .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.name())))
            .collect();
        Ok(Self {
            policies: all,
            full,
            buckets,
            index,
            segments: segments.clone(),
            principal_types: [type_name(p0)?, type_name(p1)?, type_name(p2)?],
            resource_types: [type_name(r0)?, type_name(r1)?, type_name(r2)?],
            actions,
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
        if !request.action.applies_to(&request.resource) {
            return Err(format!(
                "action {} does not apply to this resource kind",
                request.action.name()
            ));
        }
        let principal = self.principal_entity(&request.principal)?;
        let resource = self.resource_entity(&request.resource)?;
        let action = self
            .actions
            .get(request.action.index())
            .cloned()
            .ok_or_else(|| String::from("unknown action"))?;
        let ctx = &request.context;
        let context = cedar_policy::Context::from_pairs([
            (
                String::from("source_ip"),
                RestrictedExpression::new_ip(ctx.source_ip.to_string()),
            ),
            (
                String::from("mtls"),
                RestrictedExpression::new_bool(ctx.mtls),
            ),
            (String::from("scopes"), string_set(&ctx.scopes)),
            (
                String::from("time"),
                RestrictedExpression::new_long(ctx.time),
            ),
        ])
        .map_err(|e| format!("invalid context: {e}"))?;
        let cedar_request =
            cedar_policy::Request::new(principal.uid(), action, resource.uid(), context, None)
                .map_err(|e| format!("invalid request: {e}"))?;
        let entities = Entities::from_entities([principal, resource], None)
            .map_err(|e| format!("invalid entities: {e}"))?;
        Ok((cedar_request, entities))
    }

    fn principal_entity(&self, principal: &Principal) -> Result<Entity, String> {
        let mut attrs = HashMap::with_capacity(4);
        match principal {
            Principal::Workload {
                spiffe_id,
                service,
                namespace,
                segment,
            } => {
                attrs.insert(String::from("spiffe_id"), string(spiffe_id));
                attrs.insert(String::from("service"), string(service));
                attrs.insert(String::from("namespace"), string(namespace));
                attrs.insert(String::from("segment"), string(segment));
            }
            Principal::Client { client_id, scopes } => {
                attrs.insert(String::from("client_id"), string(client_id));
                attrs.insert(String::from("scopes"), string_set(scopes));
            }
            Principal::User { sub, groups } => {
                attrs.insert(String::from("sub"), string(sub));
                attrs.insert(String::from("groups"), string_set(groups));
            }
        }
        let kind = self
            .principal_types
            .get(principal.kind())
            .cloned()
            .ok_or_else(|| String::from("unknown principal kind"))?;
        let uid = EntityUid::from_type_name_and_id(kind, EntityId::new(principal.id()));
        Entity::new(uid, attrs, HashSet::new()).map_err(|e| format!("invalid principal: {e}"))
    }

    fn resource_entity(&self, resource: &Resource) -> Result<Entity, String> {
        let mut attrs = HashMap::with_capacity(4);
        let id = match resource {
            Resource::Route {
                host,
                path,
                segment,
                service,
            } => {
                attrs.insert(String::from("host"), string(host));
                attrs.insert(String::from("path"), string(path));
                attrs.insert(String::from("segment"), string(segment));
                attrs.insert(String::from("service"), string(service));
                format!("{host}{path}")
            }
            Resource::Service {
                host,
                path,
                segment,
                service,
            } => {
                attrs.insert(String::from("host"), string(host));
                attrs.insert(String::from("path"), string(path));
                attrs.insert(String::from("segment"), string(segment));
                attrs.insert(String::from("service"), string(service));
                service.clone()
            }
            Resource::Secret { path } => {
                attrs.insert(String::from("path"), string(path));
                path.clone()
            }
        };
        let kind = self
            .resource_types
            .get(resource.kind())
            .cloned()
            .ok_or_else(|| String::from("unknown resource kind"))?;
        let uid = EntityUid::from_type_name_and_id(kind, EntityId::new(id));
        Entity::new(uid, attrs, HashSet::new()).map_err(|e| format!("invalid resource: {e}"))
    }
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_string())
}

fn string_set(items: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(items.iter().map(|s| string(s)))
}

/// How proxies share an engine: `Arc<PolicyEngine>`, typically inside an `ArcSwap` so a new
/// policy set replaces the old one atomically.
pub type SharedEngine = Arc<PolicyEngine>;
