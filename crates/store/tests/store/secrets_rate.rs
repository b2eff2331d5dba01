//! Rough SQLite throughput of the secrets hot paths, run by hand:
//! `cargo test -p rampart-store --release --test store secrets_rate -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use rampart_store::{SecretMetaRecord, SecretVersionRecord, SecretWrite};

use crate::harness::TestDb;

const WRITES: i64 = 2_000;
const READS: usize = 20_000;
const READERS: usize = 8;
const LIMIT: Duration = Duration::from_secs(120);

fn write(n: i64) -> SecretWrite {
    let path = "bench/app/db".to_owned();
    SecretWrite {
        expected_current: n - 1,
        meta: SecretMetaRecord {
            path: path.clone(),
            current_version: n,
            oldest_version: (n - 9).max(1),
            max_versions: 10,
            cas_required: false,
            delete_version_after_secs: 0,
            custom_metadata: "{}".to_owned(),
            created_at_ms: 1,
            updated_at_ms: n,
        },
        version: SecretVersionRecord {
            path,
            version: n,
            created_at_ms: n,
            deleted_at_ms: None,
            destroyed: false,
            kek_id: 1,
            wrapped_dek: vec![7; 60],
            ciphertext: vec![9; 128],
        },
        // Keep 10 versions, as a mount default would.
        prune_below: (n - 9).max(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by hand with --release"]
async fn secrets_rate_sequential_writes_and_reads_on_sqlite() {
    let db = TestDb::sqlite().await;
    let store = db.open().await;
    let run = async {
        let start = Instant::now();
        for n in 1..=WRITES {
            assert!(store.secret_write(&write(n)).await.unwrap(), "write {n}");
        }
        let writes = start.elapsed();
        let start = Instant::now();
        for _ in 0..READS {
            let (meta, version) = store
                .secret_read("bench/app/db", None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(version.map(|v| v.version), Some(meta.current_version));
        }
        let sequential = start.elapsed();
        let start = Instant::now();
        let tasks: Vec<_> = (0..READERS)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..READS / READERS {
                        let read = store.secret_read("bench/app/db", None).await.unwrap();
                        assert!(read.is_some_and(|(_, v)| v.is_some()));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        (writes, sequential, start.elapsed())
    };
    let (writes, reads, parallel) = tokio::time::timeout(LIMIT, run).await.unwrap();
    let kept = store.secret_versions("bench/app/db").await.unwrap();
    assert_eq!(kept.len(), 10, "pruned to 10 versions");
    println!(
        "sqlite secret_write: {WRITES} sequential in {writes:?} = {:.0}/s; \
         secret_read: {READS} sequential in {reads:?} = {:.0}/s, \
         {READS} by {READERS} tasks in {parallel:?} = {:.0}/s",
        WRITES as f64 / writes.as_secs_f64(),
        READS as f64 / reads.as_secs_f64(),
        READS as f64 / parallel.as_secs_f64()
    );
    db.finish().await;
}
