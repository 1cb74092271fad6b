//! The gateway's own tools, with the reference product's names, arguments and result shapes:
//! `enkrypt_list_all_servers`, `enkrypt_get_server_info`, `enkrypt_discover_all_tools`,
//! `enkrypt_secure_call_tools`, `enkrypt_get_cache_status`, `enkrypt_clear_cache`,
//! `enkrypt_get_timeout_metrics`.
//!
//! As in the reference, each result is one text item holding a JSON object (`status`,
//! messages, data); failures inside it use the reference's error envelope (`status: "error"`,
//! `error: {code, message, severity, recovery_strategy, ...}`) and are not `isError` results.
//! Deliberate differences from the reference (it has quirks a port should not copy):
//! `enkrypt_clear_cache` honours `server_name` when `cache_type` is empty; a batch of
//! `enkrypt_secure_call_tools` never calls the upstream before its input check; cached tool
//! lists are returned as lists, not `[tools, expiry]` pairs.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::{DeniedTool, ServerConfig, UpstreamConfig};
use crate::mask;
use crate::service::{tool_text, Gateway};
use crate::session::Session;
use crate::upstream::RequestCtx;

/// The meta tool names.
pub const NAMES: &[&str] = &[
    "enkrypt_list_all_servers",
    "enkrypt_get_server_info",
    "enkrypt_discover_all_tools",
    "enkrypt_secure_call_tools",
    "enkrypt_get_cache_status",
    "enkrypt_clear_cache",
    "enkrypt_get_timeout_metrics",
];

fn annotations(read_only: bool) -> Value {
    if read_only {
        json!({ "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false })
    } else {
        json!({ "readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true })
    }
}

/// The meta tools' definitions for `tools/list` (built once).
pub fn definitions() -> &'static [Value] {
    static DEFS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    DEFS.get_or_init(build_definitions)
}

fn build_definitions() -> Vec<Value> {
    vec![
        json!({
            "name": "enkrypt_list_all_servers",
            "description": "Get detailed information about all available servers, including their tools and configuration status.",
            "inputSchema": { "type": "object", "properties": { "discover_tools": { "type": "boolean", "default": true } } },
            "annotations": annotations(true)
        }),
        json!({
            "name": "enkrypt_get_server_info",
            "description": "Get detailed information about a server, including its tools.",
            "inputSchema": { "type": "object", "properties": { "server_name": { "type": "string" } }, "required": ["server_name"] },
            "annotations": annotations(true)
        }),
        json!({
            "name": "enkrypt_discover_all_tools",
            "description": "Discover available tools for a specific server or all servers if server_name is None",
            "inputSchema": { "type": "object", "properties": { "server_name": { "anyOf": [{ "type": "string" }, { "type": "null" }], "default": null } } },
            "annotations": annotations(true)
        }),
        json!({
            "name": "enkrypt_secure_call_tools",
            "description": "Securely call tools for a specific server. If there are multiple tool calls to be made, please pass all of them in a single list. If tools need to be discovered, pass empty list for tool_calls.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "server_name": { "type": "string" },
                    "tool_calls": { "type": "array", "items": {}, "default": [] }
                },
                "required": ["server_name"]
            },
            "annotations": annotations(false)
        }),
        json!({
            "name": "enkrypt_get_cache_status",
            "description": "Gets the current status of the tool cache for the servers whose tools are empty {} for which tools were discovered. Use this only if you need to debug cache issues or asked specifically for cache status.",
            "inputSchema": { "type": "object", "properties": {} },
            "annotations": annotations(true)
        }),
        json!({
            "name": "enkrypt_clear_cache",
            "description": "Clear the gateway cache for all/specific servers/gateway config. Use this only if you need to debug cache issues or asked specifically to clear cache.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "id": { "anyOf": [{ "type": "string" }, { "type": "null" }], "default": null },
                    "server_name": { "anyOf": [{ "type": "string" }, { "type": "null" }], "default": null },
                    "cache_type": { "anyOf": [{ "type": "string" }, { "type": "null" }], "default": null }
                }
            },
            "annotations": annotations(false)
        }),
        json!({
            "name": "enkrypt_get_timeout_metrics",
            "description": "Gets timeout management metrics including active operations, success rates, and escalation counts. Use this to monitor timeout performance and identify potential issues.",
            "inputSchema": { "type": "object", "properties": {} },
            "annotations": annotations(true)
        }),
    ]
}

