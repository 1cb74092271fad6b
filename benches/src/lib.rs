//! Benchmarks and load harnesses; see `benches/README.md`. This library holds what the
//! gateway load harnesses share: an MCP client over streamable HTTP, the gateway and demo
//! server started as child processes, CPU time of a process, percentiles.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The protocol version the load client speaks, to the upstream directly and to the gateway:
/// the one the gateway asks its upstreams for (`gateway::upstream::PROTOCOL_VERSION`), so both
/// paths cost the upstream the same
/// (server-everything, for one, sends a priming SSE event per response from 2025-11-25 on).
pub const PROTOCOL: &str = "2025-11-25";

/// The gateway key of the harnesses' configs.
pub const KEY: &str = "bench-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL";

/// Every detector that runs locally with no configuration but a keyword list (`schema`, which
/// needs a tool schema, left out): the guardrail harnesses' "every detector on" policy.
pub const LOCAL_DETECTORS: &[&str] = &[
    "injection_attack",
    "pii",
    "secrets",
    "keyword_detector",
    "sponge_attack",
    "command_injection",
    "path_traversal",
    "ssrf",
];

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `secure-mcp-gateway`, next to the running harness in the target directory.
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.with_file_name("secure-mcp-gateway")
}

/// Waits (at most 20 s) until something listens on `port`.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing on port {port}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// User plus system CPU seconds of a process so far (`/proc/<pid>/stat`).
pub fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0;
    let g = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (g(11) + g(12)) / tick
}

/// An MCP session over streamable HTTP (JSON answers).
#[derive(Clone)]
pub struct Mcp {
    http: reqwest::Client,
    url: String,
    session: String,
    key: Option<String>,
}

impl Mcp {
    /// `initialize` and `notifications/initialized`; the session id is kept.
    pub async fn open(url: &str, key: Option<&str>) -> Mcp {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let mut req = http.post(url).header("accept", "application/json, text/event-stream").json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": { "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": { "name": "bench", "version": "1" } }
        }));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.expect("initialize");
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let _ = r.bytes().await;
        let m = Mcp {
            http,
            url: url.to_string(),
            session,
            key: key.map(str::to_string),
        };
        m.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        m
    }

    /// Sends one message in the session; the JSON answer (or the SSE event carrying it).
    pub async fn send(&self, body: Value) -> Value {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", PROTOCOL)
            .json(&body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.expect("request");
        let b = r.bytes().await.expect("body");
        if let Ok(v) = serde_json::from_slice(&b) {
            return v;
        }
        // An SSE answer: the response is the event that carries a result or an error.
        String::from_utf8_lossy(&b)
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
            .unwrap_or(Value::Null)
    }

    /// A `tools/call`.
    pub async fn call(&self, name: &str, args: Value) -> Value {
        self.send(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": args } }))
            .await
    }
}

/// The `p` quantile (0..=1) of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Starts the gateway; returns it, its port and the time to its first served request.
pub fn start_gateway(cfg: &Path) -> (Proc, u16, Duration) {
    start_gateway_bin(&bin(), cfg)
}

/// [`start_gateway`] with the gateway binary `exe` (another build, to compare two).
pub fn start_gateway_bin(exe: &Path, cfg: &Path) -> (Proc, u16, Duration) {
    let port = testkit::free_port();
    let t = Instant::now();
    let mut args = vec![
        "--config".to_string(),
        cfg.to_string_lossy().to_string(),
        "start".into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
    ];
    // GATEWAY_THREADS=N: the gateway's worker threads.
    if let Ok(n) = std::env::var("GATEWAY_THREADS") {
        args.extend(["--threads".to_string(), n]);
    }
    let child = Command::new(exe)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway");
    // First served request: GET /health answered.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            if b.starts_with(b"HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_micros(200));
    }
    (Proc(child), port, t.elapsed())
}

/// Our demo MCP server over streamable HTTP on a free port; returns it and its `/mcp` URL.
pub fn demo_upstream() -> (Proc, String) {
    let port = testkit::free_port();
    let p = Proc(
        Command::new(bin())
            .args(["demo-server", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo server"),
    );
    wait_port(port);
    (p, format!("http://127.0.0.1:{port}/mcp"))
}

/// Writes a gateway config to `dir/file`: one mcp_config of `servers` for [`KEY`], the
/// embedded cache on a free port, warnings only, and the `common` entries on top.
pub fn write_config(
    dir: &Path,
    file: &str,
    servers: serde_json::Value,
    common: serde_json::Value,
) -> PathBuf {
    let mut c = serde_json::json!({ "enkrypt_log_level": "WARNING", "enkrypt_embedded_cache_port": 0,
        "enkrypt_embedded_cache_password": "bench-embedded-pw-0123456789" });
    if let (Some(o), Some(e)) = (c.as_object_mut(), common.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    let cfg = serde_json::json!({
        "common_mcp_gateway_config": c,
        "mcp_configs": { "c1": { "mcp_config_name": "bench", "mcp_config": servers } },
        "projects": { "p1": { "project_name": "bench", "mcp_config_id": "c1", "users": ["u1"] } },
        "users": { "u1": { "email": "bench@example.com" } },
        "apikeys": { KEY: { "project_id": "p1", "user_id": "u1" } }
    });
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec(&cfg).expect("json")).expect("write");
    path
}

/// A number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
