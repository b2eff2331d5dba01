//! Policy index: which policies can apply to a request, without asking Cedar.
//!
//! Every policy is filed under one key built from its scope and from segment literals that
//! lead its first `when` clause:
//! - principal: any, an entity type (`is T`, `is T in …`), or one entity (`== T::"id"`);
//!   `principal in E` is filed as any (conservative);
//! - action: any, or each action of `== A` / `in [A, B]` (the schema has no action groups);
//! - resource: like the principal;
//! - segments: `principal.segment == "s"` / `resource.segment == "s"` when they are the leading
//!   conjuncts of the first `when` clause and the scope guarantees the attribute exists.
//!
//! Cedar evaluates the scope and then the conditions left to right with short-circuit `&&`, so
//! a policy filed under a key the request does not match is not satisfied and cannot raise an
//! error: the slice's decision, determining policies and errors equal the full set's.

use std::collections::HashMap;

use cedar_policy::{ActionConstraint, EntityUid, Policy, PrincipalConstraint, ResourceConstraint};
use serde_json::Value;

use crate::request::{Action, Request};

/// Entity type names of principals, by kind index.
pub(crate) const PRINCIPAL_TYPES: [&str; 4] = [
    "Rampart::Workload",
    "Rampart::Client",
    "Rampart::User",
    "Rampart::Anonymous",
];
/// Entity type names of resources, by kind index.
pub(crate) const RESOURCE_TYPES: [&str; 3] =
    ["Rampart::Route", "Rampart::Service", "Rampart::Secret"];

/// An entity scope, resolved against the schema's kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Any,
    Kind(usize),
    Uid(usize, String),
}

impl Scope {
    fn kind(&self) -> Option<usize> {
        match self {
            Self::Any => None,
            Self::Kind(k) | Self::Uid(k, _) => Some(*k),
        }
    }
}

/// A bucket key: all integers, so a lookup never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    /// 0 any, 1 kind, 2 uid.
    p_shape: u8,
    p_val: u32,
    /// 0 any, else action index + 1.
    action: u8,
    r_shape: u8,
    r_val: u32,
    /// 0 none, else interned segment + 1.
    p_seg: u32,
    r_seg: u32,
}

/// Which key fields a bucket constrains; requests only probe shapes that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    p_shape: u8,
    action: bool,
    r_shape: u8,
    p_seg: bool,
    r_seg: bool,
}

/// Index from keys to bucket numbers.
#[derive(Debug, Default)]
pub(crate) struct Index {
    buckets: HashMap<Key, usize>,
    shapes: Vec<Shape>,
    principal_uids: [HashMap<String, u32>; 4],
    resource_uids: [HashMap<String, u32>; 3],
    segments: HashMap<String, u32>,
    bucket_count: usize,
}

impl Index {
    /// Files a policy; returns the bucket numbers it belongs to (one per listed action).
    pub(crate) fn insert(&mut self, policy: &Policy) -> Vec<usize> {
        let principal = principal_scope(&policy.principal_constraint());
        let resource = resource_scope(&policy.resource_constraint());
        let actions = action_scope(&policy.action_constraint());
        let p_has_segment = principal.kind() == Some(0);
        let r_has_segment = matches!(resource.kind(), Some(0 | 1));
        let (p_seg, r_seg) = leading_segments(policy, p_has_segment, r_has_segment);

        let (p_shape, p_val) = intern_scope(&mut self.principal_uids, &principal);
        let (r_shape, r_val) = intern_scope(&mut self.resource_uids, &resource);
        let p_seg = p_seg.map_or(0, |s| intern(&mut self.segments, &s) + 1);
        let r_seg = r_seg.map_or(0, |s| intern(&mut self.segments, &s) + 1);
        let action_keys: Vec<u8> = match actions {
            None => vec![0],
            Some(list) => list.into_iter().map(|i| (i as u8) + 1).collect(),
        };
        let mut out = Vec::with_capacity(action_keys.len());
        for action in action_keys {
            let key = Key {
                p_shape,
                p_val,
                action,
                r_shape,
                r_val,
                p_seg,
                r_seg,
            };
            let shape = Shape {
                p_shape,
                action: action != 0,
                r_shape,
                p_seg: p_seg != 0,
                r_seg: r_seg != 0,
            };
            if !self.shapes.contains(&shape) {
                self.shapes.push(shape);
            }
            let next = self.bucket_count;
            let bucket = *self.buckets.entry(key).or_insert(next);
            if bucket == next {
                self.bucket_count += 1;
            }
            if !out.contains(&bucket) {
                out.push(bucket);
            }
        }
        out
    }

