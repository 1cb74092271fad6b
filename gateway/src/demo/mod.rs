//! A small MCP server of our own: the zero-install default upstream, and the server tests and
//! benchmarks run against.
//!
//! Transports (modules `stdio` and `http`): [`serve_stdio`] (newline-delimited JSON-RPC on
//! stdin/stdout; nothing else is ever written to stdout) and [`serve_http`] (streamable HTTP
//! at `/mcp`: JSON answers, an SSE answer only for the tools that talk back to the client
//! (`progress`, `sample`), `Mcp-Session-Id` from `initialize`, 404 for unknown sessions,
//! `DELETE` ends one, `GET` is 405, a foreign `Origin` is 403).
//!
//! Methods: `initialize` (answers the client's version when supported, else
//! [`LATEST_PROTOCOL_VERSION`]), `ping`, `tools/list`, `tools/call`, `resources/list`,
//! `resources/read` (`demo://readme`), `prompts/list`, `prompts/get` (`greeting`),
//! `logging/setLevel`; notifications are ignored except `notifications/cancelled`, which
//! abandons the request (no answer is sent, as the specification asks).
//!
//! Tools: `echo` (the latency benchmark's tool: kept cheap), `add` (structured output),
//! `sleep`, `crash` (stdio: exits with status 3), `progress`, `sample` (a
//! `sampling/createMessage` to the client), `env`, `stats` (what the session saw, for tests).
//!
//! Errors mirror the official TypeScript SDK: bad JSON is `-32700` with id null, an unknown
//! method `-32601`, an unknown tool or invalid tool arguments a result with `isError: true`,
//! an unknown prompt or resource `-32602`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::{abortable, AbortHandle, BoxFuture, FutureExt};
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use crate::jsonrpc::{Message, RpcError, INVALID_PARAMS, METHOD_NOT_FOUND};

mod http;
mod stdio;

pub use http::serve_http;
pub use stdio::serve_stdio;

/// `serverInfo.name`.
pub const SERVER_NAME: &str = "secure-mcp-gateway-demo";
/// The version answered to clients asking for one we do not know.
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// Protocol versions the demo speaks.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The one resource.
pub const README_URI: &str = "demo://readme";

const README: &str = "# Secure MCP Gateway demo server\n\n\
A small MCP server bundled with the gateway. Its tools: `echo`, `add`, `sleep`, `crash`, \
`progress`, `sample`, `env`, `stats`.\n";
/// Longest accepted `sleep`.
const MAX_SLEEP_MS: u64 = 600_000;
/// Most accepted `progress` steps.
const MAX_STEPS: u64 = 1000;

/// How the session reaches its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Stdio,
    Http,
}

/// Messages the server sends to the client while serving a request.
trait Peer: Send + Sync {
    fn notify(&self, msg: Message);
    fn request(&self, method: &str, params: Value) -> BoxFuture<'static, Result<Value, RpcError>>;
}

/// A peer that can only drop messages (HTTP requests answered with plain JSON).
struct NoPeer;

impl Peer for NoPeer {
    fn notify(&self, _msg: Message) {}
    fn request(&self, method: &str, _params: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
        let err = RpcError::new(
            METHOD_NOT_FOUND,
            format!("cannot send {method} on this response"),
        );
        async move { Err(err) }.boxed()
    }
}

/// One client session (a stdio connection, or one `Mcp-Session-Id`).
#[derive(Default)]
struct Session {
    /// Our requests to the client, by id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>>,
    next_id: AtomicU64,
    /// The client's requests being served, by id (as JSON text).
    inflight: Mutex<HashMap<String, AbortHandle>>,
    /// Ids of requests the client cancelled.
    cancelled: Mutex<Vec<Value>>,
}

impl Session {
    fn on_response(&self, msg: &Message) {
        let id = msg.id().and_then(Value::as_u64);
        let Some(tx) = id.and_then(|id| self.pending.lock().remove(&id)) else {
            return;
        };
        let _ = tx.send(match msg.error_value() {
            Some(e) => Err(e),
            None => Ok(msg.result_value().cloned().unwrap_or(Value::Null)),
        });
    }

