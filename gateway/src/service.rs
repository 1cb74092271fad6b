//! The gateway's core: authentication, the MCP methods it answers, discovery and routing.
//!
//! Every downstream transport (stdio, streamable HTTP) hands JSON-RPC messages for a
//! [`Session`] to [`Gateway::handle`]. Requests are answered here: `initialize`, `ping`,
//! `tools/*` (the meta tools of [`crate::meta`] and every upstream tool directly, as
//! `<server>__<tool>` or unprefixed where unambiguous), `resources/*`, `prompts/*`,
//! `completion/complete`, `logging/setLevel`. Notifications (`initialized`, `cancelled`) and the
//! client's responses to relayed server-to-client requests are handled without a reply.
//!
//! Discovery goes through the cache (one discovery per key at a time); a failed cache only
//! degrades it. The per-mcp_config tool index used to route direct calls is rebuilt from the
//! discovery results whenever it is missing or invalidated (list_changed, cache clear, config
//! reload).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use md5::{Digest, Md5};
use parking_lot::RwLock;
use serde_json::{json, Map, Value};

use crate::cache::Cache;
use crate::config::{GatewayConfig, KeyError, McpConfig, ServerConfig, ToolsMode};
use crate::jsonrpc::{Kind, Message, RpcError, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
use crate::metrics::Metrics;
use crate::session::{Identity, RequestDownstream, Session};
use crate::upstream::{Pool, RequestCtx, UpstreamError, UpstreamHandler, UpstreamSpec};

/// Protocol versions the gateway speaks with clients, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Separator between server and tool in a prefixed name.
pub const SEP: &str = "__";

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No gateway key was given.
    Missing,
    /// The key is not in the config.
    Unknown,
    /// The key is disabled.
    Disabled,
}

impl AuthError {
    /// The message for the client (never the key).
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "Authentication required: send the gateway key as 'Authorization: Bearer <key>' (or the 'apikey' / 'ENKRYPT_GATEWAY_KEY' header)",
            AuthError::Unknown => "Invalid gateway key",
            AuthError::Disabled => "This gateway key is disabled",
        }
    }
}

/// The routing view of one mcp_config's tools.
#[derive(Debug, Default)]
pub struct ToolIndex {
    /// Public name -> the route to its server and its upstream name.
    pub names: HashMap<String, (Arc<Route>, String)>,
    /// The tools as listed to clients (upstream definitions under their public names).
    pub tools: Vec<Value>,
    /// The cache entries it was built from: while the cache hands back the same entries, the
    /// index is reused as is.
    sources: Vec<Arc<Value>>,
    /// `tools`, serialized and comma-joined (for the raw tools/list answer).
    tools_json: String,
}

