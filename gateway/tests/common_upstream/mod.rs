//! What `upstream.rs`'s tests share: a downstream that records what reaches the client side,
//! an upstream handler that records notifications, the specs of the demo and reference
//! servers, a child MCP server on a port ([`Node`]), and calls with their checks.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{join_all, BoxFuture};
use gateway::jsonrpc::{Message, RpcError, METHOD_NOT_FOUND};
use gateway::upstream::{
    Downstream, RequestCtx, Timeouts, Transport, Upstream, UpstreamError, UpstreamHandler,
    UpstreamSpec,
};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Shows the gateway's logs (`RUST_LOG=gateway=debug`) in a failing test's output.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Records what reaches the client side of a request, and answers sampling and roots.
#[derive(Default)]
pub struct Recorder {
    pub notes: Mutex<Vec<Message>>,
    pub requests: Mutex<Vec<String>>,
}

impl Downstream for Recorder {
    fn notify(&self, msg: Message) {
        self.notes.lock().push(msg);
    }

    fn request(
        &self,
        method: String,
        params: Option<Value>,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        self.requests.lock().push(method.clone());
        let answer = match method.as_str() {
            "sampling/createMessage" => {
                let prompt = params
                    .as_ref()
                    .and_then(|p| p["messages"][0]["content"]["text"].as_str())
                    .unwrap_or("")
                    .to_string();
                Ok(json!({
                    "role": "assistant",
                    "content": { "type": "text", "text": format!("sampled: {prompt}") },
                    "model": "test-model",
                    "stopReason": "endTurn",
                }))
            }
            "roots/list" => Ok(json!({ "roots": [] })),
            _ => Err(RpcError::new(METHOD_NOT_FOUND, "unsupported in the test")),
        };
        Box::pin(async move { answer })
    }
}

impl Recorder {
    pub fn progress(&self) -> Vec<Value> {
        self.notes
            .lock()
            .iter()
            .filter(|m| m.method() == Some("notifications/progress"))
            .filter_map(|m| m.params().cloned())
            .collect()
    }
}

/// Records session-level events.
#[derive(Default)]
pub struct Events {
    pub notes: Mutex<Vec<(String, String)>>,
    pub closed: AtomicUsize,
}

impl UpstreamHandler for Events {
    fn on_notification(&self, server: &str, msg: Message) {
        let method = msg.method().unwrap_or_default().to_string();
        self.notes.lock().push((server.to_string(), method));
    }

    fn on_closed(&self, _server: &str) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(20),
        discovery: Duration::from_secs(20),
    }
}

/// The gateway binary's demo server over stdio.
pub fn demo_spec(name: &str, env: &[(&str, &str)]) -> UpstreamSpec {
    UpstreamSpec {
        name: name.to_string(),
        transport: Transport::Stdio {
            command: env!("CARGO_BIN_EXE_secure-mcp-gateway").to_string(),
            args: vec!["demo-server".to_string()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        timeouts: timeouts(),
    }
}

pub fn everything_path() -> PathBuf {
    let path = std::env::var_os("MCP_SERVER_EVERYTHING")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/npm/node_modules/.bin/mcp-server-everything")
        });
    assert!(
        path.exists(),
        "the MCP reference server is missing at {}: run scripts/test.sh (it installs \
         @modelcontextprotocol/server-everything under target/npm) or set MCP_SERVER_EVERYTHING",
        path.display()
    );
    path
}