    /// Number of buckets.
    pub(crate) fn bucket_count(&self) -> usize {
        self.bucket_count
    }

    /// Calls `f` with every bucket that can apply to `request`.
    pub(crate) fn for_each_bucket(&self, request: &Request, mut f: impl FnMut(usize)) {
        let p_kind = request.principal.kind();
        let r_kind = request.resource.kind();
        let p_uid = self
            .principal_uids
            .get(p_kind)
            .and_then(|m| m.get(request.principal.id()));
        let r_uid = resource_id(request)
            .and_then(|id| self.resource_uids.get(r_kind).and_then(|m| m.get(id)));
        let p_seg = request
            .principal
            .segment()
            .and_then(|s| self.segments.get(s));
        let r_seg = request
            .resource
            .segment()
            .and_then(|s| self.segments.get(s));
        let action = (request.action.index() as u8) + 1;
        for shape in &self.shapes {
            let (p_shape, p_val) = match shape.p_shape {
                0 => (0, 0),
                1 => (1, p_kind as u32),
                _ => match p_uid {
                    Some(v) => (2, *v),
                    None => continue,
                },
            };
            let (r_shape, r_val) = match shape.r_shape {
                0 => (0, 0),
                1 => (1, r_kind as u32),
                _ => match r_uid {
                    Some(v) => (2, *v),
                    None => continue,
                },
            };
            let p_seg = match (shape.p_seg, p_seg) {
                (false, _) => 0,
                (true, Some(s)) => s + 1,
                (true, None) => continue,
            };
            let r_seg = match (shape.r_seg, r_seg) {
                (false, _) => 0,
                (true, Some(s)) => s + 1,
                (true, None) => continue,
            };
            let key = Key {
                p_shape,
                p_val,
                action: if shape.action { action } else { 0 },
                r_shape,
                r_val,
                p_seg,
                r_seg,
            };
            if let Some(bucket) = self.buckets.get(&key) {
                f(*bucket);
            }
        }
    }
}

/// The entity id of the request's resource.
pub(crate) fn resource_id(request: &Request) -> Option<&str> {
    use crate::request::Resource;
    match &request.resource {
        Resource::Route { .. } => None,
        Resource::Service { service, .. } => Some(service),
        Resource::Secret { path } => Some(path),
    }
}

fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    let next = map.len() as u32;
    *map.entry(s.to_string()).or_insert(next)
}

fn intern_scope<const N: usize>(maps: &mut [HashMap<String, u32>; N], scope: &Scope) -> (u8, u32) {
    match scope {
        Scope::Any => (0, 0),
        Scope::Kind(k) => (1, *k as u32),
        Scope::Uid(k, id) => match maps.get_mut(*k) {
            Some(map) => (2, intern(map, id)),
            None => (0, 0),
        },
    }
}

fn kind_of(types: &[&str], uid_type: &str) -> Option<usize> {
    types.iter().position(|t| *t == uid_type)
}

fn uid_scope(types: &[&str], uid: &EntityUid) -> Scope {
    match kind_of(types, &uid.type_name().to_string()) {
        Some(k) => Scope::Uid(k, uid.id().unescaped().to_string()),
        None => Scope::Any,
    }
}

fn type_scope(types: &[&str], name: &cedar_policy::EntityTypeName) -> Scope {
    kind_of(types, &name.to_string()).map_or(Scope::Any, Scope::Kind)
}

