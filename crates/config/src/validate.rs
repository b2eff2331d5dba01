//! Semantic checks that serde cannot express: references, uniqueness, patterns and files.

use crate::error::ConfigError;
use crate::model::{
    CaConfig, Cluster, Config, JWT_ALGORITHMS, JwtAuth, MeshTarget, PolicyConfig, Route,
    UpstreamProtocol, http_token,
};
use std::collections::HashSet;

/// Every semantic problem of `config`, in field-path order.
pub fn check(config: &Config) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    let g = &config.gateway;

    let mut addrs = HashSet::new();
    addrs.insert(config.admin.listen);
    if !addrs.insert(config.control.listen) {
        errs.push(err(
            "control.listen",
            "address already used by `admin.listen`",
        ));
    }
    check_ca(&mut errs, &config.ca);
    if let Some(policy) = &config.policy {
        check_policy(&mut errs, policy);
    }
    if config.logs.checkpoint_every == 0 {
        errs.push(err("logs.checkpoint_every", "must be at least 1"));
    }
    if config.logs.spool.max_bytes.0 < 4 << 20 {
        errs.push(err("logs.spool.max_bytes", "must be at least 4MiB"));
    }
    if let Some(url) = &config.logs.url
        && !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
    {
        errs.push(err(
            "logs.url",
            "must start with `sqlite://` or `postgres://`",
        ));
    }
    if let Some(otlp) = &config.logs.otlp
        && !(otlp.endpoint.starts_with("http://") || otlp.endpoint.starts_with("https://"))
    {
        errs.push(err(
            "logs.otlp.endpoint",
            "must be an http:// or https:// URL",
        ));
    }
    if let Some(nats) = &config.logs.nats
        && !(nats.url.starts_with("nats://") || nats.url.starts_with("tls://"))
    {
        errs.push(err("logs.nats.url", "must be a nats:// or tls:// URL"));
    }
    if config.secrets.max_versions == 0 {
        errs.push(err("secrets.max_versions", "must be at least 1"));
    }
    if config.secrets.root_key_env.is_empty() {
        errs.push(err("secrets.root_key_env", "must not be empty"));
    }
    if let Some(audience) = &config.secrets.token_audience {
        check_token_audience(&mut errs, audience);
    }
    let mut names = HashSet::new();
    for (i, l) in g.listeners.iter().enumerate() {
        let at = format!("gateway.listeners[{i}]");
        if !names.insert(l.name.as_str()) {
            errs.push(err(
                &format!("{at}.name"),
                format!("duplicate listener `{}`", l.name),
            ));
        }
        if !addrs.insert(l.address) {
            errs.push(err(
                &format!("{at}.address"),
                format!("address `{}` is used twice", l.address),
            ));
        }
        if l.tls.is_some() && l.h2c {
            errs.push(err(
                &format!("{at}.h2c"),
                "h2c is for plaintext listeners; TLS listeners negotiate h2 by ALPN",
            ));
        }
        if l.mesh && l.tls.is_some() {
            errs.push(err(
                &format!("{at}.tls"),
                "a mesh listener does its own mutual TLS with the gateway's SVID; remove `tls`",
            ));
        }
        if l.mesh && l.h2c {
            errs.push(err(
                &format!("{at}.h2c"),
                "a mesh listener negotiates h2 by ALPN; remove `h2c`",
            ));
        }
        for (j, c) in l.tls.iter().flat_map(|t| t.certificates.iter()).enumerate() {
            file_exists(
                &mut errs,
                &format!("{at}.tls.certificates[{j}].cert"),
                &c.cert,
            );
            file_exists(
                &mut errs,
                &format!("{at}.tls.certificates[{j}].key"),
                &c.key,
            );
        }
    }
    if let Some(e) = &g.egress {
        if !addrs.insert(e.address) {
            errs.push(err(
                "gateway.egress.address",
                format!("address `{}` is used twice", e.address),
            ));
        }
        for (i, p) in e.allow.iter().enumerate() {
            if let Err(m) = check_host_pattern(p, true) {
                errs.push(err(&format!("gateway.egress.allow[{i}]"), m));
            }
        }
    }
    if g.limits.max_header_count == 0 {
        errs.push(err("gateway.limits.max_header_count", "must be at least 1"));
    }
    if g.limits.max_uri_bytes.0 < 16 {
        errs.push(err(
            "gateway.limits.max_uri_bytes",
            "must be at least 16 bytes",
        ));
    }
    if g.limits.max_header_bytes.0 < 1024 {
        errs.push(err(
            "gateway.limits.max_header_bytes",
            "must be at least 1KiB",
        ));
    }

    let mut clusters = HashSet::new();
    for (i, c) in g.clusters.iter().enumerate() {
        check_cluster(&mut errs, &format!("gateway.clusters[{i}]"), c);
        if !clusters.insert(c.name.as_str()) {
            errs.push(err(
                &format!("gateway.clusters[{i}].name"),
                format!("duplicate cluster `{}`", c.name),
            ));
        }
    }
    let mut routes = HashSet::new();
    for (i, r) in g.routes.iter().enumerate() {
        let at = format!("gateway.routes[{i}]");
        if !routes.insert(r.name.as_str()) {
            errs.push(err(
                &format!("{at}.name"),
                format!("duplicate route `{}`", r.name),
            ));
        }
        if !clusters.contains(r.cluster.as_str()) {
            errs.push(err(
                &format!("{at}.cluster"),
                format!("unknown cluster `{}`", r.cluster),
            ));
        }
        for (j, l) in r.listeners.iter().enumerate() {
            if !names.contains(l.as_str()) {
                errs.push(err(
                    &format!("{at}.listeners[{j}]"),
                    format!("unknown listener `{l}`"),
                ));
            }
        }
        check_route(&mut errs, &at, r);
    }
    check_overload_and_faults(&mut errs, g, &names, &routes);
    errs
}

