//! The typed view of `enkrypt_mcp_config.json`.
//!
//! These types are built by `config::validate` from the raw document and are read-only
//! snapshots: the document ([`super::ConfigDocument`]) is what is edited and saved, so keys this
//! view does not model (the reference's `plugins`, `oauth_config`, `escalation_policies`, ...)
//! survive untouched. Defaults mirror the reference gateway's `DEFAULT_COMMON_CONFIG` and
//! `generate-config`; the `enkrypt_embedded_cache_*` and `enkrypt_gateway_*` keys are ours.
//!
//! Invariants established by validation: server names are non-empty, unique within their
//! mcp_config and free of `__`; every API key's project and user exist; every project's
//! mcp_config exists; durations are finite and positive.

use std::fmt;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::deny::{denial, Denial, DeniedTool};
use super::secret::{GatewayKey, Secret};

/// Log level of `enkrypt_log_level` (case-insensitive in the file, as in the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `TRACE` (ours; the reference has no trace level).
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO` (the default).
    Info,
    /// `WARNING` or `WARN`.
    Warning,
    /// `ERROR`.
    Error,
    /// `CRITICAL` or `FATAL` (logged as errors).
    Critical,
}

impl LogLevel {
    /// Parses a level name, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warning" | "warn" => LogLevel::Warning,
            "error" => LogLevel::Error,
            "critical" | "fatal" => LogLevel::Critical,
            _ => return None,
        })
    }

    /// The matching `tracing` filter directive (`trace`, `debug`, `info`, `warn`, `error`).
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        }
    }
}

/// Which tools the gateway lists to clients (`enkrypt_gateway_tools_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolsMode {
    /// `"meta"`: only the gateway's own tools (`enkrypt_list_all_servers`,
    /// `enkrypt_secure_call_tools`, ...), as the reference gateway does.
    Meta,
    /// `"direct"`: only the upstream tools, exposed under namespaced names.
    Direct,
    /// `"both"` (the default): the meta tools and the upstream tools.
    Both,
}

impl ToolsMode {
    /// Parses `"meta"`, `"direct"` or `"both"` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "meta" => ToolsMode::Meta,
            "direct" => ToolsMode::Direct,
            "both" => ToolsMode::Both,
            _ => return None,
        })
    }

    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolsMode::Meta => "meta",
            ToolsMode::Direct => "direct",
            ToolsMode::Both => "both",
        }
    }
}

/// `timeout_settings`: every value in seconds (fractions allowed, each > 0). A partial object
/// takes the rest from the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeoutSettings {
    /// `default_timeout` (30 s).
    pub default: Duration,
    /// `guardrail_timeout` (15 s).
    pub guardrail: Duration,
    /// `auth_timeout` (10 s).
    pub auth: Duration,
    /// `tool_execution_timeout` (60 s).
    pub tool_execution: Duration,
    /// `discovery_timeout` (20 s).
    pub discovery: Duration,
    /// `cache_timeout` (5 s).
    pub cache: Duration,
    /// `connectivity_timeout` (2 s).
    pub connectivity: Duration,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        TimeoutSettings {
            default: Duration::from_secs(30),
            guardrail: Duration::from_secs(15),
            auth: Duration::from_secs(10),
            tool_execution: Duration::from_secs(60),
            discovery: Duration::from_secs(20),
            cache: Duration::from_secs(5),
            connectivity: Duration::from_secs(2),
        }
    }
}

/// `enkrypt_telemetry` (or the 2.2 `plugins.telemetry.config`): OpenTelemetry export
/// settings, read at start (see [`crate::otel`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `enabled` (false): traces, metrics and logs are exported over OTLP/HTTP.
    pub enabled: bool,
    /// `insecure` (true): a collector address given without a scheme is reached over plain
    /// HTTP (`https://` otherwise). An `http://` or `https://` URL says for itself.
    pub insecure: bool,
    /// `url` or `endpoint` (`http://localhost:4317`): the collector's OTLP base URL; the
    /// signal paths (`/v1/traces`, `/v1/metrics`, `/v1/logs`) are appended.
    pub endpoint: String,
    /// `service_name` (`secure-mcp-gateway`): the `service.name` resource attribute.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            enabled: false,
            insecure: true,
            endpoint: "http://localhost:4317".to_string(),
            service_name: "secure-mcp-gateway".to_string(),
        }
    }
}

