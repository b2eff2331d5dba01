//! Ingest throughput into SQLite with chain hashing on: batches of 1 000 records, 80 % access and
//! 20 % security (chained), into a growing `events.db`. Reported as elements (events) per second.
//!
//! `cargo bench -p rampart-logs --bench ingest`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_events::EventRecord;
use rampart_logs::audit::AuditSigner;
use rampart_logs::{LogStore, LogStoreOptions};

const BATCH: usize = 1000;

fn record(i: usize, now: i64) -> EventRecord {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let json = if i.is_multiple_of(5) {
        format!(
            r#"{{"event.id":"{id}","rampart.schema":1,"observer.type":"sidecar","observer.name":"orders","@timestamp":{now},"event.kind":"security","event.action":"policy_denied","service.name":"orders","detail":"principal=spiffe://td/ns/default/sa/web-{i} path=/orders/{i}"}}"#
        )
    } else {
        format!(
            r#"{{"event.id":"{id}","rampart.schema":1,"observer.type":"gateway","observer.name":"edge","@timestamp":{now},"event.kind":"access","event.action":"http_request","service.name":"svc-{}","user.id":"user-{}","decision":"allow","http.request.method":"GET","url.path":"/api/v1/items/{i}","http.response.status_code":{},"event.duration":1234567,"source.ip":"10.0.{}.{}"}}"#,
            i % 20,
            i % 1000,
            if i.is_multiple_of(50) { 503 } else { 200 },
            i % 256,
            i % 200
        )
    };
    EventRecord::parse(json.as_bytes()).unwrap()
}

fn batch() -> Vec<EventRecord> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (0..BATCH).map(|i| record(i, now)).collect()
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let (signer, _) = AuditSigner::generate().unwrap();
    let opts = LogStoreOptions {
        signer: Some(Arc::new(signer)),
        ..LogStoreOptions::default()
    };
    let store = rt.block_on(LogStore::open(&url, opts)).unwrap();
    let mut group = c.benchmark_group("ingest_sqlite");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("batch_1000_mixed_80_access_20_chained", |b| {
        b.iter_batched(
            batch,
            |records| {
                let out = rt.block_on(store.ingest(records)).unwrap();
                assert_eq!(out.stored, BATCH as u64);
            },
            BatchSize::PerIteration,
        );
    });
    // Eight callers at once: the writer coalesces their batches into fewer transactions.
    let store = Arc::new(store);
    group.throughput(Throughput::Elements(8 * BATCH as u64));
    group.bench_function("8_callers_x_batch_1000_mixed", |b| {
        b.iter_batched(
            || (0..8).map(|_| batch()).collect::<Vec<_>>(),
            |batches| {
                rt.block_on(async {
                    let tasks: Vec<_> = batches
                        .into_iter()
                        .map(|records| {
                            let store = Arc::clone(&store);
                            tokio::spawn(async move { store.ingest(records).await })
                        })
                        .collect();
                    for t in tasks {
                        assert_eq!(t.await.unwrap().unwrap().stored, BATCH as u64);
                    }
                });
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ingest
}
criterion_main!(benches);
