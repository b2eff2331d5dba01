//! Store tests: one suite, written once, run against SQLite and PostgreSQL.
//!
//! The PostgreSQL half needs `RAMPART_TEST_POSTGRES_URL` (see `scripts/start-postgres.sh`) and
//! fails, never skips, when it is missing.

// A test crate: clippy.toml allows these in `#[test]` functions, and the helpers are tests too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod errors;
mod harness;
mod sqlite_only;
mod suite;

/// Declares each suite case as one test per backend: `sqlite::case` and `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = crate::harness::TestDb::sqlite().await;
                    crate::suite::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = crate::harness::TestDb::postgres().await;
                    crate::suite::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    reopen_keeps_data_and_migrations_are_idempotent,
    upsert_updates_in_place,
    proxies_are_listed_by_id_and_removed,
    prune_removes_only_older_proxies,
    meta_round_trip_overwrite_delete,
    config_versions_newest_first_with_limit,
    concurrent_writes_all_land,
    join_token_is_single_use,
    join_token_expires,
    join_token_with_wrong_secret_is_unknown,
    concurrent_redeems_of_one_join_token_succeed_once,
);