pub(crate) fn now_iso() -> String {
    crate::config::generate::now_iso8601()
}

/// The reference's error envelope.
pub fn envelope(
    code: &str,
    message: &str,
    class: &str,
    server: Option<&str>,
    tool: Option<&str>,
) -> Value {
    let (severity, recovery) = match class {
        "discovery" => ("medium", "fallback"),
        "configuration" | "auth" | "timeout" => ("high", "fail_closed"),
        "tool" => ("medium", "retry"),
        _ => ("medium", "fail_open"),
    };
    let correlation = crate::session::new_session_id();
    let ts = now_iso();
    json!({
        "status": "error",
        "error": {
            "code": code,
            "message": message,
            "severity": severity,
            "recovery_strategy": recovery,
            "correlation_id": correlation,
            "timestamp": ts,
            "context": { "server_name": server, "tool_name": tool },
            "details": { "user_message": message }
        },
        "timestamp": ts,
        "correlation_id": correlation
    })
}

/// Name/value pairs with secret values masked whole (see [`crate::mask`]).
fn masked_pairs(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(mask::value(k, v))))
        .collect()
}

/// A server's config entry as the reference shows it, secrets masked whole: URL credentials
/// and secret query parameters, secret-looking env and header values, secret flag values.
fn server_entry(s: &ServerConfig) -> Value {
    let config = match &s.upstream {
        UpstreamConfig::Stdio(st) => {
            json!({ "command": mask::text(&st.command), "args": mask::args(&st.args), "env": masked_pairs(&st.env) })
        }
        UpstreamConfig::Remote(r) => {
            let transport = match r.transport {
                crate::config::RemoteTransport::Sse => "sse",
                crate::config::RemoteTransport::StreamableHttp => "streamable-http",
            };
            json!({ "url": mask::url(&r.url), "headers": masked_pairs(&r.headers), "transport": transport })
        }
    };
    json!({
        "server_name": s.name,
        "description": s.description,
        "config": config,
        "tools": s.tools,
        "denied_tools": s.denied_tools.iter().map(DeniedTool::to_json).collect::<Vec<_>>(),
        "enable_tool_guardrails": s.enable_tool_guardrails,
    })
}

fn arg_str<'a>(args: &'a Value, name: &str) -> Option<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("null"))
}

