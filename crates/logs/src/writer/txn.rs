//! What the writer needs from a backend's write transaction; SQLite and PostgreSQL implement it.

use std::collections::HashSet;
use std::future::Future;

use rampart_events::EventRecord;

use crate::audit::{Checkpoint, HASH_LEN};

/// Insert at most this many rows per statement (12 parameters each: 6 000, well under both
/// backends' limits of 32 766 and 65 535, big enough that per-statement overhead is small).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// What an insert statement reports.
pub(crate) enum Inserted {
    /// Every row was inserted (and this many there were).
    Count(u64),
    /// `(seq, id)` of each row inserted.
    Rows(Vec<(i64, String)>),
}

/// A record about to be inserted, with its chain link when it is chained.
pub(crate) struct NewRow<'a> {
    pub(crate) rec: &'a EventRecord,
    pub(crate) link: Option<Link>,
}

/// A chained record's place in the chain.
#[derive(Clone, Copy)]
pub(crate) struct Link {
    pub(crate) chain_seq: i64,
    pub(crate) prev: [u8; HASH_LEN],
    pub(crate) hash: [u8; HASH_LEN],
}

/// One write transaction. Dropping it without `commit` rolls back.
pub(crate) trait WriteTxn: Send + Sized {
    /// The chain head `(chain_seq, hash)`, locked until commit (PostgreSQL `FOR UPDATE`; SQLite
    /// holds the database's write lock from `BEGIN IMMEDIATE`).
    fn lock_head(&mut self) -> impl Future<Output = sqlx::Result<(i64, Vec<u8>)>> + Send;

    /// Which of `ids` are already stored.
    fn existing_ids(
        &mut self,
        ids: &[&str],
    ) -> impl Future<Output = sqlx::Result<HashSet<String>>> + Send;

    /// Inserts up to [`ROWS_PER_INSERT`] rows, skipping stored ids. With `returning` (or where
    /// the backend always returns them, or when some ids were stored already) the `(seq, id)`
    /// of the rows inserted, else `Count` of all of them.
    fn insert(
        &mut self,
        rows: &[NewRow<'_>],
        returning: bool,
    ) -> impl Future<Output = sqlx::Result<Inserted>> + Send;

    fn set_head(
        &mut self,
        chain_seq: i64,
        hash: &[u8; HASH_LEN],
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    /// The `chain_seq` of the newest checkpoint, 0 when there is none.
    fn last_checkpoint_seq(&mut self) -> impl Future<Output = sqlx::Result<i64>> + Send;

    fn insert_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    fn commit(self) -> impl Future<Output = sqlx::Result<()>> + Send;
}

/// `INSERT … VALUES (…), (…) ON CONFLICT (id) DO NOTHING [RETURNING seq, id]` for `n` rows, with
/// `?` (SQLite) or `$k` (PostgreSQL) placeholders.
pub(crate) fn insert_sql(n: usize, postgres: bool, returning: bool) -> String {
    const COLUMNS: usize = 12;
    let mut sql = String::with_capacity(120 + n * COLUMNS * 5);
    sql.push_str(
        "INSERT INTO events (id, time_ms, kind, action, service, principal, decision, status, \
         body, chain_seq, prev_hash, hash) VALUES ",
    );
    let mut k = 0;
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..COLUMNS {
            if col > 0 {
                sql.push_str(", ");
            }
            k += 1;
            if postgres {
                sql.push('$');
                sql.push_str(&k.to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    if returning {
        sql.push_str(" RETURNING seq, id");
    }
    sql
}
