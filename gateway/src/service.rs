//! The gateway's core: its state and the MCP methods it answers.
//!
//! Every downstream transport (stdio, streamable HTTP) hands JSON-RPC messages for a
//! [`Session`] to [`Gateway::handle`]. Requests are answered here: `initialize`, `ping`,
//! `tools/*` (the meta tools of [`crate::meta`] and every upstream tool directly, as
//! `<server>__<tool>` or unprefixed where unambiguous), `resources/*`, `prompts/*`,
//! `completion/complete`, `logging/setLevel`. Notifications (`initialized`, `cancelled`) and the
//! client's responses to relayed server-to-client requests are handled without a reply.
//!
//! Authentication is in [`crate::auth`], discovery and tool calls in [`crate::router`], the
//! other forwarded methods in [`crate::forward`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};

use crate::cache::Cache;
use crate::config::{GatewayConfig, McpConfig};
use crate::guard::Guard;
use crate::jsonrpc::{Kind, Message, RpcError, AUTH_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND};
use crate::metrics::Metrics;
use crate::router::{Route, ToolIndex};
use crate::session::{Identity, RequestDownstream, Session};
use crate::upstream::{Pool, RequestCtx};

/// Protocol versions the gateway speaks with clients, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Separator between server and tool in a prefixed name.
pub const SEP: &str = "__";

/// What a request is answered with: a value the gateway built, or an upstream's result
/// passed on as the upstream wrote it.
pub(crate) enum Reply {
    Value(Value),
    Raw(crate::upstream::RawResult),
}

/// The gateway.
pub struct Gateway {
    pub(crate) config: RwLock<Arc<GatewayConfig>>,
    /// Where the config file is.
    pub config_path: PathBuf,
    /// The cache.
    pub cache: Arc<Cache>,
    /// Upstream sessions.
    pub pool: Pool,
    /// Downstream sessions by id.
    pub sessions: DashMap<String, Arc<Session>>,
    /// Tool indexes by mcp_config id.
    pub(crate) indexes: DashMap<String, Arc<ToolIndex>>,
    /// Resource URI -> server, per mcp_config (from the last resources/list).
    pub(crate) resources: DashMap<String, HashMap<String, String>>,
    /// (mcp_config id, server name) -> route; cleared on config reload.
    pub(crate) routes: DashMap<(String, String), Arc<Route>>,
    /// Timeout metrics.
    pub metrics: Metrics,
    /// Per-tool and authentication counters for `/metrics` (see [`crate::telemetry`]).
    pub telemetry: crate::telemetry::Telemetry,
    /// Guardrails: counters, the remote provider, verdict cache, screenings.
    pub guard: Guard,
    /// Start time.
    pub started: Instant,
    /// Draining: /health answers 503.
    pub draining: AtomicBool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config_path", &self.config_path)
            .finish()
    }
}

/// Every guardrail note of a config, as (mcp_config id, `server: direction: text`).
pub fn guardrail_notes(cfg: &GatewayConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for mc in cfg.mcp_configs.values() {
        for s in &mc.servers {
            let route = Route::new(&mc.id, s.clone(), cfg);
            for n in route.policies.notes() {
                out.push((mc.id.clone(), format!("{}: {n}", s.name)));
            }
        }
    }
    out
}

/// A tool call result carrying an error text (`isError: true`), as MCP prefers for tool errors.
pub fn tool_error(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }], "isError": true })
}

/// A tool call result holding one text item.
pub fn tool_text(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }], "isError": false })
}

impl Gateway {
    /// A gateway for this config, cache and config path.
    pub fn new(config: GatewayConfig, config_path: PathBuf, cache: Arc<Cache>) -> Arc<Gateway> {
        let gw = Arc::new_cyclic(|weak| Gateway {
            config: RwLock::new(Arc::new(config)),
            config_path,
            cache,
            pool: Pool::new(Arc::new(crate::relay::Notifier {
                gateway: weak.clone(),
            })),
            sessions: DashMap::new(),
            indexes: DashMap::new(),
            resources: DashMap::new(),
            routes: DashMap::new(),
            metrics: Metrics::default(),
            telemetry: crate::telemetry::Telemetry::default(),
            guard: Guard::default(),
            started: Instant::now(),
            draining: AtomicBool::new(false),
        });
        gw.configure_guard();
        gw.configure_metrics();
        gw
    }

