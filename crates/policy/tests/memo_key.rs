//! Memo keys: requests with equal keys get equal decisions; the path abstraction agrees with
//! Cedar's own `like`; any other use of the path (or of the resource itself) keeps the whole
//! path in the key; unread context attributes and the host are left out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use rampart_policy::{
    Action, Context, PathClass, Policies, PolicyEngine, Principal, Request, Resource, Segments,
};

/// Characters of paths and literal pattern parts (`*` and `\` are escaped in patterns).
const CHARS: [char; 6] = ['/', 'a', 'b', '*', '\\', 'é'];

fn compile(text: &str) -> PolicyEngine {
    let policies = Policies::from_sources([("p.cedar", text)]).unwrap();
    PolicyEngine::compile(policies, &Segments::default()).unwrap()
}

/// A pattern element: `None` is the wildcard, else a literal character.
type Elem = Option<char>;

/// The pattern as Cedar source (inside the quotes).
fn pattern_source(elems: &[Elem]) -> String {
    let mut out = String::new();
    for e in elems {
        match e {
            None => out.push('*'),
            Some('*') => out.push_str("\\*"),
            Some('\\') => out.push_str("\\\\"),
            Some(c) => out.push(*c),
        }
    }
    out
}

/// A string literal as Cedar source (inside the quotes).
fn literal_source(s: &str) -> String {
    s.replace('\\', "\\\\")
}

fn elem() -> impl Strategy<Value = Elem> {
    prop_oneof![
        2 => Just(None),
        5 => prop::sample::select(CHARS.to_vec()).prop_map(Some),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<Elem>> {
    prop::collection::vec(elem(), 0..6)
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS.to_vec()), 0..6)
        .prop_map(|cs| cs.into_iter().collect())
}

/// One path test as Cedar source.
fn test_source() -> impl Strategy<Value = String> {
    prop_oneof![
        pattern().prop_map(|p| format!("resource.path like \"{}\"", pattern_source(&p))),
        path().prop_map(|l| format!("resource.path == \"{}\"", literal_source(&l))),
        path().prop_map(|l| format!("\"{}\" == resource.path", literal_source(&l))),
        path().prop_map(|l| format!("resource.path != \"{}\"", literal_source(&l))),
        pattern().prop_map(|p| format!("!(resource.path like \"{}\")", pattern_source(&p))),
    ]
}

/// A condition of one to three tests, mixed with `&&`, `||`, `if`, and a read of the host or
/// the context.
fn condition() -> impl Strategy<Value = String> {
    (prop::collection::vec(test_source(), 1..4), 0u8..4, 0u8..4).prop_map(|(tests, join, read)| {
        let body = match join {
            0 => tests.join(" && "),
            1 => tests.join(" || "),
            2 if tests.len() >= 3 => {
                format!("if {} then {} else {}", tests[0], tests[1], tests[2])
            }
            _ => tests.join(" && "),
        };
        match read {
            0 => format!("context.mtls && ({body})"),
            1 => format!("resource.host == \"h0\" && ({body})"),
            2 => format!("context.source_ip == ip(\"10.0.0.1\") || ({body})"),
            _ => body,
        }
    })
}

/// A policy: effect, principal scope, action scope, resource scope, condition.
fn policy() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            "principal",
            "principal is Rampart::User",
            "principal == Rampart::User::\"u1\"",
            "principal is Rampart::Anonymous",
        ]),
        prop::sample::select(vec![
            "action",
            "action == Rampart::Action::\"GET\"",
            "action in [Rampart::Action::\"GET\", Rampart::Action::\"POST\"]",
        ]),
        prop::sample::select(vec![
            "resource is Rampart::Route",
            "resource is Rampart::Service",
            "resource == Rampart::Service::\"orders\"",
            "resource in Rampart::Service::\"orders\"",
            "resource == Rampart::Route::\"h0/a\"",
        ]),
        condition(),
    )
        .prop_map(|(permit, p, a, r, c)| {
            format!(
                "{}({p}, {a}, {r}) when {{ {c} }};",
                if permit { "permit" } else { "forbid" }
            )
        })
}

type Pick = (u8, bool, bool, String, u8, u8);

fn request(pick: &Pick) -> Request {
    let (p, get, route, path, host, ip) = pick;
    let principal = match p % 3 {
        0 => Principal::Anonymous,
        1 => Principal::User {
            sub: String::from("u1"),
            groups: vec![],
        },
        _ => Principal::User {
            sub: String::from("u2"),
            groups: vec![],
        },
    };
    let host = format!("h{}", host % 2);
    let resource = if *route {
        Resource::Route {
            host,
            path: path.clone(),
            segment: String::new(),
            service: String::from("orders"),
        }
    } else {
        Resource::Service {
            host,
            path: path.clone(),
            segment: String::new(),
            service: String::from("orders"),
        }
    };
    Request {
        principal,
        action: if *get { Action::Get } else { Action::Post },
        resource,
        context: Context {
            source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip % 2)),
            mtls: *ip >= 128,
            scopes: vec![],
            time: 1,
        },
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    (
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![4 => path(), 1 => Just(String::from("/a"))],
        any::<u8>(),
        any::<u8>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn equal_memo_keys_mean_equal_decisions(
        policies in prop::collection::vec(policy(), 1..12),
        picks in prop::collection::vec(pick(), 1..40),
    ) {
        let text: String = policies
            .iter()
            .enumerate()
            .map(|(i, p)| format!("@id(\"p{i}\")\n{p}\n"))
            .collect();
        let engine = compile(&text);
        let requests: Vec<Request> = picks.iter().map(request).collect();
        let mut seen = HashMap::new();
        for r in &requests {
            let decision = engine.decide_unindexed(r);
            prop_assert_eq!(&engine.decide(r), &decision);
            let key = engine.memo_key(r);
            // Only `like` / `==` tests in these sets: the path is needed whole only for a
            // route whose uid (host and path) a scope reads.
            let route = matches!(r.resource, Resource::Route { .. });
            if !(route && (text.contains("resource ==") || text.contains("resource in"))) {
                prop_assert!(!key.abstraction().path_whole());
            }
            if let Some((first, earlier)) = seen.get(&key) {
                prop_assert_eq!(
                    earlier, &decision, "{:?} and {:?} share a key, text:\n{}", first, r, text
                );
            } else {
                seen.insert(key, (r, decision));
            }
        }
    }

    #[test]
    fn the_path_tests_agree_with_cedars_like(
        elems in pattern(),
        path in path(),
    ) {
        let engine = compile(&format!(
            "permit(principal, action, resource) when {{ resource.path like \"{}\" }};",
            pattern_source(&elems)
        ));
        let r = request(&(0, true, true, path, 0, 0));
        let cedar = engine.decide(&r).allowed;
        let PathClass::Tests(words) = engine.abstraction(&r).path else {
            panic!("path needed whole");
        };
        // One bucket: its number, then one word with the test's bit.
        prop_assert_eq!(words.len(), 2);
        prop_assert_eq!(words[1] & 1 == 1, cedar, "pattern {:?}", pattern_source(&elems));
    }
}

