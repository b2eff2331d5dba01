//! `rampart up`: the control plane and a gateway in one process, on an embedded store.

use crate::cli::UpArgs;
use anyhow::Context;
use rampart_control::{AdminToken, ControlOptions, ControlPlane};
use rampart_core::spiffe::TrustDomain;
use rampart_events::EventBus;
use rampart_identity::{LocalCa, SniResolver};
use rampart_proxy::{Gateway, GatewayOptions, PolicyState};
use rampart_store::{ProxyRecord, Store};
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

mod event_log;
mod mesh_member;
mod policy_follower;

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let config = super::gateway::load_config(args.config.as_ref())?;
    let rt = crate::runtime::build(config.gateway.workers)?;
    rt.block_on(async move {
        let dir = &args.data_dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory `{}`", dir.display()))?;
        rampart_identity::install_default_provider();
        let store_url = config
            .store
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("rampart.db").display()));
        let store = Store::open(&store_url).await.context("cannot open the store")?;
        // The secrets store: auto-unsealed from its root key, or sealed until `rampart operator
        // unseal` (shamir). A wrong root key stops the start rather than serving sealed.
        let secrets = rampart_secrets::Secrets::open(store.clone(), &config.secrets, dir)
            .await
            .context("cannot open the secrets store")?;
        let ca = Arc::new(open_ca(dir, &config.ca, &secrets).await?);
        let token_path = dir.join("admin-token");
        let token = AdminToken::load_or_create(&token_path)?;
        let bus = EventBus::default();
        // The event log subscribes before anything publishes: start-up events are stored too.
        let (stop_events, events_stop) = tokio::sync::watch::channel(false);
        let event_log = event_log::start(dir, &config.logs, &bus, events_stop).await?;

        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        let ip = config.control.listen.ip();
        if !ip.is_unspecified() && !ip.is_loopback() {
            names.push(ip.to_string());
        }
        // The chain ends with the CA itself: workloads on first contact trust only the CA
        // whose fingerprint their join token pins, and find it in the chain.
        let control_cert = ca.issue_server_cert_with_root(&names)?;
        // SNI carries host names only; clients that connect by IP get the default certificate.
        let sni_names: Vec<String> = names.iter().filter(|n| n.parse::<std::net::IpAddr>().is_err()).cloned().collect();
        let resolver = Arc::new(SniResolver::new(vec![(sni_names, control_cert)])?);
        let trust_domain = TrustDomain::parse(&config.ca.trust_domain)?;
        // Client certificates are optional: workloads renew their SVIDs with them, everything
        // else authenticates with the admin token or a join token.
        let bundle = rampart_control::workload_bundle(&ca, &trust_domain)?.shared();
        let tls = Arc::new(rampart_identity::server_config_with_client_auth(
            resolver,
            rampart_control::server_alpn(),
            rampart_identity::SpiffeClientVerifier::optional(bundle.clone()),
        )?);
        let oauth = rampart_control::OAuthSettings {
            issuer: config.oauth.issuer.clone(),
            access_token_ttl: config.oauth.access_token_ttl.0,
            secrets_audience: config.secrets.token_audience.clone(),
        };
        // The configuration's `policy` section is seeded into the versioned history.
        let control = ControlPlane::start_with_secrets(ControlOptions {
            listen: config.control.listen,
            tls,
            token,
            store: store.clone(),
            bus: bus.clone(),
            proxy_ttl: config.control.proxy_ttl.0,
            version: rampart_core::VERSION.to_string(),
            trust_domain: trust_domain.clone(),
            ca: ca.clone(),
            ca_dir: Some(dir.join("ca-generations")),
            bundle,
            svid_ttl: config.ca.svid_ttl.0,
            workload_ttl: rampart_control::DEFAULT_WORKLOAD_TTL,
        }, rampart_control::Limits::default(), oauth, config.policy.clone(), Some(secrets.clone()))
        .await
        .context("cannot start the control plane")?;
        control.attach_event_log(event_log.clone());
        let control = Arc::new(control);
        let ca_file = dir.join(CA_FILE);
        let own = super::gateway::OwnIssuer { issuer: control.issuer(), ca: &ca_file };
        let mut config = config;
        own.apply(&mut config);

        // The gateway is a mesh member: its hops to services' sidecars use mTLS with its own SVID.
        let member = mesh_member::MeshMember::join(&control, &trust_domain).await?;
        // The control plane's policy set is compiled first and in force before the gateway's
        // listeners accept.
        let (sets, first_policy) = policy_follower::prepare(&control).await;
        let gateway = Gateway::start_with_policy(
            &config,
            GatewayOptions {
                name: "gateway".to_string(),
                bus: bus.clone(),
                local_ca: Some(ca.clone()),
                mesh: Some(member.context.clone()),
            },
            first_policy.unwrap_or_else(PolicyState::off),
        )
        .await
        .context("cannot start the gateway")?;
        let gateway = Arc::new(gateway);
        let policies = policy_follower::run(control.clone(), gateway.clone(), sets);
        let membership = member.run(control.clone(), gateway.clone());
        let now = SystemTime::now();
        let local = control
            .register_local(ProxyRecord {
                id: format!("gateway@{}", std::process::id()),
                kind: "gateway".to_string(),
                name: "gateway".to_string(),
                version: rampart_core::VERSION.to_string(),
                address: super::gateway::listen_summary(&gateway),
                config_version: gateway.config_version().to_string(),
                started_at: now,
                last_seen: now,
            })
            .await?;

        // Watch the file before saying we are up: a change right after is not missed.
        let mut triggers = crate::reload::triggers(args.config.as_deref())?;
        println!("Rampart {} is up (data in {})", rampart_core::VERSION, dir.display());
        super::gateway::print_listeners(&gateway, Some(&dir.join(CA_FILE)));
        println!("  control API      https://{}   (admin token in {})", control.local_addr(), token_path.display());
        println!("  secrets          {}", secrets_summary(&secrets.status()));
        if let Some((_, addr)) = gateway.listeners().iter().find(|(n, _)| !gateway.is_tls(n)) {
            println!("Try: curl http://{addr}/api/hello");
        }

        loop {
            tokio::select! {
                _ = super::terminated() => break,
                Some(cause) = triggers.rx.recv() => {
                    match &args.config {
                        Some(file) => super::gateway::reload(&gateway, file, cause, Some(&store), Some(own), super::gateway::PolicyFrom::ControlPlane).await,
                        None => tracing::info!(%cause, "running on the embedded configuration; nothing to reload"),
                    }
                    local.set_config_version(&gateway.config_version().to_string());
                }
            }
        }
        let drain = config.gateway.timeouts.drain.0;
        tracing::info!(deadline = ?drain, "draining");
        membership.abort();
        let _ = membership.await;
        policies.abort();
        let _ = policies.await;
        match Arc::try_unwrap(gateway) {
            Ok(gateway) => gateway.shutdown(drain).await,
            Err(_) => tracing::warn!("the gateway is still referenced; stopping without drain"),
        }
        let _ = local.deregister().await;
        match Arc::try_unwrap(control) {
            Ok(control) => control.shutdown().await,
            Err(_) => tracing::warn!("the control plane is still referenced; stopping at once"),
        }
        let _ = stop_events.send(true);
        drop(event_log);
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// One line on the secrets store's seal state for the start banner.
fn secrets_summary(status: &rampart_secrets::SealStatus) -> String {
    match (status.initialized, status.sealed) {
        (true, false) => format!("unsealed ({} seal)", status.seal_type),
        (true, true) => format!(
            "sealed: run `rampart operator unseal` with {} of {} shares",
            status.threshold, status.shares
        ),
        (false, _) => {
            "not initialized: run `rampart operator init`, then `rampart operator unseal`"
                .to_owned()
        }
    }
}

