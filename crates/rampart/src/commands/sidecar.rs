//! `rampart sidecar`: a workload's sidecar, mTLS inbound to the app and outbound to the mesh.

use crate::cli::SidecarArgs;
use crate::output::say;
use anyhow::Context;
use rampart_core::Sensitive;
use rampart_mesh::{Origin, Sidecar, SidecarHandle, SidecarOptions, Workload};
use std::process::ExitCode;

pub fn run(args: SidecarArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(args.workers)?;
    rt.block_on(async move {
        let drain = args.drain;
        let options = options(args);
        let sidecar = Sidecar::start(options)
            .await
            .context("cannot start the sidecar")?;
        print_sidecar(&sidecar);
        super::terminated().await;
        tracing::info!(deadline = ?drain, "draining");
        sidecar.shutdown(drain).await;
        Ok(ExitCode::SUCCESS)
    })
}

fn options(args: SidecarArgs) -> SidecarOptions {
    let mut options = SidecarOptions::new(&args.service, &args.app, &args.control);
    options.workload = Workload {
        service: args.service,
        namespace: args.namespace,
    };
    options.join_token = args
        .join_token
        .map(|t| Sensitive::new(t.0))
        .filter(|t| !t.expose().is_empty());
    options.inbound = args.inbound;
    options.outbound = args.outbound;
    options.admin = args.admin;
    options.advertise = args.advertise;
    if let Some(dir) = args.data_dir {
        options.data_dir = dir;
    }
    options
}

/// Prints the identity and where the sidecar listens.
fn print_sidecar(s: &SidecarHandle) {
    let origin = match s.origin() {
        Origin::Persisted => "resumed from",
        Origin::JoinToken => "issued for the join token, kept in",
    };
    say!("Rampart sidecar {} is up", rampart_core::VERSION);
    say!("  identity         {}", s.spiffe_id());
    say!(
        "  SVID             serial {} ({origin} {})",
        s.serial(),
        s.data_dir().display()
    );
    if let Some(a) = s.inbound_addr() {
        say!(
            "  inbound          mtls://{a}   (registered as {})",
            s.advertised()
        );
    }
    if let Some(a) = s.outbound_addr() {
        say!("  outbound         http://{a}   (Host: <service>[.<namespace>])");
    }
    say!(
        "  admin            http://{}/metrics  /healthz  /readyz",
        s.admin_addr()
    );
}
