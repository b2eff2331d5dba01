//! The query language of `rampart logs query` and the admin API (`docs/logs.md`, "Query").
//!
//! A query is space-separated terms, all ANDed:
//!
//! | term | meaning |
//! |---|---|
//! | `kind=security`, `action=…`, `service=…`, `principal=…`, `decision=…`, `id=…` | equal (`!=`: differs, or the field is absent) |
//! | `status>=500` (`= != > >= < <=`) | HTTP status comparison |
//! | `time>=1h` (`= != > >= < <=`) | event time against `now - 1h` or an RFC 3339 time |
//! | `since=15m`, `since=2026-11-30T10:00:00Z`, `until=…` | `time>=`, `time<=` |
//! | `limit=N` | at most N results (default 100, at most 10 000) |
//! | `after=SEQ` | only records stored after `SEQ`, oldest first (for following) |
//! | `word`, `"quoted text"` | case-insensitive substring of the record JSON |
//!
//! A value may be quoted (`principal="a b"`, with `\"` and `\\` escapes). Unknown fields,
//! operators a field does not take, and bad values are a [`QueryError`] naming them.

mod parse;
mod sql;

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use sql::{Bind, Sql};

/// Results returned when the query has no `limit=`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit=` accepted.
pub const MAX_LIMIT: u32 = 10_000;

/// A parsed query. Build one with [`Query::parse`] or start from [`Query::default`] (everything,
/// newest first, 100 results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub(crate) terms: Vec<Term>,
    /// Most results.
    pub limit: u32,
    /// Only records with `seq > after`, oldest first.
    pub after: Option<i64>,
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error(
        "unknown query field `{0}` (fields: kind, action, service, principal, decision, status, id, time, since, until, limit, after)"
    )]
    UnknownField(String),
    #[error("query field `{field}` does not take the operator `{op}`")]
    Operator { field: String, op: &'static str },
    #[error("bad value `{value}` for query field `{field}`: {reason}")]
    Value {
        field: String,
        value: String,
        reason: String,
    },
    #[error("unterminated quote in the query")]
    Unterminated,
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// A text column equal (or not) to a value.
    Text {
        column: &'static str,
        nullable: bool,
        negate: bool,
        value: String,
    },
    /// A number column compared to a value.
    Num {
        column: &'static str,
        nullable: bool,
        op: Op,
        value: i64,
    },
    /// A case-insensitive substring of the body.
    Contains(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

// === impl Query ===

impl Default for Query {
    fn default() -> Self {
        Self {
            terms: Vec::new(),
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl Query {
    /// Parses a query; relative times (`since=1h`) count back from now.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        Self::parse_at(text, now_ms())
    }

    /// Parses a query with relative times counted back from `now_ms` (ms since the epoch).
    pub fn parse_at(text: &str, now_ms: i64) -> Result<Self, QueryError> {
        parse::parse(text, now_ms)
    }

    /// The same query with `after=seq` (oldest first, `seq` excluded).
    pub fn after(mut self, seq: i64) -> Self {
        self.after = Some(seq);
        self
    }

    /// The same query returning at most `limit` records (clamped to 1..=10 000).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, MAX_LIMIT);
        self
    }

    /// `WHERE …` (possibly empty) with bound parameters only, for `postgres` or SQLite.
    pub(crate) fn where_clause(&self, postgres: bool) -> Sql {
        sql::where_clause(self, postgres)
    }
}

// === impl Op ===

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