    /// Turns `/metrics` recording on or off as the config says.
    fn configure_metrics(&self) {
        let on = self.config().common.metrics_enabled;
        self.telemetry.set_recording(on);
        self.cache.set_timing(on);
    }

    /// Applies the config's guardrail settings and reports, once per load, every policy that
    /// cannot run as written (it fails closed) and what an operator should know.
    fn configure_guard(&self) {
        // Compile the detectors' automata now (tens of ms), not on the first guarded call.
        crate::guard::detect::warm_up();
        let cfg = self.config();
        self.guard
            .configure(&cfg.guardrails, cfg.common.timeouts.guardrail);
        for (id, line) in guardrail_notes(&cfg) {
            tracing::warn!(mcp_config = %id, "guardrails: {line}");
        }
    }

    /// The current config.
    pub fn config(&self) -> Arc<GatewayConfig> {
        self.config.read().clone()
    }

    /// Replaces the config (hot reload): sessions whose key no longer resolves end at once,
    /// the others follow the new config; routing views are rebuilt.
    pub fn set_config(self: &Arc<Self>, config: Arc<GatewayConfig>) {
        crate::logging::follow_config(config.common.log_level);
        let old = std::mem::replace(&mut *self.config.write(), config.clone());
        self.drop_changed_servers(&old, &config);
        self.revalidate_sessions();
        self.indexes.clear();
        self.resources.clear();
        self.routes.clear();
        self.configure_guard();
        self.configure_metrics();
        // The set of servers (and so of tools) may have changed: tell every client.
        for s in self.sessions.iter() {
            s.send(Message::notification(
                "notifications/tools/list_changed",
                None,
            ));
        }
    }

