//! Forwarding of the MCP methods other than tools: resources, prompts, completion and
//! logging, fanned out to (or routed to one of) a session's servers.
//!
//! Lists are aggregated from every server that declares the capability, in parallel; a server
//! that fails is logged and left out. Prompts of several servers are namespaced as
//! `<server>__<prompt>`; a resource URI is routed to the server that listed it.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::config::ServerConfig;
use crate::jsonrpc::{RpcError, INVALID_PARAMS};
use crate::service::{Gateway, SEP};
use crate::session::Session;
use crate::upstream::RequestCtx;

impl Gateway {
    pub(crate) async fn upstreams_of(&self, session: &Session) -> Vec<ServerConfig> {
        self.mcp_config_of(&session.identity())
            .map(|m| m.servers)
            .unwrap_or_default()
    }

    /// Calls `method` on every server of the session that declares `capability`, in parallel;
    /// failures are logged and skipped.
    pub(crate) async fn fan_out(
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
                    tracing::warn!(server = %s.name, error = %crate::mask::text(&e.to_string()), "upstream unavailable");
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
                    tracing::warn!(server = %s.name, error = %crate::mask::text(&e.to_string()), method, "upstream request failed");
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

    pub(crate) async fn aggregate_list(
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

    pub(crate) async fn resources_list(
        &self,
        session: &Session,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
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
            .insert(session.identity().mcp_config_id.clone(), map);
        Ok(json!({ "resources": all }))
    }

    pub(crate) async fn resource_call(
        &self,
        session: &Session,
        method: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
        self.resource_call_on(session, method, params, ctx)
            .await
            .map(|(_, v)| v)
    }

    /// As [`Gateway::resource_call`], with the pool key of the server that answered.
    pub(crate) async fn resource_call_on(
        &self,
        session: &Session,
        method: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<(String, Value), RpcError> {
        let uri = params
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, "a resource uri is required"))?
            .to_string();
        let known = self
            .resources
            .get(&session.identity().mcp_config_id)
            .and_then(|m| m.get(&uri).cloned());
        let servers = self.upstreams_of(session).await;
        let candidates: Vec<&ServerConfig> = match &known {
            Some(s) => servers.iter().filter(|x| &x.name == s).collect(),
            None => servers.iter().collect(),
        };
        let mut last = RpcError::new(INVALID_PARAMS, format!("Resource not found: {uri}"));
        for s in candidates {
            let spec = self.spec(s);
            let up = match self.pool.get(&spec).await {
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
                Ok(v) => return Ok((spec.pool_key(), v)),
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

    pub(crate) async fn prompts_list(
        &self,
        session: &Session,
        ctx: RequestCtx,
    ) -> Result<Value, RpcError> {
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

    pub(crate) async fn prompts_get(
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

    pub(crate) async fn complete(
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
                    .get(&session.identity().mcp_config_id)
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
}
