//! Turns query text into terms: tokenizing (quotes), fields, operators and values.

use std::str::FromStr;

use rampart_events::RecordKind;

use super::{MAX_LIMIT, Op, Query, QueryError, Term};

/// Operators, longest first so `>=` is not read as `>`.
const OPS: [(&str, Op); 6] = [
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
];

/// One token: the text before an operator (if any), the operator, and the value.
enum Token {
    Word(String),
    Field { key: String, op: Op, value: String },
}

pub(super) fn parse(text: &str, now_ms: i64) -> Result<Query, QueryError> {
    let mut query = Query::default();
    for token in tokenize(text)? {
        match token {
            Token::Word(word) => query.terms.push(Term::Contains(word)),
            Token::Field { key, op, value } => field(&mut query, &key, op, value, now_ms)?,
        }
    }
    Ok(query)
}

fn field(q: &mut Query, key: &str, op: Op, value: String, now_ms: i64) -> Result<(), QueryError> {
    let bad = |reason: &str| QueryError::Value {
        field: key.to_owned(),
        value: value.clone(),
        reason: reason.to_owned(),
    };
    let only_eq = |allowed: &[Op]| {
        if allowed.contains(&op) {
            Ok(())
        } else {
            Err(QueryError::Operator {
                field: key.to_owned(),
                op: op.as_str(),
            })
        }
    };
    let text = |column: &'static str, nullable: bool| -> Result<Term, QueryError> {
        only_eq(&[Op::Eq, Op::Ne])?;
        if value.is_empty() {
            return Err(bad("empty value"));
        }
        Ok(Term::Text {
            column,
            nullable,
            negate: op == Op::Ne,
            value: value.clone(),
        })
    };
    let term = match key {
        "kind" => {
            if RecordKind::from_str(&value).is_err() {
                return Err(bad("expected access, security, admin, alert or incident"));
            }
            text("kind", false)?
        }
        "action" => text("action", false)?,
        "service" => text("service", false)?,
        "principal" => text("principal", true)?,
        "decision" => text("decision", true)?,
        "id" => text("id", false)?,
        "status" => {
            let status = value
                .parse::<u16>()
                .map_err(|_| bad("expected an HTTP status code"))?;
            Term::Num {
                column: "status",
                nullable: true,
                op,
                value: i64::from(status),
            }
        }
        "time" | "since" | "until" => {
            let op = match key {
                "since" => {
                    only_eq(&[Op::Eq])?;
                    Op::Ge
                }
                "until" => {
                    only_eq(&[Op::Eq])?;
                    Op::Le
                }
                _ => op,
            };
            Term::Num {
                column: "time_ms",
                nullable: false,
                op,
                value: time_value(&value, now_ms).map_err(|reason| bad(&reason))?,
            }
        }
        "limit" => {
            only_eq(&[Op::Eq])?;
            let limit = value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad(&format!("expected a number from 1 to {MAX_LIMIT}")))?;
            q.limit = limit;
            return Ok(());
        }
        "after" => {
            only_eq(&[Op::Eq])?;
            let seq = value
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("expected a sequence number"))?;
            q.after = Some(seq);
            return Ok(());
        }
        other => return Err(QueryError::UnknownField(other.to_owned())),
    };
    q.terms.push(term);
    Ok(())
}

