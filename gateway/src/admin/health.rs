//! `system health-check`: the reference's config report plus live checks.
//!
//! The report has the reference's shape, `{timestamp, status: "healthy"|"unhealthy", issues,
//! warnings, statistics: {total_projects, total_users, total_configs, total_api_keys,
//! disabled_api_keys}}`, and its checks, run on the raw document so that a config the gateway
//! would refuse still gets a report: the required sections, keys naming a missing project or
//! user, projects naming a missing user or mcp_config, duplicate emails (issues), duplicate
//! project and config names (warnings). Ours on top: every problem the gateway's validator finds
//! (an issue each, by JSON path), and, unless `offline`, live checks under `checks`:
//!
//! - `cache`: the external cache answers `PING`; or, for the embedded cache, the running
//!   gateway's cache answers on its RESP port (no gateway running is reported, not an issue);
//! - `upstreams`: every server of every mcp_config (one check per distinct definition) starts
//!   and lists its tools within `discovery_timeout`, all at once;
//! - `guardrails`: the remote guardrail API answers a PII-redaction call with the configured key
//!   within `guardrail_timeout` (when a key is configured).
//!
//! Invariants: every live check has a time limit; no gateway key appears (keys are shown as
//! their first four characters and `…`; the reference shows twenty), nor any password, header
//! or env value (upstream errors never carry them; URLs are masked).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::AdminError;
use crate::cache::Cache;
use crate::config::document::read_file;
use crate::config::{redact_key, ConfigDocument, GatewayConfig};
use crate::upstream::{NoHandler, RequestCtx, Upstream, UpstreamSpec};

/// Most `tools/list` pages read from one server.
const MAX_PAGES: usize = 100;

/// The health report of the config at `path` (see the module header). `Err` only when the file
/// cannot be read or is not a JSON object.
pub async fn health_check(path: &Path, offline: bool) -> Result<Value, AdminError> {
    let bytes = read_file(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| AdminError::Invalid(format!("{}: not UTF-8 text", path.display())))?;
    let doc = ConfigDocument::parse_str(text)
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", path.display())))?;
    let root = doc.root();

    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    static_checks(root, &mut issues, &mut warnings);
    let config = match doc.validate() {
        Ok(c) => Some(c),
        Err(v) => {
            for i in v.issues() {
                issues.push(format!("Invalid config: {i}"));
            }
            None
        }
    };

    let mut checks = Map::new();
    checks.insert(
        "config".into(),
        json!({ "valid": config.is_some(), "path": super::backup::absolute(path).display().to_string() }),
    );
    match (&config, offline) {
        (_, true) => {}
        (None, false) => warnings.push(
            "Live checks skipped: the gateway would refuse this config (see the issues)".into(),
        ),
        (Some(cfg), false) => {
            let (cache, upstreams, guard) = tokio::join!(
                check_cache(cfg),
                check_upstreams(cfg),
                check_guardrails(cfg)
            );
            for (name, c) in [
                ("cache", cache),
                ("upstreams", upstreams),
                ("guardrails", guard),
            ] {
                issues.extend(c.issues);
                warnings.extend(c.warnings);
                checks.insert(name.into(), c.value);
            }
        }
    }

    Ok(json!({
        "timestamp": crate::config::generate::now_iso8601(),
        "status": if issues.is_empty() { "healthy" } else { "unhealthy" },
        "issues": issues,
        "warnings": warnings,
        "statistics": statistics(root),
        "offline": offline,
        "checks": checks,
    }))
}

/// One live check's outcome.
struct Checked {
    value: Value,
    issues: Vec<String>,
    warnings: Vec<String>,
}

