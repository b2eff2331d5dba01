//! `rampart secret rotate`: a new version of a secret in which some fields get fresh random
//! URL-safe values (aws-lc-rs randomness), written with `cas` set to the version it was made
//! from, so that a concurrent write is never silently lost.

use std::process::ExitCode;

use anyhow::Context;
use http::Method;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::vault;
use super::{url_path, write};
use crate::cli::SecretRotateArgs;
use crate::output::say;

/// The alphabet of new values: base64url's, 64 symbols, so a random byte's low six bits pick
/// one without bias.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub async fn run(args: SecretRotateArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let path = format!("/v1/secret/data/{}", url_path(&args.path));
    let reply = api.vault(Method::GET, &path, None).await?;
    let (mut data, current) = match reply.status {
        _ if reply.is_success() => {
            let data = reply.body["data"]["data"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let version = reply.body["data"]["metadata"]["version"]
                .as_u64()
                .context("the control plane's answer has no version number")?;
            (data, version)
        }
        // Never written (or its latest version is deleted): the fields named make a new one.
        404 if !args.fields.is_empty() => {
            let version = reply.body["data"]["metadata"]["version"]
                .as_u64()
                .unwrap_or(0);
            (Map::new(), version)
        }
        404 => anyhow::bail!(
            "no secret at `{}` (name the fields to create with `--field`)",
            args.path
        ),
        _ => return Err(vault::error(&reply)),
    };
    let fields = chosen_fields(&data, &args.fields, &args.path)?;
    let mut fresh = Map::new();
    for field in &fields {
        let value = random_value(usize::from(args.length))?;
        data.insert(field.clone(), Value::String(value.to_string()));
        if args.show {
            fresh.insert(field.clone(), Value::String(value.to_string()));
        }
    }
    let version = write(&api, &args.path, data, Some(current))
        .await
        .context("the secret changed while rotating; run it again")?;
    if args.control.json {
        let mut out = json!({ "path": args.path, "version": version, "fields": fields });
        if args.show {
            out["values"] = Value::Object(fresh);
        }
        say!("{out}");
    } else {
        say!("{version}");
        for (field, value) in &fresh {
            say!("{field}={}", value.as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The fields to rotate: those named (a named field must be absent or a string), else every
/// string field.
fn chosen_fields(
    data: &Map<String, Value>,
    named: &[String],
    path: &str,
) -> anyhow::Result<Vec<String>> {
    if named.is_empty() {
        let mut all: Vec<String> = data
            .iter()
            .filter(|(_, v)| v.is_string())
            .map(|(k, _)| k.clone())
            .collect();
        all.sort();
        if all.is_empty() {
            anyhow::bail!("`{path}` has no string field to rotate (name one with `--field`)");
        }
        return Ok(all);
    }
    for field in named {
        if data.get(field).is_some_and(|v| !v.is_string()) {
            anyhow::bail!("the field `{field}` of `{path}` is not a string");
        }
    }
    let mut named = named.to_vec();
    named.sort();
    named.dedup();
    Ok(named)
}

/// `length` characters of base64url's alphabet from the system's randomness.
fn random_value(length: usize) -> anyhow::Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(vec![0u8; length]);
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness available"))?;
    let mut value = Zeroizing::new(String::with_capacity(length));
    for b in bytes.iter() {
        value.push(char::from(ALPHABET[usize::from(b & 63)]));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_url_safe_random_and_of_the_length_asked() {
        let a = random_value(32).unwrap();
        let b = random_value(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(*a, *b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(random_value(1024).unwrap().len(), 1024);
    }

    #[test]
    fn default_fields_are_the_string_ones() {
        let data = json!({"user": "u", "pass": "p", "port": 5432});
        let data = data.as_object().unwrap();
        assert_eq!(chosen_fields(data, &[], "p").unwrap(), ["pass", "user"]);
        let named = vec!["pass".to_owned(), "pass".to_owned(), "new".to_owned()];
        assert_eq!(chosen_fields(data, &named, "p").unwrap(), ["new", "pass"]);
        assert!(chosen_fields(data, &["port".to_owned()], "p").is_err());
        let numbers = json!({"port": 1});
        assert!(chosen_fields(numbers.as_object().unwrap(), &[], "p").is_err());
    }
}
