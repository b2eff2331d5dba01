//! `rampart gateway --config FILE`: the data plane alone, and the reload loop shared with `up`.

use crate::cli::GatewayArgs;
use crate::output::say;
use anyhow::Context;
use rampart_config::Config;
use rampart_control::api::{Heartbeat, ProxyKind};
use rampart_events::EventBus;
use rampart_identity::LocalCa;
use rampart_proxy::{Gateway, GatewayHandle, GatewayOptions};
use rampart_store::{ConfigVersion, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn run(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let config = rampart_config::from_file(&args.config)?;
    let rt = crate::runtime::build(config.gateway.workers)?;
    rt.block_on(async move {
        let local_ca = match &args.data_dir {
            Some(dir) => Some(Arc::new(LocalCa::load_or_create(dir).context("cannot open the local CA")?)),
            None => None,
        };
        let bus = EventBus::default();
        let options = GatewayOptions { name: args.name.clone(), bus, local_ca, mesh: None };
        // The configuration's policy set (if any) is compiled first and installed before the
        // listeners accept.
        let policy = crate::policy_install::from_config(&config)?;
        let policy = crate::policy_install::compile(policy)
            .await
            .context("the configuration's policy set does not compile")?;
        let gateway = Gateway::start_with_policy(&config, options, policy).await?;
        // Watch the file before saying we are up: a change right after is not missed.
        let mut triggers = crate::reload::triggers(Some(&args.config))?;
        print_listeners(&gateway, None);
        let heartbeat = match &args.control {
            Some(url) => Some(tokio::spawn(heartbeats(
                super::status::client(url, &args.auth)?,
                args.name.clone(),
                listen_summary(&gateway),
                gateway_version(&gateway),
            ))),
            None => None,
        };
        let drain = config.gateway.timeouts.drain.0;
        loop {
            tokio::select! {
                _ = super::terminated() => break,
                Some(cause) = triggers.rx.recv() => reload(&gateway, &args.config, cause, None, None, PolicyFrom::Config).await,
            }
        }
        tracing::info!(deadline = ?drain, "draining");
        if let Some(h) = heartbeat {
            h.abort();
        }
        gateway.shutdown(drain).await;
        Ok(ExitCode::SUCCESS)
    })
}

fn gateway_version(g: &GatewayHandle) -> Arc<std::sync::atomic::AtomicU64> {
    Arc::new(std::sync::atomic::AtomicU64::new(g.config_version()))
}

/// Reloads `file` into the gateway; a bad file is refused and the old config keeps serving.
/// For `rampart up`: route token issuers that are this process's own control plane and name
/// no `ca` trust the local CA (`ca`, the file that signed the control plane's certificate),
/// instead of the system roots, which do not know it.
#[derive(Clone, Copy, Debug)]
pub struct OwnIssuer<'a> {
    pub issuer: &'a str,
    pub ca: &'a Path,
}

impl OwnIssuer<'_> {
    pub fn apply(&self, config: &mut Config) {
        let own = self.issuer.trim_end_matches('/');
        let issuers = config
            .gateway
            .routes
            .iter_mut()
            .filter_map(|r| r.auth.as_mut())
            .flat_map(|a| a.jwt.issuers.iter_mut());
        for issuer in issuers {
            if issuer.ca.is_none() && issuer.issuer.trim_end_matches('/') == own {
                issuer.ca = Some(self.ca.to_owned());
            }
        }
    }
}

/// Where a gateway's policy set comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyFrom {
    /// The configuration's `policy` section, recompiled on every reload (standalone gateway).
    Config,
    /// The control plane's distribution (`rampart up`); reloads leave it alone.
    ControlPlane,
}

