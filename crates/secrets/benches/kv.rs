//! Throughput of the secrets engine: envelope encryption of 1 KiB values, and KV reads and
//! writes against SQLite from one task.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_config::SecretsConfig;
use rampart_secrets::Secrets;
use rampart_secrets::bench_support::BenchKeys;
use serde_json::{Map, Value, json};

/// A JSON object whose serialization is about 1 KiB.
fn one_kib() -> Map<String, Value> {
    let Value::Object(map) = json!({"password": "x".repeat(1000), "user": "svc"}) else {
        unreachable!()
    };
    map
}

fn envelope(c: &mut Criterion) {
    let keys = BenchKeys::new().unwrap();
    let data = one_kib();
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Bytes(1024));
    group.bench_function("encrypt+decrypt 1KiB", |b| {
        b.iter(|| black_box(keys.round_trip("app/db", black_box(&data)).unwrap()))
    });
    group.finish();
}

fn kv_sqlite(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let secrets = runtime.block_on(async {
        let store = rampart_store::Store::open(&url).await.unwrap();
        let config = SecretsConfig {
            root_key_env: String::new(),
            ..SecretsConfig::default()
        };
        Secrets::open(store, &config, dir.path()).await.unwrap()
    });
    let kv = secrets.kv();
    let data = one_kib();
    runtime.block_on(async {
        for i in 0..100 {
            kv.write(&format!("bench/{i}"), data.clone(), None)
                .await
                .unwrap();
        }
    });
    let mut group = c.benchmark_group("kv_sqlite");
    group.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    group.bench_function("read 1KiB", |b| {
        b.iter(|| {
            n = (n + 1) % 100;
            let path = format!("bench/{n}");
            runtime.block_on(async { black_box(kv.read(&path, None).await.unwrap()) })
        })
    });
    group.bench_function("write 1KiB", |b| {
        b.iter(|| {
            n = (n + 1) % 100;
            let path = format!("bench/{n}");
            runtime
                .block_on(async { black_box(kv.write(&path, data.clone(), None).await.unwrap()) })
        })
    });
    let small = {
        let Value::Object(map) = json!({"password": "x".repeat(64), "user": "svc"}) else {
            unreachable!()
        };
        map
    };
    group.bench_function("write 100B", |b| {
        b.iter(|| {
            n = (n + 1) % 100;
            let path = format!("bench/{n}");
            runtime
                .block_on(async { black_box(kv.write(&path, small.clone(), None).await.unwrap()) })
        })
    });
    group.finish();
}

criterion_group!(benches, envelope, kv_sqlite);
criterion_main!(benches);