pub fn everything_stdio_spec(env: &[(&str, &str)]) -> UpstreamSpec {
    UpstreamSpec {
        name: "everything".into(),
        transport: Transport::Stdio {
            command: everything_path().to_string_lossy().into_owned(),
            args: vec!["stdio".into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        timeouts: timeouts(),
    }
}

/// A server process on a loopback port; killed on drop.
pub struct Node {
    pub child: Child,
    pub port: u16,
    pub program: PathBuf,
    /// Arguments before `--port <port>` (added when `port_arg`; `PORT` is always set).
    pub args: Vec<String>,
    pub port_arg: bool,
}

impl Node {
    /// `mcp-server-everything <mode>` with `PORT`.
    pub fn everything(mode: &str) -> Node {
        Node::start_on_free_port(everything_path(), vec![mode.to_string()], false)
    }

    /// `secure-mcp-gateway demo-server --port <port>`, on a port outside the ephemeral range:
    /// no parallel test takes it while the test restarts or kills the server.
    pub fn demo() -> Node {
        Node::start_on_free_port_from(
            env!("CARGO_BIN_EXE_secure-mcp-gateway").into(),
            vec!["demo-server".into()],
            true,
            testkit::free_port_outside_ephemeral,
        )
    }

    /// Starts the server on a free port. A free port can be taken by a parallel test before
    /// the child binds it; the child then exits, and another port is tried.
    pub fn start_on_free_port(program: PathBuf, args: Vec<String>, port_arg: bool) -> Node {
        Node::start_on_free_port_from(program, args, port_arg, testkit::free_port)
    }

    /// [`Node::start_on_free_port`] with ports from `ports`.
    pub fn start_on_free_port_from(
        program: PathBuf,
        args: Vec<String>,
        port_arg: bool,
        ports: fn() -> u16,
    ) -> Node {
        let mut last = String::new();
        for _ in 0..5 {
            match Node::start(program.clone(), args.clone(), port_arg, ports()) {
                Ok(node) => return node,
                Err(e) => last = e,
            }
        }
        panic!("{last}")
    }

    pub fn start(
        program: PathBuf,
        args: Vec<String>,
        port_arg: bool,
        port: u16,
    ) -> Result<Node, String> {
        let mut cmd = Command::new(&program);
        cmd.args(&args);
        if port_arg {
            cmd.args(["--port", &port.to_string()]);
        }
        let child = cmd
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut node = Node {
            child,
            port,
            program,
            args,
            port_arg,
        };
        node.wait_ready()?;
        Ok(node)
    }

    /// Waits until the port accepts connections and the child is still running a moment
    /// later (something else may listen on a port the child failed to bind).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let exited = |node: &mut Node| {
            node.child.try_wait().ok().flatten().map(|status| {
                format!(
                    "{} {:?} exited ({status}) instead of listening on port {}",
                    node.program.display(),
                    node.args,
                    node.port
                )
            })
        };
        while Instant::now() < deadline {
            if let Some(e) = exited(self) {
                return Err(e);
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
                return exited(self).map_or(Ok(()), Err);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "{} {:?} did not listen on port {}",
            self.program.display(),
            self.args,
            self.port
        ))
    }

    /// Kills the server and starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        *self = Node::start(
            self.program.clone(),
            self.args.clone(),
            self.port_arg,
            self.port,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub async fn call(up: &Upstream, tool: &str, args: Value) -> Result<Value, UpstreamError> {
    up.request(
        "tools/call",
        Some(json!({ "name": tool, "arguments": args })),
        RequestCtx::default(),
    )
    .await
}

pub async fn call_with(
    up: &Upstream,
    tool: &str,
    args: Value,
    ds: &Arc<Recorder>,
    token: Value,
) -> Result<Value, UpstreamError> {
    let ctx = RequestCtx::with_downstream(ds.clone(), Some(token));
    up.request(
        "tools/call",
        Some(json!({ "name": tool, "arguments": args })),
        ctx,
    )
    .await
}

pub async fn tool_names(up: &Upstream) -> Vec<String> {
    let list = up
        .request("tools/list", None, RequestCtx::default())
        .await
        .expect("tools/list");
    list["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

/// 8 calls of `sleep 200` at once finish in well under 8 × 200 ms.
pub async fn assert_not_serialized(up: &Upstream) {
    let started = Instant::now();
    let calls = (0..8).map(|_| call(up, "sleep", json!({ "ms": 200 })));
    for r in join_all(calls).await {
        assert_eq!(text_of(&r.expect("sleep")), "slept 200 ms");
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "8 concurrent sleeps took {took:?}"
    );
}

/// 32 echo calls at once on one session, each answered with its own message.
pub async fn assert_concurrent_echo(up: &Upstream, prefix: &str) {
    let calls = (0..32).map(|i| async move {
        let r = call(up, "echo", json!({ "message": format!("m{i}") }))
            .await
            .expect("echo");
        (i, text_of(&r))
    });
    for (i, text) in join_all(calls).await {
        assert_eq!(text, format!("{prefix}m{i}"));
    }
}

pub async fn cancelled_ids(up: &Upstream) -> Vec<Value> {
    let stats = call(up, "stats", json!({})).await.expect("stats");
    stats["structuredContent"]["cancelled"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