/// Redis Sentinel for the external cache.
#[derive(Debug, Clone, PartialEq)]
pub struct SentinelSettings {
    /// `enkrypt_cache_sentinels`: `"host:port"` of each sentinel.
    pub addrs: Vec<(String, u16)>,
    /// `enkrypt_cache_sentinel_master` (`mymaster`): the name the sentinels monitor.
    pub master: String,
    /// `enkrypt_cache_sentinel_password` (null): the sentinels' own `requirepass`; the
    /// master's password stays `enkrypt_cache_password`.
    pub password: Option<Secret>,
}

/// The default `enkrypt_cache_sentinel_master`.
pub const DEFAULT_SENTINEL_MASTER: &str = "mymaster";

/// Parses `host:port` (a bracketed IPv6 host allowed: `[::1]:26379`).
pub fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let (host, port) = s.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (!host.is_empty() && !host.contains(char::is_whitespace)).then(|| (host.to_string(), port))
}

/// `common_mcp_gateway_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConfig {
    /// `enkrypt_log_level` (`INFO`).
    pub log_level: LogLevel,
    /// `enkrypt_use_remote_mcp_config` (false).
    pub use_remote_mcp_config: bool,
    /// `enkrypt_remote_mcp_gateway_name` (absent).
    pub remote_mcp_gateway_name: Option<String>,
    /// `enkrypt_remote_mcp_gateway_version` (absent).
    pub remote_mcp_gateway_version: Option<String>,
    /// `enkrypt_mcp_use_external_cache` (false: use the embedded cache).
    pub use_external_cache: bool,
    /// `enkrypt_cache_host` (`localhost`).
    pub cache_host: String,
    /// `enkrypt_cache_port` (6379).
    pub cache_port: u16,
    /// `enkrypt_cache_db` (0; 0..=15).
    pub cache_db: u8,
    /// `enkrypt_cache_password` (null; an empty string counts as null).
    pub cache_password: Option<Secret>,
    /// ACL user of the external cache (from `enkrypt_cache_username` or the URL).
    pub cache_username: Option<String>,
    /// `enkrypt_cache_tls` (false; true with a `rediss://` `enkrypt_cache_url`): TLS to the
    /// external cache.
    pub cache_tls: bool,
    /// `enkrypt_cache_tls_ca_file` (absent: the public roots): the CA that signed the cache's
    /// certificate.
    pub cache_tls_ca_file: Option<std::path::PathBuf>,
    /// `enkrypt_cache_sentinels` and friends (ours): find the cache's master through Redis
    /// Sentinel instead of `enkrypt_cache_host`/`port`; `None` when no sentinel is listed.
    pub cache_sentinel: Option<SentinelSettings>,
    /// `enkrypt_tool_cache_expiration_minutes` (ours), else `enkrypt_tool_cache_expiration`
    /// in hours (4 h).
    pub tool_cache_ttl: Duration,
    /// `enkrypt_gateway_cache_expiration_minutes`, else `enkrypt_gateway_cache_expiration` in
    /// hours (24 h), as the reference's `get_gateway_cache_ttl_seconds` reads them.
    pub gateway_cache_ttl: Duration,
    /// `enkrypt_async_input_guardrails_enabled` (false).
    pub async_input_guardrails: bool,
    /// `enkrypt_async_output_guardrails_enabled` (false).
    pub async_output_guardrails: bool,
    /// `enkrypt_telemetry`.
    pub telemetry: TelemetryConfig,
    /// `timeout_settings`.
    pub timeouts: TimeoutSettings,
    /// `enkrypt_embedded_cache_port` (6380; 0 = let the OS pick a free port).
    pub embedded_cache_port: u16,
    /// `enkrypt_embedded_cache_password` (null = generated at start).
    pub embedded_cache_password: Option<Secret>,
    /// `enkrypt_embedded_cache_dir` (null = no persistence): where the embedded cache loads
    /// `dump.rdb` at start and saves it (save rules and shutdown).
    pub embedded_cache_dir: Option<String>,
    /// `enkrypt_gateway_tools_mode` (`both`).
    pub tools_mode: ToolsMode,
    /// `enkrypt_gateway_unprefixed_names` (true: upstream tool names stay unprefixed where no
    /// two servers share them).
    pub unprefixed_names: bool,
    /// `enkrypt_http_limits`: what the HTTP transport accepts before refusing.
    pub http_limits: HttpLimits,
    /// `enkrypt_metrics_enabled` (true): tool calls and cache operations are timed and counted
    /// for `GET /metrics`; false: nothing of that is recorded and `/metrics` is 404.
    pub metrics_enabled: bool,
    /// `enkrypt_metrics_public` (false): `/metrics` is served without the admin key to any
    /// client, not only to loopback ones.
    pub metrics_public: bool,
}

