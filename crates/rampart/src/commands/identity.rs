//! `rampart identity …`: workload identities.

use crate::cli::JoinTokenArgs;
use anyhow::Context;
use rampart_control::api::CreateJoinToken;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

/// `rampart identity join-token`: creates a one-time token and prints it (the only time it is
/// shown) with the SPIFFE id it is for and its expiry.
pub fn join_token(args: JoinTokenArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let client = super::status::client(&args.control, &args.auth)?;
        let request = CreateJoinToken {
            service: args.service,
            namespace: args.namespace,
            ttl_secs: args.ttl.as_secs(),
        };
        let created = client
            .create_join_token(&request)
            .await
            .with_context(|| format!("cannot create a join token at {}", args.control))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&created)?);
            return Ok(ExitCode::SUCCESS);
        }
        let expires = u64::try_from(created.expires_at_ms)
            .ok()
            .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_else(|| created.expires_at_ms.to_string());
        println!("{}", created.token);
        println!("spiffe id: {}", created.spiffe_id);
        println!("expires:   {expires} (single use; this token is not shown again)");
        Ok(ExitCode::SUCCESS)
    })
}
