//! Decisions: segment flows, default deny, forbid, fail closed, explain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{request, service, workload};
use rampart_policy::{
    Action, Flow, Policies, PolicyEngine, PolicyId, Principal, Resource, Segment, Segments,
};

fn segments() -> Segments {
    Segments {
        segments: ["edge", "app", "data"]
            .iter()
            .map(|n| Segment {
                name: (*n).to_string(),
                cidrs: Vec::new(),
            })
            .collect(),
        services: [
            ("gateway", "edge"),
            ("orders", "app"),
            ("billing", "app"),
            ("db", "data"),
        ]
        .iter()
        .map(|(s, g)| ((*s).to_string(), (*g).to_string()))
        .collect(),
        flows: vec![
            Flow {
                from: String::from("edge"),
                to: String::from("app"),
                actions: None,
            },
            Flow {
                from: String::from("app"),
                to: String::from("data"),
                actions: Some(vec![String::from("GET")]),
            },
        ],
    }
}

fn engine(sources: &[(&str, &str)]) -> PolicyEngine {
    let policies = Policies::from_sources(sources.iter().copied()).unwrap();
    PolicyEngine::compile(policies, &segments()).unwrap()
}

fn ids(list: &[&str]) -> Vec<PolicyId> {
    list.iter().map(|s| PolicyId::new(*s)).collect()
}

#[test]
fn declared_flow_is_allowed_by_its_segment_policy() {
    let e = engine(&[]);
    let d = e.decide(&request(
        workload("gateway", "edge"),
        Action::Post,
        service("orders", "app", "/orders"),
    ));
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.policies, ids(&["segment-flow:edge->app"]));
    assert!(d.errors.is_empty());
}

#[test]
fn undeclared_flows_are_denied_by_default() {
    let e = engine(&[]);
    // Reverse direction, skipping a segment, and same-segment without a flow.
    for (from, fseg, to, tseg) in [
        ("orders", "app", "gateway", "edge"),
        ("gateway", "edge", "db", "data"),
        ("orders", "app", "billing", "app"),
    ] {
        let d = e.decide(&request(
            workload(from, fseg),
            Action::Get,
            service(to, tseg, "/"),
        ));
        assert!(!d.allowed, "{from} -> {to}: {d:?}");
        assert!(d.policies.is_empty());
    }
}

#[test]
fn flow_actions_limit_the_flow() {
    let e = engine(&[]);
    let get = e.decide(&request(
        workload("orders", "app"),
        Action::Get,
        service("db", "data", "/"),
    ));
    let post = e.decide(&request(
        workload("orders", "app"),
        Action::Post,
        service("db", "data", "/"),
    ));
    assert!(get.allowed);
    assert_eq!(get.policies, ids(&["segment-flow:app->data"]));
    assert!(!post.allowed);
}

#[test]
fn empty_engine_denies_everything() {
    let e = PolicyEngine::compile(Policies::new(), &Segments::default()).unwrap();
    let d = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/"),
    ));
    assert!(!d.allowed);
    assert!(d.policies.is_empty() && d.errors.is_empty());
}

#[test]
fn forbid_overrides_a_segment_permit_and_is_reported() {
    let e = engine(&[(
        "admin.cedar",
        r#"forbid(principal, action, resource is Rampart::Service)
           when { resource.path like "/admin*" };"#,
    )]);
    let denied = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/admin/users"),
    ));
    assert!(!denied.allowed);
    assert_eq!(denied.policies, ids(&["admin.0"]));
    let allowed = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/public"),
    ));
    assert!(allowed.allowed);
}

#[test]
fn paths_are_matched_verbatim_so_callers_must_normalise() {
    // The engine does not normalise: `/%61dmin` is a different string from `/admin`. The proxy
    // must pass `path::normalize` output (which decodes `%61` to `a`), the same path it sends
    // upstream; then the forbid applies.
    let e = engine(&[(
        "admin.cedar",
        r#"forbid(principal, action, resource is Rampart::Service)
           when { resource.path like "/admin*" };"#,
    )]);
    let raw = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/%61dmin"),
    ));
    assert!(raw.allowed, "raw paths bypass path rules: never pass them");
    let normalised = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/admin"),
    ));
    assert!(!normalised.allowed);
}

