//! `rampart secret put|get|list|delete|undelete|rotate`: the KV v2 store through the control
//! plane's Vault-compatible API (mount `secret`).

mod fields;
mod rotate;
pub mod vault;

use std::process::ExitCode;

use anyhow::Context;
use http::Method;
use rampart_control::ControlClient;
use serde_json::{Value, json};

use self::vault::expect_ok;
use crate::cli::{
    SecretCommand, SecretDeleteArgs, SecretGetArgs, SecretListArgs, SecretPutArgs,
    SecretUndeleteArgs,
};
use crate::output::say;

pub fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        match command {
            SecretCommand::Put(args) => put(args).await,
            SecretCommand::Get(args) => get(args).await,
            SecretCommand::List(args) => list(args).await,
            SecretCommand::Delete(args) => delete(args).await,
            SecretCommand::Undelete(args) => undelete(args).await,
            SecretCommand::Rotate(args) => rotate::run(args).await,
        }
    })
}

async fn put(args: SecretPutArgs) -> anyhow::Result<ExitCode> {
    let data = fields::parse(&args.fields, &mut std::io::stdin().lock())?;
    let api = vault::client(&args.control, true)?;
    let version = write(&api, &args.path, data, args.cas).await?;
    if args.control.json {
        say!("{}", json!({ "path": args.path, "version": version }));
    } else {
        say!("wrote `{}` version {version}", args.path);
    }
    Ok(ExitCode::SUCCESS)
}

async fn get(args: SecretGetArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let mut path = format!("/v1/secret/data/{}", url_path(&args.path));
    if let Some(v) = args.version {
        path.push_str(&format!("?version={v}"));
    }
    let reply = api.vault(Method::GET, &path, None).await?;
    let gone = reply.status == 404;
    if !reply.is_success() && !gone {
        return Err(vault::error(&reply));
    }
    let meta = &reply.body["data"]["metadata"];
    let Some(data) = reply.body["data"]["data"].as_object() else {
        if gone && meta.is_object() {
            let state = if meta["destroyed"] == true {
                "destroyed"
            } else {
                "deleted"
            };
            anyhow::bail!("version {} of `{}` is {state}", meta["version"], args.path);
        }
        anyhow::bail!("no secret at `{}`", args.path);
    };
    if let Some(field) = &args.field {
        let value = data
            .get(field)
            .with_context(|| format!("`{}` has no field `{field}`", args.path))?;
        match value {
            Value::String(s) => say!("{s}"),
            other => say!("{other}"),
        }
    } else if args.control.json {
        say!("{}", serde_json::to_string_pretty(&reply.body["data"])?);
    } else {
        say!(
            "`{}` version {} (created {})",
            args.path,
            meta["version"],
            meta["created_time"].as_str().unwrap_or("?")
        );
        let width = data.keys().map(String::len).max().unwrap_or(0).max(3);
        for (key, value) in data {
            let shown = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            say!("{key:<width$}  {shown}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(args: SecretListArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let prefix = args.prefix.trim_matches('/');
    let path = format!("/v1/secret/metadata/{}?list=true", url_path(prefix));
    let reply = api.vault(Method::GET, &path, None).await?;
    let keys: Vec<String> = match reply.status {
        404 => Vec::new(),
        _ if reply.is_success() => reply.body["data"]["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        _ => return Err(vault::error(&reply)),
    };
    if args.control.json {
        say!("{}", json!(keys));
    } else {
        for key in keys {
            say!("{key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: SecretDeleteArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let p = url_path(&args.path);
    let what = if args.all {
        expect_ok(
            &api,
            Method::DELETE,
            &format!("/v1/secret/metadata/{p}"),
            None,
        )
        .await?;
        "deleted with all its versions and metadata".to_owned()
    } else if args.versions.is_empty() {
        expect_ok(&api, Method::DELETE, &format!("/v1/secret/data/{p}"), None).await?;
        "latest version deleted (undo with `rampart secret undelete`)".to_owned()
    } else {
        let (op, done) = if args.destroy {
            ("destroy", "destroyed for good")
        } else {
            ("delete", "deleted (undo with `rampart secret undelete`)")
        };
        let body = json!({ "versions": args.versions });
        expect_ok(
            &api,
            Method::POST,
            &format!("/v1/secret/{op}/{p}"),
            Some(&body),
        )
        .await?;
        format!("versions {} {done}", join(&args.versions))
    };
    say!("`{}`: {what}", args.path);
    Ok(ExitCode::SUCCESS)
}

async fn undelete(args: SecretUndeleteArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let body = json!({ "versions": args.versions });
    let path = format!("/v1/secret/undelete/{}", url_path(&args.path));
    expect_ok(&api, Method::POST, &path, Some(&body)).await?;
    say!(
        "`{}`: versions {} restored",
        args.path,
        join(&args.versions)
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `data` as a new version of `path` (with `cas` when given); returns its number.
async fn write(
    api: &ControlClient,
    path: &str,
    data: serde_json::Map<String, Value>,
    cas: Option<u64>,
) -> anyhow::Result<u64> {
    let mut body = json!({ "data": data, "options": {} });
    if let Some(cas) = cas {
        body["options"]["cas"] = json!(cas);
    }
    let answer = expect_ok(
        api,
        Method::POST,
        &format!("/v1/secret/data/{}", url_path(path)),
        Some(&body),
    )
    .await
    .with_context(|| format!("cannot write `{path}`"))?;
    answer["data"]["version"]
        .as_u64()
        .context("the control plane's answer has no version number")
}

fn join(versions: &[u64]) -> String {
    versions
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The secrets store's seal status (`GET /v1/sys/seal-status`), or `None` when the control
/// plane has no secrets store or cannot be asked.
pub async fn seal_status(url: &str, auth: &crate::cli::ControlAuth) -> Option<Value> {
    let api = vault::client_from_parts(url, auth, false).ok()?;
    let reply = api
        .vault(Method::GET, "/v1/sys/seal-status", None)
        .await
        .ok()?;
    reply.is_success().then_some(reply.body)
}

/// `path` with every byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.trim_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::url_path;

    #[test]
    fn paths_are_percent_encoded_per_byte_but_keep_their_slashes() {
        assert_eq!(url_path("/app/db/"), "app/db");
        assert_eq!(url_path("a b/c?d#e"), "a%20b/c%3Fd%23e");
        assert_eq!(url_path("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(url_path("x-y_z.~1"), "x-y_z.~1");
    }
}