/// `enkrypt_http_limits` (ours): caps and read deadlines of the HTTP transport, so that clients
/// without a valid key, or slow on purpose, cost almost nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HttpLimits {
    /// `max_connections` (4096): open connections at once; one more is answered 503 and
    /// closed.
    pub max_connections: usize,
    /// `max_sessions_per_key` (128): sessions one gateway key may hold; one more is 429.
    pub max_sessions_per_key: usize,
    /// `max_batch` (64): messages in one JSON-RPC batch; more is 400.
    pub max_batch: usize,
    /// `header_timeout_seconds` (20): a request's headers must arrive within this, else the
    /// connection is closed (it also bounds how long an idle keep-alive connection is kept).
    pub header_timeout: Duration,
    /// `body_timeout_seconds` (20): the longest wait for the next part of a request body;
    /// longer is 408.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4096,
            max_sessions_per_key: 128,
            max_batch: 64,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(20),
        }
    }
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            log_level: LogLevel::Info,
            use_remote_mcp_config: false,
            remote_mcp_gateway_name: None,
            remote_mcp_gateway_version: None,
            use_external_cache: false,
            cache_host: "localhost".to_string(),
            cache_port: 6379,
            cache_db: 0,
            cache_password: None,
            cache_username: None,
            cache_tls: false,
            cache_tls_ca_file: None,
            cache_sentinel: None,
            tool_cache_ttl: Duration::from_secs(4 * 3600),
            gateway_cache_ttl: Duration::from_secs(24 * 3600),
            async_input_guardrails: false,
            async_output_guardrails: false,
            telemetry: TelemetryConfig::default(),
            timeouts: TimeoutSettings::default(),
            embedded_cache_port: 6380,
            embedded_cache_password: None,
            embedded_cache_dir: None,
            tools_mode: ToolsMode::Both,
            unprefixed_names: true,
            http_limits: HttpLimits::default(),
            metrics_enabled: true,
            metrics_public: false,
        }
    }
}

/// Transport of a remote upstream (`config.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteTransport {
    /// `"streamable-http"` (the default; `"http"` and `"streamable_http"` are accepted too).
    StreamableHttp,
    /// `"sse"`: the 2024-11-05 HTTP+SSE transport.
    Sse,
}

/// A stdio upstream: a child process speaking MCP on stdin/stdout.
#[derive(Clone, PartialEq, Eq)]
pub struct StdioServer {
    /// `command`.
    pub command: String,
    /// `args` ([]).
    pub args: Vec<String>,
    /// `env` ({}): added to the child's environment, in file order.
    pub env: Vec<(String, String)>,
}

impl fmt::Debug for StdioServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StdioServer")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env (values hidden)", &env_names)
            .finish()
    }
}

/// A remote upstream reached over HTTP.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteServer {
    /// `url` (http or https).
    pub url: String,
    /// `headers` ({}), in file order; often carry credentials.
    pub headers: Vec<(String, String)>,
    /// `transport`.
    pub transport: RemoteTransport,
}

impl fmt::Debug for RemoteServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("RemoteServer")
            .field("url", &self.url)
            .field("headers (values hidden)", &header_names)
            .field("transport", &self.transport)
            .finish()
    }
}

/// How to reach an upstream (`config`): stdio when it has `command`, remote when it has `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamConfig {
    /// A child process.
    Stdio(StdioServer),
    /// An HTTP endpoint.
    Remote(RemoteServer),
}

/// A guardrail policy block (`input_guardrails_config` / `input_guardrails_policy`, and the
/// output and tool equivalents).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailPolicy {
    /// `enabled` (false).
    pub enabled: bool,
    /// `guardrail_name` (2.2) when not empty, else `policy_name` (2.1): the remote policy to apply, or
    /// `"local"` (or any name when no remote provider is configured) for the local detectors.
    pub policy_name: Option<String>,
    /// `block`: detector names whose findings block the call ([]).
    pub block: Vec<String>,
    /// `additional_config` ({}), passed to the guardrail provider as is.
    pub additional_config: Map<String, Value>,
}