#[test]
fn evaluation_error_denies_and_is_reported() {
    // `decimal` is not enabled: calling an unknown extension fails validation, so provoke an
    // evaluation error with a runtime overflow instead.
    let e = engine(&[(
        "overflow.cedar",
        r#"@id("overflow")
           forbid(principal, action, resource is Rampart::Service)
           when { context.time * 9223372036854775807 > 0 };"#,
    )]);
    let d = e.decide(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/orders"),
    ));
    assert!(
        !d.allowed,
        "a failing forbid must not let the segment permit through: {d:?}"
    );
    assert_eq!(d.policies, ids(&["overflow"]));
    assert_eq!(d.errors.len(), 1);
    assert!(d.errors[0].contains("overflow"), "{:?}", d.errors);
}

#[test]
fn erroring_permit_also_denies() {
    let e = engine(&[(
        "p.cedar",
        r#"@id("p-ok") permit(principal is Rampart::User, action == Rampart::Action::"GET", resource);
           @id("p-err") permit(principal is Rampart::User, action == Rampart::Action::"GET", resource)
             when { context.time * 9223372036854775807 > 0 };"#,
    )]);
    let user = Principal::User {
        sub: String::from("alice"),
        groups: vec![],
    };
    let d = e.decide(&request(user, Action::Get, service("orders", "app", "/")));
    assert!(!d.allowed);
    assert_eq!(d.policies, ids(&["p-err"]));
}

#[test]
fn action_not_applicable_to_resource_fails_closed() {
    let e = engine(&[("all.cedar", "permit(principal, action, resource);")]);
    let d = e.decide(&request(
        workload("gateway", "edge"),
        Action::ReadSecret,
        service("orders", "app", "/"),
    ));
    assert!(!d.allowed);
    assert_eq!(d.errors.len(), 1);
}

#[test]
fn users_clients_secrets_and_context_attributes() {
    let e = engine(&[(
        "people.cedar",
        r#"@id("ops-read-secrets")
           permit(principal is Rampart::User, action == Rampart::Action::"read_secret", resource is Rampart::Secret)
           when { principal.groups.contains("ops") && context.mtls && context.source_ip.isInRange(ip("10.0.0.0/8")) };
           @id("client-scope")
           permit(principal is Rampart::Client, action in [Rampart::Action::"GET", Rampart::Action::"HEAD"], resource is Rampart::Route)
           when { principal.scopes.contains("orders:read") && resource.path like "/orders/*" };"#,
    )]);
    let secret = Resource::Secret {
        path: String::from("db/password"),
    };
    let ops = Principal::User {
        sub: String::from("alice"),
        groups: vec![String::from("ops")],
    };
    let dev = Principal::User {
        sub: String::from("bob"),
        groups: vec![String::from("dev")],
    };
    assert!(
        e.decide(&request(ops.clone(), Action::ReadSecret, secret.clone()))
            .allowed
    );
    assert!(
        !e.decide(&request(ops, Action::WriteSecret, secret.clone()))
            .allowed
    );
    assert!(!e.decide(&request(dev, Action::ReadSecret, secret)).allowed);

    let client = Principal::Client {
        client_id: String::from("shop"),
        scopes: vec![String::from("orders:read")],
    };
    let route = |path: &str| Resource::Route {
        host: String::from("api.example.com"),
        path: path.to_string(),
        segment: String::from("edge"),
        service: String::from("orders"),
    };
    let d = e.decide(&request(client.clone(), Action::Head, route("/orders/1")));
    assert!(d.allowed);
    assert_eq!(d.policies, ids(&["client-scope"]));
    assert!(
        !e.decide(&request(client.clone(), Action::Post, route("/orders/1")))
            .allowed
    );
    assert!(
        !e.decide(&request(client, Action::Get, route("/billing/1")))
            .allowed
    );
}

#[test]
fn explain_names_the_deciding_policies() {
    let e = engine(&[(
        "admin.cedar",
        r#"@id("no-admin") forbid(principal, action, resource is Rampart::Service)
           when { resource.path like "/admin*" };"#,
    )]);
    let allow = e.explain(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/x"),
    ));
    assert!(allow.starts_with("decision: ALLOW"), "{allow}");
    assert!(
        allow.contains("segment-flow:edge->app (<segments>)"),
        "{allow}"
    );
    let deny = e.explain(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/admin"),
    ));
    assert!(deny.starts_with("decision: DENY"), "{deny}");
    assert!(deny.contains("denied by forbid"), "{deny}");
    assert!(deny.contains("no-admin (admin.cedar)"), "{deny}");
    let default = e.explain(&request(
        workload("db", "data"),
        Action::Get,
        service("orders", "app", "/x"),
    ));
    assert!(default.contains("denied by default"), "{default}");
}