impl ToolIndex {
    fn built_from(&self, entries: &[(String, Option<Arc<Value>>)]) -> bool {
        let current: Vec<&Arc<Value>> = entries.iter().filter_map(|(_, e)| e.as_ref()).collect();
        current.len() == self.sources.len()
            && current
                .iter()
                .zip(&self.sources)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// A server of an mcp_config with its upstream spec and pool key, computed once per config.
#[derive(Debug)]
pub struct Route {
    /// The server's config.
    pub server: ServerConfig,
    /// Its upstream spec.
    pub spec: UpstreamSpec,
    /// `spec.pool_key()`.
    pub key: String,
}

/// What a request is answered with: a value the gateway built, or an upstream's result
/// passed on as the upstream wrote it.
enum Reply {
    Value(Value),
    Raw(crate::upstream::RawResult),
}

/// The gateway.
pub struct Gateway {
    config: RwLock<Arc<GatewayConfig>>,
    /// Where the config file is.
    pub config_path: PathBuf,
    /// The cache.
    pub cache: Arc<Cache>,
    /// Upstream sessions.
    pub pool: Pool,
    /// Downstream sessions by id.
    pub sessions: DashMap<String, Arc<Session>>,
    /// Tool indexes by mcp_config id.
    indexes: DashMap<String, Arc<ToolIndex>>,
    /// Resource URI -> server, per mcp_config (from the last resources/list).
    resources: DashMap<String, HashMap<String, String>>,
    /// (mcp_config id, server name) -> route; cleared on config reload.
    routes: DashMap<(String, String), Arc<Route>>,
    /// Timeout metrics.
    pub metrics: Metrics,
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

/// Routes upstream notifications to the sessions that can see the server.
struct Notifier {
    gateway: std::sync::Weak<Gateway>,
}

impl UpstreamHandler for Notifier {
    fn on_notification(&self, server: &str, msg: Message) {
        let Some(gw) = self.gateway.upgrade() else {
            return;
        };
        let method = msg.method().unwrap_or_default().to_string();
        let cfg = gw.config();
        let configs: Vec<String> = cfg
            .mcp_configs
            .values()
            .filter(|c| c.server(server).is_some())
            .map(|c| c.id.clone())
            .collect();
        let relay = match method.as_str() {
            "notifications/tools/list_changed" => {
                let gw2 = gw.clone();
                let server = server.to_string();
                let configs2 = configs.clone();
                tokio::spawn(async move {
                    for c in &configs2 {
                        gw2.cache.invalidate_tools(c, &server).await;
                        gw2.indexes.remove(c);
                    }
                });
                true
            }
            "notifications/prompts/list_changed" | "notifications/resources/list_changed" => true,
            "notifications/message" | "notifications/resources/updated" => true,
            _ => false,
        };
        if !relay {
            return;
        }
        for s in gw.sessions.iter() {
            if configs.contains(&s.identity.mcp_config_id) {
                s.send(msg.clone());
            }
        }
    }
}

/// Values serialized and joined with commas (array contents).
fn join_json(items: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
    }
    out
}

/// The tools of a cache entry that a server's allow/deny lists let through.
fn allowed_tools<'a>(
    entry: &'a Value,
    server: &'a ServerConfig,
) -> impl Iterator<Item = &'a Value> + 'a {
    entry
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| server.allows_tool(n))
        })
}

/// A tool call result carrying an error text (`isError: true`), as MCP prefers for tool errors.
pub fn tool_error(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }], "isError": true })
}

/// A tool call result holding one text item.
pub fn tool_text(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }], "isError": false })
}

fn digest(key: &str) -> [u8; 16] {
    Md5::digest(key.as_bytes()).into()
}

impl Gateway {
    /// A gateway for this config, cache and config path.
    pub fn new(config: GatewayConfig, config_path: PathBuf, cache: Arc<Cache>) -> Arc<Gateway> {
        Arc::new_cyclic(|weak| Gateway {
            config: RwLock::new(Arc::new(config)),
            config_path,
            cache,
            pool: Pool::new(Arc::new(Notifier {
                gateway: weak.clone(),
            })),
            sessions: DashMap::new(),
            indexes: DashMap::new(),
            resources: DashMap::new(),
            routes: DashMap::new(),
            metrics: Metrics::default(),
            started: Instant::now(),
            draining: AtomicBool::new(false),
        })
    }

    /// The current config.
    pub fn config(&self) -> Arc<GatewayConfig> {
        self.config.read().clone()
    }

    /// Replaces the config (hot reload): sessions live on; routing views are rebuilt.
    pub fn set_config(&self, config: Arc<GatewayConfig>) {
        *self.config.write() = config;
        self.indexes.clear();
        self.resources.clear();
        self.routes.clear();
        // The set of servers (and so of tools) may have changed: tell every client.
        for s in self.sessions.iter() {
            s.send(Message::notification(
                "notifications/tools/list_changed",
                None,
            ));
        }
    }

