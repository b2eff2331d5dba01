//! The CLI's side of the control plane's Vault-compatible routes: a [`ControlClient`] from the
//! command line's credentials (the token optional where the route needs none), and the
//! rendering of a refused [`VaultReply`] as an error with a hint.

use std::time::Duration;

use anyhow::Context;
use http::{Method, StatusCode};
use rampart_control::{ControlClient, VaultReply};
use rampart_core::Sensitive;
use serde_json::Value;

use crate::cli::{ControlArgs, ControlAuth};

/// How long one request (connect, handshake, answer) may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A client for the control plane `args` names, with its admin token (`--token`,
/// `RAMPART_TOKEN`, else `./.rampart/admin-token`) when `need_token`, or when one is found.
pub fn client(args: &ControlArgs, need_token: bool) -> anyhow::Result<ControlClient> {
    client_from_parts(&args.control, &args.auth, need_token)
}

/// Like [`client`], from the URL and the credentials' arguments.
pub fn client_from_parts(
    url: &str,
    auth: &ControlAuth,
    need_token: bool,
) -> anyhow::Result<ControlClient> {
    let token = match &auth.token {
        Some(t) => Some(Sensitive::new(t.trim().to_owned())),
        None => {
            let path = rampart_control::default_token_path();
            match std::fs::read_to_string(&path) {
                Ok(t) => Some(Sensitive::new(t.trim().to_owned())),
                Err(e) if need_token => {
                    return Err(e).with_context(|| {
                        format!(
                            "no --token given and cannot read `{}` (set RAMPART_TOKEN)",
                            path.display()
                        )
                    });
                }
                Err(_) => None,
            }
        }
    };
    let ca = auth
        .ca
        .clone()
        .unwrap_or_else(rampart_control::default_ca_path);
    rampart_identity::install_default_provider();
    let url = url.trim_end_matches('/');
    let client = match token {
        Some(token) => ControlClient::new(url, token, &ca),
        None => ControlClient::workload(url, &ca),
    }
    .with_context(|| {
        format!(
            "cannot set up a client of {url} trusting `{}`",
            ca.display()
        )
    })?;
    Ok(client.with_timeout(TIMEOUT))
}

/// [`ControlClient::vault`], and the body of a 2xx answer; any other status is an error
/// carrying the server's `errors`.
pub async fn expect_ok(
    client: &ControlClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let reply = client.vault(method, path, body).await?;
    if reply.is_success() {
        Ok(reply.body)
    } else {
        Err(error(&reply))
    }
}

/// The error a refused answer stands for: its status, the server's `errors` and a hint.
pub fn error(reply: &VaultReply) -> anyhow::Error {
    let errors = reply.errors();
    let status = StatusCode::from_u16(reply.status)
        .map_or_else(|_| reply.status.to_string(), |status| status.to_string());
    let hint = match reply.status {
        503 => " (is the store sealed? see `rampart operator status`)",
        403 => " (check the token, and the Cedar policies for this path)",
        _ => "",
    };
    if errors.is_empty() {
        anyhow::anyhow!("the control plane answered {status}{hint}")
    } else {
        anyhow::anyhow!(
            "the control plane answered {status}: {}{hint}",
            errors.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_status_the_errors_and_a_hint() {
        let sealed = VaultReply {
            status: 503,
            body: serde_json::json!({"errors": ["Vault is sealed"]}),
        };
        assert_eq!(
            error(&sealed).to_string(),
            "the control plane answered 503 Service Unavailable: Vault is sealed \
             (is the store sealed? see `rampart operator status`)"
        );
        let empty = VaultReply {
            status: 404,
            body: Value::Null,
        };
        assert_eq!(
            error(&empty).to_string(),
            "the control plane answered 404 Not Found"
        );
    }
}
