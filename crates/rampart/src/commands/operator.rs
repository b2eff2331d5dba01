//! `rampart operator init|unseal|seal|status|rotate-root`: the secrets store's sealing and
//! keys, through the control plane's Vault-compatible `/v1/sys/…` routes.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use http::Method;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::secret::vault::{self, expect_ok};
use crate::cli::{ControlArgs, OperatorCommand, OperatorInitArgs, OperatorUnsealArgs};
use crate::output::say;

pub fn run(command: OperatorCommand) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(1)?;
    rt.block_on(async move {
        match command {
            OperatorCommand::Init(args) => init(args).await,
            OperatorCommand::Unseal(args) => unseal(args).await,
            OperatorCommand::Seal(args) => seal(args).await,
            OperatorCommand::Status(args) => status(args).await,
            OperatorCommand::RotateRoot(args) => rotate_root(args).await,
        }
    })
}

async fn init(args: OperatorInitArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, true)?;
    let body = json!({ "secret_shares": args.shares, "secret_threshold": args.threshold });
    let answer = expect_ok(&api, Method::PUT, "/v1/sys/init", Some(&body))
        .await
        .context("cannot initialize the secrets store")?;
    let keys: Vec<Zeroizing<String>> = answer["keys"]
        .as_array()
        .context("the control plane's answer holds no shares")?
        .iter()
        .filter_map(|k| k.as_str().map(|k| Zeroizing::new(k.to_owned())))
        .collect();
    if args.control.json {
        let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        say!(
            "{}",
            json!({ "keys": keys, "shares": args.shares, "threshold": args.threshold })
        );
    } else {
        for (i, key) in keys.iter().enumerate() {
            say!("Unseal share {}: {}", i + 1, key.as_str());
        }
        say!("");
        say!(
            "The store is initialized and sealed. Unseal it with {} of these {} shares: \
             `rampart operator unseal` (the share on stdin), once per share.",
            args.threshold,
            args.shares
        );
    }
    eprintln!(
        "WARNING: these shares are shown once and never again, and Rampart keeps no copy. \
         Give each to a different person; anyone holding {} of them can open the store.",
        args.threshold
    );
    Ok(ExitCode::SUCCESS)
}

async fn unseal(args: OperatorUnsealArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args.control, false)?;
    let reply = if args.reset {
        api.vault(
            Method::PUT,
            "/v1/sys/unseal",
            Some(&json!({ "reset": true })),
        )
        .await?
    } else {
        // The share stays in zeroizing buffers on this side: never in a JSON `Value`.
        let share: Zeroizing<String> = match &args.share {
            Some(share) => Zeroizing::new(share.trim().to_owned()),
            None => read_share()?,
        };
        if share.is_empty() {
            anyhow::bail!("no share given (pass it on stdin)");
        }
        api.vault_unseal(share.as_str()).await?
    };
    if !reply.is_success() {
        return Err(vault::error(&reply)).context(if args.reset {
            "cannot reset the unseal progress"
        } else {
            "the share was refused; the shares given so far are forgotten if they did not match"
        });
    }
    print_seal(&reply.body, args.control.json);
    Ok(ExitCode::SUCCESS)
}

async fn seal(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args, true)?;
    expect_ok(&api, Method::PUT, "/v1/sys/seal", None)
        .await
        .context("cannot seal the secrets store")?;
    say!("sealed: data requests answer 503 until the store is unsealed");
    Ok(ExitCode::SUCCESS)
}

async fn status(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args, false)?;
    let seal = expect_ok(&api, Method::GET, "/v1/sys/seal-status", None)
        .await
        .with_context(|| format!("cannot get the seal status from {}", api.url()))?;
    // The key status needs the admin token, and an unsealed store.
    let keys = match api.vault(Method::GET, "/v1/sys/key-status", None).await {
        Ok(reply) if reply.is_success() => Some(reply.body),
        _ => None,
    };
    if args.json {
        say!("{}", json!({ "seal": seal, "keys": keys }));
        return Ok(ExitCode::SUCCESS);
    }
    print_seal(&seal, false);
    if let Some(keys) = keys {
        let keys = keys.get("data").unwrap_or(&keys);
        say!("key term:     {}", keys["term"]);
        if let Some(remaining) = keys
            .get("rewrap_remaining")
            .or_else(|| keys.get("rewrapping"))
        {
            say!("rewrapping:   {remaining}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_root(args: ControlArgs) -> anyhow::Result<ExitCode> {
    let api = vault::client(&args, true)?;
    expect_ok(&api, Method::PUT, "/v1/sys/rotate", None)
        .await
        .context("cannot rotate the key-encryption key")?;
    let keys = expect_ok(&api, Method::GET, "/v1/sys/key-status", None).await?;
    let keys = keys.get("data").cloned().unwrap_or(keys);
    if args.json {
        say!("{keys}");
    } else {
        say!(
            "rotated: new versions use key term {}; stored data keys are rewrapped in the background",
            keys["term"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One seal status (`/v1/sys/seal-status` or the answer of an unseal), for people or as JSON.
fn print_seal(status: &Value, json: bool) {
    if json {
        say!("{status}");
        return;
    }
    let sealed = status["sealed"] == true;
    say!("initialized:  {}", status["initialized"]);
    say!("sealed:       {sealed}");
    say!("seal type:    {}", status["type"].as_str().unwrap_or("?"));
    say!("shares:       {}  threshold: {}", status["n"], status["t"]);
    if sealed && status["initialized"] == true {
        say!("unseal progress: {}/{}", status["progress"], status["t"]);
    }
}

/// One share from stdin: a line, not echoed when stdin is a terminal.
fn read_share() -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let hidden = terminal && set_echo(false);
    if terminal {
        eprint!("Unseal share (input is hidden): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if hidden {
        set_echo(true);
        eprintln!();
    }
    read.context("cannot read the share from stdin")?;
    Ok(Zeroizing::new(line.trim().to_owned()))
}

/// Turns the terminal's echo on or off with `stty`; whether it worked.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}
