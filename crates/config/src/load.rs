//! Loading: YAML text → [`Config`], collecting every error with its field path.
//!
//! serde stops at the first error, so each section and each list item is deserialized on its
//! own; one bad route does not hide the next one's problems.

use crate::error::{ConfigError, ConfigErrors};
use crate::model::{Config, GatewayConfig};
use crate::validate;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};
use std::path::Path;

/// The embedded default configuration (`examples/quickstart.yaml`).
pub const QUICKSTART: &str = include_str!("../../../examples/quickstart.yaml");

const TOP_KEYS: &[&str] = &[
    "admin", "control", "ca", "store", "oauth", "gateway", "policy", "secrets", "logs",
];
const GATEWAY_KEYS: &[&str] = &[
    "workers",
    "listeners",
    "limits",
    "timeouts",
    "trusted_proxies",
    "access_log",
    "egress",
    "clusters",
    "routes",
    "overload",
    "faults",
];

/// Reads and checks a configuration file. Relative file paths inside it are resolved against
/// the file's directory.
pub fn from_file(path: &Path) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        source_name: name.clone(),
        errors: vec![ConfigError::new("", format!("cannot read file: {e}"))],
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    let (mut config, errors) = parse(&name, &text)?;
    if let Some(base) = base {
        resolve_paths(&mut config, base);
    }
    finish(name, config, errors)
}

/// Parses and checks configuration text; `source_name` names it in errors. Relative paths are
/// left relative to the working directory.
pub fn from_str(source_name: &str, text: &str) -> Result<Config, ConfigErrors> {
    let (config, errors) = parse(source_name, text)?;
    finish(source_name.to_string(), config, errors)
}

/// Adds the semantic errors (of what did parse) to the parse errors, so one run reports both.
fn finish(
    source_name: String,
    config: Config,
    mut errors: Vec<ConfigError>,
) -> Result<Config, ConfigErrors> {
    errors.extend(validate::check(&config));
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors {
            source_name,
            errors,
        })
    }
}

/// The parts that parsed and the errors of those that did not; only unreadable YAML fails
/// outright.
fn parse(source_name: &str, text: &str) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let fail = |errors| ConfigErrors {
        source_name: source_name.to_string(),
        errors,
    };
    let root: Value = serde_norway::from_str(text)
        .map_err(|e| fail(vec![ConfigError::new("", format!("invalid YAML: {e}"))]))?;
    let root = match root {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => {
            return Err(fail(vec![ConfigError::new(
                "",
                "expected a mapping at the top level",
            )]));
        }
    };
    let mut p = Parser::default();
    p.unknown_keys(&root, "", TOP_KEYS);
    let mut config = Config {
        admin: p.field(&root, "", "admin").unwrap_or_default(),
        control: p.field(&root, "", "control").unwrap_or_default(),
        ca: p.field(&root, "", "ca").unwrap_or_default(),
        store: p.field(&root, "", "store").unwrap_or_default(),
        oauth: p.field(&root, "", "oauth").unwrap_or_default(),
        gateway: GatewayConfig::default(),
        policy: p.field(&root, "", "policy"),
        secrets: p.field(&root, "", "secrets").unwrap_or_default(),
        logs: p.field(&root, "", "logs").unwrap_or_default(),
    };
    match root.get("gateway") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(g)) => config.gateway = p.gateway(g),
        Some(_) => p.error("gateway", "expected a mapping"),
    }
    Ok((config, p.errors))
}

fn resolve_paths(config: &mut Config, base: &Path) {
    let fix = |p: &mut std::path::PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    for l in &mut config.gateway.listeners {
        for c in l.tls.iter_mut().flat_map(|t| t.certificates.iter_mut()) {
            fix(&mut c.cert);
            fix(&mut c.key);
        }
    }
    for c in &mut config.gateway.clusters {
        if let Some(ca) = c.tls.as_mut().and_then(|t| t.ca.as_mut()) {
            fix(ca);
        }
    }
    for r in &mut config.gateway.routes {
        for i in r.auth.iter_mut().flat_map(|a| a.jwt.issuers.iter_mut()) {
            if let Some(ca) = i.ca.as_mut() {
                fix(ca);
            }
            if let Some(intro) = i.introspection.as_mut() {
                fix(&mut intro.client_secret_file);
            }
        }
    }
    if let Some(log) = config.gateway.access_log.as_mut() {
        fix(log);
    }
    if let Some(upstream) = config.ca.upstream.as_mut() {
        fix(&mut upstream.cert);
        fix(&mut upstream.key);
    }
    if let Some(dir) = config.policy.as_mut().and_then(|p| p.dir.as_mut()) {
        fix(dir);
    }
}

#[derive(Default)]
struct Parser {
    errors: Vec<ConfigError>,
}

// === impl Parser ===

impl Parser {
    fn gateway(&mut self, g: &Mapping) -> GatewayConfig {
        let at = "gateway";
        self.unknown_keys(g, at, GATEWAY_KEYS);
        let d = GatewayConfig::default();
        GatewayConfig {
            workers: self.field(g, at, "workers").unwrap_or(d.workers),
            listeners: self.list(g, at, "listeners"),
            limits: self.field(g, at, "limits").unwrap_or(d.limits),
            timeouts: self.field(g, at, "timeouts").unwrap_or(d.timeouts),
            trusted_proxies: self.list(g, at, "trusted_proxies"),
            access_log: self.field(g, at, "access_log").unwrap_or_default(),
            egress: self.field(g, at, "egress").unwrap_or_default(),
            clusters: self.list(g, at, "clusters"),
            routes: self.list(g, at, "routes"),
            overload: self.field(g, at, "overload").unwrap_or(d.overload),
            faults: self.field(g, at, "faults").unwrap_or_default(),
        }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    fn unknown_keys(&mut self, map: &Mapping, at: &str, known: &[&str]) {
        for key in map.keys() {
            match key.as_str() {
                Some(k) if known.contains(&k) => {}
                Some(k) => self.error(
                    &join(at, k),
                    format!("unknown field `{k}`, expected one of {}", quoted(known)),
                ),
                None => self.error(at, "keys must be strings"),
            }
        }
    }

    /// Deserializes `map[key]`; `None` when absent/null or when it had errors (recorded).
    fn field<T: DeserializeOwned>(&mut self, map: &Mapping, at: &str, key: &str) -> Option<T> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.value(v.clone(), &join(at, key)),
        }
    }

    /// Deserializes each item of the list `map[key]` on its own.
    fn list<T: DeserializeOwned>(&mut self, map: &Mapping, at: &str, key: &str) -> Vec<T> {
        let path = join(at, key);
        match map.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| self.value(v.clone(), &format!("{path}[{i}]")))
                .collect(),
            Some(_) => {
                self.error(&path, "expected a list");
                Vec::new()
            }
        }
    }

    fn value<T: DeserializeOwned>(&mut self, v: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let full = if inner == "." || inner.is_empty() {
                    path.to_string()
                } else if inner.starts_with('[') {
                    format!("{path}{inner}")
                } else {
                    format!("{path}.{inner}")
                };
                self.error(&full, e.into_inner().to_string());
                None
            }
        }
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