impl Checked {
    fn ok(value: Value) -> Checked {
        Checked {
            value,
            issues: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn issue(value: Value, issue: String) -> Checked {
        Checked {
            value,
            issues: vec![issue],
            warnings: Vec::new(),
        }
    }
}

fn obj<'a>(root: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    root.get(key).and_then(Value::as_object)
}

fn count(root: &Map<String, Value>, key: &str) -> usize {
    obj(root, key).map_or(0, Map::len)
}

/// The reference's counts.
fn statistics(root: &Map<String, Value>) -> Value {
    let disabled = super::key_entries(root)
        .filter(|k| k.get("disabled").is_some_and(truthy))
        .count();
    json!({
        "total_projects": count(root, "projects"),
        "total_users": count(root, "users"),
        "total_configs": count(root, "mcp_configs"),
        "total_api_keys": super::key_entries(root).count(),
        "disabled_api_keys": disabled,
    })
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "None".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The reference's checks on the raw document (see the module header).
fn static_checks(root: &Map<String, Value>, issues: &mut Vec<String>, warnings: &mut Vec<String>) {
    for section in ["common_mcp_gateway_config", "projects", "users", "apikeys"] {
        if !root.contains_key(section) {
            issues.push(format!(
                "Config structure: Missing required section: {section}"
            ));
        }
    }
    let ids = |key: &str| -> HashSet<&str> {
        obj(root, key)
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    };
    let projects = ids("projects");
    let users = ids("users");
    let mcp_configs = obj(root, "mcp_configs");

    let hashed = obj(root, crate::config::keystore::APIKEY_HASHES)
        .into_iter()
        .flatten()
        .map(|(id, e)| (format!("{}{id}_…", crate::config::keystore::KEY_PREFIX), e));
    let plain = obj(root, "apikeys")
        .into_iter()
        .flatten()
        .map(|(k, e)| (redact_key(k), e));
    for (shown_key, entry) in plain.chain(hashed) {
        let project = entry.get("project_id");
        if !project
            .and_then(Value::as_str)
            .is_some_and(|p| projects.contains(p))
        {
            issues.push(format!(
                "API key {shown_key} references non-existent project {}",
                shown(project)
            ));
        }
        let user = entry.get("user_id");
        if !user
            .and_then(Value::as_str)
            .is_some_and(|u| users.contains(u))
        {
            issues.push(format!(
                "API key {shown_key} references non-existent user {}",
                shown(user)
            ));
        }
    }

    for (id, p) in obj(root, "projects").into_iter().flatten() {
        let name = p.get("project_name").and_then(Value::as_str).unwrap_or(id);
        for u in p
            .get("users")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !u.as_str().is_some_and(|u| users.contains(u)) {
                issues.push(format!(
                    "Project {name} references non-existent user {}",
                    shown(Some(u))
                ));
            }
        }
        if let (Some(cid), Some(configs)) = (p.get("mcp_config_id"), mcp_configs) {
            let known = cid.as_str().is_some_and(|c| configs.contains_key(c));
            if truthy(cid) && !known {
                issues.push(format!(
                    "Project {name} references non-existent config {}",
                    shown(Some(cid))
                ));
            }
        }
    }

    let mut seen = HashSet::new();
    for u in obj(root, "users").into_iter().flatten().map(|(_, u)| u) {
        let email = shown(u.get("email"));
        if !seen.insert(email.clone()) {
            issues.push(format!("Duplicate email found: {email}"));
        }
    }
    let mut seen = HashSet::new();
    for p in obj(root, "projects").into_iter().flatten().map(|(_, p)| p) {
        let name = shown(p.get("project_name"));
        if !seen.insert(name.clone()) {
            warnings.push(format!("Duplicate project name found: {name}"));
        }
    }
    let mut seen = HashSet::new();
    for c in mcp_configs.into_iter().flatten().map(|(_, c)| c) {
        let name = shown(c.get("mcp_config_name"));
        if !seen.insert(name.clone()) {
            warnings.push(format!("Duplicate config name found: {name}"));
        }
    }
}

/// The cache: `PING` the external server, or the running gateway's embedded cache.
async fn check_cache(cfg: &GatewayConfig) -> Checked {
    // The cache the gateway would use: `ENKRYPT_CACHE_*` win over the file, as for `start`.
    let mut common = cfg.common.clone();
    if let Err(e) = crate::config::env::apply_cache_env(&mut common) {
        let value = json!({ "backend": "external", "status": "error", "detail": e });
        return Checked::issue(value, format!("Cache: {e}"));
    }
    let common = &common;
    let t = &common.timeouts;
    let limit = t.connectivity + t.cache + Duration::from_secs(1);
    if common.use_external_cache {
        let addr = format!("{}:{}", common.cache_host, common.cache_port);
        let value = |status: &str, detail: Option<String>| json!({ "backend": "external", "address": addr, "status": status, "detail": detail });
        let cache = Cache::connect_remote(common).await;
        let health = match cache {
            Ok(c) => {
                let h = tokio::time::timeout(limit, c.health()).await;
                c.shutdown().await;
                h
            }
            Err(e) => {
                return Checked::issue(
                    value("error", Some(e.to_string())),
                    format!("Cache: external cache at {addr}: {e}"),
                )
            }
        };
        return match health {
            Ok(h) if h.reachable => Checked::ok(value("ok", None)),
            Ok(h) => {
                let why = h.detail.unwrap_or_else(|| "no answer".into());
                Checked::issue(
                    value("unreachable", Some(why.clone())),
                    format!("Cache: external cache at {addr} does not answer PING: {why}"),
                )
            }
            Err(_) => Checked::issue(
                value("timeout", None),
                format!(
                    "Cache: external cache at {addr} did not answer PING within {} ms",
                    limit.as_millis()
                ),
            ),
        };
    }

    let port = common.embedded_cache_port;
    let addr = format!("127.0.0.1:{port}");
    let value = |status: &str, detail: Option<String>| json!({ "backend": "embedded", "address": addr, "status": status, "detail": detail });
    if port == 0 {
        return Checked::ok(value(
            "skipped",
            Some("enkrypt_embedded_cache_port is 0 (a free port at each start): the running gateway's cache cannot be found".into()),
        ));
    }
    match tokio::time::timeout(
        t.connectivity,
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        Ok(Ok(s)) => drop(s),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            let mut c = Checked::ok(value(
                "not_running",
                Some("no gateway is running here; the embedded cache runs inside the gateway and starts with it".into()),
            ));
            c.warnings.push(format!(
                "Cache: embedded, nothing listens on {addr}: no gateway running (not an error; the cache starts with the gateway)"
            ));
            return c;
        }
        Ok(Err(e)) => {
            return Checked::issue(
                value("unreachable", Some(e.to_string())),
                format!("Cache: embedded cache port {addr}: {e}"),
            )
        }
        Err(_) => {
            return Checked::issue(
                value("timeout", None),
                format!("Cache: embedded cache port {addr} did not accept a connection in time"),
            )
        }
    }
    let cache = match Cache::connect_remote(common).await {
        Ok(c) => c,
        Err(e) => {
            // Listening, but not reachable from here (no fixed password): say so, no issue.
            let mut c = Checked::ok(value("unverified", Some(e.to_string())));
            c.warnings.push(format!("Cache: {e}"));
            return c;
        }
    };
    let h = tokio::time::timeout(limit, cache.health()).await;
    cache.shutdown().await;
    match h {
        Ok(h) if h.reachable => Checked::ok(value("ok", None)),
        Ok(h) => {
            let why = h.detail.unwrap_or_else(|| "no answer".into());
            Checked::issue(
                value("unreachable", Some(why.clone())),
                format!("Cache: the program listening on {addr} does not answer the gateway's PING: {why}"),
            )
        }
        Err(_) => Checked::issue(
            value("timeout", None),
            format!(
                "Cache: {addr} did not answer PING within {} ms",
                limit.as_millis()
            ),
        ),
    }
}

