//! Shared helpers for the gateway's end-to-end tests: configs written to a temp dir, the real
//! `secure-mcp-gateway` binary started on a free port, upstream servers (our demo server and
//! the npm reference server), and an `rmcp` client as the independent MCP client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};

pub const KEY: &str = "test-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
pub const DISABLED_KEY: &str = "disabled-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDE";

pub fn gateway_bin() -> &'static str {
    env!("CARGO_BIN_EXE_secure-mcp-gateway")
}

/// The npm reference server, installed by the test command; missing is a failure.
pub fn everything_bin() -> String {
    let p = std::env::var("MCP_SERVER_EVERYTHING").unwrap_or_else(|_| {
        format!(
            "{}/../target/npm/node_modules/.bin/mcp-server-everything",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    assert!(
        Path::new(&p).exists(),
        "the npm reference server is missing at {p}: run scripts/test.sh (it installs @modelcontextprotocol/server-everything)"
    );
    p
}

pub fn free_port() -> u16 {
    testkit::free_port()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Our demo MCP server over streamable HTTP (`/mcp`).
pub fn demo_http() -> (Proc, String) {
    let port = free_port();
    let child = Command::new(gateway_bin())
        .args(["demo-server", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo server");
    wait_port(port);
    (Proc(child), format!("http://127.0.0.1:{port}/mcp"))
}

/// The npm reference server over streamable HTTP.
pub fn everything_http() -> (Proc, String) {
    let port = free_port();
    let child = Command::new(everything_bin())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server-everything");
    wait_port(port);
    (Proc(child), format!("http://127.0.0.1:{port}/mcp"))
}

pub fn stdio_server(name: &str, command: &str, args: &[&str]) -> Value {
    json!({ "server_name": name, "description": name, "config": { "command": command, "args": args, "env": { "DEMO_ENV": "from-config" } }, "tools": {} })
}

pub fn http_server(name: &str, url: &str) -> Value {
    json!({ "server_name": name, "description": name, "config": { "url": url, "transport": "streamable-http" }, "tools": {} })
}

/// Writes a config with one mcp_config holding `servers`; `common` entries are merged in.
pub fn write_config(dir: &Path, servers: Vec<Value>, common: Value) -> PathBuf {
    let mut c = json!({
        "enkrypt_log_level": "WARNING",
        "enkrypt_embedded_cache_port": 0,
        "enkrypt_embedded_cache_password": "embedded-pw-0123456789abcdef",
    });
    if let (Some(o), Some(extra)) = (c.as_object_mut(), common.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    let cfg = json!({
        "common_mcp_gateway_config": c,
        "mcp_configs": { "cfg-1": { "mcp_config_name": "test", "mcp_config": servers } },
        "projects": { "proj-1": { "project_name": "p", "mcp_config_id": "cfg-1", "users": ["user-1"] } },
        "users": { "user-1": { "email": "u@example.com" } },
        "apikeys": {
            KEY: { "project_id": "proj-1", "user_id": "user-1" },
            DISABLED_KEY: { "project_id": "proj-1", "user_id": "user-1", "disabled": true }
        }
    });
    let path = dir.join("enkrypt_mcp_config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

/// A config with our demo server over stdio as its one upstream (`demo`).
pub fn demo_config(dir: &Path) -> PathBuf {
    write_config(
        dir,
        vec![stdio_server("demo", gateway_bin(), &["demo-server"])],
        json!({}),
    )
}

pub struct HttpGateway {
    pub proc: Proc,
    pub port: u16,
}

impl HttpGateway {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp/", self.port)
    }
}

/// `start` over HTTP on 127.0.0.1:`port` (explicitly: in a container the default is every
/// interface), standard output discarded.
pub fn http_command(config: &Path, port: u16) -> Command {
    let mut cmd = Command::new(gateway_bin());
    cmd.args([
        "--config",
        &config.to_string_lossy(),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ])
    .stdout(Stdio::null());
    cmd
}

/// The config `text` parses to; panics with the issues when it does not.
pub fn valid_config(text: &str) -> gateway::config::GatewayConfig {
    match gateway::config::parse(text) {
        Ok(l) => l.config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The validation issues of `text`, as their messages; panics when it is valid.
pub fn config_issues(text: &str) -> Vec<String> {
    match gateway::config::parse(text) {
        Ok(_) => panic!("expected an invalid config:\n{text}"),
        Err(gateway::config::ParseError::Invalid(v)) => {
            v.issues().iter().map(ToString::to_string).collect()
        }
        Err(e) => panic!("expected validation issues, got {e}"),
    }
}

/// The gateway over HTTP on a free loopback port.
pub fn start_http(config: &Path) -> HttpGateway {
    start_http_with(config, |cmd| {
        cmd.stderr(Stdio::null());
    })
}

/// The gateway over HTTP, `setup` applied to its command. Ready when `GET /health` answers
/// (not merely when something listens: the port chosen may meanwhile have been taken by the
/// gateway's own embedded cache on an OS-assigned port, and then the gateway exits); a
/// gateway that exited is started again on another port.
pub fn start_http_with(config: &Path, setup: impl Fn(&mut Command)) -> HttpGateway {
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = http_command(config, port);
        setup(&mut cmd);
        let mut proc = Proc(cmd.spawn().expect("gateway"));
        if wait_health(port, &mut proc.0) {
            return HttpGateway { proc, port };
        }
    }
    panic!("the gateway did not start (5 attempts)");
}

/// Waits until the gateway on `port` answers `GET /health`; false if `child` exited first.
pub fn wait_health(port: u16, child: &mut Child) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ") {
                return true;
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answers /health on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub type Client = RunningService<RoleClient, ()>;

pub async fn connect_http(url: &str, key: &str) -> Result<Client, String> {
    connect_http_with(url, key, ()).await
}

/// An rmcp client with its own handler (sampling, elicitation, roots) over streamable HTTP.
pub async fn connect_http_with<H: ClientHandler>(
    url: &str,
    key: &str,
    handler: H,
) -> Result<RunningService<RoleClient, H>, String> {
    let t = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(key.to_string()),
    );
    handler.serve(t).await.map_err(|e| e.to_string())
}

pub async fn connect_stdio(config: &Path, key: &str) -> Result<Client, String> {
    connect_stdio_with(config, key, ()).await
}

/// An rmcp client with its own handler over stdio, the gateway its child process.
pub async fn connect_stdio_with<H: ClientHandler>(
    config: &Path,
    key: &str,
    handler: H,
) -> Result<RunningService<RoleClient, H>, String> {
    let cfg = config.to_path_buf();
    let key = key.to_string();
    let cmd = tokio::process::Command::new(gateway_bin()).configure(move |cmd| {
        cmd.args([
            "--config",
            &cfg.to_string_lossy(),
            "start",
            "--transport",
            "stdio",
        ])
        .env("ENKRYPT_GATEWAY_KEY", &key);
    });
    // (`TokioChildProcess::new` would let the gateway's log through to the test's stderr.)
    let (t, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    handler.serve(t).await.map_err(|e| e.to_string())
}

/// The gateway in stdio mode with piped standard input and output, for raw exchanges.
pub fn stdio_command(config: &Path, key: &str) -> Command {
    let mut cmd = Command::new(gateway_bin());
    cmd.args([
        "--config",
        &config.to_string_lossy(),
        "start",
        "--transport",
        "stdio",
    ])
    .env("ENKRYPT_GATEWAY_KEY", key)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

/// `initialize` (id 1) and `notifications/initialized`, one per line.
pub const RAW_HANDSHAKE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    "\n",
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "\n"
);

/// Calls a tool; returns (isError, first text, whole result as JSON).
pub async fn call(client: &Client, name: &str, args: Value) -> (bool, String, Value) {
    let mut p = CallToolRequestParams::new(name.to_string());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    let r = client.call_tool(p).await.expect("tools/call");
    let v = serde_json::to_value(&r).unwrap();
    let text = v
        .pointer("/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let is_error = v.get("isError").and_then(Value::as_bool).unwrap_or(false);
    (is_error, text, v)
}

pub async fn tool_names(client: &Client) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}
