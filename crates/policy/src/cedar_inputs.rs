//! Turning a typed [`Request`] into Cedar's request and entities, cheaply.
//!
//! This is the per-decision hot path. Cedar's public constructors re-parse names and
//! evaluate every attribute as an expression (`RestrictedExpression::new_ip` alone parses the
//! name `ip` with Cedar's full parser on every call), and `Entities::from_entities` computes a
//! transitive closure. The request is already well typed — it is built from typed Rust values
//! that mirror the schema — so the values are built directly with Cedar's core types instead:
//! entity type names, action uids and the `ip` constructor are resolved once per engine;
//! attributes and context are plain values; the two entities have no parents, so no closure
//! needs computing. Policies are still validated strictly at compile time; the decisions are
//! the same as with the public constructors (the engine tests and the sliced-equals-full
//! property test cover this).
//!
//! Uses `cedar-policy-core` (pinned to the version `cedar-policy` uses) and the
//! `From<core type>` conversions `cedar-policy` provides for it.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use cedar_policy::{EntityTypeName, EntityUid};
use cedar_policy_core::ast::{
    self, Eid, EntityType, EntityUID, EntityUIDEntry, ExtensionFunction, PartialValue, Value,
};
use cedar_policy_core::entities::{NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;

use crate::request::{Action, Principal, Request, Resource};

/// Names resolved once per engine, so a decision parses nothing.
pub(crate) struct InputBuilder {
    principal_types: Vec<EntityType>,
    resource_types: Vec<EntityType>,
    actions: Vec<EntityUID>,
    ip: &'static ExtensionFunction,
}

impl std::fmt::Debug for InputBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputBuilder").finish_non_exhaustive()
    }
}

impl InputBuilder {
    /// Resolves the schema's principal and resource types (by kind index), the action uids
    /// (by [`Action::index`]) and Cedar's `ip` constructor.
    pub(crate) fn new(
        principal_types: &[EntityTypeName],
        resource_types: &[EntityTypeName],
        actions: &[EntityUid],
    ) -> Result<Self, String> {
        let ip_name = ast::Name::parse_unqualified_name("ip").map_err(|e| e.to_string())?;
        let ip = Extensions::all_available()
            .func(&ip_name)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            principal_types: principal_types.iter().map(|t| t.as_ref().clone()).collect(),
            resource_types: resource_types.iter().map(|t| t.as_ref().clone()).collect(),
            actions: actions.iter().map(|a| a.as_ref().clone()).collect(),
            ip,
        })
    }

    /// Cedar's request and entities (principal and resource) for `request`; an error when the
    /// action does not apply to the resource kind or a value is not representable (e.g. an
    /// address Cedar's `ip` rejects).
    pub(crate) fn build(
        &self,
        request: &Request,
    ) -> Result<(cedar_policy::Request, cedar_policy::Entities), String> {
        if !request.action.applies_to(&request.resource) {
            return Err(format!(
                "action {} does not apply to this resource kind",
                request.action.name()
            ));
        }
        let principal = self.principal_entity(&request.principal)?;
        let resource = self.resource_entity(&request.resource)?;
        let action = self.action_uid(request.action)?;
        let context = self.context(&request.context)?;
        let cedar_request = ast::Request::new_unchecked(
            EntityUIDEntry::known(principal.uid().clone(), None),
            EntityUIDEntry::known(action, None),
            EntityUIDEntry::known(resource.uid().clone(), None),
            Some(context),
        );
        let entities = cedar_policy_core::entities::Entities::from_entities(
            [principal, resource],
            None::<&NoEntitiesSchema>,
            // No parents: the closure is trivially complete.
            TCComputation::AssumeAlreadyComputed,
            Extensions::all_available(),
        )
        .map_err(|e| format!("invalid entities: {e}"))?;
        Ok((cedar_request.into(), entities.into()))
    }

    fn action_uid(&self, action: Action) -> Result<EntityUID, String> {
        self.actions
            .get(action.index())
            .cloned()
            .ok_or_else(|| String::from("unknown action"))
    }

    fn context(&self, ctx: &crate::request::Context) -> Result<ast::Context, String> {
        let ip = match self
            .ip
            .call(&[Value::from(cedar_ip(ctx.source_ip).to_string())])
        {
            Ok(PartialValue::Value(v)) => v,
            Ok(PartialValue::Residual(_)) => {
                return Err(String::from("invalid context: source_ip is unknown"));
            }
            Err(e) => return Err(format!("invalid context: {e}")),
        };
        let record = BTreeMap::from([
            ("source_ip".into(), ip),
            ("mtls".into(), Value::from(ctx.mtls)),
            ("scopes".into(), string_set(&ctx.scopes)),
            ("time".into(), Value::from(ctx.time)),
        ]);
        Ok(ast::Context::Value(Arc::new(record)))
    }

    fn principal_entity(&self, principal: &Principal) -> Result<ast::Entity, String> {
        let attrs: Vec<(&'static str, Value)> = match principal {
            Principal::Workload {
                spiffe_id,
                service,
                namespace,
                segment,
            } => vec![
                ("spiffe_id", string(spiffe_id)),
                ("service", string(service)),
                ("namespace", string(namespace)),
                ("segment", string(segment)),
            ],
            Principal::Client { client_id, scopes } => vec![
                ("client_id", string(client_id)),
                ("scopes", string_set(scopes)),
            ],
            Principal::User { sub, groups } => {
                vec![("sub", string(sub)), ("groups", string_set(groups))]
            }
            Principal::Anonymous => Vec::new(),
        };
        let kind = self
            .principal_types
            .get(principal.kind())
            .cloned()
            .ok_or_else(|| String::from("unknown principal kind"))?;
        Ok(entity(kind, principal.id(), attrs))
    }

    fn resource_entity(&self, resource: &Resource) -> Result<ast::Entity, String> {
        let (id, attrs) = match resource {
            Resource::Route {
                host,
                path,
                segment,
                service,
            } => (
                format!("{host}{path}"),
                http_attrs(host, path, segment, service),
            ),
            Resource::Service {
                host,
                path,
                segment,
                service,
            } => (service.clone(), http_attrs(host, path, segment, service)),
            Resource::Secret { path } => (path.clone(), vec![("path", string(path))]),
        };
        let kind = self
            .resource_types
            .get(resource.kind())
            .cloned()
            .ok_or_else(|| String::from("unknown resource kind"))?;
        Ok(entity(kind, &id, attrs))
    }
}

