//! One decision, and one memo key, with 10, 1 000 and 10 000 generated policies.
//!
//! Besides Criterion's estimates, prints p50/p99 over 20 000 timed decisions per size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rampart_policy::{
    Action, Context, Policies, PolicyEngine, Principal, Request, Resource, Segments,
};

/// A mix of policy shapes: per-workload permits, client route permits, user forbids and
/// segment-to-segment permits.
fn policies(n: usize) -> Policies {
    let mut text = String::new();
    for i in 0..n {
        let next = i + 1;
        let line = match i % 4 {
            0 => format!(
                "permit(principal == Rampart::Workload::\"spiffe://t/ns/default/sa/svc{i}\", action == Rampart::Action::\"GET\", resource == Rampart::Service::\"svc{next}\") when {{ resource.path like \"/api/*\" }};\n"
            ),
            1 => format!(
                "permit(principal is Rampart::Client, action in [Rampart::Action::\"GET\", Rampart::Action::\"HEAD\"], resource is Rampart::Route) when {{ principal.client_id == \"client{i}\" && resource.path like \"/r{i}/*\" }};\n"
            ),
            2 => format!(
                "forbid(principal is Rampart::User, action == Rampart::Action::\"DELETE\", resource) when {{ principal.groups.contains(\"g{i}\") }};\n"
            ),
            _ => format!(
                "permit(principal is Rampart::Workload, action, resource is Rampart::Service) when {{ principal.segment == \"seg{}\" && resource.segment == \"seg{}\" && context.mtls }};\n",
                (i / 4) % 50,
                (i / 200) % 50
            ),
        };
        text.push_str(&line);
    }
    Policies::from_sources([("bench.cedar", text.as_str())]).unwrap()
}

fn request() -> Request {
    Request {
        principal: Principal::Workload {
            spiffe_id: String::from("spiffe://t/ns/default/sa/svc0"),
            service: String::from("svc0"),
            namespace: String::from("default"),
            segment: String::from("seg0"),
        },
        action: Action::Get,
        resource: Resource::Service {
            host: String::from("svc1.default.svc"),
            path: String::from("/api/orders"),
            segment: String::from("seg0"),
            service: String::from("svc1"),
        },
        context: Context {
            source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            mtls: true,
            scopes: vec![],
            time: 1_790_000_000,
        },
    }
}

fn percentiles(engine: &PolicyEngine, req: &Request, n: usize) {
    let mut samples: Vec<u128> = (0..20_000)
        .map(|_| {
            let start = Instant::now();
            black_box(engine.decide(black_box(req)));
            start.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    eprintln!(
        "policies={n:>6} slice={} p50={:.2}us p99={:.2}us",
        engine.slice_len(req),
        at(0.50),
        at(0.99)
    );
}

fn bench(c: &mut Criterion) {
    let req = request();
    let mut group = c.benchmark_group("decide");
    for n in [10usize, 1_000, 10_000] {
        let engine = PolicyEngine::compile(policies(n), &Segments::default()).unwrap();
        assert!(engine.decide(&req).allowed);
        percentiles(&engine, &req, n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &engine, |b, engine| {
            b.iter(|| black_box(engine.decide(black_box(&req))));
        });
    }
    group.finish();
    // What a memo lookup costs before it saves the decision: the key (slice probe, path tests).
    let mut group = c.benchmark_group("memo_key");
    for n in [10usize, 1_000, 10_000] {
        let engine = PolicyEngine::compile(policies(n), &Segments::default()).unwrap();
        assert!(!engine.abstraction(&req).path_whole());
        group.bench_with_input(BenchmarkId::from_parameter(n), &engine, |b, engine| {
            b.iter(|| black_box(engine.memo_key(black_box(&req))));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