#[test]
fn slice_skips_policies_that_cannot_apply() {
    let e = engine(&[(
        "many.cedar",
        r#"permit(principal is Rampart::User, action == Rampart::Action::"GET", resource);
           permit(principal is Rampart::Client, action == Rampart::Action::"GET", resource);
           permit(principal == Rampart::Workload::"spiffe://rampart.test/ns/default/sa/other", action, resource);
           permit(principal, action == Rampart::Action::"DELETE", resource);"#,
    )]);
    // For edge -> app GET only the edge->app flow can apply (app->data is indexed by segment).
    let n = e.slice_len(&request(
        workload("gateway", "edge"),
        Action::Get,
        service("orders", "app", "/"),
    ));
    assert_eq!(n, 1);
    assert_eq!(e.policies().len(), 6);
}

#[test]
fn anonymous_principal_is_decided_like_any_other() {
    let e = engine(&[(
        "public.cedar",
        r#"@id("public-reads")
permit(principal is Rampart::Anonymous, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/*" };
@id("anon-by-uid")
permit(principal == Rampart::Anonymous::"anonymous", action == Rampart::Action::"HEAD", resource);
@id("workload-only")
permit(principal is Rampart::Workload, action == Rampart::Action::"POST", resource);"#,
    )]);
    let route = |path: &str| Resource::Route {
        host: String::from("api.example.com"),
        path: path.to_string(),
        segment: String::from("app"),
        service: String::from("orders"),
    };
    let d = e.decide(&request(
        Principal::Anonymous,
        Action::Get,
        route("/public/a"),
    ));
    assert!(d.allowed);
    assert_eq!(d.policies, ids(&["public-reads"]));
    assert_eq!(
        d,
        e.decide_unindexed(&request(
            Principal::Anonymous,
            Action::Get,
            route("/public/a")
        ))
    );
    let d = e.decide(&request(
        Principal::Anonymous,
        Action::Head,
        route("/admin"),
    ));
    assert_eq!((d.allowed, d.policies), (true, ids(&["anon-by-uid"])));
    for (action, path) in [(Action::Get, "/admin"), (Action::Post, "/public/a")] {
        let d = e.decide(&request(Principal::Anonymous, action, route(path)));
        assert!(!d.allowed, "{action:?} {path}");
        assert!(d.policies.is_empty() && d.errors.is_empty());
    }
    // A user is not anonymous.
    let user = Principal::User {
        sub: String::from("anonymous"),
        groups: vec![],
    };
    assert!(
        !e.decide(&request(user, Action::Head, route("/admin")))
            .allowed
    );
}

#[test]
fn anonymous_attribute_access_is_refused_by_the_validator() {
    let err = Policies::from_sources([(
        "bad.cedar",
        r#"permit(principal is Rampart::Anonymous, action, resource) when { principal.sub == "x" };"#,
    )])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Rampart::Anonymous") && err.contains("sub"),
        "{err}"
    );
}

#[test]
fn principal_labels_and_cedar_uids() {
    let w = workload("orders", "app");
    assert_eq!(w.label(), "orders");
    assert_eq!(
        w.cedar_uid(),
        r#"Rampart::Workload::"spiffe://rampart.test/ns/default/sa/orders""#
    );
    let c = Principal::Client {
        client_id: String::from("shop"),
        scopes: vec![],
    };
    assert_eq!(c.label(), "client:shop");
    assert_eq!(c.cedar_uid(), r#"Rampart::Client::"shop""#);
    let u = Principal::User {
        sub: String::from("a\"b"),
        groups: vec![],
    };
    assert_eq!(u.label(), "user:a\"b");
    assert_eq!(u.cedar_uid(), r#"Rampart::User::"a\"b""#);
    assert_eq!(Principal::Anonymous.label(), "anonymous");
    assert_eq!(
        Principal::Anonymous.cedar_uid(),
        r#"Rampart::Anonymous::"anonymous""#
    );
}

#[test]
fn ipv4_mapped_source_addresses_match_ipv4_ranges() {
    let e = engine(&[(
        "net.cedar",
        r#"@id("internal")
permit(principal, action, resource is Rampart::Service)
when { context.source_ip.isInRange(ip("10.0.0.0/8")) };"#,
    )]);
    let mut req = request(
        workload("gateway", "edge"),
        Action::Put,
        service("db", "data", "/x"),
    );
    for (ip, allowed) in [
        ("::ffff:10.1.2.3", true),
        ("10.1.2.3", true),
        ("::ffff:192.168.0.1", false),
        ("fd00::1", false),
    ] {
        req.context.source_ip = ip.parse().unwrap();
        let d = e.decide(&req);
        assert_eq!(d.allowed, allowed, "{ip}: {d:?}");
        assert!(d.errors.is_empty(), "{ip}: {d:?}");
    }
}