    /// Resolves a gateway key to an identity (constant-time comparison over every key).
    pub fn authenticate(&self, key: Option<&str>) -> Result<Identity, AuthError> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        let cfg = self.config();
        let r = cfg.resolve_key(key).map_err(|e| match e {
            KeyError::Disabled => AuthError::Disabled,
            _ => AuthError::Unknown,
        })?;
        Ok(Identity {
            key_digest: digest(key),
            project_id: r.project_id().to_string(),
            user_id: r.user_id().to_string(),
            mcp_config_id: r.mcp_config_id().to_string(),
        })
    }

    /// True when `key` is the key the session was opened with.
    pub fn same_key(session: &Session, key: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(k) = key.map(str::trim) else {
            return false;
        };
        bool::from(digest(k).ct_eq(&session.identity.key_digest))
    }

    /// The mcp_config a session sees.
    pub fn mcp_config_of(&self, identity: &Identity) -> Option<McpConfig> {
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
            None => Some(Message::error(
                Value::Null,
                &RpcError::new(INVALID_REQUEST, "Invalid Request"),
            )),
        }
    }

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
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                let method = msg.method().unwrap_or_default().to_string();
                self.resource_call(session, &method, params, ctx).await
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

    /// The upstream spec for a server.
    pub fn spec(&self, server: &ServerConfig) -> UpstreamSpec {
        UpstreamSpec::from_server(server, &self.config().common.timeouts)
    }

    /// The route to a server of an mcp_config (cached until the config changes).
    pub fn route(&self, mcp_config_id: &str, server: &str) -> Option<Arc<Route>> {
        let k = (mcp_config_id.to_string(), server.to_string());
        if let Some(r) = self.routes.get(&k) {
            return Some(r.clone());
        }
        let cfg = self.config();
        let sc = cfg.mcp_config(mcp_config_id)?.server(server)?.clone();
        let spec = UpstreamSpec::from_server(&sc, &cfg.common.timeouts);
        let key = spec.pool_key();
        let r = Arc::new(Route {
            server: sc,
            spec,
            key,
        });
        self.routes.insert(k, r.clone());
        Some(r)
    }

    /// The server's tools (discovered through the cache), as the upstream lists them.
    pub async fn discover_entry(
        &self,
        identity: &Identity,
        server: &ServerConfig,
    ) -> Result<Arc<Value>, UpstreamError> {
        let route = match self.route(&identity.mcp_config_id, &server.name) {
            Some(r) => r,
            None => {
                let spec = self.spec(server);
                let key = spec.pool_key();
                Arc::new(Route {
                    server: server.clone(),
                    spec,
                    key,
                })
            }
        };
        let pool = &self.pool;
        let started = Instant::now();
        let limit = route.spec.timeouts.discovery;
        let result = self
            .cache
            .discover_tools(
                &identity.mcp_config_id,
                &server.name,
                Some(&identity.user_id),
                || async {
                    let up = pool.get_keyed(&route.key, &route.spec).await?;
                    let mut tools = Vec::new();
                    let mut cursor: Option<Value> = None;
                    let mut last = Value::Null;
                    for _ in 0..100 {
                        let params = cursor.as_ref().map(|c| json!({ "cursor": c }));
                        let page = up
                            .request("tools/list", params, RequestCtx::default())
                            .await?;
                        if let Some(t) = page.get("tools").and_then(Value::as_array) {
                            tools.extend(t.iter().cloned());
                        }
                        cursor = page.get("nextCursor").filter(|c| !c.is_null()).cloned();
                        last = page;
                        if cursor.is_none() {
                            break;
                        }
                    }
                    let mut out = json!({ "tools": tools });
                    // Keep the upstream's cache hints (ttlMs, cacheScope) for the cache to honour.
                    for hint in ["ttlMs", "cacheScope", "_meta"] {
                        if let (Some(v), Some(o)) = (last.get(hint), out.as_object_mut()) {
                            o.insert(hint.to_string(), v.clone());
                        }
                    }
                    Ok::<Value, UpstreamError>(out)
                },
            )
            .await;
        self.metrics.record(
            started.elapsed(),
            limit,
            result.as_ref().err().map(UpstreamError::is_timeout),
        );
        result
    }

    /// The server's tools (discovered through the cache), allow/deny lists applied.
    pub async fn discover(
        &self,
        identity: &Identity,
        server: &ServerConfig,
    ) -> Result<Vec<Value>, UpstreamError> {
        let entry = self.discover_entry(identity, server).await?;
        Ok(allowed_tools(&entry, server).cloned().collect())
    }

    /// Builds (or returns) the tool index of a session's mcp_config.
    pub async fn tool_index(&self, identity: &Identity) -> Arc<ToolIndex> {
        if let Some(ix) = self.indexes.get(&identity.mcp_config_id) {
            return ix.clone();
        }
        self.current_index(identity).await
    }

    /// The tool index of a session's config, rebuilt only when a cache entry changed.
    async fn current_index(&self, identity: &Identity) -> Arc<ToolIndex> {
        let Some(mc) = self.mcp_config_of(identity) else {
            return Arc::new(ToolIndex::default());
        };
        let entries = futures_util::future::join_all(mc.servers.iter().map(|s| async move {
            match self.discover_entry(identity, s).await {
                Ok(e) => (s.name.clone(), Some(e)),
                Err(e) => {
                    tracing::warn!(server = %s.name, error = %e, "discovery failed; its tools are left out");
                    (s.name.clone(), None)
                }
            }
        }))
        .await;
        if let Some(ix) = self.indexes.get(&identity.mcp_config_id) {
            if ix.built_from(&entries) {
                return ix.clone();
            }
        }
        let ix = Arc::new(self.build_index(&mc, entries));
        self.indexes
            .insert(identity.mcp_config_id.clone(), ix.clone());
        ix
    }

    fn build_index(&self, mc: &McpConfig, entries: Vec<(String, Option<Arc<Value>>)>) -> ToolIndex {
        let common = self.config().common.clone();
        let server_of = |name: &str| mc.servers.iter().find(|s| s.name == name);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (server, entry) in &entries {
            let (Some(e), Some(sc)) = (entry, server_of(server)) else {
                continue;
            };
            for t in allowed_tools(e, sc) {
                if let Some(n) = t.get("name").and_then(Value::as_str) {
                    *counts.entry(n).or_default() += 1;
                }
            }
        }
        let meta: &[&str] = if common.tools_mode == ToolsMode::Direct {
            &[]
        } else {
            crate::meta::NAMES
        };
        let mut ix = ToolIndex::default();
        for (server, entry) in &entries {
            let (Some(e), Some(sc), Some(route)) =
                (entry, server_of(server), self.route(&mc.id, server))
            else {
                continue;
            };
            for t in allowed_tools(e, sc) {
                let Some(name) = t.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let unambiguous =
                    counts.get(name) == Some(&1) && !meta.contains(&name) && !name.contains(SEP);
                let public = if common.unprefixed_names && unambiguous {
                    name.to_string()
                } else {
                    format!("{server}{SEP}{name}")
                };
                let mut def = t.clone();
                if let Some(o) = def.as_object_mut() {
                    o.insert("name".into(), Value::String(public.clone()));
                }
                ix.names.insert(
                    format!("{server}{SEP}{name}"),
                    (route.clone(), name.to_string()),
                );
                ix.names.insert(public, (route.clone(), name.to_string()));
                ix.tools.push(def);
            }
        }
        ix.sources = entries.into_iter().filter_map(|(_, e)| e).collect();
        ix.tools_json = join_json(&ix.tools);
        ix
    }

    /// Forgets a config's tool index (after a cache clear or list change).
    pub fn invalidate_index(&self, mcp_config_id: Option<&str>) {
        match mcp_config_id {
            Some(id) => {
                self.indexes.remove(id);
            }
            None => self.indexes.clear(),
        }
    }

    /// `tools/list` serialized: the meta tools' and the index's JSON, prepared once each.
    async fn tools_list_raw(&self, session: &Session) -> Result<String, RpcError> {
        static META_JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let mode = self.config().common.tools_mode;
        let mut out = String::from("{\"tools\":[");
        if mode != ToolsMode::Direct {
            out.push_str(META_JSON.get_or_init(|| join_json(crate::meta::definitions())));
        }
        if mode != ToolsMode::Meta {
            let ix = self.current_index(&session.identity).await;
            if !ix.tools_json.is_empty() {
                if mode != ToolsMode::Direct {
                    out.push(',');
                }
                out.push_str(&ix.tools_json);
            }
        }
        out.push_str("]}");
        Ok(out)
    }

    async fn tools_call(
        self: &Arc<Self>,
        session: &Arc<Session>,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Reply, RpcError> {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, "tools/call needs a tool name"))?
            .to_string();
        let name = name.as_str();
        let mode = self.config().common.tools_mode;
        if mode != ToolsMode::Direct && crate::meta::NAMES.contains(&name) {
            let args = crate::jsonrpc::arguments_of(&params).unwrap_or(Value::Object(Map::new()));
            return Ok(Reply::Value(
                crate::meta::call(self, session, name, &args, ctx).await,
            ));
        }
        if mode == ToolsMode::Meta {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown tool: {name}"),
            ));
        }
        let mut target = self
            .tool_index(&session.identity)
            .await
            .names
            .get(name)
            .cloned();
        if target.is_none() {
            // The tool may be new upstream: rebuild once.
            self.invalidate_index(Some(&session.identity.mcp_config_id));
            target = self
                .tool_index(&session.identity)
                .await
                .names
                .get(name)
                .cloned();
        }
        let Some((route, tool)) = target else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown tool: {name}"),
            ));
        };
        let mut upstream_params = params;
        if let Some(o) = upstream_params.as_object_mut() {
            o.insert("name".into(), Value::String(tool.clone()));
        }
        self.call_on_route(&route, &tool, upstream_params, ctx)
            .await
    }

    /// Calls a tool on a server after the allow/deny checks; upstream failures become tool
    /// errors (`isError`) so the model sees them.
    pub async fn call_upstream_tool(
        &self,
        identity: &Identity,
        server: &str,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        let Some(route) = self.route(&identity.mcp_config_id, server) else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Server '{server}' not available."),
            ));
        };
        match self.call_on_route(&route, tool, params, ctx).await? {
            Reply::Value(v) => Ok(v),
            Reply::Raw(raw) => Ok(crate::upstream::parse_result(&raw)
                .unwrap_or_else(|e| tool_error(format!("{server}: {e}")))),
        }
    }

    /// [`Gateway::call_upstream_tool`] once the route is known. The upstream's result is
    /// passed on as it wrote it.
    async fn call_on_route(
        &self,
        route: &Route,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Reply, RpcError> {
        let sc = &route.server;
        let server = sc.name.as_str();
        if !sc.allows_tool(tool) {
            return Ok(Reply::Value(tool_error(format!(
                "Tool '{tool}' is not allowed on server '{server}'."
            ))));
        }
        // Guardrails are refused by default rather than skipped: this build has no guardrail
        // provider, so a server whose policy asks for them is not called at all (fail closed).
        let guarded = [&sc.input_guardrails, &sc.output_guardrails]
            .iter()
            .any(|g| g.as_ref().is_some_and(|g| g.enabled));
        if guarded {
            return Ok(Reply::Value(tool_error(format!(
                "Guardrails are enabled for server '{server}', but no guardrail provider is available in this gateway: the call is refused (fail closed). Disable the server's guardrail policies in the config to call it without guardrails."
            ))));
        }
        let limit = route.spec.timeouts.request;
        let started = Instant::now();
        let r = async {
            let up = self.pool.get_keyed(&route.key, &route.spec).await?;
            up.request_raw("tools/call", Some(params), ctx).await
        }
        .await;
        self.metrics.record(
            started.elapsed(),
            limit,
            r.as_ref().err().map(UpstreamError::is_timeout),
        );
        match r {
            Ok(raw) => Ok(Reply::Raw(raw)),
            Err(UpstreamError::Rpc(e)) => Err(e),
            Err(e) => Ok(Reply::Value(tool_error(format!("{server}: {e}")))),
        }
    }

    async fn upstreams_of(&self, session: &Session) -> Vec<ServerConfig> {
        self.mcp_config_of(&session.identity)
            .map(|m| m.servers)
            .unwrap_or_default()
    }

    /// Calls `method` on every server of the session that declares `capability`, in parallel;
    /// failures are logged and skipped.
    async fn fan_out(
        &self,
        session: &Session,
        capability: &str,
        method: &str,
        ctx: &RequestCtx,
    ) -> Vec<(String, Value)> {
        let servers = self.upstreams_of(session).await;
        let calls = servers.iter().map(|s| async move {
            let spec = self.spec(s);
            let up = match self.pool.get(&spec).await {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(server = %s.name, error = %e, "upstream unavailable");
                    return None;
                }
            };
            up.server_info()
                .pointer(&format!("/capabilities/{capability}"))?;
            let c = RequestCtx {
                progress_token: None,
                downstream: ctx.downstream.clone(),
            };
            match up.request(method, None, c).await {
                Ok(v) => Some((s.name.clone(), v)),
                Err(e) => {
                    tracing::warn!(server = %s.name, error = %e, method, "upstream request failed");
                    None
                }
            }
        });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn aggregate_list(
        &self,
        session: &Session,
        method: &str,
        field: &str,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        let mut all = Vec::new();
        for (_, v) in self.fan_out(session, "resources", method, &ctx).await {
            if let Some(items) = v.get(field).and_then(Value::as_array) {
                all.extend(items.iter().cloned());
            }
        }
        Ok(json!({ field: all }))
    }

    async fn resources_list(&self, session: &Session, ctx: RequestCtx) -> Result<Value, RpcError> {
        let mut all = Vec::new();
        let mut map = HashMap::new();
        for (server, v) in self
            .fan_out(session, "resources", "resources/list", &ctx)
            .await
        {
            for r in v
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(uri) = r.get("uri").and_then(Value::as_str) {
                    map.entry(uri.to_string()).or_insert_with(|| server.clone());
                }
                all.push(r.clone());
            }
        }
        self.resources
            .insert(session.identity.mcp_config_id.clone(), map);
        Ok(json!({ "resources": all }))
    }

    async fn resource_call(
        &self,
        session: &Session,
        method: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        let uri = params
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, "a resource uri is required"))?
            .to_string();
        let known = self
            .resources
            .get(&session.identity.mcp_config_id)
            .and_then(|m| m.get(&uri).cloned());
        let servers = self.upstreams_of(session).await;
        let candidates: Vec<&ServerConfig> = match &known {
            Some(s) => servers.iter().filter(|x| &x.name == s).collect(),
            None => servers.iter().collect(),
        };
        let mut last = RpcError::new(INVALID_PARAMS, format!("Resource not found: {uri}"));
        for s in candidates {
            let up = match self.pool.get(&self.spec(s)).await {
                Ok(u) => u,
                Err(e) => {
                    last = e.to_rpc();
                    continue;
                }
            };
            if up
                .server_info()
                .pointer("/capabilities/resources")
                .is_none()
            {
                continue;
            }
            let c = RequestCtx {
                progress_token: ctx.progress_token.clone(),
                downstream: ctx.downstream.clone(),
            };
            match up.request(method, Some(params.clone()), c).await {
                Ok(v) => return Ok(v),
                Err(e) => last = e.to_rpc(),
            }
        }
        Err(last)
    }

    fn split_name<'n>(&self, servers: &[ServerConfig], name: &'n str) -> Option<(String, &'n str)> {
        if let Some((s, rest)) = name.split_once(SEP) {
            if servers.iter().any(|x| x.name == s) {
                return Some((s.to_string(), rest));
            }
        }
        (servers.len() == 1).then(|| (servers[0].name.clone(), name))
    }

    async fn prompts_list(&self, session: &Session, ctx: RequestCtx) -> Result<Value, RpcError> {
        let single = self.upstreams_of(session).await.len() == 1;
        let mut all = Vec::new();
        for (server, v) in self.fan_out(session, "prompts", "prompts/list", &ctx).await {
            for p in v
                .get("prompts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut p = p.clone();
                if !single {
                    if let Some(o) = p.as_object_mut() {
                        let n = o
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        o.insert("name".into(), Value::String(format!("{server}{SEP}{n}")));
                    }
                }
                all.push(p);
            }
        }
        Ok(json!({ "prompts": all }))
    }

    async fn prompts_get(
        &self,
        session: &Session,
        mut params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        let servers = self.upstreams_of(session).await;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some((server, prompt)) = self.split_name(&servers, &name) else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown prompt: {name}"),
            ));
        };
        if let Some(o) = params.as_object_mut() {
            o.insert("name".into(), Value::String(prompt.to_string()));
        }
        let Some(sc) = servers.iter().find(|s| s.name == server) else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown prompt: {name}"),
            ));
        };
        let up = self
            .pool
            .get(&self.spec(sc))
            .await
            .map_err(|e| e.to_rpc())?;
        up.request("prompts/get", Some(params), ctx)
            .await
            .map_err(|e| e.to_rpc())
    }

    async fn complete(
        &self,
        session: &Session,
        mut params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        let servers = self.upstreams_of(session).await;
        let r#ref = params.get("ref").cloned().unwrap_or(Value::Null);
        let server = match r#ref.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let name = r#ref
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let Some((server, prompt)) = self.split_name(&servers, &name) else {
                    return Err(RpcError::new(
                        INVALID_PARAMS,
                        format!("Unknown prompt: {name}"),
                    ));
                };
                if let Some(r) = params.get_mut("ref").and_then(Value::as_object_mut) {
                    r.insert("name".into(), Value::String(prompt.to_string()));
                }
                server
            }
            _ => {
                let uri = r#ref.get("uri").and_then(Value::as_str).unwrap_or_default();
                match self
                    .resources
                    .get(&session.identity.mcp_config_id)
                    .and_then(|m| m.get(uri).cloned())
                {
                    Some(s) => s,
                    None if servers.len() == 1 => servers[0].name.clone(),
                    None => return Ok(json!({ "completion": { "values": [], "hasMore": false } })),
                }
            }
        };
        let Some(sc) = servers.iter().find(|s| s.name == server) else {
            return Err(RpcError::new(INVALID_PARAMS, "Unknown completion target"));
        };
        let up = self
            .pool
            .get(&self.spec(sc))
            .await
            .map_err(|e| e.to_rpc())?;
        up.request("completion/complete", Some(params), ctx)
            .await
            .map_err(|e| e.to_rpc())
    }

    async fn set_level(&self, session: &Session, params: Value) -> Result<Value, RpcError> {
        for s in self.upstreams_of(session).await {
            if let Ok(up) = self.pool.get(&self.spec(&s)).await {
                if up.server_info().pointer("/capabilities/logging").is_some() {
                    let _ = up
                        .request(
                            "logging/setLevel",
                            Some(params.clone()),
                            RequestCtx::default(),
                        )
                        .await;
                }
            }
        }
        Ok(json!({}))
    }

    /// `/health`: status, version, cache and upstream states.
    pub async fn health(&self) -> (bool, Value) {
        let cache = self.cache.health().await;
        let upstreams: Vec<Value> = self
            .pool
            .states()
            .into_iter()
            .map(|(name, state)| json!({ "name": name, "state": state }))
            .collect();
        let draining = self.draining.load(Ordering::Relaxed);
        let degraded = !cache.reachable;
        let status = if draining {
            "draining"
        } else if degraded {
            "degraded"
        } else {
            "ok"
        };
        let body = json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "cache": { "backend": cache.backend, "reachable": cache.reachable, "detail": cache.detail },
            "upstreams": upstreams,
            "sessions": self.sessions.len(),
        });
        (!draining, body)
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
