//! What upstreams send outside a request, and the per-client state that decides who gets it.
//!
//! Upstream sessions are pooled by server definition and shared by every client whose config
//! uses that definition, whatever its key or tenant. So nothing an upstream sends is broadcast:
//!
//! - `list_changed` notifications and log messages go only to sessions whose mcp_config uses
//!   that very definition (two configs may give one name to different servers);
//! - log messages are filtered by each session's own `logging/setLevel`; the upstream is set to
//!   the most verbose level any of its clients asked for, so one client's choice never changes
//!   what another receives;
//! - `notifications/resources/updated` goes only to the sessions that subscribed to that URI on
//!   that server; an upstream subscription is dropped when its last subscriber unsubscribes.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::jsonrpc::{Message, RpcError, INVALID_PARAMS};
use crate::service::Gateway;
use crate::session::Session;
use crate::upstream::{RequestCtx, UpstreamHandler, UpstreamSpec};

/// MCP log levels (RFC 5424 names), least to most severe; a session's level is stored as the
/// index + 1 (0: never set, everything passes).
pub const LOG_LEVELS: &[&str] = &[
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The stored form of a level name (index + 1), `None` if unknown.
pub fn level_rank(name: &str) -> Option<u8> {
    LOG_LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(name))
        .map(|i| i as u8 + 1)
}

/// Routes upstream notifications to the sessions entitled to them.
pub(crate) struct Notifier {
    pub(crate) gateway: std::sync::Weak<Gateway>,
}

impl UpstreamHandler for Notifier {
    fn on_notification(&self, _server: &str, _msg: Message) {
        // Every upstream session reports through `on_server_notification`.
    }

    fn on_server_notification(&self, spec: &UpstreamSpec, key: &str, msg: Message) {
        let Some(gw) = self.gateway.upgrade() else {
            return;
        };
        let configs = gw.configs_using(&spec.name, key);
        match msg.method().unwrap_or_default() {
            "notifications/tools/list_changed" => {
                // Now, in the order the server's messages came: a discovery whose tools/list
                // was answered before this does not keep its entry (the deletion below may
                // run before that entry is written).
                gw.cache.server_tools_changed(&spec.name);
                let gw2 = gw.clone();
                let server = spec.name.clone();
                let configs2 = configs.clone();
                tokio::spawn(async move {
                    for c in &configs2 {
                        gw2.cache.invalidate_tools(c, &server).await;
                        gw2.indexes.remove(c);
                    }
                });
                gw.send_to(&msg, |s| configs.contains(&s.identity().mcp_config_id));
            }
            "notifications/prompts/list_changed" | "notifications/resources/list_changed" => {
                gw.send_to(&msg, |s| configs.contains(&s.identity().mcp_config_id));
            }
            "notifications/message" => {
                let rank = msg
                    .params()
                    .and_then(|p| p.get("level"))
                    .and_then(Value::as_str)
                    .and_then(level_rank)
                    .unwrap_or(u8::MAX);
                gw.send_to(&msg, |s| {
                    configs.contains(&s.identity().mcp_config_id) && rank >= s.log_level()
                });
            }
            "notifications/resources/updated" => {
                let Some(uri) = msg
                    .params()
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                else {
                    return;
                };
                let uri = uri.to_string();
                gw.send_to(&msg, |s| s.is_subscribed(key, &uri));
            }
            _ => {}
        }
    }
}

impl Gateway {
    /// The mcp_configs whose server `name` is the definition with pool key `key`.
    pub(crate) fn configs_using(&self, name: &str, key: &str) -> Vec<String> {
        let cfg = self.config();
        cfg.mcp_configs
            .values()
            .filter(|c| c.server(name).is_some())
            .filter(|c| self.route(&c.id, name).is_some_and(|r| r.key == key))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Sends `msg` to every session `to` selects.
    fn send_to(&self, msg: &Message, to: impl Fn(&Session) -> bool) {
        for s in self.sessions.iter() {
            if to(s.value()) {
                s.send(msg.clone());
            }
        }
    }

    /// `logging/setLevel`: the session's own level; each of its servers that logs is set to
    /// the most verbose level any of its clients asked for.
    pub(crate) async fn set_level(
        &self,
        session: &Session,
        params: Value,
    ) -> Result<Value, RpcError> {
        let rank = params
            .get("level")
            .and_then(Value::as_str)
            .and_then(level_rank)
            .ok_or_else(|| {
                RpcError::new(
                    INVALID_PARAMS,
                    format!("level must be one of {}", LOG_LEVELS.join(", ")),
                )
            })?;
        session.set_log_level(rank);
        let config_id = session.identity().mcp_config_id.clone();
        for s in self.upstreams_of(session).await {
            let Some(route) = self.route(&config_id, &s.name) else {
                continue;
            };
            let configs = self.configs_using(&s.name, &route.key);
            let most_verbose = self
                .sessions
                .iter()
                .filter(|x| configs.contains(&x.identity().mcp_config_id))
                .map(|x| x.log_level())
                .filter(|&r| r > 0)
                .min()
                .unwrap_or(rank);
            let Ok(up) = self.pool.get_keyed(&route.key, &route.spec).await else {
                continue;
            };
            if up.server_info().pointer("/capabilities/logging").is_some() {
                let level = LOG_LEVELS[usize::from(most_verbose.max(1)) - 1];
                let _ = up
                    .request(
                        "logging/setLevel",
                        Some(json!({ "level": level })),
                        RequestCtx::default(),
                    )
                    .await;
            }
        }
        Ok(json!({}))
    }

    /// `resources/subscribe` and `resources/unsubscribe`: recorded per session; an upstream
    /// unsubscribe is sent only when no other session still holds the subscription.
    pub(crate) async fn subscription(
        self: &Arc<Self>,
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
        if method == "resources/unsubscribe" {
            let Some(key) = session.unsubscribe(&uri) else {
                return Ok(json!({}));
            };
            let shared = self.sessions.iter().any(|s| s.is_subscribed(&key, &uri));
            if shared {
                return Ok(json!({}));
            }
            let (_, v) = self.resource_call_on(session, method, params, ctx).await?;
            return Ok(v);
        }
        let (key, v) = self.resource_call_on(session, method, params, ctx).await?;
        session.subscribe(key, uri);
        Ok(v)
    }
}
