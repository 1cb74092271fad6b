//! Config entries the reference gateway reads that this one must read the same way: projects
//! without an mcp_config, `denied_tools` objects and globs, `"type": "sse"`, the log level and
//! format, the cache lifetimes in hours or minutes, and the 2.1 and 2.2 spellings of the same
//! guardrail settings.

mod common_gw;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common_gw::*;
use gateway::config::{parse, GatewayConfig, ParseError, RemoteTransport, UpstreamConfig};
use gateway::guard::policy::ServerPolicies;
use serde_json::{json, Value};

fn ok(text: &str) -> GatewayConfig {
    valid_config(text)
}

fn issues(text: &str) -> Vec<String> {
    config_issues(text)
}

fn one_server(server: Value) -> String {
    json!({ "mcp_configs": { "m": { "mcp_config": [server] } } }).to_string()
}
// ---------------------------------------------------------------------------------------------
// Projects without an mcp_config

#[test]
fn null_or_absent_mcp_config_id_means_no_servers() {
    let c = ok(r#"{
      "mcp_configs": {"m": {"mcp_config": [{"server_name": "s", "config": {"command": "x"}}]}},
      "projects": {"p": {"project_name": "new", "mcp_config_id": null, "users": ["u"]},
                   "q": {"project_name": "bare", "users": ["u"]}},
      "users": {"u": {}},
      "apikeys": {"key-null-0123456789": {"project_id": "p", "user_id": "u"},
                  "key-bare-0123456789": {"project_id": "q", "user_id": "u"}}
    }"#);
    for key in ["key-null-0123456789", "key-bare-0123456789"] {
        let r = c.resolve_key(key).expect("the key authenticates");
        assert!(r.mcp_config.servers.is_empty(), "{key}");
        assert_eq!(r.mcp_config_id(), "");
    }
    assert_eq!(
        issues(r#"{"projects": {"p": {"mcp_config_id": ""}}}"#),
        ["projects.p.mcp_config_id: must not be empty (null: no mcp_config yet)"]
    );
}

// ---------------------------------------------------------------------------------------------
// denied_tools

#[test]
fn denied_tools_take_names_globs_and_objects() {
    let c = ok(&one_server(json!({
        "server_name": "s", "config": {"command": "x"},
        "denied_tools": ["crash", "delete_*", "b?d", {"name": "add", "reason": "Not here", "description": "d"},
                         {"name": "rm[0-9]"}]
    })));
    let s = c.mcp_config("m").unwrap().server("s").unwrap();
    for denied in ["crash", "delete_repo", "delete_", "bad", "add", "rm1"] {
        assert!(!s.allows_tool(denied), "{denied}");
    }
    for allowed in [
        "crashed",
        "undelete_repo",
        "Delete_repo",
        "bard",
        "adds",
        "rmx",
        "echo",
    ] {
        assert!(s.allows_tool(allowed), "{allowed}");
    }
}

#[test]
fn deny_all_spares_only_the_allow_list() {
    let c = ok(&one_server(json!({
        "server_name": "s", "config": {"command": "x"},
        "tools": {"search": {}, "read": {}}, "denied_tools": ["*"]
    })));
    let s = c.mcp_config("m").unwrap().server("s").unwrap();
    assert!(s.allows_tool("search") && s.allows_tool("read"));
    assert!(!s.allows_tool("write"));
}

#[test]
fn bad_denied_entries_name_their_paths() {
    let p = "mcp_configs.m.mcp_config[0].denied_tools";
    assert_eq!(
        issues(&one_server(json!({
            "server_name": "s", "config": {"command": "x"},
            "denied_tools": [true, {"reason": "no name"}, {"name": ""}, {"name": "x", "reason": 3}]
        }))),
        [
            format!("{p}[0]: expected a tool name, a glob pattern or {{\"name\", \"reason\", \"description\"}}, got true"),
            format!("{p}[1].name: missing"),
            format!("{p}[2].name: must not be empty"),
            format!("{p}[3].reason: expected a string, got 3"),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Transports

fn transport_of(config: Value) -> Result<RemoteTransport, Vec<String>> {
    let text = one_server(json!({ "server_name": "s", "config": config }));
    match parse(&text) {
        Ok(l) => match &l.config.mcp_config("m").unwrap().servers[0].upstream {
            UpstreamConfig::Remote(r) => Ok(r.transport),
            other => panic!("{other:?}"),
        },
        Err(ParseError::Invalid(v)) => Err(v.issues().iter().map(ToString::to_string).collect()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn type_sse_means_the_sse_transport() {
    let url = "https://h/sse";
    assert_eq!(
        transport_of(json!({"url": url, "type": "sse"})),
        Ok(RemoteTransport::Sse)
    );
    assert_eq!(
        transport_of(json!({"url": url, "type": "SSE"})),
        Ok(RemoteTransport::Sse)
    );
    assert_eq!(
        transport_of(json!({"url": url, "type": "http"})),
        Ok(RemoteTransport::StreamableHttp)
    );
    assert_eq!(
        transport_of(json!({"url": url})),
        Ok(RemoteTransport::StreamableHttp)
    );
    // An explicit transport wins over type, as in the reference.
    assert_eq!(
        transport_of(json!({"url": url, "type": "sse", "transport": "streamable_http"})),
        Ok(RemoteTransport::StreamableHttp)
    );
    assert_eq!(
        transport_of(json!({"url": url, "type": "http", "transport": "sse"})),
        Ok(RemoteTransport::Sse)
    );
    assert_eq!(
        transport_of(json!({"url": url, "type": "websocket"})),
        Err(vec![
            "mcp_configs.m.mcp_config[0].config.type: expected \"http\" or \"sse\" for a server with a url, got \"websocket\"".to_string()
        ])
    );
    // A stdio server may say so.
    ok(&one_server(
        json!({ "server_name": "s", "config": {"command": "x", "type": "stdio"} }),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_sse_server_is_reached_over_sse() {
    let port = free_port();
    let child = Command::new(everything_bin())
        .arg("sse")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server-everything sse");
    let _every = Proc(child);
    wait_port(port);
    let dir = tempfile::tempdir().unwrap();
    let server = json!({
        "server_name": "legacy",
        "config": { "url": format!("http://127.0.0.1:{port}/sse"), "type": "sse" },
        "tools": {}
    });
    let cfg = write_config(dir.path(), vec![server], json!({}));
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    let (err, text, _) = call(&client, "legacy__echo", json!({ "message": "over sse" })).await;
    assert!(!err && text.contains("over sse"), "{text}");
    client.cancel().await.ok();
}

// ---------------------------------------------------------------------------------------------
// Cache lifetimes

#[test]
fn cache_lifetimes_in_hours_or_minutes() {
    let c = ok(r#"{"common_mcp_gateway_config": {
        "enkrypt_tool_cache_expiration": 2, "enkrypt_gateway_cache_expiration": 24,
        "enkrypt_gateway_cache_expiration_minutes": 5
    }}"#);
    assert_eq!(c.common.tool_cache_ttl, Duration::from_secs(7200));
    assert_eq!(c.common.gateway_cache_ttl, Duration::from_secs(300));
    let c = ok(r#"{"common_mcp_gateway_config": {
        "enkrypt_tool_cache_expiration": 2, "enkrypt_tool_cache_expiration_minutes": 1.5,
        "enkrypt_gateway_cache_expiration": 3, "enkrypt_gateway_cache_expiration_minutes": null
    }}"#);
    assert_eq!(c.common.tool_cache_ttl, Duration::from_secs(90));
    assert_eq!(c.common.gateway_cache_ttl, Duration::from_secs(3 * 3600));
    assert_eq!(
        issues(r#"{"common_mcp_gateway_config": {"enkrypt_gateway_cache_expiration_minutes": 0}}"#),
        ["common_mcp_gateway_config.enkrypt_gateway_cache_expiration_minutes: expected a number of minutes > 0, got 0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_entries_get_the_configured_lifetimes() {
    let c = ok(r#"{"common_mcp_gateway_config": {
        "enkrypt_gateway_cache_expiration": 24, "enkrypt_gateway_cache_expiration_minutes": 5,
        "enkrypt_embedded_cache_port": 0, "enkrypt_embedded_cache_password": "pw-0123456789abcdef"
    }}"#)
    .common;
    let cache = gateway::cache::Cache::start(&c).await.unwrap();
    cache
        .put_gateway_config("a-gateway-key", &json!({ "mcp_config_id": "m" }))
        .await
        .unwrap();
    let port = cache.embedded_port().unwrap();
    let client = protocol::client::Client::connect(protocol::client::ClientConfig {
        port,
        password: Some("pw-0123456789abcdef".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let secs = client
        .ttl(gateway::config::keys::gateway_config_key("a-gateway-key"))
        .await
        .unwrap();
    assert!((295..=300).contains(&secs), "TTL {secs} for 5 minutes");
    cache.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2.1 and 2.2 spellings

/// The same server in the 2.1 spelling (`*_guardrails_policy`, `policy_name`, the server's own
/// `tool_guardrails_policy`) and in the 2.2 spelling (`*_guardrails_config`, `guardrail_name`,
/// `common_overrides.server_tools_guardrails_config`).
fn spelled(v21: bool) -> GatewayConfig {
    let policy = |name_key: &str, block: Value| {
        let mut p = json!({ "enabled": true, "additional_config": { "pii_redaction": false }, "block": block });
        p[name_key] = json!("Airline Policy");
        p
    };
    let name_key = if v21 { "policy_name" } else { "guardrail_name" };
    let mut server = json!({
        "server_name": "s", "config": {"command": "x"}, "tools": {},
        "enable_tool_guardrails": true
    });
    let input = policy(name_key, json!(["injection_attack", "pii"]));
    let output = policy(name_key, json!(["secrets"]));
    let tools = policy(name_key, json!(["injection_attack"]));
    let mut mcp = json!({ "mcp_config_name": "c" });
    if v21 {
        server["input_guardrails_policy"] = input;
        server["output_guardrails_policy"] = output;
        server["tool_guardrails_policy"] = tools;
        server["enable_server_info_validation"] = json!(true);
    } else {
        server["input_guardrails_config"] = input;
        server["output_guardrails_config"] = output;
        mcp["common_overrides"] = json!({ "server_tools_guardrails_config": tools });
    }
    mcp["mcp_config"] = json!([server]);
    ok(&json!({ "mcp_configs": { "m": mcp } }).to_string())
}

#[test]
fn guardrail_entries_of_2_1_and_2_2_read_the_same() {
    let (old, new) = (spelled(true), spelled(false));
    let resolve = |c: &GatewayConfig| {
        let mc = c.mcp_config("m").unwrap();
        let s = mc.server("s").unwrap();
        let p = ServerPolicies::resolve(s, mc.tools_guardrails.as_ref(), &c.guardrails);
        let summary = |p: &Option<gateway::guard::policy::Policy>| {
            p.as_ref().map(|p| {
                format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?}",
                    p.direction, p.name, p.block, p.local, p.pin, p.fail_closed
                )
            })
        };
        (
            s.input_guardrails.clone(),
            s.output_guardrails.clone(),
            summary(&p.input),
            summary(&p.output),
            summary(&p.registration),
        )
    };
    let (a, b) = (resolve(&old), resolve(&new));
    assert!(
        b.4.as_deref()
            .is_some_and(|r| r.starts_with("Registration")),
        "{:?}",
        b.4
    );
    assert_eq!(a, b);
    assert_eq!(
        a.0.and_then(|p| p.policy_name).as_deref(),
        Some("Airline Policy")
    );
}

#[test]
fn an_empty_guardrail_name_falls_back_to_policy_name() {
    let c = ok(&one_server(json!({
        "server_name": "s", "config": {"command": "x"},
        "input_guardrails_config": {"enabled": true, "guardrail_name": "", "policy_name": "Old Name", "block": []}
    })));
    let s = c.mcp_config("m").unwrap().server("s").unwrap();
    assert_eq!(
        s.input_guardrails.as_ref().unwrap().policy_name.as_deref(),
        Some("Old Name")
    );
}

// ---------------------------------------------------------------------------------------------
// Log level and format

/// The gateway with its standard error read line by line.
struct Logged {
    _proc: Proc,
    lines: std::sync::mpsc::Receiver<String>,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Logged {
    /// Starts the gateway with this log level in the config and these variables, and waits
    /// until it listens.
    fn start(level: &str, env: &[(&str, &str)]) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), vec![], json!({ "enkrypt_log_level": level }));
        let port = free_port();
        let mut cmd = Command::new(gateway_bin());
        cmd.args([
            "--config",
            &config.to_string_lossy(),
            "start",
            "--port",
            &port.to_string(),
        ])
        .env_remove("RUST_LOG")
        .env_remove("ENKRYPT_LOG_LEVEL")
        .env_remove("ENKRYPT_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc(cmd.spawn().expect("gateway"));
        let stderr = proc.0.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        wait_port(port);
        Logged {
            _proc: proc,
            lines,
            config,
            _dir: dir,
        }
    }

    /// The lines written until one contains `until` (included), or until `wait` has passed.
    fn read_until(&self, until: &str, wait: Duration) -> Vec<String> {
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(l) => {
                    let done = l.contains(until);
                    out.push(l);
                    if done {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        out
    }
}

/// The standard error lines of a gateway started with this level and these variables, up to
/// its banner (printed after the "listening" log line).
fn startup_log(level: &str, env: &[(&str, &str)]) -> Vec<String> {
    Logged::start(level, env).read_until("listening on http://", Duration::from_secs(10))
}

fn has_listening_log(lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| l.contains("listening") && !l.contains("listening on http://"))
}

#[test]
fn config_log_level_applies_unless_rust_log_is_set() {
    let quiet = startup_log("ERROR", &[]);
    assert!(!has_listening_log(&quiet), "{quiet:#?}");
    let info = startup_log("INFO", &[]);
    assert!(has_listening_log(&info), "{info:#?}");
    let overridden = startup_log("ERROR", &[("RUST_LOG", "info")]);
    assert!(has_listening_log(&overridden), "{overridden:#?}");
}

#[test]
fn reloaded_log_level_applies() {
    let g = Logged::start("ERROR", &[]);
    g.read_until("listening on http://", Duration::from_secs(10));
    let rewrite = |level: &str, mode: &str| {
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&g.config).unwrap()).unwrap();
        doc["common_mcp_gateway_config"]["enkrypt_log_level"] = json!(level);
        doc["common_mcp_gateway_config"]["enkrypt_gateway_tools_mode"] = json!(mode);
        std::fs::write(&g.config, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    };
    // The first reload is logged before its level applies; the second one under it.
    rewrite("INFO", "meta");
    let first = g.read_until("config reloaded", Duration::from_secs(3));
    assert!(
        !first.iter().any(|l| l.contains("config reloaded")),
        "{first:#?}"
    );
    rewrite("INFO", "both");
    let second = g.read_until("config reloaded", Duration::from_secs(10));
    assert!(
        second.iter().any(|l| l.contains("config reloaded")),
        "{second:#?}"
    );
}

#[test]
fn json_log_format() {
    let lines = startup_log("INFO", &[("ENKRYPT_LOG_FORMAT", "json")]);
    let logs: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let listening = logs
        .iter()
        .find(|v| v["message"] == "listening")
        .unwrap_or_else(|| panic!("no JSON 'listening' line in {lines:#?}"));
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string(), "{listening}");
    assert!(listening["addr"].is_string(), "{listening}");
    let text_lines: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN "))
        .collect();
    assert!(text_lines.is_empty(), "text log lines: {text_lines:?}");
}