fn check_cluster(errs: &mut Vec<ConfigError>, at: &str, c: &Cluster) {
    if c.name.is_empty() {
        errs.push(err(&format!("{at}.name"), "must not be empty"));
    }
    match (c.builtin.is_some(), c.endpoints.is_empty()) {
        (true, false) => errs.push(err(
            &format!("{at}.endpoints"),
            "a builtin cluster has no endpoints",
        )),
        // A mesh cluster without endpoints takes them from the mesh directory.
        (false, true) if c.mesh.is_none() => errs.push(err(
            &format!("{at}.endpoints"),
            "at least one endpoint is required",
        )),
        _ => {}
    }
    if let Some(m) = &c.mesh {
        check_mesh_target(errs, at, c, m);
    }
    for (i, e) in c.endpoints.iter().enumerate() {
        if let Err(m) = check_endpoint(e) {
            errs.push(err(&format!("{at}.endpoints[{i}]"), m));
        }
    }
    if let Some(ca) = c.tls.as_ref().and_then(|t| t.ca.as_ref()) {
        file_exists(errs, &format!("{at}.tls.ca"), ca);
    }
    if let Some(r) = &c.resilience {
        check_resilience(errs, &format!("{at}.resilience"), r);
    }
}

fn check_resilience(errs: &mut Vec<ConfigError>, at: &str, r: &crate::ClusterResilience) {
    if let Some(t) = &r.retries {
        if t.attempts > 10 {
            errs.push(err(&format!("{at}.retries.attempts"), "at most 10"));
        }
        if !(0.0..=1.0).contains(&t.budget_ratio) {
            errs.push(err(
                &format!("{at}.retries.budget_ratio"),
                "must be within 0..=1",
            ));
        }
        if t.backoff.0 > t.max_backoff.0 {
            errs.push(err(
                &format!("{at}.retries.backoff"),
                "must not exceed max_backoff",
            ));
        }
    }
    if let Some(o) = &r.outlier {
        if o.consecutive_failures == 0 {
            errs.push(err(
                &format!("{at}.outlier.consecutive_failures"),
                "must be at least 1",
            ));
        }
        if o.max_ejection_percent > 100 {
            errs.push(err(
                &format!("{at}.outlier.max_ejection_percent"),
                "at most 100",
            ));
        }
        if o.base_ejection.0.is_zero() {
            errs.push(err(
                &format!("{at}.outlier.base_ejection"),
                "must be positive",
            ));
        }
    }
    if let Some(c) = &r.circuit
        && (c.max_requests == 0 || c.max_pending == 0 || c.max_requests_per_endpoint == Some(0))
    {
        errs.push(err(&format!("{at}.circuit"), "limits must be at least 1"));
    }
    if let Some(h) = &r.health_check {
        if !h.path.starts_with('/') {
            errs.push(err(
                &format!("{at}.health_check.path"),
                "must start with `/`",
            ));
        }
        if h.interval.0.is_zero() || h.timeout.0.is_zero() {
            errs.push(err(
                &format!("{at}.health_check"),
                "interval and timeout must be positive",
            ));
        }
        if h.healthy == 0 || h.unhealthy == 0 {
            errs.push(err(
                &format!("{at}.health_check"),
                "healthy and unhealthy must be at least 1",
            ));
        }
    }
}

