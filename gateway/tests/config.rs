//! Integration tests of `gateway::config`: defaults, the seed documents' examples, validation
//! paths, round trips, file modes, generation, key resolution and hot reload.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gateway::config::{
    self, generate, load, parse, resolve_config_path, write_new, ConfigDocument, ConfigError,
    ConfigWatcher, GatewayConfig, GenerateOptions, KeyError, LogLevel, ParseError, RemoteTransport,
    ToolsMode, UpstreamConfig,
};
use serde_json::json;

fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}

fn ok(text: &str) -> GatewayConfig {
    match parse(text) {
        Ok(l) => l.config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn issues(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected an invalid config:\n{text}"),
        Err(ParseError::Invalid(v)) => v.issues().iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected validation issues, got {e}"),
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// Defaults and the seeds' examples

#[test]
fn empty_object_gets_every_default() {
    let c = ok("{}");
    let m = &c.common;
    assert_eq!(m.log_level, LogLevel::Info);
    assert!(!m.use_remote_mcp_config);
    assert_eq!(m.remote_mcp_gateway_name, None);
    assert!(!m.use_external_cache);
    assert_eq!(m.cache_host, "localhost");
    assert_eq!(m.cache_port, 6379);
    assert_eq!(m.cache_db, 0);
    assert!(m.cache_password.is_none());
    assert_eq!(m.tool_cache_ttl, hours(4.0));
    assert_eq!(m.gateway_cache_ttl, hours(24.0));
    assert!(!m.async_input_guardrails && !m.async_output_guardrails);
    assert!(!m.telemetry.enabled && m.telemetry.insecure);
    assert_eq!(m.telemetry.endpoint, "http://localhost:4317");
    let t = &m.timeouts;
    assert_eq!(
        [
            t.default,
            t.guardrail,
            t.auth,
            t.tool_execution,
            t.discovery,
            t.cache,
            t.connectivity
        ],
        [30, 15, 10, 60, 20, 5, 2].map(Duration::from_secs)
    );
    assert_eq!(m.embedded_cache_port, 6380);
    assert!(m.embedded_cache_password.is_none());
    assert_eq!(m.tools_mode, ToolsMode::Both);
    assert!(m.unprefixed_names);
    assert!(c.mcp_configs.is_empty() && c.projects.is_empty());
    assert!(c.users.is_empty() && c.apikeys.is_empty());
    assert_eq!(c, GatewayConfig::default());
}

/// Seed 000, "Quick Start with Docker", step 3.
#[test]
fn seed_quick_start_keydb() {
    let c = ok(r#"{
  "common_mcp_gateway_config": {
    "enkrypt_mcp_use_external_cache": true,
    "enkrypt_cache_host": "localhost",
    "enkrypt_cache_port": 6379,
    "enkrypt_cache_db": 0,
    "enkrypt_cache_password": "your-secure-password",
    "enkrypt_tool_cache_expiration": 4,
    "enkrypt_gateway_cache_expiration": 24
  }
}"#);
    let m = &c.common;
    assert!(m.use_external_cache);
    assert_eq!(
        (m.cache_host.as_str(), m.cache_port, m.cache_db),
        ("localhost", 6379, 0)
    );
    assert_eq!(
        m.cache_password.as_ref().map(|s| s.expose()),
        Some("your-secure-password")
    );
    assert_eq!(
        (m.tool_cache_ttl, m.gateway_cache_ttl),
        (hours(4.0), hours(24.0))
    );
    assert!(!format!("{c:?}").contains("your-secure-password"));
}

/// Seed 000, "Migration from Local to External Cache", step 2 (no db: default 0).
#[test]
fn seed_migration_snippet() {
    let c = ok(r#"{
  "common_mcp_gateway_config": {
    "enkrypt_mcp_use_external_cache": true,
    "enkrypt_cache_host": "localhost",
    "enkrypt_cache_port": 6379,
    "enkrypt_cache_password": "your-password"
  }
}"#);
    assert!(c.common.use_external_cache);
    assert_eq!(c.common.cache_db, 0);
    assert_eq!(c.common.tool_cache_ttl, hours(4.0));
}

/// Seed 003, "Distributed with External Cache" (written with spaces before the colons).
#[test]
fn seed_distributed_snippet() {
    let c = ok(r#"{
"common_mcp_gateway_config" : {
"enkrypt_mcp_use_external_cache" : true ,
"enkrypt_cache_host" : "redis.internal.example.com" ,
"enkrypt_cache_port" : 6379 ,
"enkrypt_cache_db" : 0 ,
"enkrypt_cache_password" : "your_redis_password" ,
"enkrypt_tool_cache_expiration" : 4 ,
"enkrypt_gateway_cache_expiration" : 24
}
}"#);
    assert_eq!(c.common.cache_host, "redis.internal.example.com");
    assert!(c.common.use_external_cache);
}

/// Seed 003, "Scaling Steps", step 1.
#[test]
fn seed_scaling_snippet() {
    let c = ok(r#"{
"common_mcp_gateway_config" : {
"enkrypt_mcp_use_external_cache" : true ,
"enkrypt_cache_host" : "redis.internal" ,
"enkrypt_cache_port" : 6379
}
}"#);
    assert_eq!(c.common.cache_host, "redis.internal");
}

/// Seed 003 shows timeout and async-guardrail settings as top-level snippets; a file written
/// that way gets what it says (the common section would win if it had the same keys).
#[test]
fn seed_top_level_snippets_are_honoured() {
    let c = ok(r#"{
"timeout_settings" : {
"default_timeout" : 30 ,
"guardrail_timeout" : 15 ,
"auth_timeout" : 10 ,
"tool_execution_timeout" : 60 ,
"discovery_timeout" : 20 ,
"cache_timeout" : 5 ,
"connectivity_timeout" : 2
}
}"#);
    assert_eq!(c.common.timeouts, Default::default());
    let c = ok(r#"{
"enkrypt_async_input_guardrails_enabled" : true ,
"enkrypt_async_output_guardrails_enabled" : true
}"#);
    assert!(c.common.async_input_guardrails && c.common.async_output_guardrails);
    let c = ok(
        r#"{"enkrypt_cache_port": 1111, "timeout_settings": {"auth_timeout": 1},
        "common_mcp_gateway_config": {"enkrypt_cache_port": 2222}}"#,
    );
    assert_eq!(c.common.cache_port, 2222);
    assert_eq!(c.common.timeouts.auth, Duration::from_secs(1));
    let e = issues(r#"{"enkrypt_cache_port": "abc"}"#);
    assert_eq!(
        e,
        [r#"enkrypt_cache_port: expected an integer 1..65535, got "abc""#]
    );
}

/// Seed 003, "Cache Configuration", has `//` comments: not JSON (the reference rejects it
/// too); the error points at the comment.
#[test]
fn seed_snippet_with_comments_reports_line_and_column() {
    let text = r#"{
"common_mcp_gateway_config" : {
"enkrypt_tool_cache_expiration" : 4 , // 4 hours (tool discovery)
"enkrypt_gateway_cache_expiration" : 24 // 24 hours (gateway config)
}
}"#;
    match parse(text) {
        Err(ParseError::Json { line, column, .. }) => assert_eq!((line, column), (3, 39)),
        other => panic!("{other:?}"),
    }
}

/// The reference product's own example config (condensed): placeholder ids, `plugins`,
/// `escalation_policies`, older guardrail policy names.
#[test]
fn reference_example_config_loads() {
    let c = ok(r#"{
  "common_mcp_gateway_config": {
    "enkrypt_log_level": "INFO",
    "enkrypt_use_remote_mcp_config": false,
    "enkrypt_remote_mcp_gateway_name": "enkrypt-secure-mcp-gateway-1",
    "enkrypt_remote_mcp_gateway_version": "v1",
    "enkrypt_cache_password": null,
    "timeout_settings": {
      "default_timeout": 30,
      "escalation_policies": {"warn_threshold": 0.8, "timeout_threshold": 1.0, "fail_threshold": 1.2}
    }
  },
  "plugins": {"auth": {"provider": "local_apikey", "config": {}}},
  "mcp_configs": {
    "UNIQUE_MCP_CONFIG_ID": {
      "mcp_config_name": "default_config",
      "mcp_config": [{
        "server_name": "echo_server",
        "description": "Dummy Echo Server",
        "config": {"command": "python", "args": ["PATH_TO_YOUR_ECHO_MCP_FILE"]},
        "tools": {},
        "enable_tool_guardrails": true,
        "input_guardrails_policy": {
          "enabled": false,
          "policy_name": "Sample Airline Guardrail",
          "additional_config": {"pii_redaction": false},
          "block": ["policy_violation", "injection_attack"]
        },
        "output_guardrails_policy": {
          "enabled": false,
          "policy_name": "Sample Airline Guardrail",
          "additional_config": {"relevancy": false},
          "block": ["nsfw"]
        }
      }]
    }
  },
  "projects": {
    "UNIQUE_PROJECT_ID": {
      "project_name": "default_project",
      "mcp_config_id": "UNIQUE_MCP_CONFIG_ID",
      "users": ["UNIQUE_USER_ID"],
      "created_at": "2025-01-01T00:00:00.000000"
    }
  },
  "users": {"UNIQUE_USER_ID": {"email": "default@example.com", "created_at": "2025-01-01T00:00:00.000000"}},
  "apikeys": {
    "UNIQUE_GATEWAY_KEY": {"project_id": "UNIQUE_PROJECT_ID", "user_id": "UNIQUE_USER_ID",
                           "created_at": "2025-01-01T00:00:00.000000"}
  }
}"#);
    assert_eq!(c.common.remote_mcp_gateway_version.as_deref(), Some("v1"));
    let r = c.resolve_key("UNIQUE_GATEWAY_KEY").unwrap();
    let s = r.mcp_config.server("echo_server").unwrap();
    assert!(s.allows_tool("echo") && s.enable_tool_guardrails);
    let input = s.input_guardrails.as_ref().unwrap();
    assert_eq!(
        input.policy_name.as_deref(),
        Some("Sample Airline Guardrail")
    );
    assert_eq!(input.block, ["policy_violation", "injection_attack"]);
    assert_eq!(input.additional_config["pii_redaction"], json!(false));
    assert_eq!(s.output_guardrails.as_ref().unwrap().block, ["nsfw"]);
    match &s.upstream {
        UpstreamConfig::Stdio(st) => assert_eq!(st.command, "python"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn partial_timeouts_fill_the_rest_and_fractions_are_allowed() {
    let c = ok(r#"{"common_mcp_gateway_config": {"timeout_settings":
        {"tool_execution_timeout": 120.5, "connectivity_timeout": 0.25}}}"#);
    let t = c.common.timeouts;
    assert_eq!(t.tool_execution, Duration::from_millis(120_500));
    assert_eq!(t.connectivity, Duration::from_millis(250));
    assert_eq!(t.default, Duration::from_secs(30));
    assert_eq!(t.discovery, Duration::from_secs(20));
}

#[test]
fn fractional_hours() {
    let c = ok(r#"{"common_mcp_gateway_config": {
        "enkrypt_tool_cache_expiration": 0.5, "enkrypt_gateway_cache_expiration": "1.5"}}"#);
    assert_eq!(c.common.tool_cache_ttl, Duration::from_secs(1800));
    assert_eq!(c.common.gateway_cache_ttl, Duration::from_secs(5400));
}

#[test]
fn our_keys_and_remote_servers() {
    let c = ok(r#"{
  "common_mcp_gateway_config": {
    "enkrypt_log_level": "debug",
    "enkrypt_embedded_cache_port": 0,
    "enkrypt_embedded_cache_password": "pw",
    "enkrypt_gateway_tools_mode": "meta",
    "enkrypt_gateway_unprefixed_names": false,
    "enkrypt_telemetry": {"enabled": true}
  },
  "mcp_configs": {"m": {"mcp_config": [
    {"server_name": "remote", "config": {"url": "https://mcp.example.com/mcp/",
      "headers": {"Authorization": "Bearer t0ken"}},
     "tools": {"search": {}}, "denied_tools": ["search"],
     "input_guardrails_policy": {"enabled": false, "policy_name": "old"},
     "input_guardrails_config": {"enabled": true, "policy_name": "new"}},
    {"server_name": "legacy", "config": {"url": "http://localhost:9000/sse", "transport": "SSE"}}
  ]}}
}"#);
    let m = &c.common;
    assert_eq!(m.log_level, LogLevel::Debug);
    assert_eq!(m.embedded_cache_port, 0);
    assert_eq!(m.embedded_cache_password.as_ref().unwrap().expose(), "pw");
    assert_eq!(m.tools_mode, ToolsMode::Meta);
    assert!(!m.unprefixed_names);
    assert!(m.telemetry.enabled && m.telemetry.insecure);
    let mc = c.mcp_config("m").unwrap();
    let remote = mc.server("remote").unwrap();
    match &remote.upstream {
        UpstreamConfig::Remote(r) => {
            assert_eq!(r.transport, RemoteTransport::StreamableHttp);
            assert_eq!(r.headers, [("Authorization".into(), "Bearer t0ken".into())]);
        }
        other => panic!("{other:?}"),
    }
    assert!(!remote.allows_tool("search") && !remote.allows_tool("other"));
    let policy = remote.input_guardrails.as_ref().unwrap();
    assert_eq!(
        (policy.enabled, policy.policy_name.as_deref()),
        (true, Some("new"))
    );
    match &mc.server("legacy").unwrap().upstream {
        UpstreamConfig::Remote(r) => assert_eq!(r.transport, RemoteTransport::Sse),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{c:?}").contains("t0ken"));
}

// ---------------------------------------------------------------------------------------------
// Validation: every error names its path

/// A valid skeleton; `$SERVER` is replaced with one server object.
const SKELETON: &str = r#"{
  "mcp_configs": {"11111111-1111-4111-8111-111111111111": {"mcp_config_name": "c", "mcp_config": [$SERVER]}},
  "projects": {"p": {"mcp_config_id": "11111111-1111-4111-8111-111111111111", "users": ["u"]}},
  "users": {"u": {"email": "u@example.com"}},
  "apikeys": {"GATEWAYKEY-0123456789": {"project_id": "p", "user_id": "u"}}
}"#;
const CFG: &str = "mcp_configs.11111111-1111-4111-8111-111111111111";

fn with_server(server: &str) -> String {
    SKELETON.replace("$SERVER", server)
}

#[test]
fn common_section_errors_name_their_paths() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"enkrypt_cache_port": "abc"}"#,
            r#"common_mcp_gateway_config.enkrypt_cache_port: expected an integer 1..65535, got "abc""#,
        ),
        (
            r#"{"enkrypt_cache_port": 70000}"#,
            "common_mcp_gateway_config.enkrypt_cache_port: expected an integer 1..65535, got 70000",
        ),
        (
            r#"{"enkrypt_cache_db": 16}"#,
            "common_mcp_gateway_config.enkrypt_cache_db: expected an integer 0..15, got 16",
        ),
        (
            r#"{"enkrypt_cache_db": 1.5}"#,
            "common_mcp_gateway_config.enkrypt_cache_db: expected an integer 0..15, got 1.5",
        ),
        (
            r#"{"enkrypt_tool_cache_expiration": 0}"#,
            "common_mcp_gateway_config.enkrypt_tool_cache_expiration: expected a number of hours > 0, got 0",
        ),
        (
            r#"{"enkrypt_gateway_cache_expiration": -2}"#,
            "common_mcp_gateway_config.enkrypt_gateway_cache_expiration: expected a number of hours > 0, got -2",
        ),
        (
            r#"{"enkrypt_mcp_use_external_cache": "yes"}"#,
            r#"common_mcp_gateway_config.enkrypt_mcp_use_external_cache: expected true or false, got "yes""#,
        ),
        (
            r#"{"enkrypt_log_level": "LOUD"}"#,
            r#"common_mcp_gateway_config.enkrypt_log_level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got "LOUD""#,
        ),
        (
            r#"{"enkrypt_cache_host": ""}"#,
            "common_mcp_gateway_config.enkrypt_cache_host: must not be empty",
        ),
        (
            r#"{"enkrypt_cache_password": 42}"#,
            "common_mcp_gateway_config.enkrypt_cache_password: expected a string or null, got a number",
        ),
        (
            r#"{"enkrypt_gateway_tools_mode": "all"}"#,
            r#"common_mcp_gateway_config.enkrypt_gateway_tools_mode: expected one of "meta", "direct", "both", got "all""#,
        ),
        (
            r#"{"enkrypt_telemetry": {"enabled": 1}}"#,
            "common_mcp_gateway_config.enkrypt_telemetry.enabled: expected true or false, got 1",
        ),
        (
            r#"{"enkrypt_telemetry": []}"#,
            "common_mcp_gateway_config.enkrypt_telemetry: expected an object, got a list",
        ),
        (
            r#"{"timeout_settings": {"auth_timeout": 0}}"#,
            "common_mcp_gateway_config.timeout_settings.auth_timeout: expected a number of seconds > 0, got 0",
        ),
        (
            r#"{"timeout_settings": {"cache_timeout": "soon"}}"#,
            r#"common_mcp_gateway_config.timeout_settings.cache_timeout: expected a number of seconds > 0, got "soon""#,
        ),
        (
            r#"{"enkrypt_embedded_cache_port": -1}"#,
            "common_mcp_gateway_config.enkrypt_embedded_cache_port: expected an integer 0..65535, got -1",
        ),
    ];
    for (common, expected) in cases {
        let text = format!(r#"{{"common_mcp_gateway_config": {common}}}"#);
        assert_eq!(issues(&text), [*expected], "for {common}");
    }
    assert_eq!(
        issues(r#"{"common_mcp_gateway_config": 5}"#),
        ["common_mcp_gateway_config: expected an object, got 5"]
    );
}

#[test]
fn server_errors_name_their_paths() {
    let p = format!("{CFG}.mcp_config[0]");
    let cases: Vec<(&str, String)> = vec![
        (
            r#"{"config": {"command": "x"}}"#,
            format!("{p}.server_name: missing (every server needs a unique server_name)"),
        ),
        (
            r#"{"server_name": "", "config": {"command": "x"}}"#,
            format!("{p}.server_name: must not be empty"),
        ),
        (
            r#"{"server_name": 7, "config": {"command": "x"}}"#,
            format!("{p}.server_name: expected a string, got 7"),
        ),
        (
            r#"{"server_name": "a__b", "config": {"command": "x"}}"#,
            format!(
                r#"{p}.server_name: "a__b" contains "__", which separates server and tool in namespaced tool names"#
            ),
        ),
        (
            r#"{"server_name": "s"}"#,
            format!(
                r#"{p}.config: missing (expected {{"command": ...}} for a stdio server or {{"url": ...}} for a remote one)"#
            ),
        ),
        (
            r#"{"server_name": "s", "config": {}}"#,
            format!(r#"{p}.config: expected "command" (stdio server) or "url" (remote server)"#),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x", "url": "http://h"}}"#,
            format!(
                r#"{p}.config: has both "command" (stdio server) and "url" (remote server); keep one"#
            ),
        ),
        (
            r#"{"server_name": "s", "config": {"command": ""}}"#,
            format!("{p}.config.command: must not be empty"),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x", "args": ["a", 2]}}"#,
            format!("{p}.config.args[1]: expected a string, got 2"),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x", "args": "a b"}}"#,
            format!(r#"{p}.config.args: expected a list of strings, got "a b""#),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x", "env": {"TOKEN": 5}}}"#,
            format!("{p}.config.env.TOKEN: expected a string, got a number"),
        ),
        (
            r#"{"server_name": "s", "config": {"url": "ftp://h"}}"#,
            format!(r#"{p}.config.url: expected an http:// or https:// URL, got "ftp://h""#),
        ),
        (
            r#"{"server_name": "s", "config": {"url": "http://h", "transport": "ws"}}"#,
            format!(r#"{p}.config.transport: expected "streamable-http" or "sse", got "ws""#),
        ),
        (
            r#"{"server_name": "s", "config": {"url": "http://h", "headers": []}}"#,
            format!("{p}.config.headers: expected an object of strings, got a list"),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x"}, "tools": 3}"#,
            format!("{p}.tools: expected an object of tool names (empty = all tools), got 3"),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x"}, "denied_tools": [true]}"#,
            format!(
                r#"{p}.denied_tools[0]: expected a tool name, a glob pattern or {{"name", "reason", "description"}}, got true"#
            ),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x"}, "enable_tool_guardrails": "no"}"#,
            format!(r#"{p}.enable_tool_guardrails: expected true or false, got "no""#),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x"}, "output_guardrails_config": {"block": "pii"}}"#,
            format!(r#"{p}.output_guardrails_config.block: expected a list of strings, got "pii""#),
        ),
        (
            r#"{"server_name": "s", "config": {"command": "x"}, "input_guardrails_policy": {"additional_config": 1}}"#,
            format!("{p}.input_guardrails_policy.additional_config: expected an object, got 1"),
        ),
        ("42", format!("{p}: expected an object (a server), got 42")),
    ];
    for (server, expected) in cases {
        assert_eq!(issues(&with_server(server)), [expected], "for {server}");
    }
}

#[test]
fn duplicate_server_names_are_reported_at_the_second() {
    let text = with_server(
        r#"{"server_name": "github", "config": {"command": "a"}},
           {"server_name": "echo", "config": {"command": "b"}},
           {"server_name": "github", "config": {"command": "c"}}"#,
    );
    assert_eq!(
        issues(&text),
        [format!(
            r#"{CFG}.mcp_config[2].server_name: duplicate server name "github" (also at mcp_config[0])"#
        )]
    );
    // The same name in two different mcp_configs is fine.
    ok(r#"{"mcp_configs": {
        "a": {"mcp_config": [{"server_name": "github", "config": {"command": "a"}}]},
        "b": {"mcp_config": [{"server_name": "github", "config": {"command": "a"}}]}}}"#);
}

#[test]
fn cross_reference_errors_redact_keys() {
    let text = r#"{
      "mcp_configs": {"m": {"mcp_config": []}},
      "projects": {"p": {"mcp_config_id": "nope"}, "q": {"mcp_config_id": "m"}},
      "users": {"u": {}},
      "apikeys": {
        "SECRETKEY-abcdefghijkl": {"project_id": "missing", "user_id": "u"},
        "OTHERKEY-abcdefghijkl": {"project_id": "q", "user_id": "ghost"},
        "THIRDKEY-abcdefghijkl": {"user_id": "u"},
        "TINY": {"project_id": "q", "user_id": "u", "is_active": "no"}
      }
    }"#;
    let e = issues(text);
    assert_eq!(
        e,
        [
            r#"projects.p.mcp_config_id: unknown mcp_config "nope""#,
            r#"apikeys.SECR….project_id: unknown project "missing""#,
            r#"apikeys.OTHE….user_id: unknown user "ghost""#,
            "apikeys.THIR….project_id: missing",
            r#"apikeys.….is_active: expected true or false, got "no""#,
        ]
    );
    let all = e.join("\n");
    for key in ["SECRETKEY", "OTHERKEY", "THIRDKEY", "TINY"] {
        assert!(!all.contains(key), "{all}");
    }
    // The file-level error carries the same redacted text.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, text).unwrap();
    let msg = load(&path).unwrap_err().to_string();
    assert!(
        msg.contains("apikeys.SECR….project_id") && !msg.contains("SECRETKEY"),
        "{msg}"
    );
}

#[test]
fn sections_must_be_objects_and_entries_too() {
    assert_eq!(
        issues(r#"{"mcp_configs": [], "projects": "x", "users": 1, "apikeys": true}"#),
        [
            "mcp_configs: expected an object, got a list",
            r#"projects: expected an object, got "x""#,
            "users: expected an object, got 1",
            "apikeys: expected an object, got true",
        ]
    );
    assert_eq!(
        issues(r#"{"mcp_configs": {"m": {"mcp_config": {}}}, "users": {"u": {"email": 3}}}"#),
        [
            "mcp_configs.m.mcp_config: expected a list of servers, got an object",
            "users.u.email: expected a string, got 3",
        ]
    );
}

#[test]
fn invalid_json_reports_line_and_column_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    fs::write(
        &path,
        "{\n  \"common_mcp_gateway_config\": {\n    \"enkrypt_cache_port\": 6379,\n  }\n}\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    match &err {
        ConfigError::Parse {
            source: ParseError::Json { line, column, .. },
            ..
        } => assert_eq!((*line, *column), (4, 3)),
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "config file {}: invalid JSON at line 4, column 3",
            path.display()
        )),
        "{msg}"
    );
    assert!(matches!(
        load(&dir.path().join("none.json")),
        Err(ConfigError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Round trips and files

const WITH_UNKNOWN_KEYS: &str = r#"{
  "zzz_first": {
    "nested": [
      1,
      2.5,
      "x"
    ]
  },
  "common_mcp_gateway_config": {
    "enkrypt_cache_port": 6379,
    "future_option": {
      "b": 1,
      "a": 2
    },
    "timeout_settings": {
      "default_timeout": 30,
      "escalation_policies": {
        "warn_threshold": 0.8
      }
    }
  },
  "plugins": {
    "telemetry": {
      "provider": "opentelemetry"
    }
  },
  "mcp_configs": {
    "m": {
      "mcp_config_name": "c",
      "mcp_config": [
        {
          "server_name": "s",
          "config": {
            "command": "x",
            "cwd": "/tmp"
          },
          "oauth_config": {
            "enabled": false
          },
          "tool_guardrails_policy": {
            "enabled": false,
            "extra": null
          }
        }
      ],
      "owner": "team-a"
    }
  },
  "projects": {},
  "users": {},
  "apikeys": {},
  "admin_apikey": "kept"
}
"#;

#[test]
fn unknown_keys_survive_load_and_save_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, WITH_UNKNOWN_KEYS).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.document.to_json_pretty(), WITH_UNKNOWN_KEYS);
    let out = dir.path().join("out.json");
    loaded.document.save(&out).unwrap();
    assert_eq!(fs::read_to_string(&out).unwrap(), WITH_UNKNOWN_KEYS);
    assert_eq!(load(&out).unwrap().config, loaded.config);
}

#[test]
fn edits_through_the_document_keep_other_keys() {
    let mut doc = ConfigDocument::parse_str(WITH_UNKNOWN_KEYS).unwrap();
    doc.root_mut()["common_mcp_gateway_config"]["enkrypt_cache_port"] = json!(7000);
    let cfg = doc.validate().unwrap();
    assert_eq!(cfg.common.cache_port, 7000);
    let text = doc.to_json_pretty();
    assert!(text.contains("\"future_option\"") && text.contains("\"owner\": \"team-a\""));
    let first_key = doc.root().keys().next().unwrap();
    assert_eq!(first_key, "zzz_first");
}

#[cfg(unix)]
#[test]
fn generated_file_is_private_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("fresh")
        .join(".enkrypt")
        .join("enkrypt_mcp_config.json");
    let w = write_new(&path, &GenerateOptions::default(), false).unwrap();
    assert!(w.backup.is_none());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.config, w.generated.config);
    let g = &w.generated;
    assert!(g.api_key.expose().len() >= 48);
    let r = loaded.config.resolve_key(g.api_key.expose()).unwrap();
    assert_eq!(
        (r.project_id(), r.user_id(), r.mcp_config_id()),
        (
            g.project_id.as_str(),
            g.user_id.as_str(),
            g.mcp_config_id.as_str()
        )
    );
    let echo = r.mcp_config.server("echo").unwrap();
    match &echo.upstream {
        UpstreamConfig::Stdio(s) => {
            assert_eq!(Path::new(&s.command), std::env::current_exe().unwrap());
            assert_eq!(s.args, ["demo-server"]);
        }
        other => panic!("{other:?}"),
    }
    let pw = loaded.config.common.embedded_cache_password.unwrap();
    assert_eq!(pw.expose().len(), 32);
    // No temp file left behind: the config and the secret its key is hashed with.
    let mut names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            std::ffi::OsString::from("enkrypt_gateway_keys.secret"),
            std::ffi::OsString::from("enkrypt_mcp_config.json")
        ]
    );
    assert_eq!(
        mode(&path.with_file_name("enkrypt_gateway_keys.secret")),
        0o600
    );
}

#[cfg(unix)]
#[test]
fn save_replaces_modes_of_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, "{}").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    load(&path).unwrap().document.save(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn write_new_refuses_to_overwrite_unless_asked_and_then_backs_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enkrypt_mcp_config.json");
    fs::write(&path, "{\"old\": true}").unwrap();
    let err = write_new(&path, &GenerateOptions::default(), false).unwrap_err();
    assert!(matches!(err, ConfigError::Exists { .. }), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"old\": true}");

    let first = write_new(&path, &GenerateOptions::default(), true).unwrap();
    let backup = first.backup.unwrap();
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    let secs = name.strip_prefix("enkrypt_mcp_config.json.bak.").unwrap();
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{name}");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "{\"old\": true}");
    assert_eq!(mode(&backup), 0o600);
    assert_eq!(mode(&path), 0o600);

    // A second overwrite in the same second gets its own backup name.
    let second = write_new(&path, &GenerateOptions::default(), true).unwrap();
    let backup2 = second.backup.unwrap();
    assert_ne!(backup2, backup);
    let old = load(&backup2).unwrap();
    assert!(old
        .config
        .resolve_key(first.generated.api_key.expose())
        .is_ok());
    assert_ne!(first.generated.api_key, second.generated.api_key);
}

