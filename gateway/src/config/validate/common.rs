//! The gateway-wide settings: `common_mcp_gateway_config` (log level, cache, timeouts, HTTP
//! limits, telemetry) and the remote guardrail provider (`plugins.guardrails`, else
//! `enkrypt_config`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{describe, given, is_http_url, join, Validator, COMMON};
use crate::config::model::{
    CommonConfig, GuardrailProvider, HttpLimits, LogLevel, TelemetryConfig, TimeoutSettings,
    ToolsMode,
};

impl Validator {
    /// `common_mcp_gateway_config`. A known key missing there but present at the top level
    /// (as the seed documents show snippets like `{"timeout_settings": {...}}`) is read from
    /// the top level; the section wins when both have it.
    pub(super) fn common(&mut self, root: &Map<String, Value>) -> CommonConfig {
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
    pub(super) fn guardrail_provider(&mut self, root: &Map<String, Value>) -> GuardrailProvider {
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
}
