//! Event log tests: one suite, written once, run against SQLite and PostgreSQL.
//!
//! The PostgreSQL half needs `RAMPART_TEST_POSTGRES_URL` (see `scripts/start-postgres.sh`) and
//! fails, never skips, when it is missing.

// A test crate: clippy.toml allows these in `#[test]` functions, and the helpers are tests too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod harness;
mod ingest;
mod postgres_only;
mod query;
mod retention;
mod sqlite_only;

/// Declares each case (`module::case`) as one test per backend: `sqlite::case`, `postgres::case`.
macro_rules! on_both_backends {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::TestDb::sqlite().await;
                    crate::$module::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::TestDb::postgres().await;
                    crate::$module::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    ingest::duplicates_within_and_across_batches_are_dropped,
    ingest::concurrent_callers_each_get_their_own_outcome,
    ingest::full_queue_is_busy_and_drains_after,
    ingest::subscribers_see_stored_records_in_order,
    audit::chain_links_are_contiguous_and_recompute,
    audit::duplicate_chained_records_do_not_advance_the_chain,
    audit::checkpoints_are_signed_every_n_and_on_demand,
    audit::chain_survives_reopen,
    audit::checkpoints_follow_the_interval_only_when_the_head_moved,
    query::each_operator_selects_exactly,
    query::text_search_is_case_insensitive_and_literal,
    query::after_returns_oldest_first_and_limit_caps,
    query::time_terms_select_by_event_time,
    retention::old_access_records_expire_and_chained_stay,
    retention::size_limit_deletes_oldest_access_records,
    retention::audit_prefix_goes_only_up_to_an_old_checkpoint,
);
