//! Principals and scopes from verified token claims (docs/policy.md "Enforcement").
//!
//! - A token with a `client_id` claim whose `sub` is absent or equal to it is a
//!   client-credentials token: [`Principal::Client`] with the token's scopes.
//! - Otherwise a token with a `sub` is a user: [`Principal::User`] with the `groups` claim
//!   (array of strings; anything else counts as no groups).
//! - A token with neither has no principal (the caller falls back to `Anonymous`).
//!
//! Scopes come from `scope` (space-separated string) or, when that is absent, `scp` (array of
//! strings).

use serde_json::{Map, Value};

use crate::request::Principal;

/// The principal a verified token stands for, or `None` when it names neither a client nor
/// a subject.
pub fn principal_from_claims(claims: &Map<String, Value>) -> Option<Principal> {
    let sub = claims.get("sub").and_then(Value::as_str);
    let client_id = claims.get("client_id").and_then(Value::as_str);
    match (client_id, sub) {
        (Some(client_id), None) => Some(client(client_id, claims)),
        (Some(client_id), Some(sub)) if sub == client_id => Some(client(client_id, claims)),
        (_, Some(sub)) => Some(Principal::User {
            sub: sub.to_string(),
            groups: strings(claims.get("groups")),
        }),
        (None, None) => None,
    }
}

/// The token's scopes: `scope` split on spaces, else the `scp` array; empty when neither.
pub fn scopes_from_claims(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("scope") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => match claims.get("scp") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            other => strings(other),
        },
    }
}

fn client(client_id: &str, claims: &Map<String, Value>) -> Principal {
    Principal::Client {
        client_id: client_id.to_string(),
        scopes: scopes_from_claims(claims),
    }
}

/// The string members of a JSON array (non-strings are skipped); empty for anything else.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn client_credentials_token_without_sub_is_a_client_with_scopes() {
        let c = claims(json!({"client_id": "shop", "scope": "orders:read  orders:write"}));
        assert_eq!(
            principal_from_claims(&c),
            Some(Principal::Client {
                client_id: "shop".into(),
                scopes: vec!["orders:read".into(), "orders:write".into()],
            })
        );
    }

    #[test]
    fn client_id_equal_to_sub_is_a_client() {
        let c = claims(json!({"client_id": "shop", "sub": "shop", "scp": ["a", "b"]}));
        assert_eq!(
            principal_from_claims(&c),
            Some(Principal::Client {
                client_id: "shop".into(),
                scopes: vec!["a".into(), "b".into()],
            })
        );
    }

    #[test]
    fn sub_different_from_client_id_is_a_user_with_groups() {
        let c = claims(json!({
            "client_id": "web", "sub": "alice", "groups": ["admins", 7, "ops"]
        }));
        assert_eq!(
            principal_from_claims(&c),
            Some(Principal::User {
                sub: "alice".into(),
                groups: vec!["admins".into(), "ops".into()],
            })
        );
    }

    #[test]
    fn user_groups_default_to_empty_when_not_an_array() {
        let c = claims(json!({"sub": "bob", "groups": "admins"}));
        assert_eq!(
            principal_from_claims(&c),
            Some(Principal::User {
                sub: "bob".into(),
                groups: vec![],
            })
        );
    }

    #[test]
    fn no_sub_and_no_client_id_is_none() {
        assert_eq!(principal_from_claims(&claims(json!({"scope": "x"}))), None);
        // Non-string claims do not count.
        assert_eq!(
            principal_from_claims(&claims(json!({"sub": 5, "client_id": true}))),
            None
        );
    }

    #[test]
    fn scopes_prefer_scope_then_scp() {
        assert_eq!(
            scopes_from_claims(&claims(json!({"scope": "a b", "scp": ["c"]}))),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(
            scopes_from_claims(&claims(json!({"scp": ["c", 1, "d"]}))),
            vec!["c".to_string(), "d".to_string()]
        );
        assert!(scopes_from_claims(&claims(json!({}))).is_empty());
        assert!(scopes_from_claims(&claims(json!({"scope": "   "}))).is_empty());
    }
}