fn principal_scope(c: &PrincipalConstraint) -> Scope {
    match c {
        PrincipalConstraint::Any | PrincipalConstraint::In(_) => Scope::Any,
        PrincipalConstraint::Eq(uid) => uid_scope(&PRINCIPAL_TYPES, uid),
        PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => {
            type_scope(&PRINCIPAL_TYPES, t)
        }
    }
}

fn resource_scope(c: &ResourceConstraint) -> Scope {
    match c {
        ResourceConstraint::Any | ResourceConstraint::In(_) => Scope::Any,
        ResourceConstraint::Eq(uid) => {
            // Routes are keyed by host and path: their entity ids are not indexed.
            match uid_scope(&RESOURCE_TYPES, uid) {
                Scope::Uid(0, _) => Scope::Kind(0),
                other => other,
            }
        }
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => {
            type_scope(&RESOURCE_TYPES, t)
        }
    }
}

/// Action indexes a policy is limited to; `None` when any action (or unknown) may apply.
fn action_scope(c: &ActionConstraint) -> Option<Vec<usize>> {
    let one = |uid: &EntityUid| {
        (uid.type_name().to_string() == "Rampart::Action")
            .then(|| Action::from_name(uid.id().unescaped()))
            .flatten()
            .map(Action::index)
    };
    match c {
        ActionConstraint::Any => None,
        ActionConstraint::Eq(uid) => one(uid).map(|i| vec![i]),
        ActionConstraint::In(list) => list.iter().map(one).collect(),
    }
}

/// Segment literals among the leading conjuncts of the first `when` clause.
fn leading_segments(
    policy: &Policy,
    p_has_segment: bool,
    r_has_segment: bool,
) -> (Option<String>, Option<String>) {
    let mut p_seg = None;
    let mut r_seg = None;
    if !p_has_segment && !r_has_segment {
        return (p_seg, r_seg);
    }
    let Ok(json) = policy.to_json() else {
        return (p_seg, r_seg);
    };
    let Some(first) = json
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    else {
        return (p_seg, r_seg);
    };
    if first.get("kind").and_then(Value::as_str) != Some("when") {
        return (p_seg, r_seg);
    }
    let Some(body) = first.get("body") else {
        return (p_seg, r_seg);
    };
    let mut conjuncts = Vec::new();
    flatten_and(body, &mut conjuncts);
    for conjunct in conjuncts {
        match segment_equality(conjunct) {
            Some(("principal", lit)) if p_has_segment => {
                p_seg.get_or_insert_with(|| lit.to_string());
            }
            Some(("resource", lit)) if r_has_segment => {
                r_seg.get_or_insert_with(|| lit.to_string());
            }
            // Anything else may error or depend on other data: stop here.
            _ => break,
        }
    }
    (p_seg, r_seg)
}

/// `a && b && c` in evaluation order.
fn flatten_and<'a>(expr: &'a Value, out: &mut Vec<&'a Value>) {
    match expr.get("&&") {
        Some(and) => {
            if let (Some(l), Some(r)) = (and.get("left"), and.get("right")) {
                flatten_and(l, out);
                flatten_and(r, out);
            } else {
                out.push(expr);
            }
        }
        None => out.push(expr),
    }
}

/// `<var>.segment == "lit"` or `"lit" == <var>.segment` → (var, lit).
fn segment_equality(expr: &Value) -> Option<(&str, &str)> {
    let eq = expr.get("==")?;
    let (l, r) = (eq.get("left")?, eq.get("right")?);
    segment_var(l)
        .zip(string_literal(r))
        .or_else(|| segment_var(r).zip(string_literal(l)))
}

/// `<var>.segment` → var.
fn segment_var(expr: &Value) -> Option<&str> {
    let dot = expr.get(".")?;
    if dot.get("attr")?.as_str()? != "segment" {
        return None;
    }
    dot.get("left")?.get("Var")?.as_str()
}

/// A string literal.
fn string_literal(expr: &Value) -> Option<&str> {
    expr.get("Value")?.as_str()
}
