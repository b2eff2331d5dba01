//! Durability on SQLite: a writer killed with SIGKILL mid-stream keeps every write it was told
//! had committed. The writer is this test binary run again, in `child_writer` mode.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rampart_store::{SecretMetaRecord, SecretVersionRecord, SecretWrite, Store};

use crate::harness::TestDb;

/// Set in the child: the store URL to write to.
const CHILD_URL_VAR: &str = "RAMPART_STORE_KILL_CHILD_URL";
/// The child's bound; the parent kills it long before.
const CHILD_WRITES: i64 = 50_000;
/// How many acknowledged writes the parent waits for before the kill.
const KILL_AFTER: i64 = 300;
const PATH: &str = "kill/app/db";

fn write(n: i64) -> SecretWrite {
    SecretWrite {
        expected_current: n - 1,
        meta: SecretMetaRecord {
            path: PATH.to_owned(),
            current_version: n,
            oldest_version: 1,
            max_versions: 0,
            cas_required: false,
            delete_version_after_secs: 0,
            custom_metadata: "{}".to_owned(),
            created_at_ms: 1,
            updated_at_ms: n,
        },
        version: SecretVersionRecord {
            path: PATH.to_owned(),
            version: n,
            created_at_ms: n,
            deleted_at_ms: None,
            destroyed: false,
            kek_id: 1,
            wrapped_dek: n.to_be_bytes().to_vec(),
            ciphertext: format!("payload-{n}").into_bytes(),
        },
        prune_below: 0,
    }
}

#[test]
fn sigkill_during_secret_writes_keeps_every_acknowledged_write() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDb::sqlite());
    // Create the file and schema first, so the child only writes.
    runtime.block_on(async { db.open().await.close().await });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "secrets_kill::child_writer", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_URL_VAR, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0;
    // Bounded: the child stops after CHILD_WRITES, closing the pipe.
    for line in lines.by_ref() {
        if let Some(n) = line.unwrap().strip_prefix("ack ") {
            acked = n.parse().unwrap();
            if acked >= KILL_AFTER {
                break;
            }
        }
    }
    assert!(acked >= KILL_AFTER, "the child wrote only {acked} versions");
    child.kill().unwrap(); // SIGKILL on Unix
    // Acknowledgements already in the pipe count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ack ") {
            acked = n.parse().unwrap();
        }
    }
    child.wait().unwrap();

    runtime.block_on(async {
        let store = db.open().await;
        let meta = store.secret_meta(PATH).await.unwrap().unwrap();
        assert!(
            meta.current_version >= acked,
            "acknowledged {acked}, kept {}",
            meta.current_version
        );
        let versions = store.secret_versions(PATH).await.unwrap();
        assert_eq!(versions.len() as i64, meta.current_version, "no torn write");
        let (_, last) = store.secret_read(PATH, Some(acked)).await.unwrap().unwrap();
        assert_eq!(last, Some(write(acked).version));
        store.close().await;
        db.finish().await;
    });
}

/// The writer half: only does something when run by the test above.
#[tokio::test]
#[ignore = "run as a child process by sigkill_during_secret_writes_keeps_every_acknowledged_write"]
async fn child_writer() {
    let Ok(url) = std::env::var(CHILD_URL_VAR) else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    for n in 1..=CHILD_WRITES {
        assert!(store.secret_write(&write(n)).await.unwrap());
        // `println!` locks and line-buffers stdout; the line is in the pipe before the next write.
        println!("ack {n}");
    }
}