/// One upstream server of an mcp_config (an element of `mcp_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `server_name`: unique within the mcp_config, no `__`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `config`.
    pub upstream: UpstreamConfig,
    /// `tools`: the reference's tool object (name -> definition). Empty means every tool the
    /// server offers; otherwise only these names.
    pub tools: Map<String, Value>,
    /// `denied_tools`: names, glob patterns or `{name, reason, description}` objects; the tools
    /// they match are never offered nor callable ([]).
    pub denied_tools: Vec<DeniedTool>,
    /// `enable_tool_guardrails` (true).
    pub enable_tool_guardrails: bool,
    /// `enable_server_info_validation` (false).
    pub enable_server_info_validation: bool,
    /// Input policy: `input_guardrails_config`, else `input_guardrails_policy`.
    pub input_guardrails: Option<GuardrailPolicy>,
    /// Output policy: `output_guardrails_config`, else `output_guardrails_policy`.
    pub output_guardrails: Option<GuardrailPolicy>,
    /// The server's own registration policy (2.1): `tool_guardrails_config`, else
    /// `tool_guardrails_policy`; used when its mcp_config has no
    /// `common_overrides.server_tools_guardrails_config` (the 2.2 place).
    pub tool_guardrails: Option<GuardrailPolicy>,
}

impl ServerConfig {
    /// Whether the tool `name` may be listed and called: it is in `tools` (or `tools` is empty)
    /// and no `denied_tools` entry refuses it.
    pub fn allows_tool(&self, name: &str) -> bool {
        (self.tools.is_empty() || self.tools.contains_key(name)) && self.denial(name).is_none()
    }

    /// The `denied_tools` entry that refuses `name`, with its reason (see [`super::deny`]).
    pub fn denial(&self, name: &str) -> Option<Denial> {
        denial(name, &self.denied_tools, &self.tools)
    }
}

/// An mcp_config: a named list of upstream servers (`mcp_configs.<id>`).
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// The id (the JSON key; a UUID in generated files).
    pub id: String,
    /// `mcp_config_name`.
    pub name: Option<String>,
    /// `mcp_config`, in file order.
    pub servers: Vec<ServerConfig>,
    /// `common_overrides.server_tools_guardrails_config`: registration checks of every
    /// server's tool names, descriptions and schemas at discovery.
    pub tools_guardrails: Option<GuardrailPolicy>,
}

impl McpConfig {
    /// An mcp_config with no servers and an empty id (no real mcp_config has one): what a
    /// project without an mcp_config (`"mcp_config_id": null`) reaches.
    pub const fn empty() -> McpConfig {
        McpConfig {
            id: String::new(),
            name: None,
            servers: Vec::new(),
            tools_guardrails: None,
        }
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// A project (`projects.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The id (the JSON key).
    pub id: String,
    /// `project_name`.
    pub name: Option<String>,
    /// `mcp_config_id`: an existing mcp_config, or `None` when `null` or absent (the
    /// reference's `project create` writes `null` until `project assign-config`): no servers.
    pub mcp_config_id: Option<String>,
    /// `users`: member user ids ([]).
    pub users: Vec<String>,
    /// `created_at`, as written.
    pub created_at: Option<String>,
}

/// A user (`users.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id (the JSON key).
    pub id: String,
    /// `email`.
    pub email: Option<String>,
    /// `created_at`, as written.
    pub created_at: Option<String>,
}

/// How a gateway key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKey {
    /// The reference's format: the key itself, as the JSON key of `apikeys`.
    Plain(GatewayKey),
    /// Ours (`apikey_hashes.<id>`): HMAC-SHA-256 of the key under the secret beside the
    /// config ([`super::keystore`]), with a public id.
    Hashed {
        /// The public id (a new key's `mgw_<id>_`; any id for a migrated one).
        id: String,
        /// `key_hash`.
        hash: super::keystore::KeyHash,
    },
}

/// A gateway API key (`apikeys.<key>`, or ours, `apikey_hashes.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    /// The key, or its hash.
    pub key: StoredKey,
    /// `project_id`: an existing project.
    pub project_id: String,
    /// `user_id`: an existing user.
    pub user_id: String,
    /// `created_at`, as written.
    pub created_at: Option<String>,
    /// True when `disabled: true` (the reference CLI's flag), `is_active: false` or
    /// `status: "disabled"`.
    pub disabled: bool,
    /// `expires_at` (ours; Unix seconds): the key stops working then (the old key of a
    /// rotation with a grace period).
    pub expires_at: Option<u64>,
}

impl ApiKeyEntry {
    /// What listings and logs may show of the key: a hashed key's id, a plain key's first
    /// four characters.
    pub fn label(&self) -> String {
        match &self.key {
            StoredKey::Plain(k) => super::error::redact_key(k.expose()),
            StoredKey::Hashed { id, .. } => format!("{}{id}_…", super::keystore::KEY_PREFIX),
        }
    }
}

/// Lookup of a presented key: by a keyed hash for plain keys, by HMAC for hashed ones (one
/// hash and one map lookup, whatever the number of keys).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyIndex {
    /// The plain key's lookup hash (`validate::plain_lookup`) -> index in `apikeys`.
    pub plain: std::collections::HashMap<u128, usize>,
    /// HMAC of a hashed key -> index in `apikeys`.
    pub hashed: std::collections::HashMap<[u8; 32], usize>,
}