// ---------------------------------------------------------------------------------------------
// Identity

#[test]
fn key_resolution_ok_unknown_disabled() {
    let g = generate(&GenerateOptions::default()).unwrap();
    let key = g.api_key.expose().to_string();
    assert!(g.config.resolve_key(&key).is_ok());
    assert_eq!(g.config.resolve_key("nope").unwrap_err(), KeyError::Unknown);
    assert_eq!(
        g.config.resolve_key(&key[..key.len() - 1]).unwrap_err(),
        KeyError::Unknown
    );

    for (field, value) in [
        ("disabled", json!(true)),
        ("is_active", json!(false)),
        ("status", json!("disabled")),
    ] {
        let mut doc = g.document.clone();
        doc.root_mut()["apikeys"][&key][field] = value;
        let cfg = doc.validate().unwrap();
        assert_eq!(
            cfg.resolve_key(&key).unwrap_err(),
            KeyError::Disabled,
            "{field}"
        );
    }
    let mut doc = g.document.clone();
    doc.root_mut()["apikeys"][&key]["is_active"] = json!(true);
    doc.root_mut()["apikeys"][&key]["status"] = json!("active");
    assert!(doc.validate().unwrap().resolve_key(&key).is_ok());
}

#[test]
fn cache_keys_are_hashed() {
    assert_eq!(
        config::keys::tool_cache_key("cfg-123", "github"),
        "enkrypt:tools:eaaea06c00e0cbb11d29c6f7988ad4d1"
    );
    assert_eq!(
        config::keys::key_to_id_key("my-gateway-key"),
        "enkrypt:key_to_id:3f83583cac0f95206f86aad6a1c9d974"
    );
}