pub async fn reload(
    gateway: &GatewayHandle,
    file: &Path,
    cause: &str,
    store: Option<&Store>,
    own: Option<OwnIssuer<'_>>,
    policy: PolicyFrom,
) {
    let loaded = rampart_config::from_file(file)
        .map(|mut c| {
            if let Some(own) = own {
                own.apply(&mut c);
            }
            c
        })
        .map_err(|e| e.to_string());
    let result = match loaded {
        Ok(c) => apply(gateway, &c, policy).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(v) => tracing::info!(%cause, version = v, "configuration reloaded"),
        Err(e) => {
            tracing::error!(%cause, error = %e, "configuration refused; the previous one keeps serving")
        }
    }
    if let Some(store) = store {
        let text = std::fs::read(file).unwrap_or_default();
        let hash =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text).as_ref());
        let record = ConfigVersion {
            id: 0,
            hash,
            source: file.display().to_string(),
            applied_at: SystemTime::now(),
            accepted: result.is_ok(),
            error: result.err(),
        };
        if let Err(e) = store.record_config_version(&record).await {
            tracing::warn!(error = %e, "cannot record the configuration version");
        }
    }
}

/// Applies a loaded configuration: its policy set is compiled first, and a set that does not
/// compile refuses the whole reload (the old configuration and the old set keep serving).
async fn apply(
    gateway: &GatewayHandle,
    config: &Config,
    policy: PolicyFrom,
) -> Result<u64, String> {
    let state = match policy {
        PolicyFrom::ControlPlane => None,
        PolicyFrom::Config => {
            let compiled = match crate::policy_install::from_config(config) {
                Ok(d) => crate::policy_install::compile(d).await,
                Err(e) => Err(e),
            };
            Some(compiled.map_err(|e| format!("the policy set does not compile: {e:#}"))?)
        }
    };
    let version = gateway.reload(config).map_err(|e| e.to_string())?;
    if let Some(state) = state {
        gateway.set_policy(state);
    }
    Ok(version)
}

/// Reports this gateway to a control plane until the task is aborted.
async fn heartbeats(
    client: rampart_control::ControlClient,
    name: String,
    address: String,
    version: Arc<std::sync::atomic::AtomicU64>,
) {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let id = format!("{name}@{}", std::process::id());
    let mut interval = Duration::from_secs(5);
    loop {
        let hb = Heartbeat {
            id: id.clone(),
            kind: ProxyKind::Gateway,
            name: name.clone(),
            version: rampart_core::VERSION.to_string(),
            address: address.clone(),
            config_version: version
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string(),
            started_at_ms: started,
        };
        match client.heartbeat(&hb).await {
            Ok(ack) => interval = Duration::from_millis((ack.ttl_ms / 3).max(1000)),
            Err(e) => tracing::warn!(error = %e, "cannot report to the control plane"),
        }
        tokio::time::sleep(interval).await;
    }
}

pub fn listen_summary(g: &GatewayHandle) -> String {
    g.listeners()
        .first()
        .map(|(_, a)| a.to_string())
        .unwrap_or_default()
}

/// Prints where the gateway listens.
pub fn print_listeners(g: &GatewayHandle, ca: Option<&Path>) {
    for (name, addr) in g.listeners() {
        let scheme = if g.is_tls(name) { "https" } else { "http" };
        say!("  gateway {name:<8} {scheme}://{addr}");
    }
    if let Some(e) = g.egress_addr() {
        say!("  egress           http://{e}   (HTTP proxy; CONNECT for https)");
    }
    say!(
        "  admin            http://{}/metrics  /healthz  /readyz",
        g.admin_addr()
    );
    if let Some(ca) = ca {
        say!(
            "  CA certificate   {}   (curl --cacert {} https://localhost:PORT/)",
            ca.display(),
            ca.display()
        );
    }
}

/// Loads the config given on the command line, or the embedded quickstart.
pub fn load_config(file: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match file {
        Some(f) => rampart_config::from_file(f)?,
        None => rampart_config::from_str(
            "examples/quickstart.yaml (embedded)",
            rampart_config::QUICKSTART,
        )?,
    })
}