/// Every distinct server definition, started and asked for its tools, all at once.
async fn check_upstreams(cfg: &GatewayConfig) -> Checked {
    let mut specs: Vec<(UpstreamSpec, Vec<String>)> = Vec::new();
    for (id, mc) in &cfg.mcp_configs {
        let cname = mc.name.clone().unwrap_or_else(|| id.clone());
        for server in &mc.servers {
            let spec = UpstreamSpec::from_server(server, &cfg.common.timeouts);
            let key = spec.pool_key();
            match specs.iter_mut().find(|(s, _)| s.pool_key() == key) {
                Some((_, names)) => names.push(cname.clone()),
                None => specs.push((spec, vec![cname.clone()])),
            }
        }
    }
    let results =
        futures_util::future::join_all(specs.into_iter().map(|(spec, configs)| async move {
            let name = spec.name.clone();
            let kind = spec.transport.kind();
            let limit = spec.timeouts.discovery;
            let started = Instant::now();
            let outcome = tokio::time::timeout(limit, list_tools(spec)).await;
            let ms = started.elapsed().as_millis() as u64;
            let (tools, error) = match outcome {
                Ok(Ok(n)) => (Some(n), None),
                Ok(Err(e)) => (None, Some(e)),
                Err(_) => (
                    None,
                    Some(format!(
                        "did not start and list its tools within discovery_timeout ({} s)",
                        limit.as_secs_f64()
                    )),
                ),
            };
            (name, configs, kind, tools, error, ms)
        }))
        .await;
    let mut out = Checked::ok(Value::Null);
    let mut list = Vec::new();
    for (name, configs, kind, tools, error, ms) in results {
        if let Some(e) = &error {
            out.issues.push(format!(
                "Upstream server `{name}` (config {}): {e}",
                configs.join(", ")
            ));
        }
        list.push(json!({
            "server": name,
            "configs": configs,
            "transport": kind,
            "ok": error.is_none(),
            "tools": tools,
            "elapsed_ms": ms,
            "error": error,
        }));
    }
    out.value = Value::Array(list);
    out
}