fn check_mesh_target(errs: &mut Vec<ConfigError>, at: &str, c: &Cluster, m: &MeshTarget) {
    if c.tls.is_some() {
        errs.push(err(
            &format!("{at}.tls"),
            "a mesh cluster uses mutual TLS with the gateway's SVID; remove `tls`",
        ));
    }
    if c.builtin.is_some() {
        errs.push(err(
            &format!("{at}.builtin"),
            "a mesh cluster reaches sidecars, not a builtin server",
        ));
    }
    if c.protocol != UpstreamProtocol::Http1 {
        errs.push(err(
            &format!("{at}.protocol"),
            "mesh clusters speak HTTP/1.1 to the target's sidecar",
        ));
    }
    for (field, value) in [("service", &m.service), ("namespace", &m.namespace)] {
        if let Err(m) = check_id_segment(value) {
            errs.push(err(&format!("{at}.mesh.{field}"), m));
        }
    }
}

/// One segment of a SPIFFE id path: letters, digits, `.`, `-`, `_`; not `.` or `..`.
fn check_id_segment(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s == "." || s == ".." {
        return Err(format!("`{s}` is not a valid name"));
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        Some(c) => Err(format!(
            "`{s}` contains `{c}`; use letters, digits, `.`, `-` and `_`"
        )),
        None => Ok(()),
    }
}