#[test]
fn the_memo_key_merges_paths_with_equal_test_outcomes() {
    let engine = compile(
        r#"permit(principal, action, resource) when { resource.path like "/api/*" };
           forbid(principal, action, resource) when { resource.path == "/api/admin" };"#,
    );
    let at = |p: &str| request(&(0, true, true, p.to_owned(), 0, 0));
    let (a, b, admin, other) = (at("/api/1"), at("/api/2"), at("/api/admin"), at("/x"));
    assert_eq!(engine.memo_key(&a), engine.memo_key(&b));
    assert_ne!(engine.memo_key(&a), engine.memo_key(&admin));
    assert_ne!(engine.memo_key(&a), engine.memo_key(&other));
    assert!(engine.decide(&a).allowed && !engine.decide(&admin).allowed);
    // Host, address and mTLS are not read: other values share the key.
    let mut moved = b.clone();
    moved.context.source_ip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
    moved.context.mtls = !moved.context.mtls;
    moved.context.time = 99;
    if let Resource::Route { host, .. } = &mut moved.resource {
        *host = String::from("elsewhere");
    }
    assert_eq!(engine.memo_key(&a), engine.memo_key(&moved));
    let abs = engine.abstraction(&a);
    assert!(!abs.host && !abs.source_ip && !abs.mtls && !abs.scopes && !abs.time);
}

#[test]
fn other_uses_of_the_path_keep_it_whole() {
    for condition in [
        r#"["/a", "/b"].contains(resource.path)"#,
        r#"resource.path like "/a*" || resource has path"#,
        r#"[resource.path].contains("/a")"#,
        r#"resource == Rampart::Route::"h0/a""#,
        r#"resource is Rampart::Route && resource.path == resource.host"#,
        r#"(if context.mtls then resource else resource).path like "/a*""#,
        r#"resource is Rampart::Route && [resource].contains(Rampart::Route::"h0/b")"#,
    ] {
        let text = format!("permit(principal, action, resource) when {{ {condition} }};");
        let engine = compile(&text);
        let a = request(&(0, true, true, String::from("/a"), 0, 0));
        assert!(engine.abstraction(&a).path_whole(), "{condition}");
        let b = request(&(0, true, true, String::from("/b"), 0, 0));
        assert_ne!(engine.memo_key(&a), engine.memo_key(&b), "{condition}");
    }
    // A service's uid is its name, which every key holds: its path stays abstract.
    let engine = compile(
        r#"permit(principal, action, resource == Rampart::Service::"orders")
           when { resource.path like "/a*" };"#,
    );
    let a = request(&(0, true, false, String::from("/a"), 0, 0));
    let b = request(&(0, true, false, String::from("/ab"), 1, 0));
    assert!(!engine.abstraction(&a).path_whole());
    assert_eq!(engine.memo_key(&a), engine.memo_key(&b));
    // A route's uid is host and path: in the scope, too.
    let engine = compile(r#"permit(principal, action, resource == Rampart::Route::"h0/a");"#);
    let a = request(&(0, true, true, String::from("/a"), 0, 0));
    assert!(engine.abstraction(&a).path_whole());
    assert!(engine.abstraction(&a).host);
}

#[test]
fn read_context_attributes_and_host_are_in_the_key() {
    let engine = compile(
        r#"permit(principal, action, resource is Rampart::Route)
           when { context.source_ip.isLoopback() && resource.host == "h0" && context.time > 0 };"#,
    );
    let a = request(&(0, true, true, String::from("/a"), 0, 0));
    let abs = engine.abstraction(&a);
    assert!(abs.source_ip && abs.host && abs.time && !abs.mtls && !abs.scopes);
    let mut b = a.clone();
    b.context.source_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    assert_ne!(engine.memo_key(&a), engine.memo_key(&b));
    // The path is not read at all: any path shares the key.
    let c = request(&(0, true, true, String::from("/zzz"), 0, 0));
    assert_eq!(engine.memo_key(&a), engine.memo_key(&c));
    // Secrets keep their path (their uid) whole.
    let secret = Request {
        principal: Principal::Anonymous,
        action: Action::ReadSecret,
        resource: Resource::Secret {
            path: String::from("db/x"),
        },
        context: common::context(),
    };
    assert!(engine.abstraction(&secret).path_whole());
}