#[test]
fn config_path_precedence_flag_then_env() {
    // The only test in this binary that touches ENKRYPT_CONFIG_PATH.
    let flag = Path::new("/tmp/flag.json");
    std::env::set_var(config::CONFIG_PATH_ENV, "/tmp/env.json");
    assert_eq!(resolve_config_path(Some(flag)), flag);
    assert_eq!(resolve_config_path(None), Path::new("/tmp/env.json"));
    std::env::remove_var(config::CONFIG_PATH_ENV);
    let fallback = resolve_config_path(None);
    assert!(
        fallback.ends_with("enkrypt_mcp_config.json"),
        "{}",
        fallback.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Reload

async fn next_change(
    rx: &mut tokio::sync::watch::Receiver<Arc<GatewayConfig>>,
) -> Arc<GatewayConfig> {
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("no reload within 10 s")
        .expect("watcher stopped");
    rx.borrow_and_update().clone()
}

#[tokio::test]
async fn reload_picks_up_changes_and_ignores_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": 1001}}"#,
    )
    .unwrap();
    let (watcher, mut rx) = ConfigWatcher::start(&path, Duration::from_millis(20)).unwrap();
    assert_eq!(watcher.path(), path);
    assert_eq!(rx.borrow().common.cache_port, 1001);

    // A valid change (same length: only the content hash tells it apart).
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": 1002}}"#,
    )
    .unwrap();
    assert_eq!(next_change(&mut rx).await.common.cache_port, 1002);

    // Invalid JSON, then an invalid value: both ignored.
    fs::write(&path, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": "abc"}}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!rx.has_changed().unwrap());
    assert_eq!(rx.borrow().common.cache_port, 1002);

    // A deleted file keeps the config too.
    fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!rx.has_changed().unwrap());

    // Fixed again (written atomically, as `save` does): picked up.
    let mut doc = ConfigDocument::parse_str("{}").unwrap();
    doc.root_mut().insert(
        "common_mcp_gateway_config".into(),
        json!({"enkrypt_cache_port": 1003}),
    );
    doc.save(&path).unwrap();
    assert_eq!(next_change(&mut rx).await.common.cache_port, 1003);

    // A change that does not alter the configuration (formatting only) publishes nothing.
    fs::write(
        &path,
        "{\"common_mcp_gateway_config\":{\"enkrypt_cache_port\":1003}}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!rx.has_changed().unwrap());
    drop(watcher);
}