    fn on_notification(&self, msg: &Message) {
        if msg.method() != Some("notifications/cancelled") {
            return;
        }
        let Some(id) = msg.params().and_then(|p| p.get("requestId")) else {
            return;
        };
        self.cancelled.lock().push(id.clone());
        if let Some(h) = self.inflight.lock().remove(&id.to_string()) {
            h.abort();
        }
    }

    /// Registers an outgoing request; returns its message and the receiver of the answer.
    fn outgoing(
        &self,
        method: &str,
        params: Value,
    ) -> (Message, oneshot::Receiver<Result<Value, RpcError>>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        (Message::request(json!(id), method, Some(params)), rx)
    }

    /// Serves request `msg`; `None` when the client cancelled it.
    async fn serve(
        self: &Arc<Self>,
        msg: Message,
        via: Via,
        peer: Arc<dyn Peer>,
    ) -> Option<Message> {
        let id = msg.id().cloned().unwrap_or(Value::Null);
        let key = id.to_string();
        let method = msg.method().unwrap_or_default().to_string();
        let params = msg.params().cloned();
        let session = self.clone();
        let (work, handle) =
            abortable(async move { handle(&session, via, &method, params, peer).await });
        self.inflight.lock().insert(key.clone(), handle);
        let outcome = work.await;
        self.inflight.lock().remove(&key);
        match outcome {
            Ok(Ok(result)) => Some(Message::result(id, result)),
            Ok(Err(e)) => Some(Message::error(id, &e)),
            Err(_) => None,
        }
    }
}

fn text_result(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }] })
}

fn tool_error(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }], "isError": true })
}

fn invalid_args(tool: &str, why: &str) -> Value {
    tool_error(format!(
        "Input validation error: Invalid arguments for tool {tool}: {why}"
    ))
}

fn initialize_result(params: Option<&Value>) -> Value {
    let asked = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = if PROTOCOL_VERSIONS.contains(&asked) {
        asked
    } else {
        LATEST_PROTOCOL_VERSION
    };
    json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": false },
            "resources": { "subscribe": false, "listChanged": false },
            "prompts": { "listChanged": false },
            "logging": {},
        },
        "serverInfo": {
            "name": SERVER_NAME,
            "title": "Secure MCP Gateway demo server",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "A demo server for trying the gateway: `echo` returns its message, `add` sums two numbers.",
    })
}

