//! The secrets engine against a real store: SQLite always, PostgreSQL too when
//! `RAMPART_TEST_POSTGRES_URL` is set (those cases are skipped, with a note, otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache;
mod harness;
mod integrity;
mod kv;
mod platform;
mod rotate;
mod seal;

/// Declares each case (`module::case`, an `async fn(&Ctx)`) as `sqlite::case` and
/// `postgres::case`.
macro_rules! on_both_backends {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let ctx = crate::harness::Ctx::sqlite().await;
                    crate::$module::$case(&ctx).await;
                    ctx.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(ctx) = crate::harness::Ctx::postgres().await else { return };
                    crate::$module::$case(&ctx).await;
                    ctx.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    cache::read_after_every_mutation,
    cache::versions_never_go_backwards,
    kv::round_trip_and_versions,
    kv::cas_rules,
    kv::max_versions_prunes_oldest,
    kv::delete_undelete_destroy,
    kv::metadata_and_delete_metadata,
    kv::merge_patch,
    kv::subkeys_and_list,
    kv::delete_version_after_reads_as_deleted,
    kv::concurrent_writers_get_distinct_versions,
    integrity::tampered_ciphertext,
    integrity::swapped_rows,
    rotate::rotate_rewraps_everything,
    rotate::interrupted_rewrap_resumes,
    seal::sealed_refuses_every_data_op,
    platform::platform_keys_round_trip_and_are_reserved,
    platform::platform_keys_are_rewrapped_by_rotate_root,
);
