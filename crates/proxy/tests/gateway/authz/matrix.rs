//! Who may do what: anonymous callers, a client token, user tokens and mesh workloads of two
//! segments, against routes and a mesh listener, with the decision, principal and deciding
//! policies of each access event.

use super::support::{SEGMENTS, access_of, assert_forbidden, authz, release, state};
use crate::jwt::idp::{AUDIENCE, Idp, SCOPE};
use crate::mesh::support::{Ca, Member, client_config, h1_client, id};
use crate::support::{Gw, H1, config, metric, send};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use rampart_events::{Decision, SecurityKind};
use rampart_testkit::RecordingUpstream;
use serde_json::json;

const POLICIES: &str = r#"
@id("public-reads")
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/*" };

@id("orders-client")
permit(principal == Rampart::Client::"svc-orders",
       action in [Rampart::Action::"GET", Rampart::Action::"POST"],
       resource is Rampart::Route)
when { resource.service == "orders" && context.scopes.contains("orders.write") };

@id("staff-reads-orders")
permit(principal is Rampart::User, action == Rampart::Action::"GET", resource is Rampart::Route)
when { principal.groups.contains("staff") && resource.path like "/orders/*" };

@id("no-admin")
forbid(principal, action, resource is Rampart::Route)
when { resource.path like "/admin*" };
"#;

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    /// A client-credentials token (`client_id` = `sub` = `svc-orders`).
    Client,
    /// A user token of `alice` (group `staff`), issued to client `webapp`.
    Staff,
    /// A user token of `bob` (group `interns`).
    Intern,
    /// A mesh peer with the SVID of this service.
    Mesh(&'static str),
}

struct Case {
    who: Who,
    method: &'static str,
    path: &'static str,
    allowed: bool,
    policies: &'static [&'static str],
}

const fn case(
    who: Who,
    method: &'static str,
    path: &'static str,
    allowed: bool,
    policies: &'static [&'static str],
) -> Case {
    Case {
        who,
        method,
        path,
        allowed,
        policies,
    }
}

const CASES: &[Case] = &[
    case(Who::Anonymous, "GET", "/public/a", true, &["public-reads"]),
    case(Who::Anonymous, "POST", "/public/a", false, &[]),
    case(Who::Anonymous, "GET", "/admin/users", false, &["no-admin"]),
    case(Who::Anonymous, "GET", "/elsewhere", false, &[]),
    // A method that is no Cedar action is denied by no policy.
    case(Who::Anonymous, "PURGE", "/public/a", false, &[]),
    case(Who::Client, "GET", "/orders/1", true, &["orders-client"]),
    case(Who::Client, "POST", "/orders", true, &["orders-client"]),
    case(Who::Client, "DELETE", "/orders/1", false, &[]),
    case(
        Who::Staff,
        "GET",
        "/orders/1",
        true,
        &["staff-reads-orders"],
    ),
    case(Who::Staff, "POST", "/orders/1", false, &[]),
    case(Who::Intern, "GET", "/orders/1", false, &[]),
    case(
        Who::Mesh("web"),
        "GET",
        "/stock/1",
        true,
        &["segment-flow:edge->app"],
    ),
    case(Who::Mesh("web"), "POST", "/stock/1", false, &[]),
    case(Who::Mesh("db"), "GET", "/stock/1", false, &[]),
];

/// A mesh member `orders` with a plain listener `http` (route `api` under `/orders` demanding
/// a token of `idp`, everything else on route `open` without one) and a mesh listener
/// `inbound`, all to `upstream`.
async fn gateway(idp: &Idp, ca: &Ca, upstream: std::net::SocketAddr) -> Gw {
    let cfg = config(&format!(
        r#"
        listeners:
          - {{ name: http, address: "127.0.0.1:0" }}
          - {{ name: inbound, address: "127.0.0.2:0", mesh: true }}
        clusters:
          - {{ name: orders, endpoints: ["{upstream}"] }}
          - {{ name: web, endpoints: ["{upstream}"] }}
          - {{ name: app, endpoints: ["{upstream}"] }}
        routes:
          - {{ name: inbound, listeners: [inbound], cluster: app }}
          - name: api
            listeners: [http]
            match: {{ path_prefix: /orders }}
            cluster: orders
            auth:
              jwt:
                issuers: [{{ issuer: "{}", ca: "{}" }}]
                audiences: [{AUDIENCE}]
                scopes: [{SCOPE}]
          - {{ name: open, listeners: [http], cluster: web }}
        "#,
        idp.issuer,
        idp.ca.display()
    ));
    let member = Member::new(&ca.issue("orders"), ca.bundle());
    Gw::start_mesh(cfg, member.ctx).await
}

fn user_token(idp: &Idp, sub: &str, group: &str) -> String {
    let mut claims = idp.claims();
    claims["sub"] = sub.into();
    claims["client_id"] = "webapp".into();
    claims["groups"] = json!([group]);
    idp.sign(&idp.key, &claims)
}

/// The Cedar uid of the principal `who` shows up as.
fn uid(who: Who) -> String {
    match who {
        Who::Anonymous => r#"Rampart::Anonymous::"anonymous""#.to_owned(),
        Who::Client => r#"Rampart::Client::"svc-orders""#.to_owned(),
        Who::Staff => r#"Rampart::User::"alice""#.to_owned(),
        Who::Intern => r#"Rampart::User::"bob""#.to_owned(),
        Who::Mesh(service) => format!("Rampart::Workload::\"{}\"", id(service)),
    }
}

#[tokio::test]
async fn principals_routes_and_methods() {
    let idp = Idp::start().await;
    let ca = Ca::new();
    let upstream = RecordingUpstream::start();
    let mut gw = gateway(&idp, &ca, upstream.addr()).await;
    gw.handle
        .set_policy(state(Some(release(7, POLICIES, SEGMENTS)), None));
    assert_eq!(gw.handle.policy_version(), Some(7));

    let client = idp.token();
    let staff = user_token(&idp, "alice", "staff");
    let intern = user_token(&idp, "bob", "interns");
    let mut allowed = 0;
    for c in CASES {
        let mut req = Request::builder()
            .method(Method::from_bytes(c.method.as_bytes()).unwrap())
            .uri(c.path);
        let token = match c.who {
            Who::Client => Some(&client),
            Who::Staff => Some(&staff),
            Who::Intern => Some(&intern),
            Who::Anonymous | Who::Mesh(_) => None,
        };
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::<Bytes>::default()).unwrap();
        let before = upstream.count();
        let reply = match c.who {
            Who::Mesh(service) => {
                let tls = client_config(&ca.issue(service), "orders", ca.bundle(), &[]);
                let mut h1: H1 = h1_client(gw.listener("inbound"), tls).await;
                h1.send(req).await
            }
            _ => send(gw.http(), req).await,
        };
        let what = format!("{:?} {} {}", c.who, c.method, c.path);
        if c.allowed {
            allowed += 1;
            assert_eq!(reply.status, 200, "{what}: {}", reply.text());
            assert_eq!(upstream.count(), before + 1, "{what}");
        } else {
            assert_forbidden(&reply);
            assert_eq!(upstream.count(), before, "{what} reached the upstream");
            for p in c.policies {
                assert!(!reply.text().contains(p), "{what}: the 403 names {p}");
            }
            let ev = gw.security(SecurityKind::PolicyDenied).await;
            assert!(ev.detail.contains(&uid(c.who)), "{what}: {}", ev.detail);
            assert!(ev.detail.contains(c.method), "{what}: {}", ev.detail);
            for p in c.policies {
                assert!(ev.detail.contains(p), "{what}: {}", ev.detail);
            }
        }
        let ev = access_of(&mut gw, &reply).await;
        let record = authz(&ev);
        let decision = if c.allowed {
            Decision::Allow
        } else {
            Decision::Deny
        };
        assert_eq!(record.decision, decision, "{what}");
        assert_eq!(record.principal, uid(c.who), "{what}");
        assert_eq!(record.policies, c.policies, "{what}");
        assert_eq!(record.version, 7, "{what}");
        assert!(record.shadow.is_none(), "{what}");
        assert_eq!(ev.decision, decision, "{what}");
        if !c.allowed {
            assert_eq!(ev.reason, Some("forbidden"), "{what}");
        }
    }

    let m = gw.metrics().await;
    let count = |d| metric(&m, "rampart_policy_decisions_total", &[("decision", d)]);
    assert_eq!(count("allow"), Some(f64::from(allowed)), "{m}");
    assert_eq!(
        count("deny"),
        Some((CASES.len() - allowed as usize) as f64),
        "{m}"
    );
}

#[tokio::test]
async fn a_token_on_a_route_without_auth_is_not_a_principal() {
    // Only verified tokens name a principal: the `open` route checks none, so its callers
    // are anonymous whatever they send.
    let idp = Idp::start().await;
    let ca = Ca::new();
    let upstream = RecordingUpstream::start();
    let mut gw = gateway(&idp, &ca, upstream.addr()).await;
    let only_client = r#"
        @id("client-only")
        permit(principal is Rampart::Client, action, resource);
    "#;
    gw.handle
        .set_policy(state(Some(release(1, only_client, "")), None));
    let req = Request::get("/public/a")
        .header("authorization", format!("Bearer {}", idp.token()))
        .body(Full::<Bytes>::default())
        .unwrap();
    let reply = send(gw.http(), req).await;
    assert_forbidden(&reply);
    let ev = access_of(&mut gw, &reply).await;
    assert_eq!(authz(&ev).principal, uid(Who::Anonymous));
    assert_eq!(upstream.count(), 0);
}