/// Starts the server, lists every page of its tools, closes the session.
async fn list_tools(spec: UpstreamSpec) -> Result<usize, String> {
    let up = Upstream::connect(spec, Arc::new(NoHandler))
        .await
        .map_err(|e| e.to_string())?;
    let mut tools = 0;
    let mut cursor: Option<String> = None;
    let mut result = Ok(());
    for _ in 0..MAX_PAGES {
        let params = cursor.take().map(|c| json!({ "cursor": c }));
        match up
            .request("tools/list", params, RequestCtx::default())
            .await
        {
            Ok(r) => {
                tools += r.get("tools").and_then(Value::as_array).map_or(0, Vec::len);
                match r.get("nextCursor").and_then(Value::as_str) {
                    Some(c) if !c.is_empty() => cursor = Some(c.to_string()),
                    _ => break,
                }
            }
            Err(e) => {
                result = Err(format!("tools/list failed: {e}"));
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), up.close()).await;
    result.map(|()| tools)
}

/// The remote guardrail API, when a key is configured: one PII-redaction call.
async fn check_guardrails(cfg: &GatewayConfig) -> Checked {
    use crate::guard::remote::{RemoteProvider, RemoteSettings};
    let g = &cfg.guardrails;
    let base = crate::mask::url(&g.base_url);
    let Some(key) = g.api_key.as_ref().filter(|_| g.remote_enabled()) else {
        return Checked::ok(json!({ "status": "not_configured", "base_url": base }));
    };
    let timeout = cfg.common.timeouts.guardrail;
    let value = |status: &str, detail: Option<String>| json!({ "status": status, "base_url": base, "detail": detail });
    let provider = match RemoteProvider::new(RemoteSettings {
        base_url: g.base_url.clone(),
        api_key: key.expose().to_string(),
        timeout,
    }) {
        Ok(p) => p,
        Err(e) => {
            return Checked::issue(
                value("error", Some(e.to_string())),
                format!("Guardrail API at {base}: {e}"),
            )
        }
    };
    let call = provider.pii_redact("secure-mcp-gateway health check");
    match tokio::time::timeout(timeout + Duration::from_secs(1), call).await {
        Ok(Ok(_)) => Checked::ok(value("ok", None)),
        Ok(Err(e)) => Checked::issue(
            value("error", Some(e.to_string())),
            format!("Guardrail API at {base}: {e}"),
        ),
        Err(_) => Checked::issue(
            value("timeout", None),
            format!("Guardrail API at {base}: no answer within guardrail_timeout"),
        ),
    }
}

/// The report as text (for the CLI without `--json`).
pub fn to_text(r: &Value) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let strs = |k: &str| -> Vec<String> {
        r.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| shown(Some(v))).collect())
            .unwrap_or_default()
    };
    let _ = writeln!(s, "Status: {}", shown(r.get("status")));
    let st = &r["statistics"];
    let _ = writeln!(
        s,
        "Statistics: {} projects, {} users, {} configs, {} api keys ({} disabled)",
        st["total_projects"],
        st["total_users"],
        st["total_configs"],
        st["total_api_keys"],
        st["disabled_api_keys"]
    );
    let checks = &r["checks"];
    if let Some(c) = checks.get("cache").filter(|c| c.is_object()) {
        let _ = writeln!(
            s,
            "Cache ({} at {}): {}{}",
            shown(c.get("backend")),
            shown(c.get("address")),
            shown(c.get("status")),
            c.get("detail")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    if let Some(ups) = checks.get("upstreams").and_then(Value::as_array) {
        let _ = writeln!(s, "Upstream servers:");
        for u in ups {
            let configs = u["configs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|v| shown(Some(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            match u["error"].as_str() {
                None => {
                    let _ = writeln!(
                        s,
                        "  ok    {} ({configs}): {} tools in {} ms",
                        shown(u.get("server")),
                        u["tools"],
                        u["elapsed_ms"]
                    );
                }
                Some(e) => {
                    let _ = writeln!(s, "  FAIL  {} ({configs}): {e}", shown(u.get("server")));
                }
            }
        }
    }
    if let Some(g) = checks.get("guardrails").filter(|g| g.is_object()) {
        let _ = writeln!(
            s,
            "Guardrail API ({}): {}",
            shown(g.get("base_url")),
            shown(g.get("status"))
        );
    }
    if r["offline"] == json!(true) {
        let _ = writeln!(s, "Live checks: skipped (--offline)");
    }
    for (title, items) in [("Issues", strs("issues")), ("Warnings", strs("warnings"))] {
        if !items.is_empty() {
            let _ = writeln!(s, "{title}:");
            for i in items {
                let _ = writeln!(s, "  - {i}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_checks_on_the_raw_document() {
        let doc = json!({
            "common_mcp_gateway_config": {},
            "mcp_configs": {"c1": {"mcp_config_name": "a"}, "c2": {"mcp_config_name": "a"}},
            "projects": {
                "p1": {"project_name": "x", "mcp_config_id": "gone", "users": ["u1", "u9"]},
                "p2": {"project_name": "x", "mcp_config_id": null, "users": []}
            },
            "users": {"u1": {"email": "a@b.c"}, "u2": {"email": "a@b.c"}},
            "apikeys": {"SECRETKEY-123456789": {"project_id": "p7", "user_id": "u1", "disabled": true}}
        });
        let root = doc.as_object().unwrap();
        let (mut i, mut w) = (Vec::new(), Vec::new());
        static_checks(root, &mut i, &mut w);
        let all = i.join("\n");
        assert!(all.contains("references non-existent project p7"), "{all}");
        assert!(
            all.contains("Project x references non-existent user u9"),
            "{all}"
        );
        assert!(
            all.contains("Project x references non-existent config gone"),
            "{all}"
        );
        assert!(all.contains("Duplicate email found: a@b.c"), "{all}");
        assert!(!all.contains("SECRETKEY-1"), "{all}");
        assert_eq!(i.len(), 4, "{all}");
        assert_eq!(
            w,
            vec![
                "Duplicate project name found: x".to_string(),
                "Duplicate config name found: a".to_string()
            ]
        );
        assert_eq!(
            statistics(root),
            json!({"total_projects": 2, "total_users": 2, "total_configs": 2,
                   "total_api_keys": 1, "disabled_api_keys": 1})
        );
    }
}
