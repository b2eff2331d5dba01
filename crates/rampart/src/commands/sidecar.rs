//! `rampart sidecar`: a workload's sidecar, mTLS inbound to the app and outbound to the mesh.

use crate::cli::{SidecarArgs, SpoolFullArg};
use crate::output::say;
use anyhow::Context;
use rampart_core::Sensitive;
use rampart_mesh::{
    EventShipping, Origin, Sidecar, SidecarHandle, SidecarOptions, Workload, inbound_jwt,
};
use std::process::ExitCode;

pub fn run(args: SidecarArgs) -> anyhow::Result<ExitCode> {
    let rt = crate::runtime::build(args.workers)?;
    rt.block_on(async move {
        let drain = args.drain;
        let access_log = args.access_log.clone();
        let options = options(args);
        let _sink = match &access_log {
            Some(path) => Some(
                rampart_events::JsonLinesSink::spawn(&options.bus, path)
                    .await
                    .with_context(|| format!("cannot open the access log `{}`", path.display()))?,
            ),
            None => None,
        };
        let token_issuer = options
            .inbound_jwt
            .as_ref()
            .and_then(|j| j.issuers.first())
            .map(|i| i.issuer.clone());
        let sidecar = Sidecar::start(options)
            .await
            .context("cannot start the sidecar")?;
        print_sidecar(&sidecar, token_issuer.as_deref());
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
    options.inbound_jwt = args
        .jwt_issuer
        .map(|issuer| inbound_jwt(&issuer, args.jwt_ca, args.jwt_audience, args.jwt_scope));
    options.events = EventShipping {
        spool: rampart_config::SpoolConfig {
            dir: None,
            max_bytes: rampart_config::ByteSize(args.spool_max),
            when_full: match args.spool_when_full {
                SpoolFullArg::Block => rampart_config::WhenFull::Block,
                SpoolFullArg::DropOldest => rampart_config::WhenFull::DropOldest,
            },
        },
        nats: args.events_nats.map(|url| (url, args.events_stream)),
    };
    options
}

/// Prints the identity and where the sidecar listens.
fn print_sidecar(s: &SidecarHandle, token_issuer: Option<&str>) {
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
    if let Some(issuer) = token_issuer {
        say!("  inbound tokens   bearer JWT of {issuer} required");
    }
    if let Some(a) = s.outbound_addr() {
        say!("  outbound         http://{a}   (Host: <service>[.<namespace>])");
    }
    say!(
        "  admin            http://{}/metrics  /healthz  /readyz",
        s.admin_addr()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    fn parse(extra: &[&str]) -> SidecarOptions {
        let mut argv = vec![
            "rampart",
            "sidecar",
            "--service",
            "orders",
            "--app",
            "127.0.0.1:8080",
        ];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Sidecar(args) => options(*args),
            _ => panic!("not the sidecar command"),
        }
    }

    #[test]
    fn jwt_flags_guard_the_inbound_route() {
        assert!(parse(&[]).inbound_jwt.is_none());
        let o = parse(&[
            "--jwt-issuer",
            "https://127.0.0.1:7400",
            "--jwt-ca",
            "ca.pem",
            "--jwt-audience",
            "orders",
            "--jwt-audience",
            "orders-internal",
            "--jwt-scope",
            "orders.read",
        ]);
        let jwt = o.inbound_jwt.unwrap();
        assert_eq!(jwt.issuers[0].issuer, "https://127.0.0.1:7400");
        assert_eq!(
            jwt.issuers[0].ca.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        assert_eq!(jwt.audiences, ["orders", "orders-internal"]);
        assert_eq!(jwt.scopes, ["orders.read"]);
        let without_issuer = [
            "rampart",
            "sidecar",
            "--service",
            "a",
            "--app",
            "x:1",
            "--jwt-scope",
            "s",
        ];
        assert!(
            Cli::try_parse_from(without_issuer).is_err(),
            "--jwt-scope needs --jwt-issuer"
        );
    }
}
