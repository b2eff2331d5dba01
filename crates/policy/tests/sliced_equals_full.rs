//! Property: the indexed (sliced) decision equals the full-set decision — allowed, determining
//! policies and errors — over random policy sets and random requests; and requests with equal
//! memo keys get equal decisions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use rampart_policy::{
    Action, Context, Flow, Policies, PolicyEngine, Principal, Request, Resource, Segment, Segments,
};

const SEGMENTS: [&str; 3] = ["edge", "app", "data"];
const SERVICES: [&str; 3] = ["orders", "billing", "db"];
const PATHS: [&str; 3] = ["/a", "/admin/x", "/b"];

/// A random policy: (effect, principal scope, action scope, resource scope, condition picks).
type Spec = (bool, u8, u8, u8, Vec<u8>, bool);

fn principal_scope(pick: u8) -> (String, bool) {
    let svc = SERVICES[usize::from(pick) % 3];
    match pick % 8 {
        0 => (String::from("principal"), false),
        1 => (String::from("principal is Rampart::Workload"), true),
        2 => (String::from("principal is Rampart::User"), false),
        3 => (String::from("principal is Rampart::Client"), false),
        4 => (
            format!("principal == Rampart::Workload::\"spiffe://t/ns/default/sa/{svc}\""),
            true,
        ),
        5 => (
            format!("principal in Rampart::Workload::\"spiffe://t/ns/default/sa/{svc}\""),
            false,
        ),
        6 => (String::from("principal is Rampart::Anonymous"), false),
        _ => (
            String::from("principal == Rampart::Anonymous::\"anonymous\""),
            false,
        ),
    }
}

fn action_scope(pick: u8) -> String {
    let a = Action::ALL[usize::from(pick) % Action::ALL.len()].name();
    let b = Action::ALL[usize::from(pick / 10) % Action::ALL.len()].name();
    match pick % 3 {
        0 => String::from("action"),
        1 => format!("action == Rampart::Action::\"{a}\""),
        _ => format!("action in [Rampart::Action::\"{a}\", Rampart::Action::\"{b}\"]"),
    }
}

fn resource_scope(pick: u8) -> (String, bool) {
    let svc = SERVICES[usize::from(pick) % 3];
    match pick % 6 {
        0 => (String::from("resource"), false),
        1 => (String::from("resource is Rampart::Service"), true),
        2 => (String::from("resource is Rampart::Route"), true),
        3 => (String::from("resource is Rampart::Secret"), false),
        4 => (format!("resource == Rampart::Service::\"{svc}\""), true),
        _ => (format!("resource == Rampart::Secret::\"{svc}\""), false),
    }
}

fn condition(pick: u8, p_workload: bool, r_segment: bool) -> Option<String> {
    let seg = SEGMENTS[usize::from(pick / 8) % 3];
    Some(match pick % 8 {
        0 if p_workload => format!("principal.segment == \"{seg}\""),
        1 if r_segment => format!("resource.segment == \"{seg}\""),
        2 if r_segment => String::from("resource.path like \"/admin*\""),
        3 => String::from("context.mtls"),
        4 => String::from("context.time > 0"),
        // Overflows (an evaluation error) unless time is 0.
        5 => String::from("context.time * 9223372036854775807 > 0"),
        6 => String::from("context.scopes.contains(\"orders:read\")"),
        7 if p_workload => format!("\"{seg}\" == principal.segment"),
        _ => return None,
    })
}

fn policy_text(spec: &Spec) -> String {
    let (permit, p, a, r, conds, unless) = spec;
    let (p_text, p_workload) = principal_scope(*p);
    let (r_text, r_segment) = resource_scope(*r);
    let conds: Vec<String> = conds
        .iter()
        .filter_map(|c| condition(*c, p_workload, r_segment))
        .collect();
    let body = if conds.is_empty() {
        String::new()
    } else {
        format!(
            " {} {{ {} }}",
            if *unless { "unless" } else { "when" },
            conds.join(" && ")
        )
    };
    format!(
        "{}({p_text}, {}, {r_text}){body};",
        if *permit { "permit" } else { "forbid" },
        action_scope(*a)
    )
}

fn build_engine(specs: &[Spec], flows: &[(u8, u8)]) -> PolicyEngine {
    let mut policies = Policies::new();
    for (i, spec) in specs.iter().enumerate() {
        let text = policy_text(spec);
        let name = format!("p{i}.cedar");
        // Keep only what the strict validator accepts (e.g. drop impossible action/resource
        // combinations).
        if Policies::from_sources([(name.as_str(), text.as_str())]).is_ok() {
            policies.add_source(&name, &text).unwrap();
        }
    }
    let mut flow_list: Vec<Flow> = Vec::new();
    for (from, to) in flows {
        let (from, to) = (
            SEGMENTS[usize::from(*from) % 3],
            SEGMENTS[usize::from(*to) % 3],
        );
        if !flow_list.iter().any(|f| f.from == from && f.to == to) {
            flow_list.push(Flow {
                from: from.to_string(),
                to: to.to_string(),
                actions: None,
            });
        }
    }
    let segments = Segments {
        segments: SEGMENTS
            .iter()
            .map(|n| Segment {
                name: (*n).to_string(),
                cidrs: Vec::new(),
            })
            .collect(),
        services: Default::default(),
        flows: flow_list,
    };
    PolicyEngine::compile(policies, &segments).unwrap()
}

