//! The `rampart` binary: parses the command line and hands over to one command module.

mod cli;
mod commands;
mod logging;
mod reload;
mod runtime;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.log);
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