/// The remote guardrail provider (the reference's Enkrypt guardrail API).
#[derive(Clone, PartialEq)]
pub struct GuardrailProvider {
    /// `plugins.guardrails.provider` (`enkrypt` when absent); any other name turns the remote
    /// stage off.
    pub provider: String,
    /// `plugins.guardrails.config.api_key`, else `enkrypt_config.api_key`; a placeholder
    /// (`YOUR_ENKRYPT_API_KEY`, `null`, empty) counts as absent.
    pub api_key: Option<Secret>,
    /// `plugins.guardrails.config.base_url`, else `enkrypt_config.base_url`
    /// (`https://api.enkryptai.com`).
    pub base_url: String,
    /// `common_mcp_gateway_config.enkrypt_guardrails_fail_open` (false, ours): when the
    /// remote stage fails (timeout, error, bad answer), let the call through instead of
    /// blocking it.
    pub fail_open: bool,
}

impl Default for GuardrailProvider {
    fn default() -> Self {
        GuardrailProvider {
            provider: "enkrypt".to_string(),
            api_key: None,
            base_url: "https://api.enkryptai.com".to_string(),
            fail_open: false,
        }
    }
}

impl GuardrailProvider {
    /// True when a remote provider is configured (a real API key, provider `enkrypt`).
    pub fn remote_enabled(&self) -> bool {
        self.api_key.is_some() && self.provider.eq_ignore_ascii_case("enkrypt")
    }
}

impl fmt::Debug for GuardrailProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardrailProvider")
            .field("provider", &self.provider)
            .field("api_key", &self.api_key.as_ref().map(|_| "(hidden)"))
            .field("base_url", &self.base_url)
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

/// The whole configuration, validated. Cheap to share as `Arc<GatewayConfig>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatewayConfig {
    /// `common_mcp_gateway_config`.
    pub common: CommonConfig,
    /// `mcp_configs`, by id, in file order.
    pub mcp_configs: IndexMap<String, McpConfig>,
    /// `projects`, by id, in file order.
    pub projects: IndexMap<String, Project>,
    /// `users`, by id, in file order.
    pub users: IndexMap<String, User>,
    /// `apikeys` then `apikey_hashes`, in file order.
    pub apikeys: Vec<ApiKeyEntry>,
    /// Lookup of presented keys.
    pub key_index: KeyIndex,
    /// The secret hashed keys are checked with (read from beside the config file; `None`
    /// for a config parsed from text, or when there is none yet).
    pub key_secret: Option<super::keystore::KeySecret>,
    /// The remote guardrail provider's settings.
    pub guardrails: GuardrailProvider,
}

impl GatewayConfig {
    /// The mcp_config with this id.
    pub fn mcp_config(&self, id: &str) -> Option<&McpConfig> {
        self.mcp_configs.get(id)
    }

    /// The project with this id.
    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.get(id)
    }

    /// The user with this id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!(LogLevel::parse("INFO"), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse("warn"), Some(LogLevel::Warning));
        assert_eq!(
            LogLevel::parse("Critical").map(LogLevel::as_filter),
            Some("error")
        );
        assert_eq!(LogLevel::parse("loud"), None);
        assert_eq!(ToolsMode::parse("Direct"), Some(ToolsMode::Direct));
        assert_eq!(ToolsMode::parse("all"), None);
        assert_eq!(ToolsMode::Both.as_str(), "both");
    }

    #[test]
    fn tool_allow_and_deny_lists() {
        let mut s = ServerConfig {
            name: "gh".into(),
            description: None,
            upstream: UpstreamConfig::Stdio(StdioServer {
                command: "x".into(),
                args: vec![],
                env: vec![("TOKEN".into(), "s3cret".into())],
            }),
            tools: Map::new(),
            denied_tools: vec![DeniedTool::name("delete_repo")],
            enable_tool_guardrails: true,
            enable_server_info_validation: false,
            input_guardrails: None,
            output_guardrails: None,
            tool_guardrails: None,
        };
        assert!(s.allows_tool("anything"));
        assert!(!s.allows_tool("delete_repo"));
        s.tools.insert("read".into(), Value::Null);
        assert!(s.allows_tool("read"));
        assert!(!s.allows_tool("write"));
        let dbg = format!("{s:?}");
        assert!(dbg.contains("TOKEN") && !dbg.contains("s3cret"), "{dbg}");
    }
}