fn tools() -> &'static Value {
    static TOOLS: OnceLock<Value> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let read_only = json!({ "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false });
        json!({ "tools": [
            {
                "name": "echo",
                "title": "Echo",
                "description": "Returns the message it is given.",
                "inputSchema": { "type": "object", "properties": { "message": { "type": "string", "description": "The text to return" } }, "required": ["message"] },
                "annotations": read_only,
            },
            {
                "name": "add",
                "title": "Add",
                "description": "Adds two numbers.",
                "inputSchema": { "type": "object", "properties": { "a": { "type": "number" }, "b": { "type": "number" } }, "required": ["a", "b"] },
                "outputSchema": { "type": "object", "properties": { "sum": { "type": "number" } }, "required": ["sum"] },
                "annotations": read_only,
            },
            {
                "name": "sleep",
                "title": "Sleep",
                "description": "Waits the given number of milliseconds, then answers. Cancellable.",
                "inputSchema": { "type": "object", "properties": { "ms": { "type": "integer", "minimum": 0, "maximum": MAX_SLEEP_MS } }, "required": ["ms"] },
                "annotations": read_only,
            },
            {
                "name": "crash",
                "title": "Crash",
                "description": "Over stdio, exits the server process at once with status 3 (for testing crash handling).",
                "inputSchema": { "type": "object", "properties": {} },
                "annotations": { "readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false },
            },
            {
                "name": "progress",
                "title": "Progress",
                "description": "Sends one notifications/progress per step (with the request's progressToken), then answers.",
                "inputSchema": { "type": "object", "properties": { "steps": { "type": "integer", "minimum": 1, "maximum": MAX_STEPS } }, "required": ["steps"] },
                "annotations": read_only,
            },
            {
                "name": "sample",
                "title": "Sample",
                "description": "Asks the client's model (sampling/createMessage) and returns its answer.",
                "inputSchema": { "type": "object", "properties": { "prompt": { "type": "string" } }, "required": ["prompt"] },
                "annotations": { "readOnlyHint": true, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true },
            },
            {
                "name": "env",
                "title": "Environment variable",
                "description": "Returns the value of an environment variable of the server process.",
                "inputSchema": { "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] },
                "annotations": read_only,
            },
            {
                "name": "stats",
                "title": "Session statistics",
                "description": "What this session saw: the ids of the requests the client cancelled.",
                "inputSchema": { "type": "object", "properties": {} },
                "outputSchema": { "type": "object", "properties": { "cancelled": { "type": "array" } }, "required": ["cancelled"] },
                "annotations": read_only,
            },
        ]})
    })
}

async fn handle(
    session: &Arc<Session>,
    via: Via,
    method: &str,
    params: Option<Value>,
    peer: Arc<dyn Peer>,
) -> Result<Value, RpcError> {
    match method {
        "initialize" => Ok(initialize_result(params.as_ref())),
        "ping" | "logging/setLevel" => Ok(json!({})),
        "tools/list" => Ok(tools().clone()),
        "tools/call" => call_tool(session, via, params.unwrap_or(Value::Null), peer).await,
        "resources/list" => Ok(json!({ "resources": [{
            "uri": README_URI,
            "name": "readme",
            "title": "About the demo server",
            "description": "What this server offers.",
            "mimeType": "text/markdown",
        }]})),
        "resources/read" => {
            let uri = params
                .as_ref()
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str);
            match uri {
                Some(README_URI) => Ok(
                    json!({ "contents": [{ "uri": README_URI, "mimeType": "text/markdown", "text": README }] }),
                ),
                Some(u) => Err(RpcError::new(
                    INVALID_PARAMS,
                    format!("Resource {u} not found"),
                )),
                None => Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: uri is required",
                )),
            }
        }
        "prompts/list" => Ok(json!({ "prompts": [{
            "name": "greeting",
            "title": "Greeting",
            "description": "A prompt that greets someone.",
            "arguments": [{ "name": "name", "description": "Who to greet", "required": true }],
        }]})),
        "prompts/get" => {
            let p = params.unwrap_or(Value::Null);
            match p.get("name").and_then(Value::as_str) {
                Some("greeting") => {
                    let who = p
                        .get("arguments")
                        .and_then(|a| a.get("name"))
                        .and_then(Value::as_str);
                    match who {
                        Some(who) => Ok(json!({
                            "description": "A greeting",
                            "messages": [{ "role": "user", "content": { "type": "text", "text": format!("Please greet {who} warmly.") } }],
                        })),
                        None => Err(RpcError::new(
                            INVALID_PARAMS,
                            "Invalid arguments for prompt greeting: name is required",
                        )),
                    }
                }
                Some(other) => Err(RpcError::new(
                    INVALID_PARAMS,
                    format!("Prompt {other} not found"),
                )),
                None => Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid params: name is required",
                )),
            }
        }
        _ => Err(RpcError::new(METHOD_NOT_FOUND, "Method not found")),
    }
}

