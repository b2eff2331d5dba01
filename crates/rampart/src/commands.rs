//! One module per subcommand.

mod config;
mod gateway;
mod identity;
mod logs;
mod oauth;
mod operator;
mod policy;
mod secret;
mod segments;
mod sidecar;
mod status;
mod up;

use crate::cli::{
    CaCommand, Cli, Command, ConfigCommand, IdentityCommand, OauthClientCommand, OauthCommand,
    PolicyCommand, SegmentsCommand,
};
use std::process::ExitCode;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Operator(command) => operator::run(command),
        Command::Secret(command) => secret::run(command),
        Command::Up(args) => up::run(args),
        Command::Logs(command) => logs::run(command),
        Command::AuditLog(command) => logs::audit(command),
        Command::Gateway(args) => gateway::run(args),
        Command::Config(ConfigCommand::Check { file, json }) => config::check(&file, json),
        Command::Status(args) => status::run(args),
        Command::Identity(IdentityCommand::JoinToken(args)) => identity::join_token(args),
        Command::Identity(IdentityCommand::Revoke(args)) => identity::revoke(args),
        Command::Identity(IdentityCommand::List(args)) => identity::list(args),
        Command::Identity(IdentityCommand::Ca(CaCommand::Status(args))) => {
            identity::ca_status(args)
        }
        Command::Identity(IdentityCommand::Ca(CaCommand::Rollover(args))) => {
            identity::ca_rollover(args)
        }
        Command::Sidecar(args) => sidecar::run(*args),
        Command::Oauth(OauthCommand::Client(OauthClientCommand::Create(args))) => {
            oauth::create_client(args)
        }
        Command::Oauth(OauthCommand::Client(OauthClientCommand::List(args))) => {
            oauth::list_clients(args)
        }
        Command::Oauth(OauthCommand::Client(OauthClientCommand::Delete(args))) => {
            oauth::delete_client(args)
        }
        Command::Oauth(OauthCommand::RotateKeys(args)) => oauth::rotate_keys(args),
        Command::Policy(PolicyCommand::Validate(args)) => policy::validate(&args),
        Command::Policy(PolicyCommand::Test(args)) => policy::test(&args),
        Command::Policy(PolicyCommand::Explain(args)) => policy::explain(args),
        Command::Policy(PolicyCommand::Apply(args)) => policy::apply(args),
        Command::Policy(PolicyCommand::Diff(args)) => policy::diff(args),
        Command::Policy(PolicyCommand::History(args)) => policy::history(args),
        Command::Policy(PolicyCommand::DryRunReport(args)) => policy::dry_run_report(args),
        Command::Policy(PolicyCommand::DryRunStop(args)) => policy::dry_run_stop(args),
        Command::Segments(SegmentsCommand::Export(args)) => segments::export(&args),
    }
}

/// Waits for SIGTERM or SIGINT.
pub(crate) async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
