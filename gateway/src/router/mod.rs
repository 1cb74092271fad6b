//! Routing of tool calls: discovery through the cache, the per-mcp_config tool index, and
//! the call path from a public tool name to its upstream server.
//!
//! Direct tools are listed as `<server>__<tool>`, or under their own names where no other
//! server (nor a meta tool) uses the name. The index is rebuilt from the discovery results
//! whenever it is missing or invalidated (list_changed, cache clear, config reload), and reused
//! while the cache hands back the same entries. Every call passes the server's allow/deny lists
//! and its guardrail policies before the upstream sees it (module `call`: the call path).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::{GatewayConfig, McpConfig, ServerConfig, ToolsMode};
use crate::guard::policy::ServerPolicies;
use crate::guard::Screen;
use crate::jsonrpc::RpcError;
use crate::service::{Gateway, SEP};
use crate::session::{Identity, Session};
use crate::telemetry::tools::{ToolStats, TransportLabel};
use crate::upstream::{RequestCtx, UpstreamError, UpstreamSpec};

mod call;

pub use call::CallOutcome;

/// Where a public tool name leads: its server's route, its upstream name, its `/metrics`
/// counters.
pub type ToolTarget = (Arc<Route>, String, Option<Arc<ToolStats>>);

/// The routing view of one mcp_config's tools.
#[derive(Debug, Default)]
pub struct ToolIndex {
    /// Public name -> the route to its server, its upstream name and its `/metrics` counters
    /// (resolved once here; `None` while recording is off).
    pub names: HashMap<String, ToolTarget>,
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
    /// The mcp_config it belongs to.
    pub config_id: String,
    /// The server's config.
    pub server: ServerConfig,
    /// Its upstream spec.
    pub spec: UpstreamSpec,
    /// `spec.pool_key()`.
    pub key: String,
    /// Its guardrail policies, resolved.
    pub policies: ServerPolicies,
}

impl Route {
    /// The route to `server` of the mcp_config `config_id` under `cfg`.
    pub fn new(config_id: &str, server: ServerConfig, cfg: &GatewayConfig) -> Route {
        let spec = UpstreamSpec::from_server(&server, &cfg.common.timeouts);
        let key = spec.pool_key();
        let registration = cfg
            .mcp_config(config_id)
            .and_then(|m| m.tools_guardrails.as_ref());
        let policies = ServerPolicies::resolve(&server, registration, &cfg.guardrails);
        Route {
            config_id: config_id.to_string(),
            server,
            spec,
            key,
            policies,
        }
    }
}

/// True when a screening keeps this tool out.
fn screened_out(screen: &Screen, tool: &Value) -> bool {
    tool.get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| screen.blocked.contains_key(n))
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

