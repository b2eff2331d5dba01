//! The NATS path of the event pipeline end to end: a proxy's shipper (bus → spool → `NatsSink`)
//! publishes to a real JetStream server, and two control planes' `EventLog`s on ONE PostgreSQL
//! database consume the stream as the `collectors` group. Every event is stored exactly once,
//! both collectors take a share, a re-published batch is not stored again, and the audit chain
//! the two writers built together verifies.
//!
//! Needs `nats-server` (see `rampart_testkit::nats`) and `RAMPART_TEST_POSTGRES_URL`
//! (`eval "$(scripts/start-postgres.sh | tail -1)"`; scripts/test sets both up).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_control::{EventLog, Exports};
use rampart_events::{AdminEvent, Event, EventBus, Origin, Outcome, SecurityEvent, SecurityKind};
use rampart_logs::audit::AuditSigner;
use rampart_logs::{LogStore, LogStoreOptions, Query};
use rampart_ship::spool::SpoolConfig;
use rampart_ship::{Batch, EventSink, NatsOptions, NatsSink, Shipper, ShipperOptions};
use rampart_testkit::nats::NatsServer;
use sqlx::Connection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const N: usize = 2000;
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_collectors_on_one_postgres_store_every_nats_event_exactly_once() {
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let db = PgSchema::create().await;
    // Both control planes sign checkpoints with the same audit key, so either verifies them.
    let (signer, _) = AuditSigner::generate().unwrap();
    let signer = Arc::new(signer);
    let (stop, shutdown) = watch::channel(false);
    let a = Collector::start(&db.url, &signer, &nats.url, "a", shutdown.clone()).await;
    let b = Collector::start(&db.url, &signer, &nats.url, "b", shutdown).await;

    // A proxy publishes N events through its spool to JetStream.
    let spool = tempfile::tempdir().unwrap();
    let bus = EventBus::new(N * 2);
    let sink = NatsSink::connect(&NatsOptions::new(&nats.url))
        .await
        .expect("the proxy connects to NATS");
    let shipper = Shipper::spawn(
        &bus,
        proxy(),
        SpoolConfig::new(spool.path()),
        Arc::new(sink),
        ShipperOptions {
            batch_max_records: 50,
            ..ShipperOptions::default()
        },
    )
    .unwrap();
    for i in 0..N {
        bus.publish(event(i));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(shipper.flush(WAIT).await, "{:?}", shipper.stats());
    assert_eq!(bus.dropped(), 0);
    assert_eq!(shipper.stats().shipped, N as u64, "{:?}", shipper.stats());

    let (stored_a, stored_b) = wait_for(&a, &b, N).await;
    let store = &a.log;
    let stored = all_events(store.store()).await;

    // Exactly once: N rows, N distinct ids, each published event once.
    assert_eq!(stored.len(), N, "rows in the database");
    let ids: HashSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), N, "distinct ids");
    let mut per_event: HashMap<String, u32> = HashMap::new();
    for (_, json) in &stored {
        *per_event.entry(marker(json)).or_default() += 1;
    }
    assert_eq!(per_event.len(), N, "every published event is stored");
    assert!(per_event.values().all(|n| *n == 1), "an event stored twice");

    // Both collectors took a share, and no record went to both.
    assert!(
        !stored_a.is_empty() && !stored_b.is_empty(),
        "both collectors stored some: a {} b {}",
        stored_a.len(),
        stored_b.len()
    );
    assert!(stored_a.is_disjoint(&stored_b), "a record stored by both");
    let union: HashSet<&str> = stored_a.union(&stored_b).map(String::as_str).collect();
    assert_eq!(union, ids);

    // A lost acknowledgement: the proxy publishes the first 100 records again.
    let again: Vec<(String, String)> = stored.iter().take(100).cloned().collect();
    let sink = NatsSink::connect(&NatsOptions::new(&nats.url))
        .await
        .unwrap();
    let batch = Batch {
        lines: again.iter().map(|(_, j)| j.clone().into()).collect(),
        ids: again.iter().map(|(id, _)| id.clone()).collect(),
    };
    sink.deliver(&batch).await.expect("re-publish");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(all_events(store.store()).await.len(), N, "stored again");

    // The chain the two writers built is one line, and verifies from either side.
    for log in [&a.log, &b.log] {
        let report = log.store().verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.records, N as u64, "{report:?}");
        assert!(report.checkpoints_verified >= 1, "{report:?}");
    }

    stop.send(true).unwrap();
    shipper.shutdown().await;
    drop((a, b));
    db.drop_schema().await;
}