fn check_route(errs: &mut Vec<ConfigError>, at: &str, r: &Route) {
    let m = &r.matcher;
    let kinds = [
        m.path_prefix.is_some(),
        m.path_exact.is_some(),
        m.path_regex.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        errs.push(err(
            &format!("{at}.match"),
            "use only one of `path_prefix`, `path_exact`, `path_regex`",
        ));
    }
    for (k, p) in [
        ("path_prefix", &m.path_prefix),
        ("path_exact", &m.path_exact),
    ] {
        if let Some(p) = p
            && !p.starts_with('/')
        {
            errs.push(err(
                &format!("{at}.match.{k}"),
                format!("`{p}` must start with `/`"),
            ));
        }
    }
    if let Some(re) = &m.path_regex
        && let Err(e) = regex::Regex::new(re)
    {
        errs.push(err(
            &format!("{at}.match.path_regex"),
            format!("invalid regex: {e}"),
        ));
    }
    if let Some(h) = &m.host
        && let Err(e) = check_host_pattern(h, false)
    {
        errs.push(err(&format!("{at}.match.host"), e));
    }
    for (i, method) in m.methods.iter().enumerate() {
        if !http_token(method) || method.bytes().any(|b| b.is_ascii_lowercase()) {
            errs.push(err(
                &format!("{at}.match.methods[{i}]"),
                format!("`{method}` is not an upper-case HTTP method"),
            ));
        }
    }
    if let Some(p) = r.rewrite.as_ref().and_then(|w| w.path_prefix.as_ref())
        && !p.starts_with('/')
    {
        errs.push(err(
            &format!("{at}.rewrite.path_prefix"),
            format!("`{p}` must start with `/`"),
        ));
    }
    let h = &r.headers;
    for (field, names) in [
        ("request_add", h.request_add.keys().collect::<Vec<_>>()),
        ("request_remove", h.request_remove.iter().collect()),
        ("response_add", h.response_add.keys().collect()),
        ("response_remove", h.response_remove.iter().collect()),
    ] {
        for n in names {
            if !http_token(n) {
                errs.push(err(
                    &format!("{at}.headers.{field}"),
                    format!("`{n}` is not a valid header name"),
                ));
            }
        }
    }
    for (field, values) in [
        ("request_add", &h.request_add),
        ("response_add", &h.response_add),
    ] {
        for (n, v) in values {
            if v.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                errs.push(err(
                    &format!("{at}.headers.{field}.{n}"),
                    "value contains control characters",
                ));
            }
        }
    }
    if let Some(rl) = &r.rate_limit {
        if rl.requests_per_second == 0 {
            errs.push(err(
                &format!("{at}.rate_limit.requests_per_second"),
                "must be at least 1",
            ));
        }
        if rl.burst == Some(0) {
            errs.push(err(&format!("{at}.rate_limit.burst"), "must be at least 1"));
        }
    }
    if let Some(auth) = &r.auth {
        check_jwt(errs, &format!("{at}.auth.jwt"), &auth.jwt);
    }
}

/// Token validation settings: issuers over HTTPS, and an algorithm allow-list that never admits
/// `none` or HMAC (a public key used as an HMAC secret forges any token).
fn check_jwt(errs: &mut Vec<ConfigError>, at: &str, jwt: &JwtAuth) {
    if jwt.issuers.is_empty() {
        errs.push(err(
            &format!("{at}.issuers"),
            "at least one issuer is required",
        ));
    }
    let mut seen = HashSet::new();
    for (i, iss) in jwt.issuers.iter().enumerate() {
        let at = format!("{at}.issuers[{i}]");
        if !seen.insert(iss.issuer.as_str()) {
            errs.push(err(
                &format!("{at}.issuer"),
                format!("duplicate issuer `{}`", iss.issuer),
            ));
        }
        for (field, url) in [
            ("issuer", Some(&iss.issuer)),
            ("jwks_uri", iss.jwks_uri.as_ref()),
        ] {
            if let Some(url) = url
                && !is_https_url(url)
            {
                errs.push(err(
                    &format!("{at}.{field}"),
                    format!("`{url}` must be an `https://` URL"),
                ));
            }
        }
        if let Some(ca) = &iss.ca {
            file_exists(errs, &format!("{at}.ca"), ca);
        }
        if let Some(intro) = &iss.introspection {
            file_exists(
                errs,
                &format!("{at}.introspection.client_secret_file"),
                &intro.client_secret_file,
            );
            if intro.client_id.is_empty() {
                errs.push(err(
                    &format!("{at}.introspection.client_id"),
                    "a client id is required",
                ));
            }
            if let Some(url) = &intro.endpoint
                && !is_https_url(url)
            {
                errs.push(err(
                    &format!("{at}.introspection.endpoint"),
                    format!("`{url}` must be an `https://` URL"),
                ));
            }
        }
        if iss.algorithms.is_empty() {
            errs.push(err(
                &format!("{at}.algorithms"),
                "at least one algorithm is required",
            ));
        }
        for (j, alg) in iss.algorithms.iter().enumerate() {
            if alg.eq_ignore_ascii_case("none") || alg.to_ascii_uppercase().starts_with("HS") {
                errs.push(err(
                    &format!("{at}.algorithms[{j}]"),
                    format!("`{alg}` is never accepted: tokens must carry a public-key signature"),
                ));
            } else if !JWT_ALGORITHMS.contains(&alg.as_str()) {
                errs.push(err(
                    &format!("{at}.algorithms[{j}]"),
                    format!(
                        "unknown algorithm `{alg}` (expected one of {})",
                        JWT_ALGORITHMS.join(", ")
                    ),
                ));
            }
        }
    }
    if jwt.max_token_bytes.is_some_and(|b| b.0 < 64) {
        errs.push(err(
            &format!("{at}.max_token_bytes"),
            "must be at least 64 bytes",
        ));
    }
}