/// The address as Cedar accepts it: Cedar's `ip` refuses IPv4-mapped IPv6 text
/// (`::ffff:10.0.0.1`, what a dual-stack listener reports for IPv4 peers), so such an
/// address is passed as the IPv4 address it stands for.
pub(crate) fn cedar_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn http_attrs(host: &str, path: &str, segment: &str, service: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("host", string(host)),
        ("path", string(path)),
        ("segment", string(segment)),
        ("service", string(service)),
    ]
}

fn entity(kind: EntityType, id: &str, attrs: Vec<(&'static str, Value)>) -> ast::Entity {
    let uid = EntityUID::from_components(kind, Eid::new(id), None);
    ast::Entity::new_with_attr_partial_value(
        uid,
        attrs
            .into_iter()
            .map(|(k, v)| (k.into(), PartialValue::Value(v))),
        HashSet::new(),
        HashSet::new(),
        std::iter::empty(),
    )
}

fn string(s: &str) -> Value {
    Value::from(s)
}

fn string_set(items: &[String]) -> Value {
    Value::set(items.iter().map(|s| string(s)), None)
}

#[cfg(test)]
mod tests {
    //! The direct construction must equal what Cedar's public constructors build (the way the
    //! engine built its inputs before): same entities (deeply), same uids, same context.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::HashMap;
    use std::str::FromStr;

    use cedar_policy::{Entities, Entity, EntityId, RestrictedExpression};

    use super::*;
    use crate::index::{PRINCIPAL_TYPES, RESOURCE_TYPES};
    use crate::request::Context;

    fn type_name(t: &str) -> EntityTypeName {
        EntityTypeName::from_str(t).unwrap()
    }

    fn uid(t: &str, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(type_name(t), EntityId::new(id))
    }

    fn builder() -> InputBuilder {
        let p: Vec<_> = PRINCIPAL_TYPES.iter().map(|t| type_name(t)).collect();
        let r: Vec<_> = RESOURCE_TYPES.iter().map(|t| type_name(t)).collect();
        let a: Vec<_> = Action::ALL
            .iter()
            .map(|a| uid("Rampart::Action", a.name()))
            .collect();
        InputBuilder::new(&p, &r, &a).unwrap()
    }

    fn s(v: &str) -> RestrictedExpression {
        RestrictedExpression::new_string(v.to_string())
    }

    fn set(v: &[String]) -> RestrictedExpression {
        RestrictedExpression::new_set(v.iter().map(|x| s(x)))
    }

    /// The public-API construction.
    fn reference(req: &Request) -> (cedar_policy::Request, Entities) {
        let (p_attrs, p_id): (Vec<(&str, RestrictedExpression)>, String) = match &req.principal {
            Principal::Workload {
                spiffe_id,
                service,
                namespace,
                segment,
            } => (
                vec![
                    ("spiffe_id", s(spiffe_id)),
                    ("service", s(service)),
                    ("namespace", s(namespace)),
                    ("segment", s(segment)),
                ],
                spiffe_id.clone(),
            ),
            Principal::Client { client_id, scopes } => (
                vec![("client_id", s(client_id)), ("scopes", set(scopes))],
                client_id.clone(),
            ),
            Principal::User { sub, groups } => {
                (vec![("sub", s(sub)), ("groups", set(groups))], sub.clone())
            }
            Principal::Anonymous => (vec![], String::from("anonymous")),
        };
        let (r_attrs, r_id): (Vec<(&str, RestrictedExpression)>, String) = match &req.resource {
            Resource::Route {
                host,
                path,
                segment,
                service,
            } => (
                vec![
                    ("host", s(host)),
                    ("path", s(path)),
                    ("segment", s(segment)),
                    ("service", s(service)),
                ],
                format!("{host}{path}"),
            ),
            Resource::Service {
                host,
                path,
                segment,
                service,
            } => (
                vec![
                    ("host", s(host)),
                    ("path", s(path)),
                    ("segment", s(segment)),
                    ("service", s(service)),
                ],
                service.clone(),
            ),
            Resource::Secret { path } => (vec![("path", s(path))], path.clone()),
        };
        let entity = |t: &str, id: &str, attrs: Vec<(&str, RestrictedExpression)>| {
            let attrs: HashMap<String, RestrictedExpression> =
                attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            Entity::new(uid(t, id), attrs, Default::default()).unwrap()
        };
        let principal = entity(PRINCIPAL_TYPES[req.principal.kind()], &p_id, p_attrs);
        let resource = entity(RESOURCE_TYPES[req.resource.kind()], &r_id, r_attrs);
        let ctx = &req.context;
        let context = cedar_policy::Context::from_pairs([
            (
                String::from("source_ip"),
                RestrictedExpression::new_ip(cedar_ip(ctx.source_ip).to_string()),
            ),
            (
                String::from("mtls"),
                RestrictedExpression::new_bool(ctx.mtls),
            ),
            (String::from("scopes"), set(&ctx.scopes)),
            (
                String::from("time"),
                RestrictedExpression::new_long(ctx.time),
            ),
        ])
        .unwrap();
        let request = cedar_policy::Request::new(
            principal.uid(),
            uid("Rampart::Action", req.action.name()),
            resource.uid(),
            context,
            None,
        )
        .unwrap();
        (
            request,
            Entities::from_entities([principal, resource], None).unwrap(),
        )
    }

    fn requests() -> Vec<Request> {
        let principals = vec![
            Principal::Workload {
                spiffe_id: String::from("spiffe://rampart.test/ns/default/sa/orders-long-name"),
                service: String::from("orders-long-name"),
                namespace: String::from("default"),
                segment: String::from("app"),
            },
            Principal::Client {
                client_id: String::from("shop \"quoted\""),
                scopes: vec![String::from("a"), String::from("b"), String::from("a")],
            },
            Principal::User {
                sub: String::from("alice"),
                groups: vec![],
            },
            Principal::Anonymous,
        ];
        let resources = vec![
            (
                Action::Get,
                Resource::Route {
                    host: String::from("api.example.com"),
                    path: String::from("/orders/1"),
                    segment: String::new(),
                    service: String::from("orders"),
                },
            ),
            (
                Action::Delete,
                Resource::Service {
                    host: String::from("orders.default.svc"),
                    path: String::from("/"),
                    segment: String::from("app"),
                    service: String::from("orders"),
                },
            ),
            (
                Action::ReadSecret,
                Resource::Secret {
                    path: String::from("db/password"),
                },
            ),
        ];
        let ips: [IpAddr; 3] = [
            "10.0.0.7".parse().unwrap(),
            "fd00::1".parse().unwrap(),
            "::ffff:10.0.0.1".parse().unwrap(),
        ];
        let mut out = Vec::new();
        for p in &principals {
            for (action, r) in &resources {
                for ip in ips {
                    out.push(Request {
                        principal: p.clone(),
                        action: *action,
                        resource: r.clone(),
                        context: Context {
                            source_ip: ip,
                            mtls: matches!(ip, IpAddr::V4(_)),
                            scopes: vec![String::from("orders:read")],
                            time: -5,
                        },
                    });
                }
            }
        }
        out
    }

    #[test]
    fn direct_inputs_equal_the_public_api_construction() {
        let b = builder();
        let all = requests();
        assert_eq!(all.len(), 36);
        for req in all {
            let (want_req, want_entities) = reference(&req);
            let (got_req, got_entities) = b.build(&req).unwrap();
            assert!(got_entities.deep_eq(&want_entities), "{req:?}");
            assert_eq!(got_req.principal(), want_req.principal(), "{req:?}");
            assert_eq!(got_req.action(), want_req.action(), "{req:?}");
            assert_eq!(got_req.resource(), want_req.resource(), "{req:?}");
            assert_eq!(got_req.context(), want_req.context(), "{req:?}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_passed_as_ipv4() {
        let b = builder();
        let mut mapped = requests().remove(0);
        mapped.context.source_ip = "::ffff:10.0.0.1".parse().unwrap();
        let mut plain = mapped.clone();
        plain.context.source_ip = "10.0.0.1".parse().unwrap();
        let (m, _) = b.build(&mapped).unwrap();
        let (p, _) = b.build(&plain).unwrap();
        assert_eq!(m.context(), p.context());
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(cedar_ip(v6), v6);
    }

    #[test]
    fn action_not_applicable_is_an_error() {
        let mut req = requests().remove(0);
        req.action = Action::ReadSecret;
        let err = builder().build(&req).unwrap_err();
        assert!(err.contains("does not apply"), "{err}");
    }
}
