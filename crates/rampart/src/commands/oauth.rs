//! `rampart oauth …`: the OAuth2 authorization server's clients and signing keys.

use std::process::ExitCode;

use anyhow::Context;
use rampart_control::api::{CreateOAuthClient, OAuthClientAuth};

use crate::cli::{ControlArgs, OauthAuthArg, OauthClientCreateArgs, OauthClientDeleteArgs};
use crate::output::say;

/// `rampart oauth client create`: registers a client and prints its id and secret (the only
/// time the secret is shown).
pub fn create_client(args: OauthClientCreateArgs) -> anyhow::Result<ExitCode> {
    let jwk = match &args.jwk {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the JWK file `{}`", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("the JWK file `{}` is not JSON", path.display()))?,
            )
        }
        None => None,
    };
    let request = CreateOAuthClient {
        name: args.name,
        scopes: args.scopes.into_iter().filter(|s| !s.is_empty()).collect(),
        auth: match args.auth {
            OauthAuthArg::Secret => OAuthClientAuth::Secret,
            OauthAuthArg::PrivateKeyJwt => OAuthClientAuth::PrivateKeyJwt,
            OauthAuthArg::Tls => OAuthClientAuth::Tls,
        },
        jwk,
        tls_subject: args.tls_subject,
        audience: args.audience,
    };
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let client = super::status::client(&c.control, &c.auth)?;
        let created = client
            .create_oauth_client(&request)
            .await
            .with_context(|| format!("cannot create an oauth client at {}", c.control))?;
        if c.json {
            say!("{}", serde_json::to_string_pretty(&created)?);
            return Ok(ExitCode::SUCCESS);
        }
        say!("client_id:     {}", created.client.client_id);
        if let Some(secret) = &created.client_secret {
            say!("client_secret: {secret}");
            say!("(the secret is not shown again; only its hash is stored)");
        }
        say!("auth:          {}", created.client.auth_method);
        say!("scopes:        {}", created.client.scopes.join(" "));
        if let Some(aud) = &created.client.default_audience {
            say!("audience:      {aud}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart oauth client list`.
pub fn list_clients(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let client = super::status::client(&args.control, &args.auth)?;
        let list = client
            .list_oauth_clients()
            .await
            .with_context(|| format!("cannot list oauth clients at {}", args.control))?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(ExitCode::SUCCESS);
        }
        if list.clients.is_empty() {
            say!("no oauth clients");
        }
        for c in &list.clients {
            say!(
                "{}  {}  auth={}  scopes={}  audience={}",
                c.client_id,
                c.name,
                c.auth_method,
                c.scopes.join(","),
                c.default_audience.as_deref().unwrap_or("-")
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `rampart oauth client delete ID`.
pub fn delete_client(args: OauthClientDeleteArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let c = &args.control;
        let client = super::status::client(&c.control, &c.auth)?;
        let deleted = client
            .delete_oauth_client(&args.id)
            .await
            .with_context(|| format!("cannot delete the oauth client at {}", c.control))?;
        if deleted {
            say!("deleted {}", args.id);
            Ok(ExitCode::SUCCESS)
        } else {
            say!("no oauth client `{}`", args.id);
            Ok(ExitCode::FAILURE)
        }
    })
}

/// `rampart oauth rotate-keys`.
pub fn rotate_keys(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        let client = super::status::client(&args.control, &args.auth)?;
        let rotated = client
            .rotate_oauth_keys()
            .await
            .with_context(|| format!("cannot rotate the signing keys at {}", args.control))?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&rotated)?);
            return Ok(ExitCode::SUCCESS);
        }
        say!("signing now:          {}", rotated.active_kid);
        say!("published, next:      {}", rotated.next_kid);
        for kid in &rotated.retired_kids {
            say!("retired, still valid: {kid}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
