//! Load generator of `bench/logs.sh`: a proxy's event path at a fixed rate into a running
//! control plane, and the end-to-end lag from an event's creation to its being queryable.
//!
//! Events are published on a bus at `--rate` per second for `--secs` seconds, spooled on disk and
//! shipped over HTTPS (zstd batches, the admin token as credential) by the real shipper; a
//! follower tails the log (`GET /v1/logs/tail`) and, for every event of this run, takes
//! `seen - @timestamp` as its lag. Prints sent, stored, duplicates and the lag percentiles.
//!
//! `cargo run --release -p rampart-control --example event_load -- URL TOKEN_FILE CA_FILE RATE SECS`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_control::ControlClient;
use rampart_core::Sensitive;
use rampart_events::{AccessEvent, Decision, Event, EventBus, Origin};
use rampart_ship::{HttpSink, Shipper, ShipperOptions, SpoolConfig};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: event_load URL TOKEN_FILE CA_FILE RATE SECS");
        std::process::exit(2);
    }
    let (url, token_file, ca, rate, secs) = (
        &args[1],
        &args[2],
        &args[3],
        args[4].parse::<u64>().expect("rate"),
        args[5].parse::<u64>().expect("secs"),
    );
    rampart_identity::install_default_provider();
    let token = std::fs::read_to_string(token_file).expect("token file");
    let token = token.trim().to_string();
    let tls = rampart_identity::client_config(Some(std::path::Path::new(ca)), false, Vec::new())
        .expect("tls");
    let tls = Arc::new(tls);
    let sink = HttpSink::new(url, Arc::new(move || tls.clone()))
        .expect("sink")
        .with_bearer(&token)
        .expect("bearer");
    let spool_dir = tempfile::tempdir().expect("spool dir");
    let bus = EventBus::new(64 * 1024);
    let run = format!("load-{}", std::process::id());
    let origin = Origin {
        component: "gateway".into(),
        name: run.clone(),
        identity: None,
    };
    let shipper = Shipper::spawn(
        &bus,
        origin,
        SpoolConfig::new(spool_dir.path()),
        Arc::new(sink),
        ShipperOptions::default(),
    )
    .expect("shipper");

    let client = ControlClient::new(url, Sensitive::new(token.clone()), std::path::Path::new(ca))
        .expect("client")
        .with_timeout(Duration::from_secs(30));
    let start_seq = client
        .logs_query("limit=1", None)
        .await
        .expect("query")
        .last_seq;
    let total = rate * secs;
    // The follower: every stored event of this run, with the time it became queryable.
    let follower = {
        let client = client.clone();
        let run = run.clone();
        tokio::spawn(async move {
            let mut lags = Vec::with_capacity(total as usize);
            let mut ids = HashSet::new();
            let mut dups = 0u64;
            let mut after = start_seq;
            let deadline = Instant::now() + Duration::from_secs(secs + 30);
            while (ids.len() as u64) < total && Instant::now() < deadline {
                let page = client
                    .logs_tail(&format!("service={run} limit=10000"), Some(after), 5)
                    .await
                    .expect("tail");
                let seen = now_ms();
                for e in &page.events {
                    let id = e.event["event.id"].as_str().unwrap_or("").to_string();
                    if !ids.insert(id) {
                        dups += 1;
                    }
                    let at = e.event["@timestamp"].as_i64().unwrap_or(seen);
                    lags.push((seen - at).max(0) as u64);
                }
                after = after.max(page.last_seq);
            }
            (lags, ids.len() as u64, dups)
        })
    };

    // The producer: `rate` events per second, in 1 ms slices.
    let started = Instant::now();
    let client_addr: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while sent < due {
            bus.publish(Event::Access(Box::new(access(&run, sent, client_addr))));
            sent += 1;
        }
    }
    let produce_secs = started.elapsed().as_secs_f64();
    let (mut lags, stored, dups) = follower.await.expect("follower");
    lags.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lags.is_empty() {
            return 0;
        }
        lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)]
    };
    let stats = shipper.stats();
    println!(
        "sent={sent} in {produce_secs:.1}s ({:.0}/s) stored={stored} duplicates={dups} bus_dropped={} spool_dropped={} lag_ms p50={} p90={} p99={} max={}",
        sent as f64 / produce_secs,
        bus.dropped(),
        stats.dropped,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        lags.last().copied().unwrap_or(0)
    );
    shipper.shutdown().await;
}

fn access(service: &str, n: u64, client: SocketAddr) -> AccessEvent {
    AccessEvent {
        time: SystemTime::now(),
        request_id: format!("{n:032x}"),
        source: service.to_string(),
        listener: "http".into(),
        client,
        principal: Some("spiffe://rampart.local/ns/default/sa/web".into()),
        method: "GET".into(),
        host: "orders.internal".into(),
        path: format!("/orders/{}", n % 1000),
        status: if n.is_multiple_of(50) { 503 } else { 200 },
        bytes_in: 0,
        bytes_out: 512,
        duration_us: 850,
        upstream_duration_us: Some(700),
        route: Some("orders".into()),
        upstream: Some("127.0.0.1:9000".into()),
        decision: Decision::Allow,
        reason: None,
        authz: None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