/// One control plane's event log consuming the stream, and the ids its store wrote.
struct Collector {
    log: EventLog,
    stored: Arc<Mutex<HashSet<String>>>,
    _watch: JoinHandle<()>,
}

impl Collector {
    async fn start(
        url: &str,
        signer: &Arc<AuditSigner>,
        nats: &str,
        name: &str,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let options = LogStoreOptions {
            signer: Some(signer.clone()),
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(3600),
            retention_every: Duration::from_secs(3600),
            ..LogStoreOptions::default()
        };
        let store = LogStore::open(url, options).await.unwrap();
        let stored = Arc::new(Mutex::new(HashSet::new()));
        let mut events = store.subscribe();
        let seen = stored.clone();
        let watch = tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                seen.lock().unwrap().insert(event.id.clone());
            }
        });
        let origin = Origin {
            component: "control".into(),
            name: name.into(),
            identity: None,
        };
        let mut log = EventLog::start(&EventBus::new(16), store, origin);
        let exports = Exports {
            nats: Some(NatsOptions::new(nats)),
            ..Exports::default()
        };
        log.start_exports(exports, shutdown).await.unwrap();
        Self {
            log,
            stored,
            _watch: watch,
        }
    }

    fn ids(&self) -> HashSet<String> {
        self.stored.lock().unwrap().clone()
    }
}

/// Waits until the two collectors together stored `n` records; what each stored.
async fn wait_for(a: &Collector, b: &Collector, n: usize) -> (HashSet<String>, HashSet<String>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (ia, ib) = (a.ids(), b.ids());
        if ia.len() + ib.len() >= n {
            return (ia, ib);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} + {} of {n} stored within {WAIT:?}",
            ia.len(),
            ib.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every stored event: (id, json).
async fn all_events(store: &LogStore) -> Vec<(String, String)> {
    let query = Query::parse("limit=10000").unwrap();
    let events = store.query(&query).await.unwrap();
    events.into_iter().map(|e| (e.id, e.json)).collect()
}

fn proxy() -> Origin {
    Origin {
        component: "gateway".into(),
        name: "edge".into(),
        identity: Some("spiffe://rampart.local/ns/default/sa/gateway".into()),
    }
}

/// Event `i`, marked `n=i` in its reason (security) or detail (admin).
fn event(i: usize) -> Event {
    if i.is_multiple_of(3) {
        let admin = AdminEvent::new(
            "policy.apply",
            "control",
            "admin-token",
            "/v1/policy",
            Outcome::Success,
        );
        Event::Admin(admin.with_detail(format!("n={i}")))
    } else {
        Event::Security(SecurityEvent::new(
            SecurityKind::PolicyDenied,
            "orders",
            None,
            format!("n={i}"),
        ))
    }
}

/// The `n=i` marker of a stored event.
fn marker(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let reason = v["event.reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("n="), "unexpected record {json}");
    reason.to_owned()
}

/// A fresh schema in the test PostgreSQL database, dropped at the end.
struct PgSchema {
    url: String,
    admin_url: String,
    schema: String,
}

impl PgSchema {
    async fn create() -> Self {
        let admin_url = match std::env::var("RAMPART_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => panic!(
                "RAMPART_TEST_POSTGRES_URL is not set: this test needs PostgreSQL and fails \
                 rather than skip. Start one with `eval \"$(scripts/start-postgres.sh | tail -1)\"`"
            ),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!("rampart_control_nats_{}_{nanos}", std::process::id());
        exec(&admin_url, &format!("CREATE SCHEMA \"{schema}\"")).await;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        Self {
            url: format!("{admin_url}{sep}options=-c%20search_path%3D{schema}"),
            admin_url,
            schema,
        }
    }

    async fn drop_schema(self) {
        exec(
            &self.admin_url,
            &format!("DROP SCHEMA \"{}\" CASCADE", self.schema),
        )
        .await;
    }
}

async fn exec(url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at RAMPART_TEST_POSTGRES_URL: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}
