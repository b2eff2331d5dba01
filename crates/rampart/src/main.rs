//! The `rampart` binary: parses the command line and hands over to one command module.

mod cli;
mod commands;
mod logging;
mod output;
mod policy_install;
mod reload;
mod runtime;

use clap::Parser;

// The proxy allocates small, short-lived buffers per request; mimalloc handles that pattern
// with less CPU than the system allocator (measured in bench/gateway.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.log);
    // The event pipeline's metrics, shown by every gateway's `/metrics` after its own.
    rampart_proxy::install_process_metrics();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