impl Gateway {
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
        let r = Arc::new(Route::new(mcp_config_id, sc, &cfg));
        self.routes.insert(k, r.clone());
        Some(r)
    }

    /// The server's tools (discovered through the cache), as the upstream lists them.
    pub async fn discover_entry(
        &self,
        identity: &Identity,
        server: &ServerConfig,
    ) -> Result<Arc<Value>, UpstreamError> {
        let route = self.route_for(identity, server);
        let pool = &self.pool;
        let started = Instant::now();
        let limit = route.spec.timeouts.discovery;
        let asked = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .cache
            .discover_tools(
                &identity.mcp_config_id,
                &server.name,
                Some(&identity.user_id),
                || async {
                    asked.store(true, std::sync::atomic::Ordering::Relaxed);
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
        if crate::otel::enabled() {
            crate::otel::cache_lookup(!asked.load(std::sync::atomic::Ordering::Relaxed));
        }
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
        Ok(self.discover_screened(identity, server).await?.0)
    }

    /// [`Gateway::discover`], with the screening that kept tools out (registration checks,
    /// pin blocks) and the pin changes it saw.
    pub async fn discover_screened(
        &self,
        identity: &Identity,
        server: &ServerConfig,
    ) -> Result<(Vec<Value>, Arc<Screen>), UpstreamError> {
        let entry = self.discover_entry(identity, server).await?;
        let screen = self.screen(identity, server, &entry).await;
        let tools = allowed_tools(&entry, server)
            .filter(|t| !screened_out(&screen, t))
            .cloned()
            .collect();
        Ok((tools, screen))
    }

    /// The route of a server of the identity's config (or one built for it alone).
    fn route_for(&self, identity: &Identity, server: &ServerConfig) -> Arc<Route> {
        match self.route(&identity.mcp_config_id, &server.name) {
            Some(r) => r,
            None => Arc::new(Route::new(
                &identity.mcp_config_id,
                server.clone(),
                &self.config(),
            )),
        }
    }

    /// Registration checks and pins of a server's discovered tools.
    async fn screen(
        &self,
        identity: &Identity,
        server: &ServerConfig,
        entry: &Arc<Value>,
    ) -> Arc<Screen> {
        let route = self.route_for(identity, server);
        let tools: Vec<&Value> = allowed_tools(entry, server).collect();
        self.guard
            .screen(
                &self.cache,
                (&identity.mcp_config_id, &server.name),
                &route.policies,
                entry,
                &tools,
            )
            .await
    }

    /// Builds (or returns) the tool index of a session's mcp_config.
    pub async fn tool_index(&self, identity: &Identity) -> Arc<ToolIndex> {
        self.tool_index_cached(identity).await.0
    }

    /// The tool index, and whether it was already built (no discovery was needed).
    async fn tool_index_cached(&self, identity: &Identity) -> (Arc<ToolIndex>, bool) {
        if let Some(ix) = self.indexes.get(&identity.mcp_config_id) {
            return (ix.clone(), true);
        }
        (self.current_index(identity).await, false)
    }

    /// The tool index of a session's config, rebuilt only when a cache entry changed.
    pub(crate) async fn current_index(&self, identity: &Identity) -> Arc<ToolIndex> {
        let Some(mc) = self.mcp_config_of(identity) else {
            return Arc::new(ToolIndex::default());
        };
        let entries = futures_util::future::join_all(mc.servers.iter().map(|s| async move {
            match self.discover_entry(identity, s).await {
                Ok(e) => (s.name.clone(), Some(e)),
                Err(e) => {
                    tracing::warn!(server = %s.name, error = %crate::mask::text(&e.to_string()), "discovery failed; its tools are left out");
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
        let mut screens = HashMap::new();
        for (name, entry) in &entries {
            if let (Some(e), Some(sc)) = (entry, mc.server(name)) {
                screens.insert(name.clone(), self.screen(identity, sc, e).await);
            }
        }
        let ix = Arc::new(self.build_index(&mc, entries, &screens));
        self.indexes
            .insert(identity.mcp_config_id.clone(), ix.clone());
        ix
    }

    fn build_index(
        &self,
        mc: &McpConfig,
        entries: Vec<(String, Option<Arc<Value>>)>,
        screens: &HashMap<String, Arc<Screen>>,
    ) -> ToolIndex {
        let common = self.config().common.clone();
        let server_of = |name: &str| mc.servers.iter().find(|s| s.name == name);
        let offered = |e: &'_ Arc<Value>, sc: &ServerConfig| -> Vec<Value> {
            let screen = screens.get(&sc.name);
            allowed_tools(e, sc)
                .filter(|t| screen.is_none_or(|s| !screened_out(s, t)))
                .cloned()
                .collect()
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (server, entry) in &entries {
            let (Some(e), Some(sc)) = (entry, server_of(server)) else {
                continue;
            };
            for t in offered(e, sc) {
                if let Some(n) = t.get("name").and_then(Value::as_str) {
                    *counts.entry(n.to_string()).or_default() += 1;
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
            for t in offered(e, sc) {
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
                let stats =
                    self.telemetry
                        .tool(server, name, TransportLabel::of(&route.spec.transport));
                ix.names.insert(
                    format!("{server}{SEP}{name}"),
                    (route.clone(), name.to_string(), stats.clone()),
                );
                ix.names
                    .insert(public, (route.clone(), name.to_string(), stats));
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
    pub(crate) async fn tools_list_raw(&self, session: &Session) -> Result<String, RpcError> {
        static META_JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let mode = self.config().common.tools_mode;
        let mut out = String::from("{\"tools\":[");
        if mode != ToolsMode::Direct {
            out.push_str(META_JSON.get_or_init(|| join_json(crate::meta::definitions())));
        }
        if mode != ToolsMode::Meta {
            let ix = self.current_index(&session.identity()).await;
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
}
