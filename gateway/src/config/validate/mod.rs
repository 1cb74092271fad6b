//! Builds the typed [`GatewayConfig`] from the raw JSON document, filling defaults and collecting
//! every problem as an [`Issue`] that names its JSON path.
//!
//! Leniency mirrors the reference gateway where it is harmless: `null` means "use the default";
//! integers and numbers may be written as numeric strings (`"6379"`, as Python's `int()` takes
//! them); log level, tools mode and transport names ignore case. Everything else is strict:
//! a wrong type is an error, never silently replaced by the default.
//!
//! Cross-references are checked against the ids present in the document (even when the entry
//! they name has problems of its own, so one mistake is reported once): apikey -> project and
//! user, project -> mcp_config (a project whose `mcp_config_id` is null or absent has none).
//!
//! Invariant: messages never contain a gateway key (paths through `apikeys` are redacted) nor the
//! value of a secret field (passwords, `env`, `headers`): those are described by type only.

use std::collections::HashSet;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::{Issue, ValidationErrors};
use super::model::{
    CommonConfig, GatewayConfig, GuardrailProvider, HttpLimits, LogLevel, Project, TelemetryConfig,
    TimeoutSettings, ToolsMode, User,
};
use super::secret::Secret;

mod cache;
mod keys;
mod servers;

pub(crate) use keys::plain_lookup;

/// Top-level section names.
pub(crate) const COMMON: &str = "common_mcp_gateway_config";
pub(crate) const MCP_CONFIGS: &str = "mcp_configs";
pub(crate) const PROJECTS: &str = "projects";
pub(crate) const USERS: &str = "users";
pub(crate) const APIKEYS: &str = "apikeys";

/// Validates a whole document.
pub(crate) fn validate(root: &Map<String, Value>) -> Result<GatewayConfig, ValidationErrors> {
    let mut v = Validator::default();

    let common = v.common(root);
    let mcp_obj = v.section(root, MCP_CONFIGS);
    let projects_obj = v.section(root, PROJECTS);
    let users_obj = v.section(root, USERS);
    let keys_obj = v.section(root, APIKEYS);

    let mut mcp_configs = IndexMap::new();
    for (id, val) in mcp_obj.into_iter().flatten() {
        if let Some(c) = v.mcp_config(id, val) {
            mcp_configs.insert(id.clone(), c);
        }
    }

    let mcp_ids: HashSet<&str> = mcp_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let mut projects = IndexMap::new();
    for (id, val) in projects_obj.into_iter().flatten() {
        if let Some(p) = v.project(id, val, &mcp_ids) {
            projects.insert(id.clone(), p);
        }
    }

    let mut users = IndexMap::new();
    for (id, val) in users_obj.into_iter().flatten() {
        if let Some(u) = v.user(id, val) {
            users.insert(id.clone(), u);
        }
    }

    let project_ids: HashSet<&str> = projects_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let user_ids: HashSet<&str> = users_obj
        .iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .collect();
    let hashes_obj = v.section(root, super::keystore::APIKEY_HASHES);
    let (apikeys, key_index) = v.keys(keys_obj, hashes_obj, &project_ids, &user_ids);

    let guardrails = v.guardrail_provider(root);

    if v.issues.is_empty() {
        Ok(GatewayConfig {
            common,
            mcp_configs,
            projects,
            users,
            apikeys,
            key_index,
            key_secret: None,
            guardrails,
        })
    } else {
        Err(ValidationErrors(v.issues))
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier.
pub(crate) fn join(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
        return format!("{parent}[{quoted}]");
    }
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A value as shown after "got": scalars literally (strings quoted, cut at 40 characters),
/// lists and objects by kind.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(40).collect();
            let shown = if cut.len() < s.len() {
                format!("{cut}…")
            } else {
                cut
            };
            serde_json::to_string(&shown).unwrap_or_else(|_| "a string".to_string())
        }
        Value::Array(_) | Value::Object(_) => kind(v).to_string(),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.to_string(),
    }
}