fn as_text(v: &Value) -> Value {
    tool_text(serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Runs a meta tool; the result is a `tools/call` result.
pub async fn call(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    name: &str,
    args: &Value,
    ctx: RequestCtx,
) -> Value {
    let v = match name {
        "enkrypt_list_all_servers" => {
            let discover = args
                .get("discover_tools")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            list_servers(gw, session, discover).await
        }
        "enkrypt_get_server_info" => match arg_str(args, "server_name") {
            Some(s) => server_info(gw, session, s).await,
            None => unavailable(None),
        },
        "enkrypt_discover_all_tools" => match arg_str(args, "server_name") {
            Some(s) => discover_one(gw, session, s).await,
            None => list_servers(gw, session, true).await,
        },
        "enkrypt_secure_call_tools" => secure_call(gw, session, args, ctx).await,
        "enkrypt_get_cache_status" => cache_status(gw, session).await,
        "enkrypt_clear_cache" => clear_cache(gw, session, args).await,
        _ => {
            let active = gw.sessions.iter().map(|s| s.inflight.len()).sum();
            gw.metrics.to_json(&gw.config().common.timeouts, active)
        }
    };
    as_text(&v)
}

fn no_config() -> Value {
    envelope(
        "CONFIG_002",
        "No MCP config found. Please check your credentials.",
        "configuration",
        None,
        None,
    )
}

/// The reference's answer for a server that is not in the client's config (`None`: no
/// `server_name` given).
fn unavailable(server: Option<&str>) -> Value {
    envelope(
        "DISC_002",
        &format!("Server '{}' not available.", server.unwrap_or("None")),
        "discovery",
        server,
        None,
    )
}

/// The client's server `name`, or the envelope to answer with.
fn server_of(gw: &Gateway, session: &Session, name: &str) -> Result<ServerConfig, Value> {
    let mc = gw
        .mcp_config_of(&session.identity())
        .ok_or_else(no_config)?;
    mc.server(name)
        .cloned()
        .ok_or_else(|| unavailable(Some(name)))
}

async fn list_servers(gw: &Arc<Gateway>, session: &Arc<Session>, discover: bool) -> Value {
    let Some(mc) = gw.mcp_config_of(&session.identity()) else {
        return no_config();
    };
    if !discover {
        let servers: Map<String, Value> = mc
            .servers
            .iter()
            .map(|s| (s.name.clone(), server_entry(s)))
            .collect();
        let names: Vec<&str> = mc.servers.iter().map(|s| s.name.as_str()).collect();
        return json!({ "status": "success", "available_servers": servers, "servers_needing_discovery": names });
    }
    let results = futures_util::future::join_all(
        mc.servers
            .iter()
            .map(|s| async move { (s.name.clone(), discover_one(gw, session, &s.name).await) }),
    )
    .await;
    let mut ok = vec![];
    let mut failed = vec![];
    let mut available = Map::new();
    for (name, r) in results {
        if r.get("status").and_then(Value::as_str) == Some("success") {
            ok.push(name.clone());
        } else {
            failed.push(name.clone());
        }
        available.insert(name, r);
    }
    json!({
        "status": if failed.is_empty() { "success" } else { "error" },
        "message": "Tools discovery tried for all servers",
        "discovery_failed_servers": failed,
        "discovery_success_servers": ok,
        "available_servers": available
    })
}

async fn server_info(gw: &Arc<Gateway>, session: &Arc<Session>, name: &str) -> Value {
    let s = match server_of(gw, session, name) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut entry = server_entry(&s);
    let cached = gw
        .cache
        .cached_tools(
            &session.identity().mcp_config_id,
            name,
            Some(&session.identity().user_id),
        )
        .await;
    if let Some(o) = entry.as_object_mut() {
        let (source, has) = match (&cached, s.tools.is_empty()) {
            (Some(_), _) => ("cache", true),
            (None, false) => ("config", false),
            (None, true) => ("needs_discovery", false),
        };
        if let Some(t) = cached {
            o.insert("tools".into(), t);
        }
        o.insert("has_cached_tools".into(), Value::Bool(has));
        o.insert("tools_source".into(), Value::String(source.into()));
    }
    json!({ "status": "success", "server_name": name, "server_info": entry })
}

async fn discover_one(gw: &Arc<Gateway>, session: &Arc<Session>, name: &str) -> Value {
    let s = match server_of(gw, session, name) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let was_cached = gw
        .cache
        .cached_tools(
            &session.identity().mcp_config_id,
            name,
            Some(&session.identity().user_id),
        )
        .await
        .is_some();
    match gw.discover_screened(&session.identity(), &s).await {
        Ok((tools, screen)) => {
            let (blocked, reasons) = blocked_report(&screen);
            let denied = denied_report(gw, session, &s).await;
            let denied_count = denied.len();
            let (source, message) = if was_cached {
                ("cache", format!("Tools retrieved from cache for {name}"))
            } else {
                ("discovery", format!("Tools discovered for {name}"))
            };
            json!({
                "status": "success",
                "message": message,
                "tools": { "tools": tools },
                "source": source,
                "blocked_count": blocked.len(),
                "blocked_tools": blocked,
                "blocked_reasons": reasons,
                "tool_pin_changes": serde_json::to_value(&screen.pin_changes).unwrap_or_default(),
                "policy_denied_tools": denied,
                "policy_denied_count": denied_count
            })
        }
        Err(e) => envelope(
            "DISC_001",
            &mask::text(&format!("Tool discovery failed: {e}")),
            "discovery",
            Some(name),
            None,
        ),
    }
}

/// The discovered tools the server's `denied_tools` keep out, as the reference lists them in
/// `policy_denied_tools` (`{name, pattern, reason}` each).
async fn denied_report(gw: &Arc<Gateway>, session: &Arc<Session>, s: &ServerConfig) -> Vec<Value> {
    if s.denied_tools.is_empty() {
        return Vec::new();
    }
    let Ok(entry) = gw.discover_entry(&session.identity(), s).await else {
        return Vec::new();
    };
    entry
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .filter_map(|n| s.denial(n).map(|d| d.to_json(n)))
        .collect()
}

/// `blocked_tools` (`{name, reasons}` each, as the reference reports them) and the flat
/// `blocked_reasons` of a screening.
fn blocked_report(screen: &crate::guard::Screen) -> (Vec<Value>, Vec<Value>) {
    let mut names: Vec<&String> = screen.blocked.keys().collect();
    names.sort();
    let tools = names
        .iter()
        .map(|n| json!({ "name": n, "reasons": [screen.blocked[*n]] }))
        .collect();
    let reasons = names
        .iter()
        .map(|n| Value::String(format!("{n}: {}", screen.blocked[*n])))
        .collect();
    (tools, reasons)
}

const NAME_KEYS: &[&str] = &[
    "name",
    "tool_name",
    "tool",
    "function",
    "function_name",
    "function_id",
];
const ARG_KEYS: &[&str] = &[
    "args",
    "arguments",
    "tool_arguments",
    "tool_input_arguments",
    "tool_args",
    "tool_input_args",
    "parameters",
    "input",
    "params",
];

async fn secure_call(
    gw: &Arc<Gateway>,
    session: &Arc<Session>,
    args: &Value,
    ctx: RequestCtx,
) -> Value {
    let Some(server) = arg_str(args, "server_name").map(str::to_string) else {
        return unavailable(None);
    };
    let Some(mc) = gw.mcp_config_of(&session.identity()) else {
        return envelope(
            "CONFIG_002",
            "Configuration not found.",
            "configuration",
            Some(&server),
            None,
        );
    };
    let Some(sc) = mc.server(&server).cloned() else {
        return unavailable(Some(&server));
    };
    let calls: Vec<Value> = args
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (tools, screen) = match gw.discover_screened(&session.identity(), &sc).await {
        Ok(t) => t,
        Err(e) => {
            return json!({ "status": "error", "error": mask::text(&format!("No tools found for {server} even after discovery: {e}")) })
        }
    };
    if calls.is_empty() {
        return json!({ "status": "success", "message": format!("Successfully discovered tools for {server}"), "tools": { "tools": tools } });
    }
    let known: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    let mut results: Vec<Value> = vec![];
    for (i, call) in calls.iter().enumerate() {
        let name = NAME_KEYS
            .iter()
            .find_map(|k| call.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        let call_args = ARG_KEYS
            .iter()
            .find_map(|k| call.get(*k).filter(|v| v.is_object()).cloned())
            .unwrap_or(Value::Object(Map::new()));
        let data =
            json!({ "call_index": i, "server_name": server, "tool_name": name, "args": call_args });
        let Some(name) = name else {
            results.push(json!({ "status": "error", "error": "No tool_name provided", "message": "No tool_name provided", "enkrypt_mcp_data": data }));
            break;
        };
        if let Some(d) = sc.denial(&name) {
            // The reference's answer for a tool on the deny list.
            let message = d.message(&name);
            tracing::info!(server = %server, tool = %name, pattern = %d.pattern, "tool denied by the deny list");
            let mut data = data;
            if let Some(o) = data.as_object_mut() {
                o.remove("args");
                o.insert("deny_pattern".into(), Value::String(d.pattern.clone()));
                o.insert("deny_reason".into(), Value::String(d.reason.clone()));
            }
            results.push(json!({
                "status": "denied",
                "error": message,
                "message": message,
                "enkrypt_mcp_data": data
            }));
            break;
        }
        let denied = screen
            .blocked
            .get(&name)
            .map(|why| format!("Tool '{name}' of server '{server}' is blocked: {why}."))
            .or_else(|| {
                (!sc.allows_tool(&name))
                    .then(|| format!("Tool '{name}' is not allowed on server '{server}'."))
            });
        if let Some(message) = denied {
            results.push(json!({
                "status": "denied",
                "message": message,
                "response": "",
                "enkrypt_mcp_data": data
            }));
            break;
        }
        if !known.contains(&name.as_str()) {
            let e = tool_failure(
                "TOOL_002",
                &format!("Tool '{name}' not found for this server."),
                &server,
                &name,
                data,
            );
            results.push(e);
            break;
        }
        let c = RequestCtx {
            progress_token: ctx.progress_token.clone(),
            downstream: ctx.downstream.clone(),
        };
        let params = json!({ "name": name, "arguments": call_args });
        let outcome = match gw
            .call_upstream_tool(&session.identity(), &server, &name, params, c)
            .await
        {
            Ok(o) => o,
            Err(err) => {
                let e = tool_failure(
                    "TOOL_001",
                    &mask::text(&format!(
                        "Tool execution failed for {name}: {}",
                        err.message
                    )),
                    &server,
                    &name,
                    data,
                );
                results.push(e);
                break;
            }
        };
        let detections = json!({
            "input_guardrail_name": policy_name(&sc.input_guardrails),
            "input_guardrail_response": outcome.input.as_ref().map_or(json!({}), |v| v.report()),
            "output_guardrail_name": policy_name(&sc.output_guardrails),
            "output_guardrail_response": outcome.output.as_ref().map_or(json!({}), |v| v.report()),
            "output_relevancy_response": {},
            "output_adherence_response": {},
            "output_hallucination_response": {}
        });
        let text = outcome
            .result
            .pointer("/content/0/text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(stage) = outcome.blocked {
            let verdict = match stage {
                crate::guard::policy::Direction::Input => outcome.input.as_ref(),
                _ => outcome.output.as_ref(),
            };
            let reason = verdict.map(|v| v.reason.clone()).unwrap_or_default();
            results.push(json!({
                "status": format!("blocked_{}", stage.as_str()),
                "message": format!("Request blocked due to {} guardrail violations: {reason}", stage.as_str()),
                "response": "",
                "enkrypt_mcp_data": data,
                "enkrypt_policy_detections": detections
            }));
            break;
        }
        if outcome.result.get("isError").and_then(Value::as_bool) == Some(true) {
            let text = if text.is_empty() {
                "tool error".to_string()
            } else {
                text
            };
            let mut e = tool_failure(
                "TOOL_001",
                &format!("Tool execution failed for {name}: {text}"),
                &server,
                &name,
                data,
            );
            if let Some(o) = e.as_object_mut() {
                o.insert("enkrypt_policy_detections".into(), detections);
            }
            results.push(e);
            break;
        }
        results.push(json!({
            "status": "success",
            "message": "Request processed successfully",
            "response": text,
            "enkrypt_mcp_data": data,
            "enkrypt_policy_detections": detections
        }));
    }
    let count = |pred: &dyn Fn(&str) -> bool| {
        results
            .iter()
            .filter(|r| r.get("status").and_then(Value::as_str).is_some_and(pred))
            .count()
    };
    let ok = count(&|s| s == "success");
    let blocked = count(&|s| s.starts_with("blocked"));
    let failed = count(&|s| s == "error");
    let status = if !results.is_empty() && ok == results.len() {
        "success"
    } else if !results.is_empty() && failed == results.len() {
        "error"
    } else {
        "partial"
    };
    let enabled =
        |g: &Option<crate::config::GuardrailPolicy>| g.as_ref().is_some_and(|g| g.enabled);
    let add_flag = |g: &Option<crate::config::GuardrailPolicy>, k: &str| {
        g.as_ref().is_some_and(|g| {
            g.enabled && g.additional_config.get(k).and_then(Value::as_bool) == Some(true)
        })
    };
    json!({
        "server_name": server,
        "status": status,
        "summary": { "total_calls": calls.len(), "successful_calls": ok, "blocked_calls": blocked, "failed_calls": failed },
        "guardrails_applied": {
            "input_guardrails_enabled": enabled(&sc.input_guardrails),
            "output_guardrails_enabled": enabled(&sc.output_guardrails),
            "pii_redaction_enabled": add_flag(&sc.input_guardrails, "pii_redaction"),
            "relevancy_check_enabled": add_flag(&sc.output_guardrails, "relevancy"),
            "adherence_check_enabled": add_flag(&sc.output_guardrails, "adherence"),
            "hallucination_check_enabled": add_flag(&sc.output_guardrails, "hallucination")
        },
        "results": results
    })
}

fn policy_name(p: &Option<crate::config::GuardrailPolicy>) -> Value {
    p.as_ref()
        .and_then(|g| g.policy_name.clone())
        .map_or(Value::Null, Value::String)
}

async fn cache_status(gw: &Arc<Gateway>, session: &Arc<Session>) -> Value {
    let Some(mc) = gw.mcp_config_of(&session.identity()) else {
        return no_config();
    };
    let cfg = gw.config();
    let status = gw.cache.status().await;
    let mut servers = Map::new();
    for s in &mc.servers {
        let entry = gw
            .cache
            .tools_entry_info(
                &session.identity().mcp_config_id,
                &s.name,
                Some(&session.identity().user_id),
            )
            .await;
        let explicit = !s.tools.is_empty();
        servers.insert(
            s.name.clone(),
            json!({
                "tool_count": entry.tool_count,
                "error": Value::Null,
                "are_tools_explicitly_defined": explicit,
                "needs_discovery": !entry.exists && !explicit,
                "exists": entry.exists,
                "expires_at": entry.expires_at,
                "expires_in_hours": entry.expires_in_hours,
                "is_expired": false
            }),
        );
    }
    let mut status_json = serde_json::to_value(&status).unwrap_or(Value::Null);
    mask::json_text(&mut status_json);
    let backend = status_json.get("backend").cloned().unwrap_or(Value::Null);
    let cache_type = if backend.as_str() == Some("Embedded") {
        "local"
    } else {
        "external_cache"
    };
    if let Some(o) = status_json.as_object_mut() {
        o.insert("cache_type".into(), Value::String(cache_type.into()));
        o.insert(
            "tool_cache_expiration_hours".into(),
            json!(cfg.common.tool_cache_ttl.as_secs_f64() / 3600.0),
        );
        o.insert(
            "config_cache_expiration_hours".into(),
            json!(cfg.common.gateway_cache_ttl.as_secs_f64() / 3600.0),
        );
    }
    json!({
        "status": "success",
        "cache_status": {
            "gateway_specific": {
                "config": { "exists": true, "expires_at": Value::Null, "expires_in_hours": Value::Null, "is_expired": false },
                "tools": { "server_count": mc.servers.len(), "servers": servers }
            },
            "global": status_json
        },
        "guardrails": gw.guardrails_report(Some(&session.identity().mcp_config_id))
    })
}

async fn clear_cache(gw: &Arc<Gateway>, session: &Arc<Session>, args: &Value) -> Value {
    let config_id = session.identity().mcp_config_id.clone();
    let server = arg_str(args, "server_name").map(str::to_string);
    let cache_type = arg_str(args, "cache_type").map(str::to_ascii_lowercase);
    let gateway_kinds = [
        "gateway_config",
        "gateway",
        "gateway_cache",
        "gateway_config_cache",
    ];
    let result = match (cache_type.as_deref(), server.as_deref()) {
        (Some(t), _) if gateway_kinds.contains(&t) => {
            match gw.cache.clear_gateway_config(&config_id).await {
                Ok(n) if n > 0 => {
                    json!({ "status": "success", "message": format!("Gateway config cache cleared for {config_id}") })
                }
                Ok(_) => {
                    json!({ "status": "info", "message": format!("No config cache found for {config_id}") })
                }
                Err(e) => {
                    json!({ "status": "error", "message": format!("Cache clear failed: {e}") })
                }
            }
        }
        (_, Some(s)) => match gw.cache.clear_server(&config_id, s).await {
            Ok(n) if n > 0 => {
                json!({ "status": "success", "message": format!("Cache cleared for server: {s}") })
            }
            Ok(_) => {
                json!({ "status": "info", "message": format!("No cache found for server: {s}") })
            }
            Err(e) => json!({ "status": "error", "message": format!("Cache clear failed: {e}") }),
        },
        (None, None) => {
            let servers = clear_all_servers(gw, session, &config_id).await;
            let g = gw.cache.clear_gateway_config(&config_id).await.unwrap_or(0);
            let gateway = if g > 0 { "cleared" } else { "none" };
            json!({ "status": "success", "message": format!("Cache cleared for all servers ({servers} servers) and gateway config ({gateway})") })
        }
        (Some(_), None) => {
            let servers = clear_all_servers(gw, session, &config_id).await;
            json!({ "status": "success", "message": format!("Cache cleared for all servers ({servers} servers)") })
        }
    };
    gw.invalidate_index(Some(&config_id));
    result
}

/// Clears the tool entries of every server of the session's config; returns how many servers.
async fn clear_all_servers(gw: &Arc<Gateway>, session: &Arc<Session>, config_id: &str) -> usize {
    let servers = gw
        .mcp_config_of(&session.identity())
        .map(|m| m.servers)
        .unwrap_or_default();
    for s in &servers {
        if let Err(e) = gw.cache.clear_server(config_id, &s.name).await {
            tracing::warn!(server = %s.name, error = %e, "clearing the cache failed");
        }
    }
    servers.len()
}

/// A per-call failure of `enkrypt_secure_call_tools`: the error envelope plus the call's data.
fn tool_failure(code: &str, message: &str, server: &str, tool: &str, data: Value) -> Value {
    let mut e = envelope(code, message, "tool", Some(server), Some(tool));
    if let Some(o) = e.as_object_mut() {
        o.insert("enkrypt_mcp_data".into(), data);
    }
    e
}
