//! Integration tests of `gateway::config`: defaults, the seed documents' examples and
//! validation paths. Files, generation, key resolution and hot reload: `config_files.rs`.

mod common_gw;

use std::fs;
use std::time::Duration;

use common_gw::{config_issues, valid_config};
use gateway::config::{
    load, parse, ConfigError, GatewayConfig, LogLevel, ParseError, RemoteTransport, ToolsMode,
    UpstreamConfig,
};
use serde_json::json;

fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}

fn ok(text: &str) -> GatewayConfig {
    valid_config(text)
}

fn issues(text: &str) -> Vec<String> {
    config_issues(text)
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
