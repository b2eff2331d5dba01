//! Installing authorization policy sets into a gateway: compiled off the async threads, swapped
//! in atomically, and refused (the previous set keeps enforcing) when they do not compile.

use rampart_config::Config;
use rampart_policy::{Distribution, PolicyRelease, PolicySource};
use rampart_proxy::{GatewayHandle, PolicyState};

/// The distribution a standalone gateway runs from its configuration's `policy` section
/// (version 0: not from a control plane's history); authorization off without the section.
pub fn from_config(config: &Config) -> anyhow::Result<Distribution> {
    let Some(section) = &config.policy else {
        return Ok(Distribution::default());
    };
    let source = PolicySource::from_config(section)?;
    Ok(Distribution {
        enforced: Some(PolicyRelease {
            version: 0,
            digest: source.digest(),
            source,
        }),
        shadow: None,
    })
}

/// Compiles `distribution` on the blocking pool (a large set takes a while to validate).
pub async fn compile(distribution: Distribution) -> anyhow::Result<PolicyState> {
    let compiled = tokio::task::spawn_blocking(move || PolicyState::compile(&distribution)).await?;
    Ok(compiled?)
}

/// Compiles and installs `distribution`; on failure the gateway keeps the set it has.
pub async fn install(gateway: &GatewayHandle, distribution: Distribution) -> anyhow::Result<()> {
    let version = distribution.enforced.as_ref().map(|r| r.version);
    let state = compile(distribution).await?;
    gateway.set_policy(state);
    tracing::info!(version = ?version, "policy set installed");
    Ok(())
}