#[tokio::test]
async fn watcher_start_fails_on_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, r#"{"apikeys": {"k": {}}}"#).unwrap();
    let err = ConfigWatcher::start(&path, Duration::from_millis(20)).unwrap_err();
    assert!(err.validation().is_some(), "{err}");
}

/// Captures formatted log output of the current thread.
#[derive(Clone, Default)]
struct LogBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }

    /// Waits (up to 10 s) until `needle` has been logged `n` times.
    async fn wait_for(&self, needle: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count(needle) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{needle:?} not logged {n} times"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn an_invalid_file_is_logged_once_per_change_without_secrets() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let g = generate(&GenerateOptions::default()).unwrap();
    g.document.save(&path).unwrap();
    let (_watcher, rx) = ConfigWatcher::start(&path, Duration::from_millis(10)).unwrap();

    // An apikey pointing at an unknown project: invalid, and its path involves the key.
    let mut doc = g.document.clone();
    doc.root_mut()["apikeys"][g.api_key.expose()]["project_id"] = json!("gone");
    fs::write(&path, doc.to_json_pretty()).unwrap();
    logs.wait_for("keeping the current configuration", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // ~20 more polls
    assert_eq!(logs.count("keeping the current configuration"), 1);
    assert_eq!(logs.count(r#"unknown project "gone""#), 1);

    fs::write(&path, "{").unwrap();
    logs.wait_for("keeping the current configuration", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(logs.count("keeping the current configuration"), 2);
    assert!(!rx.has_changed().unwrap());

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(!text.contains(g.api_key.expose()), "{text}");
    let pw = g.config.common.embedded_cache_password.as_ref().unwrap();
    assert!(!text.contains(pw.expose()));
}