/// `https://host[:port][/path]` with a host.
fn is_https_url(url: &str) -> bool {
    url.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains(['@', ' ']) && !rest.contains(['?', '#', ' '])
    })
}

/// `host[:port]` of an upstream endpoint.
fn check_endpoint(e: &str) -> Result<(), String> {
    let (host, port) = e
        .rsplit_once(':')
        .ok_or_else(|| format!("`{e}` must be `host:port`"))?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{e}` has an invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(format!("`{e}` has an invalid host"));
    }
    Ok(())
}

/// `name`, `*.name`, with an optional `:port` when `port_ok`.
fn check_host_pattern(p: &str, port_ok: bool) -> Result<(), String> {
    let host = match p.rsplit_once(':') {
        Some((h, port)) if port_ok && !h.contains(':') => {
            port.parse::<u16>()
                .map_err(|_| format!("`{p}` has an invalid port"))?;
            h
        }
        _ => p,
    };
    let name = host.strip_prefix("*.").unwrap_or(host);
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok || name.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("`{p}` is not a host name or `*.domain` pattern"))
    }
}

/// The shortest and longest SVID lifetimes accepted: renewal happens at half-life, so a
/// minute leaves 30 s between renewals; beyond a day a stolen SVID lives too long.
const MIN_SVID_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const MAX_SVID_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

fn check_ca(errs: &mut Vec<ConfigError>, ca: &CaConfig) {
    let td = &ca.trust_domain;
    // SPIFFE: lowercase letters, digits, `.`, `-`, `_`; at most 255 bytes.
    let ok = !td.is_empty()
        && td.len() <= 255
        && td.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        });
    if !ok {
        errs.push(err(
            "ca.trust_domain",
            format!(
                "`{td}` is not a SPIFFE trust domain (lowercase letters, digits, `.`, `-`, `_`)"
            ),
        ));
    }
    if ca.svid_ttl.0 < MIN_SVID_TTL || ca.svid_ttl.0 > MAX_SVID_TTL {
        errs.push(err("ca.svid_ttl", "must be between 1m and 24h"));
    }
    if let Some(upstream) = &ca.upstream {
        file_exists(errs, "ca.upstream.cert", &upstream.cert);
        file_exists(errs, "ca.upstream.key", &upstream.key);
    }
}

fn file_exists(errs: &mut Vec<ConfigError>, at: &str, path: &std::path::Path) {
    if !path.is_file() {
        errs.push(err(at, format!("file `{}` does not exist", path.display())));
    }
}

fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(path, message)
}

/// The longest `secrets.token_audience`: the longest `audience` a client can be registered
/// with, so that a client can default to it.
const MAX_TOKEN_AUDIENCE: usize = 512;

/// `secrets.token_audience`: an exact string a token's `aud` can carry.
fn check_token_audience(errs: &mut Vec<ConfigError>, audience: &str) {
    let at = "secrets.token_audience";
    if audience.is_empty() || audience.chars().count() > MAX_TOKEN_AUDIENCE {
        errs.push(err(
            at,
            format!(
                "must be 1 to {MAX_TOKEN_AUDIENCE} characters (omit it for `<issuer>/v1/secret`)"
            ),
        ));
    } else if audience
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        errs.push(err(at, "must not contain whitespace or control characters"));
    }
}

/// Segment names, unique service assignment, flows between declared segments, known actions.
/// (The Cedar text itself is checked by `rampart-policy` when the set is compiled.)
fn check_policy(errs: &mut Vec<ConfigError>, p: &PolicyConfig) {
    const ACTIONS: &[&str] = &[
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "read_secret",
        "write_secret",
        "admin",
    ];
    let valid = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if let Some(dir) = &p.dir
        && !dir.is_dir()
    {
        errs.push(err(
            "policy.dir",
            format!("`{}` is not a directory", dir.display()),
        ));
    }
    let mut owner: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for (name, seg) in &p.segments {
        if !valid(name) {
            errs.push(err(
                &format!("policy.segments.{name}"),
                "segment names are lowercase letters, digits, `-` and `_`",
            ));
        }
        for (i, service) in seg.services.iter().enumerate() {
            if service.is_empty() {
                errs.push(err(
                    &format!("policy.segments.{name}.services[{i}]"),
                    "must not be empty",
                ));
            } else if let Some(first) = owner.insert(service, name) {
                errs.push(err(
                    &format!("policy.segments.{name}.services[{i}]"),
                    format!("service `{service}` is already in segment `{first}`"),
                ));
            }
        }
    }
    for (i, f) in p.flows.iter().enumerate() {
        for (field, seg) in [("from", &f.from), ("to", &f.to)] {
            if !p.segments.contains_key(seg) {
                errs.push(err(
                    &format!("policy.flows[{i}].{field}"),
                    format!("unknown segment `{seg}`"),
                ));
            }
        }
        for (j, a) in f.actions.iter().flatten().enumerate() {
            if !ACTIONS.contains(&a.as_str()) {
                errs.push(err(
                    &format!("policy.flows[{i}].actions[{j}]"),
                    format!("unknown action `{a}` (one of {})", ACTIONS.join(", ")),
                ));
            }
        }
    }
}

/// `gateway.overload` and `gateway.faults`: known names, sane bounds, and the danger flag.
fn check_overload_and_faults(
    errs: &mut Vec<ConfigError>,
    g: &crate::model::GatewayConfig,
    listeners: &HashSet<&str>,
    routes: &HashSet<&str>,
) {
    let o = &g.overload;
    let zero = |v: Option<u32>| v == Some(0);
    for (key, v) in [
        ("max_connections", o.max_connections),
        ("max_connections_per_ip", o.max_connections_per_ip),
        ("max_concurrent_requests", o.max_concurrent_requests),
    ] {
        if zero(v) {
            errs.push(err(
                &format!("gateway.overload.{key}"),
                "must be at least 1 (leave it out for no bound)",
            ));
        }
    }
    for (name, l) in &o.listeners {
        let at = format!("gateway.overload.listeners.{name}");
        if !listeners.contains(name.as_str()) {
            errs.push(err(&at, format!("unknown listener `{name}`")));
        }
        if zero(l.max_connections) || zero(l.max_connections_per_ip) {
            errs.push(err(&at, "limits must be at least 1"));
        }
    }
    let Some(f) = &g.faults else {
        return;
    };
    if !f.danger {
        errs.push(err(
            "gateway.faults.danger",
            "fault injection breaks requests on purpose: set `danger: true` to enable it, \
             or remove the `faults` section",
        ));
    }
    for (i, r) in f.routes.iter().enumerate() {
        let at = format!("gateway.faults.routes[{i}]");
        if !routes.contains(r.route.as_str()) {
            errs.push(err(
                &format!("{at}.route"),
                format!("unknown route `{}`", r.route),
            ));
        }
        if r.delay_percent.is_some_and(|p| p > 100) || r.abort_percent.is_some_and(|p| p > 100) {
            errs.push(err(&at, "percentages must be between 0 and 100"));
        }
        if r.abort_status.is_some_and(|s| !(400..=599).contains(&s)) {
            errs.push(err(&format!("{at}.abort_status"), "must be 400–599"));
        }
        if r.abort_percent.is_some() && r.abort_status.is_none() {
            errs.push(err(&at, "`abort_percent` needs `abort_status`"));
        }
        if r.delay_percent.is_some() && r.delay.is_none() {
            errs.push(err(&at, "`delay_percent` needs `delay`"));
        }
    }
}