/// The JSON kind of a value, for messages about secret fields.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An integer, from a JSON integer, an integral float or a numeric string.
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A finite number, from a JSON number or a numeric string.
fn as_number(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

/// Present and not `null`.
fn given<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

#[derive(Default)]
struct Validator {
    issues: Vec<Issue>,
}

impl Validator {
    fn err(&mut self, path: String, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
        });
    }

    /// A top-level section: absent or null is empty; anything but an object is an error.
    fn section<'a>(
        &mut self,
        root: &'a Map<String, Value>,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        self.object(root, "", key)
    }

    fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        match given(obj, key)? {
            Value::Object(m) => Some(m),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected an object, got {}", describe(other)),
                );
                None
            }
        }
    }

    fn bool_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        default: bool,
    ) -> bool {
        match given(obj, key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.err(
                    join(parent, key),
                    format!("expected true or false, got {}", describe(other)),
                );
                default
            }
        }
    }

    fn int_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        range: (i64, i64),
        default: i64,
    ) -> i64 {
        let Some(val) = given(obj, key) else {
            return default;
        };
        match as_integer(val) {
            Some(n) if (range.0..=range.1).contains(&n) => n,
            _ => {
                self.err(
                    join(parent, key),
                    format!(
                        "expected an integer {}..{}, got {}",
                        range.0,
                        range.1,
                        describe(val)
                    ),
                );
                default
            }
        }
    }

    /// A positive duration written as a number of `unit_name` (`unit_secs` seconds each).
    fn duration_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
        (unit_secs, unit_name): (f64, &str),
        default: Duration,
    ) -> Duration {
        let Some(val) = given(obj, key) else {
            return default;
        };
        let parsed = as_number(val)
            .filter(|n| *n > 0.0)
            .and_then(|n| Duration::try_from_secs_f64(n * unit_secs).ok())
            .filter(|d| !d.is_zero());
        match parsed {
            Some(d) => d,
            None => {
                let msg = match as_number(val) {
                    Some(n) if n > 0.0 => format!("{} {unit_name} is too large", describe(val)),
                    _ => format!(
                        "expected a number of {unit_name} > 0, got {}",
                        describe(val)
                    ),
                };
                self.err(join(parent, key), msg);
                default
            }
        }
    }

    fn opt_string(&mut self, obj: &Map<String, Value>, parent: &str, key: &str) -> Option<String> {
        match given(obj, key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// A string that must be present and non-empty.
    fn required_string(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<String> {
        match given(obj, key) {
            None => {
                self.err(join(parent, key), "missing");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(join(parent, key), "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    join(parent, key),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// A secret string: null, absent or empty mean none; its value never appears in messages.
    fn secret_field(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Option<Secret> {
        match given(obj, key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Secret::new(s.clone())),
            other => {
                self.err(
                    join(parent, key),
                    format!("expected a string or null, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn string_list(&mut self, obj: &Map<String, Value>, parent: &str, key: &str) -> Vec<String> {
        let path = join(parent, key);
        match given(obj, key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => self.err(
                            format!("{path}[{i}]"),
                            format!("expected a string, got {}", describe(other)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.err(
                    path,
                    format!("expected a list of strings, got {}", describe(other)),
                );
                Vec::new()
            }
        }
    }

    /// An object of strings whose values may be secret (`env`, `headers`).
    fn secret_string_map(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        key: &str,
    ) -> Vec<(String, String)> {
        let path = join(parent, key);
        match given(obj, key) {
            None => Vec::new(),
            Some(Value::Object(m)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, val) in m {
                    match val {
                        Value::String(s) => out.push((k.clone(), s.clone())),
                        other => self.err(
                            join(&path, k),
                            format!("expected a string, got {}", kind(other)),
                        ),
                    }
                }
                out
            }
            Some(other) => {
                self.err(
                    path,
                    format!("expected an object of strings, got {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    /// `common_mcp_gateway_config`. A known key missing there but present at the top level
    /// (as the seed documents show snippets like `{"timeout_settings": {...}}`) is read from
    /// the top level; the section wins when both have it.
    fn common(&mut self, root: &Map<String, Value>) -> CommonConfig {
        let d = CommonConfig::default();
        let empty = Map::new();
        let section = self.section(root, COMMON).unwrap_or(&empty);
        let pick = |key: &str| -> (&Map<String, Value>, &'static str) {
            if given(section, key).is_some() {
                (section, COMMON)
            } else {
                (root, "")
            }
        };
        const HOURS: (f64, &str) = (3600.0, "hours");
        const MINUTES: (f64, &str) = (60.0, "minutes");

        let (o, p) = pick("enkrypt_log_level");
        let log_level = match given(o, "enkrypt_log_level") {
            None => d.log_level,
            Some(val) => match val.as_str().and_then(LogLevel::parse) {
                Some(l) => l,
                None => {
                    self.err(
                        join(p, "enkrypt_log_level"),
                        format!(
                            "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {}",
                            describe(val)
                        ),
                    );
                    d.log_level
                }
            },
        };
        let (o, p) = pick("enkrypt_cache_host");
        let cache_host = match self.opt_string(o, p, "enkrypt_cache_host") {
            Some(h) if h.trim().is_empty() => {
                self.err(join(p, "enkrypt_cache_host"), "must not be empty");
                d.cache_host.clone()
            }
            Some(h) => h,
            None => d.cache_host.clone(),
        };
        let (o, p) = pick("enkrypt_gateway_tools_mode");
        let tools_mode = match given(o, "enkrypt_gateway_tools_mode") {
            None => d.tools_mode,
            Some(val) => match val.as_str().and_then(ToolsMode::parse) {
                Some(m) => m,
                None => {
                    self.err(
                        join(p, "enkrypt_gateway_tools_mode"),
                        format!(
                            "expected one of \"meta\", \"direct\", \"both\", got {}",
                            describe(val)
                        ),
                    );
                    d.tools_mode
                }
            },
        };
        let flag = |v: &mut Self, key: &str, default: bool| {
            let (o, p) = pick(key);
            v.bool_field(o, p, key, default)
        };
        let use_remote_mcp_config = flag(self, "enkrypt_use_remote_mcp_config", false);
        let use_external_cache = flag(self, "enkrypt_mcp_use_external_cache", false);
        let async_input_guardrails = flag(self, "enkrypt_async_input_guardrails_enabled", false);
        let async_output_guardrails = flag(self, "enkrypt_async_output_guardrails_enabled", false);
        let unprefixed_names = flag(self, "enkrypt_gateway_unprefixed_names", true);
        let metrics_enabled = flag(self, "enkrypt_metrics_enabled", true);
        let metrics_public = flag(self, "enkrypt_metrics_public", false);

        let text = |v: &mut Self, key: &str| {
            let (o, p) = pick(key);
            v.opt_string(o, p, key)
        };
        let remote_mcp_gateway_name = text(self, "enkrypt_remote_mcp_gateway_name");
        let remote_mcp_gateway_version = text(self, "enkrypt_remote_mcp_gateway_version");

        let int = |v: &mut Self, key: &str, range: (i64, i64), default: i64| {
            let (o, p) = pick(key);
            v.int_field(o, p, key, range, default)
        };
        // The ranges make these casts lossless.
        let cache_port = int(self, "enkrypt_cache_port", (1, 65535), 6379) as u16;
        let cache_db = int(self, "enkrypt_cache_db", (0, 15), 0) as u8;
        let embedded_cache_port = int(self, "enkrypt_embedded_cache_port", (0, 65535), 6380) as u16;

        let secret = |v: &mut Self, key: &str| {
            let (o, p) = pick(key);
            v.secret_field(o, p, key)
        };
        let cache_password = secret(self, "enkrypt_cache_password");
        let sentinel_password = secret(self, "enkrypt_cache_sentinel_password");
        let sentinel_master = {
            let (o, p) = pick("enkrypt_cache_sentinel_master");
            self.opt_string(o, p, "enkrypt_cache_sentinel_master")
        };
        let (o, p) = pick("enkrypt_cache_sentinels");
        let cache_sentinel = self.sentinel(o, p, sentinel_master, sentinel_password);
        let embedded_cache_password = secret(self, "enkrypt_embedded_cache_password");
        let embedded_cache_dir = {
            let (o, p) = pick("enkrypt_embedded_cache_dir");
            self.opt_string(o, p, "enkrypt_embedded_cache_dir")
                .filter(|d| !d.is_empty())
        };

        // `<key>_minutes` wins over `<key>` (hours), as the reference's
        // `get_gateway_cache_ttl_seconds` reads them; both are checked.
        let ttl = |v: &mut Self, key: &str, default: Duration| {
            let minutes_key = format!("{key}_minutes");
            let (o, p) = pick(&minutes_key);
            let minutes = given(o, &minutes_key)
                .is_some()
                .then(|| v.duration_field(o, p, &minutes_key, MINUTES, default));
            let (o, p) = pick(key);
            let hours = v.duration_field(o, p, key, HOURS, default);
            minutes.unwrap_or(hours)
        };
        let tool_cache_ttl = ttl(self, "enkrypt_tool_cache_expiration", d.tool_cache_ttl);
        let gateway_cache_ttl = ttl(
            self,
            "enkrypt_gateway_cache_expiration",
            d.gateway_cache_ttl,
        );

        // `plugins` itself is checked where the guardrail provider is read.
        let telemetry = match given(root, "plugins")
            .and_then(Value::as_object)
            .and_then(|p| self.object(p, "plugins", "telemetry"))
            .and_then(|t| self.object(t, "plugins.telemetry", "config"))
        {
            // 2.2: `plugins.telemetry.config` wins over the legacy section.
            Some(plugin) => self.telemetry(plugin, "plugins.telemetry.config"),
            None => {
                let (o, p) = pick("enkrypt_telemetry");
                match self.object(o, p, "enkrypt_telemetry") {
                    Some(obj) => self.telemetry(obj, &join(p, "enkrypt_telemetry")),
                    None => TelemetryConfig::default(),
                }
            }
        };
        let (o, p) = pick("timeout_settings");
        let timeouts = self.timeouts(o, p);
        let (o, p) = pick("enkrypt_http_limits");
        let http_limits = self.http_limits(o, p);

        let mut common = CommonConfig {
            log_level,
            use_remote_mcp_config,
            remote_mcp_gateway_name,
            remote_mcp_gateway_version,
            use_external_cache,
            cache_host,
            cache_port,
            cache_db,
            cache_password,
            cache_sentinel,
            tool_cache_ttl,
            gateway_cache_ttl,
            async_input_guardrails,
            async_output_guardrails,
            telemetry,
            timeouts,
            embedded_cache_port,
            embedded_cache_password,
            embedded_cache_dir,
            tools_mode,
            unprefixed_names,
            http_limits,
            metrics_enabled,
            metrics_public,
            ..CommonConfig::default()
        };
        self.cache_connection(&mut common, section, root);
        common
    }

    /// The telemetry settings of `obj` (at `p`): `enabled`, `url` (the reference's name) or
    /// `endpoint`, `insecure`, `service_name`.
    fn telemetry(&mut self, obj: &Map<String, Value>, p: &str) -> TelemetryConfig {
        let d = TelemetryConfig::default();
        let key = if given(obj, "url").is_some() {
            "url"
        } else {
            "endpoint"
        };
        let endpoint = match self.opt_string(obj, p, key) {
            Some(e) if e.trim().is_empty() => {
                self.err(join(p, key), "must not be empty");
                d.endpoint.clone()
            }
            Some(e) => e.trim().to_string(),
            None => d.endpoint.clone(),
        };
        let service_name = match self.opt_string(obj, p, "service_name") {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => d.service_name.clone(),
        };
        TelemetryConfig {
            enabled: self.bool_field(obj, p, "enabled", d.enabled),
            insecure: self.bool_field(obj, p, "insecure", d.insecure),
            endpoint,
            service_name,
        }
    }

    fn timeouts(&mut self, common: &Map<String, Value>, parent: &str) -> TimeoutSettings {
        let d = TimeoutSettings::default();
        let Some(obj) = self.object(common, parent, "timeout_settings") else {
            return d;
        };
        let p = join(parent, "timeout_settings");
        const SECS: (f64, &str) = (1.0, "seconds");
        TimeoutSettings {
            default: self.duration_field(obj, &p, "default_timeout", SECS, d.default),
            guardrail: self.duration_field(obj, &p, "guardrail_timeout", SECS, d.guardrail),
            auth: self.duration_field(obj, &p, "auth_timeout", SECS, d.auth),
            tool_execution: self.duration_field(
                obj,
                &p,
                "tool_execution_timeout",
                SECS,
                d.tool_execution,
            ),
            discovery: self.duration_field(obj, &p, "discovery_timeout", SECS, d.discovery),
            cache: self.duration_field(obj, &p, "cache_timeout", SECS, d.cache),
            connectivity: self.duration_field(
                obj,
                &p,
                "connectivity_timeout",
                SECS,
                d.connectivity,
            ),
        }
    }

    fn http_limits(&mut self, common: &Map<String, Value>, parent: &str) -> HttpLimits {
        let d = HttpLimits::default();
        let Some(obj) = self.object(common, parent, "enkrypt_http_limits") else {
            return d;
        };
        let p = join(parent, "enkrypt_http_limits");
        const SECS: (f64, &str) = (1.0, "seconds");
        let count = |v: &mut Self, key: &str, default: usize| {
            v.int_field(obj, &p, key, (1, 1 << 20), default as i64) as usize
        };
        HttpLimits {
            max_connections: count(self, "max_connections", d.max_connections),
            max_sessions_per_key: count(self, "max_sessions_per_key", d.max_sessions_per_key),
            max_batch: count(self, "max_batch", d.max_batch),
            header_timeout: self.duration_field(
                obj,
                &p,
                "header_timeout_seconds",
                SECS,
                d.header_timeout,
            ),
            body_timeout: self.duration_field(
                obj,
                &p,
                "body_timeout_seconds",
                SECS,
                d.body_timeout,
            ),
        }
    }

    /// The remote guardrail provider: `plugins.guardrails` (2.2), else `enkrypt_config`.
    fn guardrail_provider(&mut self, root: &Map<String, Value>) -> GuardrailProvider {
        let empty = Map::new();
        let plugin = self
            .object(root, "", "plugins")
            .and_then(|p| self.object(p, "plugins", "guardrails"));
        let provider = plugin
            .and_then(|g| self.opt_string(g, "plugins.guardrails", "provider"))
            .unwrap_or_else(|| "enkrypt".to_string());
        let plugin_cfg = plugin
            .and_then(|g| self.object(g, "plugins.guardrails", "config"))
            .unwrap_or(&empty);
        let enkrypt = self.object(root, "", "enkrypt_config").unwrap_or(&empty);
        let pick = |key: &str| -> (&Map<String, Value>, &'static str) {
            if given(plugin_cfg, key).is_some() {
                (plugin_cfg, "plugins.guardrails.config")
            } else {
                (enkrypt, "enkrypt_config")
            }
        };
        let (o, p) = pick("api_key");
        let api_key = self.secret_field(o, p, "api_key").filter(|k| {
            let k = k.expose().trim();
            !k.is_empty() && !k.eq_ignore_ascii_case("null") && k != "YOUR_ENKRYPT_API_KEY"
        });
        let (o, p) = pick("base_url");
        let base_url = match self.opt_string(o, p, "base_url") {
            Some(u) if is_http_url(&u) => u.trim_end_matches('/').to_string(),
            Some(u) => {
                self.err(
                    join(p, "base_url"),
                    format!(
                        "expected an http(s) URL, got {}",
                        describe(&Value::String(u))
                    ),
                );
                String::new()
            }
            None => "https://api.enkryptai.com".to_string(),
        };
        // An ill-typed common section is reported once, by `common`.
        let common = given(root, COMMON)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let fail_open = self.bool_field(common, COMMON, "enkrypt_guardrails_fail_open", false);
        GuardrailProvider {
            provider,
            api_key,
            base_url,
            fail_open,
        }
    }

    fn project(&mut self, id: &str, val: &Value, mcp_ids: &HashSet<&str>) -> Option<Project> {
        let path = join(PROJECTS, id);
        let Value::Object(obj) = val else {
            self.err(path, format!("expected an object, got {}", describe(val)));
            return None;
        };
        let before = self.issues.len();
        let name = self.opt_string(obj, &path, "project_name");
        // null (what the reference's `project create` writes) or absent: no mcp_config yet.
        let mcp_config_id = match given(obj, "mcp_config_id") {
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(
                    join(&path, "mcp_config_id"),
                    "must not be empty (null: no mcp_config yet)",
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    join(&path, "mcp_config_id"),
                    format!("expected a string or null, got {}", describe(other)),
                );
                None
            }
        };
        if let Some(m) = &mcp_config_id {
            if !mcp_ids.contains(m.as_str()) {
                self.err(
                    join(&path, "mcp_config_id"),
                    format!("unknown mcp_config {}", describe(&Value::String(m.clone()))),
                );
            }
        }
        let users = self.string_list(obj, &path, "users");
        let created_at = self.opt_string(obj, &path, "created_at");
        if self.issues.len() != before {
            return None;
        }
        Some(Project {
            id: id.to_string(),
            name,
            mcp_config_id,
            users,
            created_at,
        })
    }

    fn user(&mut self, id: &str, val: &Value) -> Option<User> {
        let path = join(USERS, id);
        let Value::Object(obj) = val else {
            self.err(path, format!("expected an object, got {}", describe(val)));
            return None;
        };
        let before = self.issues.len();
        let user = User {
            id: id.to_string(),
            email: self.opt_string(obj, &path, "email"),
            created_at: self.opt_string(obj, &path, "created_at"),
        };
        (self.issues.len() == before).then_some(user)
    }
}

fn is_http_url(u: &str) -> bool {
    let lower = u.trim().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| lower.len() > scheme.len() && lower.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Result<GatewayConfig, ValidationErrors> {
        let Value::Object(m) = v else {
            panic!("not an object")
        };
        validate(&m)
    }

    #[test]
    fn paths_quote_unusual_keys() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b-c_1"), "a.b-c_1");
        assert_eq!(join("a", "my key"), "a[\"my key\"]");
        assert_eq!(join("a", ""), "a[\"\"]");
    }

    #[test]
    fn describe_cuts_long_strings_and_hides_containers() {
        assert_eq!(describe(&json!("abc")), "\"abc\"");
        assert_eq!(describe(&json!(1.5)), "1.5");
        assert_eq!(describe(&json!([1])), "a list");
        assert_eq!(describe(&json!({})), "an object");
        let long = "x".repeat(100);
        assert_eq!(describe(&json!(long)), format!("\"{}…\"", "x".repeat(40)));
    }

    #[test]
    fn numeric_strings_and_integral_floats_are_integers() {
        let c = run(json!({"common_mcp_gateway_config": {
            "enkrypt_cache_port": "6390", "enkrypt_cache_db": 2.0
        }}))
        .unwrap();
        assert_eq!((c.common.cache_port, c.common.cache_db), (6390, 2));
    }

    #[test]
    fn nan_and_infinite_durations_are_rejected() {
        let e = run(json!({"common_mcp_gateway_config": {
            "enkrypt_tool_cache_expiration": "inf",
            "enkrypt_gateway_cache_expiration": 1e300
        }}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "common_mcp_gateway_config.enkrypt_tool_cache_expiration: expected a number of hours > 0, got \"inf\"\n\
             common_mcp_gateway_config.enkrypt_gateway_cache_expiration: 1e+300 hours is too large"
        );
    }

    #[test]
    fn secret_values_are_described_by_type_only() {
        let e = run(json!({
            "common_mcp_gateway_config": {"enkrypt_cache_password": 12345},
            "mcp_configs": {"c": {"mcp_config": [{
                "server_name": "s",
                "config": {"url": "https://x", "headers": {"Authorization": ["Bearer zzz"]}}
            }]}}
        }))
        .unwrap_err()
        .to_string();
        assert!(!e.contains("12345") && !e.contains("zzz"), "{e}");
        assert!(e.contains("enkrypt_cache_password: expected a string or null, got a number"));
        assert!(e.contains("config.headers.Authorization: expected a string, got a list"));
    }
}
