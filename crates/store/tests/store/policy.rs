//! The policy versions, on both backends: numbering, enforced/shadow/config lookups, history.

use std::time::{Duration, UNIX_EPOCH};

use rampart_store::PolicyVersionRecord;

use crate::harness::TestDb;

const T0: u64 = 1_700_000_000_000;

fn version(mode: &str, origin: &str, digest: &str, ms: u64) -> PolicyVersionRecord {
    PolicyVersionRecord {
        version: 0,
        created_at: UNIX_EPOCH + Duration::from_millis(T0 + ms),
        author: format!("{origin}-author"),
        message: format!("{mode} {digest}"),
        mode: mode.to_owned(),
        digest: digest.to_owned(),
        source: format!(
            r#"{{"files":{{"{digest}.cedar":"permit(principal, action, resource);"}}}}"#
        ),
        diff: format!("--- a/{digest}.cedar\n+++ b/{digest}.cedar\n+x\n"),
        origin: origin.to_owned(),
    }
}

pub async fn policy_versions_are_numbered_and_looked_up(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.latest_enforced_policy().await.unwrap(), None);
    assert_eq!(store.current_shadow_policy().await.unwrap(), None);
    assert_eq!(store.latest_config_policy().await.unwrap(), None);

    let v1 = version("enforce", "config", "d1", 1);
    assert_eq!(store.insert_policy_version(&v1).await.unwrap(), 1);
    let v2 = version("enforce", "api", "d2", 2);
    assert_eq!(store.insert_policy_version(&v2).await.unwrap(), 2);
    let v3 = version("dry-run", "api", "d3", 3);
    assert_eq!(store.insert_policy_version(&v3).await.unwrap(), 3);

    let enforced = store.latest_enforced_policy().await.unwrap().unwrap();
    assert_eq!((enforced.version, enforced.digest.as_str()), (2, "d2"));
    assert_eq!(
        enforced,
        PolicyVersionRecord {
            version: 2,
            ..v2.clone()
        }
    );
    let shadow = store.current_shadow_policy().await.unwrap().unwrap();
    assert_eq!((shadow.version, shadow.digest.as_str()), (3, "d3"));
    let config = store.latest_config_policy().await.unwrap().unwrap();
    assert_eq!((config.version, config.digest.as_str()), (1, "d1"));

    let history = store.list_policy_versions(10).await.unwrap();
    let versions: Vec<i64> = history.iter().map(|v| v.version).collect();
    assert_eq!(versions, [3, 2, 1], "newest first");
    assert_eq!(store.list_policy_versions(2).await.unwrap().len(), 2);
    assert_eq!(
        store.policy_version(1).await.unwrap().unwrap().author,
        "config-author"
    );
    assert_eq!(store.policy_version(9).await.unwrap(), None);
}

pub async fn clearing_or_enforcing_ends_the_dry_run(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_policy_version(&version("enforce", "api", "d1", 1))
        .await
        .unwrap();
    store
        .insert_policy_version(&version("dry-run", "api", "d2", 2))
        .await
        .unwrap();
    assert!(store.clear_policy_dry_run().await.unwrap());
    assert!(
        !store.clear_policy_dry_run().await.unwrap(),
        "nothing left to clear"
    );
    assert_eq!(store.current_shadow_policy().await.unwrap(), None);
    assert_eq!(
        store.policy_version(2).await.unwrap().unwrap().mode,
        "dry-run-cleared"
    );

    store
        .insert_policy_version(&version("dry-run", "api", "d3", 3))
        .await
        .unwrap();
    assert_eq!(
        store
            .current_shadow_policy()
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    store
        .insert_policy_version(&version("enforce", "api", "d4", 4))
        .await
        .unwrap();
    assert_eq!(store.current_shadow_policy().await.unwrap(), None);
    assert_eq!(
        store.policy_version(3).await.unwrap().unwrap().mode,
        "dry-run-cleared"
    );
    assert_eq!(
        store
            .latest_enforced_policy()
            .await
            .unwrap()
            .unwrap()
            .version,
        4
    );
}

pub async fn concurrent_policy_inserts_get_distinct_versions(db: &TestDb) {
    let store = db.open().await;
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_policy_version(&version("enforce", "api", &format!("d{i}"), i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=8).collect::<Vec<i64>>());
}
