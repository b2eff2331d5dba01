//! Each KV operation: its request body, the engine call and Vault's answer.

use std::collections::BTreeMap;

use axum::{http::StatusCode, response::Response};
use rampart_secrets::{KvConfigUpdate, MetadataUpdate, Secrets, SecretsError, Versioned};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::{
    kv::{Call, Target},
    shapes::{ConfigBody, Data, KeysBody, MetadataBody, ReadBody, SubkeysBody, VersionBody},
    sys::query_param,
    vault,
};
use crate::secrets::Op;

/// The answer and the version to audit.
type Done = (Response, Option<u64>);

#[derive(Default, Deserialize)]
struct WriteRequest {
    data: Option<Value>,
    #[serde(default)]
    options: WriteOptions,
}

#[derive(Default, Deserialize)]
struct WriteOptions {
    cas: Option<u64>,
}

#[derive(Default, Deserialize)]
struct VersionsRequest {
    #[serde(default)]
    versions: Vec<Value>,
}

#[derive(Default, Deserialize)]
struct MetadataRequest {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<Value>,
    custom_metadata: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
struct ConfigRequest {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<Value>,
}

/// Runs `target` (already authorized) on the canonical `path`.
pub(crate) async fn run(
    call: &Call<'_>,
    target: &Target<'_>,
    path: &str,
    secrets: &Secrets,
) -> Result<Done, SecretsError> {
    let kv = secrets.kv();
    match target.op {
        Op::Read => {
            let read = kv.read(path, target.version).await?;
            let version = Some(read.meta().version);
            Ok((versioned(&read), version))
        }
        Op::Write | Op::Patch => {
            let request: WriteRequest = body(call)?;
            let Some(data) = request.data else {
                return Err(SecretsError::InvalidRequest("no data provided".to_owned()));
            };
            let meta = match (target.op, data) {
                (Op::Write, Value::Object(data)) => {
                    kv.write(path, data, request.options.cas).await?
                }
                (Op::Patch, patch) => kv.patch(path, &patch, request.options.cas).await?,
                _ => {
                    return Err(SecretsError::InvalidRequest(
                        "`data` must be a JSON object".to_owned(),
                    ));
                }
            };
            Ok((vault::ok(VersionBody::new(&meta)), Some(meta.version)))
        }
        Op::Delete | Op::Undelete | Op::Destroy => versions_op(call, target, path, secrets).await,
        Op::ReadMetadata => {
            let meta = kv.metadata(path).await?;
            Ok((
                vault::ok(MetadataBody::new(&meta)),
                Some(meta.current_version),
            ))
        }
        Op::WriteMetadata => {
            let request: MetadataRequest = body(call)?;
            let update = MetadataUpdate {
                max_versions: request.max_versions,
                cas_required: request.cas_required,
                delete_version_after_secs: seconds(request.delete_version_after)?,
                custom_metadata: request.custom_metadata,
            };
            kv.put_metadata(path, &update).await?;
            Ok((vault::no_content(), None))
        }
        Op::DeleteMetadata => gone(kv.delete_metadata(path).await),
        Op::List => {
            let keys = kv.list(path).await?;
            if keys.is_empty() {
                return Err(SecretsError::NotFound);
            }
            Ok((vault::ok(KeysBody { keys: &keys }), None))
        }
        Op::Subkeys => {
            let depth = match query_param(call.query, "depth") {
                Some(d) => d.parse::<u32>().map_err(|_| {
                    SecretsError::InvalidRequest("invalid `depth` parameter".to_owned())
                })?,
                None => 0,
            };
            let read = kv.subkeys(path, target.version, depth).await?;
            let meta = read.meta();
            let status = match read.value() {
                Some(_) => StatusCode::OK,
                None => StatusCode::NOT_FOUND,
            };
            let data = SubkeysBody {
                subkeys: read.value(),
                metadata: VersionBody::new(meta),
            };
            Ok((vault::with_status(status, data), Some(meta.version)))
        }
        Op::ReadConfig => Ok((vault::ok(ConfigBody::new(&kv.config()?)), None)),
        Op::WriteConfig => {
            let request: ConfigRequest = body(call)?;
            let update = KvConfigUpdate {
                max_versions: request.max_versions,
                cas_required: request.cas_required,
                delete_version_after_secs: seconds(request.delete_version_after)?,
            };
            kv.put_config(&update).await?;
            Ok((vault::no_content(), None))
        }
    }
}

// === helpers ===

/// `delete` / `undelete` / `destroy` with a `versions` list, and `DELETE /data/<path>`
/// (the latest version).
async fn versions_op(
    call: &Call<'_>,
    target: &Target<'_>,
    path: &str,
    secrets: &Secrets,
) -> Result<Done, SecretsError> {
    let kv = secrets.kv();
    if target.op == Op::Delete && call.body.is_empty() {
        return gone(kv.delete_latest(path).await);
    }
    let request: VersionsRequest = body(call)?;
    let versions = request
        .versions
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| SecretsError::InvalidRequest("invalid `versions`".to_owned()))?;
    if versions.is_empty() {
        return Err(SecretsError::InvalidRequest(
            "no version number provided".to_owned(),
        ));
    }
    let done = match target.op {
        Op::Delete => kv.delete_versions(path, &versions).await,
        Op::Undelete => kv.undelete(path, &versions).await,
        _ => kv.destroy(path, &versions).await,
    };
    gone(done)
}

/// `204`; deleting what does not exist is no error (Vault's behaviour).
fn gone(done: Result<(), SecretsError>) -> Result<Done, SecretsError> {
    match done {
        Ok(()) | Err(SecretsError::NotFound) => Ok((vault::no_content(), None)),
        Err(e) => Err(e),
    }
}

/// A read's answer: `200` with the value, or `404` with `data: null` and the metadata.
fn versioned(read: &Versioned<Data>) -> Response {
    let metadata = VersionBody::new(read.meta());
    match read.value() {
        Some(data) => vault::ok(ReadBody {
            data: Some(data),
            metadata,
        }),
        None => vault::with_status(
            StatusCode::NOT_FOUND,
            ReadBody::<Data> {
                data: None,
                metadata,
            },
        ),
    }
}

/// The JSON body (an empty body reads as `{}`).
fn body<T: DeserializeOwned + Default>(call: &Call<'_>) -> Result<T, SecretsError> {
    if call.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(call.body)
        .map_err(|e| SecretsError::InvalidRequest(format!("invalid request body: {e}")))
}

/// A Vault duration (`"3h25m19s"`, `"90s"` or a number of seconds) in seconds.
fn seconds(value: Option<Value>) -> Result<Option<u64>, SecretsError> {
    let invalid = || SecretsError::InvalidRequest("invalid `delete_version_after`".to_owned());
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
        Some(Value::String(s)) => humantime::parse_duration(&s)
            .map(|d| Some(d.as_secs()))
            .map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}