/// The platform-key name of the local root CA's private key in the secrets store.
const CA_KEY_NAME: &str = "local-ca/key";

/// The local root CA. When the secrets store is unsealed at start (`seal: auto`), its private
/// key lives there, encrypted (`sys/platform/local-ca/key`), and `ca-key.pem` is imported then
/// removed; a new CA never writes its key to disk. When it is sealed (`seal: shamir`) the key
/// stays in `ca-key.pem` (0600): the control plane must serve TLS, issued by this CA, before
/// anyone can send it the unseal shares (`docs/secrets.md`, "Platform keys").
async fn open_local_ca(
    dir: &std::path::Path,
    secrets: &rampart_secrets::Secrets,
) -> anyhow::Result<LocalCa> {
    let platform = secrets.platform();
    if !platform.is_unsealed() {
        return LocalCa::load_or_create(dir).context("cannot open the local CA");
    }
    let stored = platform
        .get(CA_KEY_NAME)
        .await
        .context("cannot read the local CA's key from the secrets store")?;
    if let Some(pem) = stored {
        let ca = LocalCa::load_with_key(dir, &pem)
            .context("cannot open the local CA with its key from the secrets store")?;
        // A key file left by an import interrupted after the store write.
        LocalCa::remove_key_file(dir).context("cannot remove the imported CA key file")?;
        return Ok(ca);
    }
    let ca = if LocalCa::has_cert(dir)? || LocalCa::key_file(dir).exists() {
        LocalCa::load_or_create(dir).context("cannot open the local CA")?
    } else {
        LocalCa::create_without_key_file(dir).context("cannot create the local CA")?
    };
    platform
        .put(CA_KEY_NAME, ca.key_pem().as_bytes())
        .await
        .context("cannot store the local CA's key in the secrets store")?;
    LocalCa::remove_key_file(dir).context("cannot remove the imported CA key file")?;
    tracing::info!("local CA key kept in the secrets store");
    Ok(ca)
}

/// The certificate clients of this control plane and gateway trust: the local root, or the
/// operator's root when Rampart runs an intermediate under it.
const CA_FILE: &str = "ca.pem";

/// The CA of `rampart up`: a root of its own in the data directory, or, with `ca.upstream`, an
/// intermediate (key generated here, in `intermediate-ca/`) signed by the operator's CA, whose
/// root is then written to `ca.pem` for clients to trust.
async fn open_ca(
    dir: &std::path::Path,
    config: &rampart_config::CaConfig,
    secrets: &rampart_secrets::Secrets,
) -> anyhow::Result<LocalCa> {
    let Some(upstream) = &config.upstream else {
        return open_local_ca(dir, secrets).await;
    };
    let own_key_stored = secrets.platform().is_unsealed()
        && secrets
            .platform()
            .get(CA_KEY_NAME)
            .await
            .ok()
            .flatten()
            .is_some();
    if dir.join("ca-key.pem").exists() || own_key_stored {
        anyhow::bail!(
            "`{}` holds a root CA of Rampart's own (ca-key.pem); with `ca.upstream` use a new data directory",
            dir.display()
        );
    }
    let ca = LocalCa::load_or_create_intermediate(
        &dir.join("intermediate-ca"),
        &upstream.cert,
        &upstream.key,
    )
    .with_context(|| {
        format!(
            "cannot run an intermediate CA under `{}`",
            upstream.cert.display()
        )
    })?;
    let root = dir.join(CA_FILE);
    std::fs::write(&root, ca.root_pem())
        .with_context(|| format!("cannot write the operator's root to `{}`", root.display()))?;
    Ok(ca)
}