async fn call_tool(
    session: &Arc<Session>,
    via: Via,
    params: Value,
    peer: Arc<dyn Peer>,
) -> Result<Value, RpcError> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err(RpcError::new(
            INVALID_PARAMS,
            "Invalid params: name is required",
        ));
    };
    let args = crate::jsonrpc::arguments_of(&params)
        .filter(Value::is_object)
        .unwrap_or(Value::Object(Map::new()));
    let arg = |k: &str| args.get(k);
    Ok(match name {
        "echo" => match arg("message").and_then(Value::as_str) {
            Some(m) => text_result(m),
            None => invalid_args(name, "message must be a string"),
        },
        "add" => match (arg("a"), arg("b")) {
            (Some(Value::Number(a)), Some(Value::Number(b))) => {
                let sum = match (a.as_i64(), b.as_i64()) {
                    (Some(x), Some(y)) if x.checked_add(y).is_some() => json!(x + y),
                    _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
                };
                json!({
                    "content": [{ "type": "text", "text": sum.to_string() }],
                    "structuredContent": { "sum": sum },
                })
            }
            _ => invalid_args(name, "a and b must be numbers"),
        },
        "sleep" => match arg("ms").and_then(Value::as_u64) {
            Some(ms) if ms <= MAX_SLEEP_MS => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text_result(format!("slept {ms} ms"))
            }
            _ => invalid_args(
                name,
                &format!("ms must be an integer from 0 to {MAX_SLEEP_MS}"),
            ),
        },
        "crash" => match via {
            Via::Stdio => std::process::exit(3),
            Via::Http => tool_error("crash only works over stdio"),
        },
        "progress" => match arg("steps").and_then(Value::as_u64) {
            Some(steps) if (1..=MAX_STEPS).contains(&steps) => {
                let token = params.get("_meta").and_then(|m| m.get("progressToken"));
                for i in 1..=steps {
                    if let Some(token) = token {
                        peer.notify(Message::notification(
                            "notifications/progress",
                            Some(json!({
                                "progressToken": token,
                                "progress": i,
                                "total": steps,
                                "message": format!("step {i} of {steps}"),
                            })),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                text_result(format!("completed {steps} steps"))
            }
            _ => invalid_args(
                name,
                &format!("steps must be an integer from 1 to {MAX_STEPS}"),
            ),
        },
        "sample" => match arg("prompt").and_then(Value::as_str) {
            Some(prompt) => {
                let request = json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                    "maxTokens": 200,
                });
                match peer.request("sampling/createMessage", request).await {
                    Ok(r) => {
                        let content = r.get("content");
                        let content = match content {
                            Some(Value::Array(items)) => items.first(),
                            other => other,
                        };
                        match content.and_then(|c| c.get("text")).and_then(Value::as_str) {
                            Some(t) => text_result(t),
                            None => tool_error("the client's sampling answer holds no text"),
                        }
                    }
                    Err(e) => tool_error(format!("sampling failed: {}", e.message)),
                }
            }
            None => invalid_args(name, "prompt must be a string"),
        },
        "env" => match arg("name").and_then(Value::as_str) {
            Some(var) => match std::env::var(var) {
                Ok(v) => text_result(v),
                Err(_) => tool_error(format!("environment variable {var} is not set")),
            },
            None => invalid_args(name, "name must be a string"),
        },
        "stats" => {
            let stats = json!({ "cancelled": session.cancelled.lock().clone() });
            json!({
                "content": [{ "type": "text", "text": stats.to_string() }],
                "structuredContent": stats,
            })
        }
        other => tool_error(format!("Tool {other} not found")),
    })
}

// ----- stdio -----

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn methods_and_errors() {
        let s = Arc::new(Session::default());
        let call = |m: &'static str, p: Value| {
            let s = s.clone();
            async move { handle(&s, Via::Http, m, Some(p), Arc::new(NoPeer)).await }
        };
        let init = call("initialize", json!({ "protocolVersion": "2025-03-26" }))
            .await
            .unwrap();
        assert_eq!(init["protocolVersion"], "2025-03-26");
        let init = call("initialize", json!({ "protocolVersion": "1999-01-01" }))
            .await
            .unwrap();
        assert_eq!(init["protocolVersion"], LATEST_PROTOCOL_VERSION);
        let sum = call(
            "tools/call",
            json!({ "name": "add", "arguments": { "a": 2, "b": 3.5 } }),
        )
        .await
        .unwrap();
        assert_eq!(sum["structuredContent"]["sum"], 5.5);
        let unknown = call("tools/call", json!({ "name": "nope" })).await.unwrap();
        assert_eq!(unknown["isError"], true);
        let bad = call("tools/call", json!({ "name": "echo", "arguments": {} }))
            .await
            .unwrap();
        assert_eq!(bad["isError"], true);
        assert_eq!(
            call("nope", json!({})).await.unwrap_err().code,
            METHOD_NOT_FOUND
        );
        let p = call(
            "prompts/get",
            json!({ "name": "greeting", "arguments": { "name": "Ada" } }),
        )
        .await
        .unwrap();
        assert!(p["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Ada"));
        assert_eq!(
            call("prompts/get", json!({ "name": "x" }))
                .await
                .unwrap_err()
                .code,
            INVALID_PARAMS
        );
        let r = call("resources/read", json!({ "uri": README_URI }))
            .await
            .unwrap();
        assert!(r["contents"][0]["text"].as_str().unwrap().contains("demo"));
        let crash = call("tools/call", json!({ "name": "crash" }))
            .await
            .unwrap();
        assert_eq!(crash["isError"], true);
        let tools = tools()["tools"].as_array().unwrap();
        assert!(tools
            .iter()
            .all(|t| t["inputSchema"]["type"] == "object" && t["title"].is_string()));
    }
}