fn build_request(pick: (u8, u8, u8, u8, u8, i64, bool)) -> Request {
    let (p, a, r, seg, path, time, mtls) = pick;
    let svc = SERVICES[usize::from(p) % 3];
    let segment = SEGMENTS[usize::from(seg) % 3].to_string();
    let principal = match p % 4 {
        3 => Principal::Anonymous,
        0 => Principal::Workload {
            spiffe_id: format!("spiffe://t/ns/default/sa/{svc}"),
            service: svc.to_string(),
            namespace: String::from("default"),
            segment: segment.clone(),
        },
        1 => Principal::User {
            sub: svc.to_string(),
            groups: vec![],
        },
        _ => Principal::Client {
            client_id: svc.to_string(),
            scopes: vec![String::from("orders:read")],
        },
    };
    let action = Action::ALL[usize::from(a) % Action::ALL.len()];
    let target = SERVICES[usize::from(r) % 3];
    let rseg = SEGMENTS[usize::from(r / 3) % 3].to_string();
    let path = PATHS[usize::from(path) % 3].to_string();
    let resource = match action {
        Action::ReadSecret | Action::WriteSecret => Resource::Secret {
            path: target.to_string(),
        },
        _ if r % 2 == 0 => Resource::Service {
            host: format!("{target}.svc"),
            path,
            segment: rseg,
            service: target.to_string(),
        },
        _ => Resource::Route {
            host: String::from("api.example.com"),
            path,
            segment: rseg,
            service: target.to_string(),
        },
    };
    Request {
        principal,
        action,
        resource,
        context: Context {
            source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            mtls,
            scopes: vec![String::from("orders:read")],
            time,
        },
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..4),
        prop::bool::weighted(0.2),
    )
}

fn request_pick() -> impl Strategy<Value = (u8, u8, u8, u8, u8, i64, bool)> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop_oneof![Just(0i64), Just(5i64), Just(-3i64)],
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sliced_decision_equals_full_decision(
        specs in prop::collection::vec(spec(), 0..30),
        flows in prop::collection::vec((any::<u8>(), any::<u8>()), 0..4),
        requests in prop::collection::vec(request_pick(), 1..24),
    ) {
        let engine = build_engine(&specs, &flows);
        let requests: Vec<Request> = requests.into_iter().map(build_request).collect();
        let mut by_key = std::collections::HashMap::new();
        for request in &requests {
            let sliced = engine.decide(request);
            let full = engine.decide_unindexed(request);
            prop_assert_eq!(&sliced, &full, "request {:?}", request);
            prop_assert!(engine.slice_len(request) <= engine.policies().len());
            // Equal memo keys, equal decisions (errors included).
            let earlier = by_key.entry(engine.memo_key(request)).or_insert_with(|| full.clone());
            prop_assert_eq!(&*earlier, &full, "request {:?}", request);
        }
    }
}

#[test]
fn generator_produces_valid_and_applicable_policies() {
    // Guards the property test against vacuity: most generated policies validate, and the
    // generated requests get both allows and denies.
    let specs: Vec<Spec> = (0u8..=255)
        .map(|i| {
            (
                i % 2 == 0,
                // Not a multiple of 8 apart from the condition pick (i % 8), so every
                // principal scope meets every condition.
                i.wrapping_mul(5),
                i.wrapping_mul(7),
                i.wrapping_mul(13),
                vec![i % 8],
                false,
            )
        })
        .collect();
    let engine = build_engine(&specs, &[(0, 1)]);
    assert!(engine.policies().len() > 100, "{}", engine.policies().len());
    let mut allowed = 0;
    let mut errors = 0;
    for i in 0u8..=255 {
        // Principal pick i / 2: odd and even i (time 5 / 0) both see every principal kind.
        let d = engine.decide(&build_request((
            i / 2,
            i / 3,
            i / 5,
            i / 7,
            i,
            if i % 2 == 0 { 0 } else { 5 },
            i % 3 == 0,
        )));
        allowed += usize::from(d.allowed);
        errors += usize::from(!d.errors.is_empty());
    }
    assert!(allowed > 0 && allowed < 256, "allowed {allowed}");
    assert!(errors > 0, "no evaluation errors exercised");
}
