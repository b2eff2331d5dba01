//! Renders a [`Query`] as a `WHERE` clause of fixed SQL fragments and bound parameters.

use super::{Op, Query, Term};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text with its placeholders (`?` on SQLite, `$n` on PostgreSQL) and their values.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
    postgres: bool,
}

// === impl Sql ===

impl Sql {
    pub(crate) fn new(postgres: bool) -> Self {
        Self {
            postgres,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        if self.postgres {
            self.text.push('$');
            self.text.push_str(&self.binds.len().to_string());
        } else {
            self.text.push('?');
        }
        self
    }
}

pub(super) fn where_clause(q: &Query, postgres: bool) -> Sql {
    let mut sql = Sql::new(postgres);
    let mut first = true;
    let mut and = |sql: &mut Sql| {
        sql.push(if first { " WHERE " } else { " AND " });
        first = false;
    };
    for term in &q.terms {
        and(&mut sql);
        match term {
            Term::Text {
                column,
                nullable,
                negate,
                value,
            } => compare(
                &mut sql,
                column,
                *nullable,
                if *negate { Op::Ne } else { Op::Eq },
                Bind::Text(value.clone()),
            ),
            Term::Num {
                column,
                nullable,
                op,
                value,
            } => compare(&mut sql, column, *nullable, *op, Bind::Int(*value)),
            Term::Contains(text) => {
                sql.push(if postgres {
                    "body ILIKE "
                } else {
                    "body LIKE "
                })
                .bind(Bind::Text(like_pattern(text)))
                .push(" ESCAPE '\\'");
            }
        }
    }
    if let Some(after) = q.after {
        and(&mut sql);
        sql.push("seq > ").bind(Bind::Int(after));
    }
    sql
}

fn compare(sql: &mut Sql, column: &str, nullable: bool, op: Op, value: Bind) {
    let op_sql = match op {
        Op::Ne => "<>",
        other => other.as_str(),
    };
    if op == Op::Ne && nullable {
        // `principal!=x` also matches records with no principal.
        sql.push("(").push(column).push(" IS NULL OR ").push(column);
        sql.push(" <> ").bind(value).push(")");
    } else {
        sql.push(column)
            .push(" ")
            .push(op_sql)
            .push(" ")
            .bind(value);
    }
}

/// `%text%` with `\`, `%` and `_` escaped (the clause says `ESCAPE '\'`).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders_per_backend() {
        let q = Query::parse_at("service=a status>=500 \"50%_x\"", 0).unwrap();
        let pg = q.where_clause(true);
        assert_eq!(
            pg.text,
            " WHERE service = $1 AND status >= $2 AND body ILIKE $3 ESCAPE '\\'"
        );
        assert_eq!(pg.binds[2], Bind::Text("%50\\%\\_x%".into()));
        let lite = q.after(7).where_clause(false);
        assert_eq!(
            lite.text,
            " WHERE service = ? AND status >= ? AND body LIKE ? ESCAPE '\\' AND seq > ?"
        );
        assert_eq!(lite.binds.len(), 4);
    }
}
