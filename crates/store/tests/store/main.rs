//! Store tests: one suite, written once, run against SQLite and PostgreSQL.
//!
//! The PostgreSQL half needs `RAMPART_TEST_POSTGRES_URL` (see `scripts/start-postgres.sh`) and
//! fails, never skips, when it is missing.

// A test crate: clippy.toml allows these in `#[test]` functions, and the helpers are tests too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod errors;
mod harness;
mod mesh;
mod oauth;
mod policy;
mod secrets;
mod secrets_kill;
mod secrets_rate;
mod sqlite_only;
mod suite;

/// Declares each suite case (`module::case`) as one test per backend: `sqlite::case` and
/// `postgres::case`.
macro_rules! on_both_backends {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = crate::harness::TestDb::sqlite().await;
                    crate::$module::$case(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
    suite::reopen_keeps_data_and_migrations_are_idempotent,
    suite::upsert_updates_in_place,
    suite::proxies_are_listed_by_id_and_removed,
    suite::prune_removes_only_older_proxies,
    suite::meta_round_trip_overwrite_delete,
    suite::config_versions_newest_first_with_limit,
    suite::concurrent_writes_all_land,
    suite::join_token_is_single_use,
    suite::join_token_expires,
    suite::join_token_with_wrong_secret_is_unknown,
    suite::concurrent_redeems_of_one_join_token_succeed_once,
    mesh::issued_svids_are_listed_newest_first_and_found_by_serial,
    mesh::live_svids_exclude_expired_and_revoked,
    mesh::revocation_is_idempotent_and_pruned_at_expiry,
    mesh::workload_endpoints_upsert_list_and_prune,
    mesh::ca_generations_have_one_active,
    oauth::oauth_clients_round_trip_list_and_delete,
    oauth::signing_keys_rotate_next_to_active_to_retired,
    oauth::signing_key_debug_hides_the_private_key,
    oauth::revoked_tokens_are_idempotent_and_pruned_at_expiry,
    oauth::platform_key_columns_seal_and_clear,
    policy::policy_versions_are_numbered_and_looked_up,
    policy::clearing_or_enforcing_ends_the_dry_run,
    policy::concurrent_policy_inserts_get_distinct_versions,
    secrets::secret_write_and_read_current_and_by_version,
    secrets::secret_cas_conflict_returns_false_and_changes_nothing,
    secrets::secret_write_prunes_versions_below,
    secrets::concurrent_secret_writers_one_wins,
    secrets::secret_soft_delete_undelete_and_destroy,
    secrets::secret_delete_all_removes_meta_and_versions,
    secrets::secret_put_meta_creates_or_updates_settings_only,
    secrets::secret_list_takes_the_prefix_literally,
    secrets::secret_keyring_and_configs_compare_and_swap,
    secrets::secret_rewrap_moves_deks_to_the_new_kek,
);