/// `15m`, `1h`, `2d` back from `now_ms`, or an RFC 3339 time, as ms since the epoch.
fn time_value(value: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(ago) = humantime::parse_duration(value) {
        let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
        return Ok(now_ms.saturating_sub(ago));
    }
    match humantime::parse_rfc3339_weak(value) {
        Ok(t) => Ok(t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)),
        Err(_) => Err("expected a duration such as 15m, 1h, 2d or an RFC 3339 time".into()),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = chars.peek() else { break };
        if c == '"' {
            chars.next();
            tokens.push(Token::Word(quoted(&mut chars)?));
            continue;
        }
        // A field name is letters and `_` up to an operator; anything else is a bare word.
        let mut raw = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '"') {
            raw.push(c);
        }
        let split = OPS
            .iter()
            .filter_map(|(s, op)| raw.find(s).map(|at| (at, *s, *op)))
            .min_by_key(|(at, s, _)| (*at, std::cmp::Reverse(s.len())));
        match split {
            Some((at, s, op))
                if at > 0
                    && raw[..at]
                        .chars()
                        .all(|c| c.is_ascii_alphabetic() || c == '_') =>
            {
                let mut value = raw[at + s.len()..].to_owned();
                if value.is_empty() && chars.peek() == Some(&'"') {
                    chars.next();
                    value = quoted(&mut chars)?;
                }
                tokens.push(Token::Field {
                    key: raw[..at].to_ascii_lowercase(),
                    op,
                    value,
                });
            }
            _ if raw.is_empty() => {}
            _ => tokens.push(Token::Word(raw)),
        }
    }
    Ok(tokens)
}

/// Reads up to the closing quote (the opening one is consumed), with `\"` and `\\` escapes.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, QueryError> {
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err(QueryError::Unterminated),
            Some('"') => return Ok(out),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => return Err(QueryError::Unterminated),
            },
            Some(c) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(s: &str) -> Vec<Term> {
        parse(s, 10_000_000).unwrap().terms
    }

    #[test]
    fn fields_operators_and_words() {
        assert_eq!(
            terms("service=orders status>=500 \"a b\" deny principal!=\"x y\""),
            vec![
                Term::Text {
                    column: "service",
                    nullable: false,
                    negate: false,
                    value: "orders".into()
                },
                Term::Num {
                    column: "status",
                    nullable: true,
                    op: Op::Ge,
                    value: 500
                },
                Term::Contains("a b".into()),
                Term::Contains("deny".into()),
                Term::Text {
                    column: "principal",
                    nullable: true,
                    negate: true,
                    value: "x y".into()
                },
            ]
        );
        assert_eq!(
            terms("since=15m until=2026-11-30T10:00:00Z"),
            vec![
                Term::Num {
                    column: "time_ms",
                    nullable: false,
                    op: Op::Ge,
                    value: 10_000_000 - 900_000
                },
                Term::Num {
                    column: "time_ms",
                    nullable: false,
                    op: Op::Le,
                    value: 1_796_032_800_000
                },
            ]
        );
        let q = parse("limit=5 after=9", 0).unwrap();
        assert_eq!((q.limit, q.after), (5, Some(9)));
        assert_eq!(parse("", 0).unwrap(), Query::default());
        // Not a field name before the operator: a bare word.
        assert_eq!(terms("a-b=c"), vec![Term::Contains("a-b=c".into())]);
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |s: &str| parse(s, 0).unwrap_err();
        assert_eq!(err("colour=red"), QueryError::UnknownField("colour".into()));
        assert!(err("colour=red").to_string().contains("`colour`"));
        assert!(matches!(
            err("service>a"),
            QueryError::Operator { op: ">", .. }
        ));
        assert!(matches!(err("status=abc"), QueryError::Value { .. }));
        assert!(matches!(err("status=70000"), QueryError::Value { .. }));
        assert!(matches!(err("kind=weird"), QueryError::Value { .. }));
        assert!(matches!(err("limit=0"), QueryError::Value { .. }));
        assert!(matches!(err("limit=10001"), QueryError::Value { .. }));
        assert!(matches!(err("since=yesterday"), QueryError::Value { .. }));
        assert!(matches!(err("after=-1"), QueryError::Value { .. }));
        assert!(matches!(err("since>1h"), QueryError::Operator { .. }));
        assert!(matches!(err("service="), QueryError::Value { .. }));
        assert_eq!(err("\"open"), QueryError::Unterminated);
        assert_eq!(err("principal=\"open"), QueryError::Unterminated);
    }
}