    /// After a reload: a server whose definition (transport, command, URL, env, ...) changed
    /// or that is gone loses its cached tools, and an upstream session no config uses any
    /// more is closed.
    fn drop_changed_servers(self: &Arc<Self>, old: &GatewayConfig, new: &GatewayConfig) {
        let key = |cfg: &GatewayConfig, s: &crate::config::ServerConfig| {
            crate::upstream::UpstreamSpec::from_server(s, &cfg.common.timeouts).pool_key()
        };
        let kept: std::collections::HashSet<String> = new
            .mcp_configs
            .values()
            .flat_map(|mc| mc.servers.iter().map(|s| key(new, s)))
            .collect();
        let mut stale = Vec::new();
        for mc in old.mcp_configs.values() {
            for s in &mc.servers {
                let before = key(old, s);
                let after = new
                    .mcp_config(&mc.id)
                    .and_then(|m| m.server(&s.name))
                    .map(|n| key(new, n));
                if after.as_ref() != Some(&before) {
                    stale.push((mc.id.clone(), s.name.clone()));
                }
            }
        }
        // Upstream sessions of definitions no longer in the config are stopped (a stdio
        // server with its process group).
        let stopped = self.pool.retain(&kept);
        if stopped > 0 {
            tracing::info!(stopped, "upstream sessions of changed servers stopped");
        }
        if stale.is_empty() {
            return;
        }
        tracing::info!(
            servers = stale.len(),
            "server definitions changed: their cached tools are dropped"
        );
        self.cache.tools_changed();
        let gw = self.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for (c, s) in &stale {
                    gw.cache.invalidate_tools(c, s).await;
                    // A tool index rebuilt meanwhile from the old entries goes too.
                    gw.indexes.remove(c);
                }
            });
        }
    }

    /// The mcp_config a session sees: an empty one (no servers) for a key whose project has no
    /// mcp_config; `None` when its mcp_config is gone from the config since the session began.
    pub fn mcp_config_of(&self, identity: &Identity) -> Option<McpConfig> {
        if identity.mcp_config_id.is_empty() {
            return Some(McpConfig::empty());
        }
        self.config().mcp_config(&identity.mcp_config_id).cloned()
    }

    /// Handles one message; a response for requests, `None` for the rest.
    pub async fn handle(
        self: &Arc<Self>,
        session: &Arc<Session>,
        msg: Message,
        stream: Option<tokio::sync::mpsc::Sender<Message>>,
    ) -> Option<Message> {
        match msg.kind() {
            Some(Kind::Response) => {
                session.complete(&msg);
                None
            }
            Some(Kind::Notification) => {
                self.notification(session, &msg).await;
                None
            }
            Some(Kind::Request) => {
                let id = msg.id().cloned().unwrap_or(Value::Null);
                if session.identity().expired() {
                    session.end_because("its key expired");
                }
                if session.is_ended() {
                    return Some(Message::error(
                        id,
                        &RpcError::new(
                            AUTH_ERROR,
                            format!("Session ended: {}", session.end_reason()),
                        ),
                    ));
                }
                // Telemetry only: the method and the start, kept when it is on.
                let traced = crate::otel::enabled().then(|| {
                    let method = crate::otel::method_name(msg.method().unwrap_or_default());
                    (method, crate::otel::request_started())
                });
                let out = self.request_message(session, msg, id, stream).await;
                if let Some((method, started)) = traced {
                    crate::otel::finish_request(method, outcome_of(&out), started);
                }
                out
            }
            None => Some(Message::error(
                Value::Null,
                &RpcError::new(INVALID_REQUEST, "Invalid Request"),
            )),
        }
    }

    /// A request of a live session: its response (`None` when cancelled).
    async fn request_message(
        self: &Arc<Self>,
        session: &Arc<Session>,
        msg: Message,
        id: Value,
        stream: Option<tokio::sync::mpsc::Sender<Message>>,
    ) -> Option<Message> {
        {
            {
                let key = id.to_string();
                if msg.method() == Some("tools/list") {
                    return Some(match self.tools_list_raw(session).await {
                        Ok(raw) => Message::result_raw(id, raw),
                        Err(e) => Message::error(id, &e),
                    });
                }
                // Abortable in place (no task per request): `notifications/cancelled` aborts
                // it, which drops the upstream call and so cancels it upstream too.
                let (work, abort) =
                    futures_util::future::abortable(self.request(session, msg, stream));
                session.inflight.insert(key.clone(), abort);
                let r = work.await;
                session.inflight.remove(&key);
                match r {
                    Ok(Ok(Reply::Value(result))) => Some(Message::result(id, result)),
                    Ok(Ok(Reply::Raw(raw))) => {
                        Some(Message::result_raw(id, String::from(Box::<str>::from(raw))))
                    }
                    Ok(Err(e)) => Some(Message::error(id, &e)),
                    // Cancelled by the client: MCP says not to answer.
                    Err(_aborted) => {
                        self.metrics.cancelled();
                        None
                    }
                }
            }
        }
    }

    /// Notifications are not traced.
    async fn notification(&self, session: &Arc<Session>, msg: &Message) {
        match msg.method().unwrap_or_default() {
            "notifications/initialized" => session.initialized.store(true, Ordering::Relaxed),
            "notifications/cancelled" => {
                if let Some(id) = msg.params().and_then(|p| p.get("requestId")) {
                    if let Some((_, h)) = session.inflight.remove(&id.to_string()) {
                        h.abort();
                    }
                }
            }
            _ => {}
        }
    }

    async fn request(
        self: &Arc<Self>,
        session: &Arc<Session>,
        mut msg: Message,
        stream: Option<tokio::sync::mpsc::Sender<Message>>,
    ) -> Result<Reply, RpcError> {
        let progress_token = msg.progress_token().cloned();
        let params = msg.0.remove("params").unwrap_or(Value::Object(Map::new()));
        let down = Arc::new(RequestDownstream {
            session: session.clone(),
            stream,
        });
        let ctx = RequestCtx {
            progress_token,
            downstream: Some(down),
        };
        if msg.method() == Some("tools/call") {
            return self.tools_call(session, params, ctx).await;
        }
        self.request_value(session, &msg, params, ctx)
            .await
            .map(Reply::Value)
    }

    /// Requests other than `tools/call`.
    async fn request_value(
        self: &Arc<Self>,
        session: &Arc<Session>,
        msg: &Message,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        match msg.method().unwrap_or_default() {
            "initialize" => Ok(self.initialize(session, &params)),
            // 2026-07-28: the stateless form's discovery probe.
            "server/discover" => {
                let mut r = self.initialize(session, &params);
                if let Some(o) = r.as_object_mut() {
                    o.remove("protocolVersion");
                    let mut versions = vec![Value::String("2026-07-28".into())];
                    versions.extend(PROTOCOL_VERSIONS.iter().map(|v| Value::String((*v).into())));
                    o.insert("supportedVersions".into(), Value::Array(versions));
                }
                Ok(r)
            }
            "ping" => Ok(json!({})),
            // Normally answered raw by `handle`; kept for completeness.
            "tools/list" => {
                let raw = self.tools_list_raw(session).await?;
                serde_json::from_str(&raw)
                    .map_err(|e| RpcError::new(crate::jsonrpc::INTERNAL_ERROR, e.to_string()))
            }
            "resources/list" => self.resources_list(session, ctx).await,
            "resources/templates/list" => {
                self.aggregate_list(
                    session,
                    "resources/templates/list",
                    "resourceTemplates",
                    ctx,
                )
                .await
            }
            "resources/read" => {
                self.resource_call(session, "resources/read", params, ctx)
                    .await
            }
            m @ ("resources/subscribe" | "resources/unsubscribe") => {
                let m = m.to_string();
                self.subscription(session, &m, params, ctx).await
            }
            "prompts/list" => self.prompts_list(session, ctx).await,
            "prompts/get" => self.prompts_get(session, params, ctx).await,
            "completion/complete" => self.complete(session, params, ctx).await,
            "logging/setLevel" => self.set_level(session, params).await,
            other => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            )),
        }
    }

    fn initialize(&self, session: &Session, params: &Value) -> Value {
        let asked = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = if PROTOCOL_VERSIONS.contains(&asked) {
            asked
        } else {
            PROTOCOL_VERSIONS[0]
        };
        *session.protocol_version.lock() = version.to_string();
        *session.client_capabilities.lock() =
            params.get("capabilities").cloned().unwrap_or(Value::Null);
        json!({
            "protocolVersion": version,
            "capabilities": {
                "tools": { "listChanged": true },
                "resources": { "listChanged": true, "subscribe": true },
                "prompts": { "listChanged": true },
                "logging": {},
                "completions": {}
            },
            "serverInfo": {
                "name": "secure-mcp-gateway",
                "title": "Secure MCP Gateway",
                "version": env!("CARGO_PKG_VERSION")
            },
            "instructions": "Tools of every configured MCP server are available directly (as <server>__<tool>, or under their own names when unambiguous). The enkrypt_* tools list servers, discover tools and call them with guardrails."
        })
    }

    /// `/health`: status, version, cache and upstream states.
    pub async fn health(&self) -> (bool, Value) {
        let cache = self.cache.health().await;
        let status = self.status_word(cache.reachable);
        let body = json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "cache": { "backend": cache.backend, "reachable": cache.reachable, "detail": cache.detail },
            "upstreams": self.upstream_states(),
            "sessions": self.sessions.len(),
            "guardrails": self.guardrails_report(None),
        });
        (status != "draining", body)
    }

    /// The gateway's status as `/health` words it: `draining`, else `degraded` when the cache
    /// is not reachable, else `ok`.
    pub fn status_word(&self, cache_reachable: bool) -> &'static str {
        if self.draining.load(Ordering::Relaxed) {
            "draining"
        } else if !cache_reachable {
            "degraded"
        } else {
            "ok"
        }
    }

    /// Each upstream's name and state, as `/health` lists them.
    pub fn upstream_states(&self) -> Vec<Value> {
        self.pool
            .states()
            .into_iter()
            .map(|(name, state)| json!({ "name": name, "state": state }))
            .collect()
    }

    /// The guardrails' counters, remote provider state, tool pin changes and policy notes
    /// (fail-closed reasons and what an operator should know), for `/health` (every
    /// mcp_config) and the cache status (one mcp_config: `only`).
    pub fn guardrails_report(&self, only: Option<&str>) -> Value {
        let mut v = self.guard.to_json(only);
        let notes: Vec<Value> = guardrail_notes(&self.config())
            .into_iter()
            .filter(|(id, _)| only.is_none_or(|o| o == id))
            .map(|(id, line)| json!({ "mcp_config_id": id, "note": line }))
            .collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("policy_notes".into(), Value::Array(notes));
        }
        v
    }

    /// Waits for in-flight work to finish, at most `grace`.
    pub async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.sessions.iter().any(|s| !s.inflight.is_empty()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The telemetry outcome of a response: a scan of its few keys (no map lookup, which hashes).
fn outcome_of(out: &Option<Message>) -> crate::otel::Outcome {
    use crate::otel::Outcome;
    let Some(m) = out else {
        return Outcome::Cancelled;
    };
    let (mut result, mut raw) = (None, None);
    for (k, v) in m.0.iter() {
        match k.as_str() {
            "error" => return Outcome::Error,
            "result" => result = Some(v),
            crate::jsonrpc::RAW_RESULT => raw = v.as_str(),
            _ => {}
        }
    }
    let failed = match (result, raw) {
        (Some(Value::Object(r)), _) => r
            .iter()
            .any(|(k, v)| k == "isError" && v.as_bool() == Some(true)),
        (Some(_), _) => false,
        (None, Some(raw)) => crate::telemetry::tools::raw_is_error(raw),
        (None, None) => false,
    };
    if failed {
        Outcome::ToolError
    } else {
        Outcome::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::Outcome;

    #[test]
    fn outcomes_of_responses() {
        let id = json!(1);
        let tool = |is_error: Value| {
            Message::result(id.clone(), json!({"content": [], "isError": is_error}))
        };
        assert_eq!(outcome_of(&None), Outcome::Cancelled);
        assert_eq!(
            outcome_of(&Some(Message::error(
                id.clone(),
                &RpcError::new(-32602, "bad")
            ))),
            Outcome::Error
        );
        assert_eq!(
            outcome_of(&Some(Message::result(id.clone(), json!({})))),
            Outcome::Ok
        );
        assert_eq!(
            outcome_of(&Some(Message::result(id.clone(), json!(7)))),
            Outcome::Ok
        );
        assert_eq!(outcome_of(&Some(tool(json!(true)))), Outcome::ToolError);
        assert_eq!(outcome_of(&Some(tool(json!(false)))), Outcome::Ok);
        assert_eq!(outcome_of(&Some(tool(json!("true")))), Outcome::Ok);
        let raw = |r: &str| Some(Message::result_raw(id.clone(), r.to_string()));
        assert_eq!(
            outcome_of(&raw(r#"{"content":[],"isError":true}"#)),
            Outcome::ToolError
        );
        assert_eq!(outcome_of(&raw(r#"{"content":[]}"#)), Outcome::Ok);
        // As Python's `json.dumps` writes it, and as `/metrics` reads it.
        assert_eq!(
            outcome_of(&raw(r#"{"content": [], "isError": true}"#)),
            Outcome::ToolError
        );
        assert_eq!(
            outcome_of(&raw(
                r#"{"content": [{"type": "text", "text": "\"isError\": true"}]}"#
            )),
            Outcome::Ok
        );
    }
}
