//! The call path: from a `tools/call` (a public tool name, or a meta tool's server and tool)
//! through the allow/deny lists and the input guardrails to the upstream server, and back
//! through the output guardrails.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::Route;
use crate::config::ToolsMode;
use crate::guard::detect::Detector;
use crate::guard::policy::Direction;
use crate::guard::redact::Redactions;
use crate::guard::Verdict;
use crate::jsonrpc::{RpcError, INVALID_PARAMS};
use crate::service::{tool_error, Gateway, Reply, SEP};
use crate::session::{Identity, Session};
use crate::telemetry::tools::{is_error, raw_is_error, Outcome, TransportLabel};
use crate::upstream::{RequestCtx, UpstreamError};

/// The outcome of a tool call through the guard: the result to hand back and what the
/// guardrails decided.
#[derive(Debug)]
pub struct CallOutcome {
    /// The `tools/call` result (an `isError` result when blocked or failed).
    pub result: Value,
    /// Which stage blocked the call, if one did.
    pub blocked: Option<Direction>,
    /// The input verdict, when an input policy ran.
    pub input: Option<Verdict>,
    /// The output verdict, when an output policy ran.
    pub output: Option<Verdict>,
}

impl CallOutcome {
    fn plain(result: Value) -> CallOutcome {
        CallOutcome {
            result,
            blocked: None,
            input: None,
            output: None,
        }
    }
}

/// The `isError` result of a blocked call: the reason for the model, the detections (names,
/// kinds, spans; never the values) in `_meta`.
fn blocked_result(
    server: &str,
    stage: Direction,
    called: bool,
    policy: Option<&str>,
    v: &Verdict,
) -> Value {
    let what = if called {
        "The result was withheld"
    } else {
        "The tool was not called"
    };
    let policy = policy
        .map(|p| format!(" (policy '{p}')"))
        .unwrap_or_default();
    let mut r = tool_error(format!(
        "Blocked by the {} guardrails of server '{server}'{policy}: {}. {what}.",
        stage.as_str(),
        v.reason
    ));
    if let Some(o) = r.as_object_mut() {
        o.insert(
            "_meta".into(),
            json!({ "enkrypt_policy_detections": { stage.as_str(): v.report() } }),
        );
    }
    r
}

impl Gateway {
    pub(crate) async fn tools_call(
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
        let discovery = crate::otel::span(crate::otel::Kind::Discovery);
        let (index, cached) = discovery
            .instrument(self.tool_index_cached(&session.identity()))
            .await;
        discovery.record_flag(cached);
        let mut target = index.names.get(name).cloned();
        if target.is_none() {
            // A `<server>__<tool>` the config denies, or the last screening refused, is
            // answered at once: no rediscovery of every server for it.
            if let Some(refusal) = self.refused_prefixed(&session.identity(), name) {
                return Ok(Reply::Value(refusal));
            }
            // The tool may be new upstream: rebuild once.
            self.invalidate_index(Some(&session.identity().mcp_config_id));
            target = discovery
                .instrument(self.tool_index(&session.identity()))
                .await
                .names
                .get(name)
                .cloned();
        }
        let Some((route, tool, stats)) = target else {
            // A tool kept out by the deny list or by its screening is answered with the
            // reason, not as unknown.
            if let Some(refusal) = self.denied_direct(&session.identity(), name).await {
                return Ok(Reply::Value(refusal));
            }
            if let Some(refusal) = self.refused_prefixed(&session.identity(), name) {
                return Ok(Reply::Value(refusal));
            }
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown tool: {name}"),
            ));
        };
        drop(discovery);
        crate::otel::note_tool(&route.server.name, &tool);
        let mut upstream_params = params;
        if let Some(o) = upstream_params.as_object_mut() {
            o.insert("name".into(), Value::String(tool.clone()));
        }
        let started = stats.as_ref().map(|_| Instant::now());
        let (r, outcome) = self
            .call_on_route(&session.identity(), &route, &tool, upstream_params, ctx)
            .await;
        if let (Some(s), Some(t)) = (stats, started) {
            s.record(outcome, t.elapsed());
        }
        r
    }

    /// Calls a tool on a server after the allow/deny checks and the server's guardrails;
    /// upstream failures become tool errors (`isError`) so the model sees them.
    pub async fn call_upstream_tool(
        &self,
        identity: &Identity,
        server: &str,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<CallOutcome, RpcError> {
        let Some(route) = self.route(&identity.mcp_config_id, server) else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Server '{server}' not available."),
            ));
        };
        let stats = self
            .telemetry
            .tool(server, tool, TransportLabel::of(&route.spec.transport));
        let started = stats.as_ref().map(|_| Instant::now());
        let refused = self.refused(&route, tool);
        let refusal = refused.is_some();
        let r = match refused {
            Some(refused) => Ok(CallOutcome::plain(refused)),
            None => {
                self.call_routed_tool(identity, &route, tool, params, ctx)
                    .await
            }
        };
        if let (Some(s), Some(t)) = (stats, started) {
            let outcome = match &r {
                Ok(o) => Outcome::of(refusal || o.blocked.is_some(), is_error(&o.result)),
                Err(_) => Outcome::Error,
            };
            s.record(outcome, t.elapsed());
        }
        r
    }

    /// [`Gateway::call_upstream_tool`] once the route is known and the tool not refused.
    async fn call_routed_tool(
        &self,
        identity: &Identity,
        route: &Arc<Route>,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<CallOutcome, RpcError> {
        let server = route.server.name.as_str();
        if route.policies.guarded() {
            return self.guarded_call(identity, route, tool, params, ctx).await;
        }
        let result = match self.upstream_call(route, tool, params, ctx).await {
            Ok(raw) => crate::upstream::parse_result(&raw)
                .unwrap_or_else(|e| tool_error(crate::mask::text(&format!("{server}: {e}")))),
            Err(UpstreamError::Rpc(e)) => return Err(e),
            Err(e) => tool_error(crate::mask::text(&format!("{server}: {e}"))),
        };
        Ok(CallOutcome::plain(result))
    }

    /// A direct tool call once the route is known, and how it ended (for `/metrics`). An
    /// unguarded server's result is passed on as the upstream wrote it.
    pub(crate) async fn call_on_route(
        &self,
        identity: &Identity,
        route: &Route,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> (Result<Reply, RpcError>, Outcome) {
        if let Some(refused) = self.refused(route, tool) {
            return (Ok(Reply::Value(refused)), Outcome::Blocked);
        }
        if route.policies.guarded() {
            return match self.guarded_call(identity, route, tool, params, ctx).await {
                Ok(out) => {
                    let outcome = Outcome::of(out.blocked.is_some(), is_error(&out.result));
                    (Ok(Reply::Value(out.result)), outcome)
                }
                Err(e) => (Err(e), Outcome::Error),
            };
        }
        match self.upstream_call(route, tool, params, ctx).await {
            Ok(raw) => {
                let outcome = Outcome::of(false, raw_is_error(raw.get()));
                (Ok(Reply::Raw(raw)), outcome)
            }
            Err(UpstreamError::Rpc(e)) => (Err(e), Outcome::Error),
            Err(e) => (
                Ok(Reply::Value(tool_error(crate::mask::text(&format!(
                    "{}: {e}",
                    route.server.name
                ))))),
                Outcome::Error,
            ),
        }
    }

    /// The refusal of a direct tool name the deny list keeps out: `<server>__<tool>` when the
    /// server denies the tool, or a bare name one of the config's servers lists and denies.
    /// The refusal of a `<server>__<tool>` name from the config's deny list or the last
    /// screening alone (no discovery).
    fn refused_prefixed(&self, identity: &Identity, name: &str) -> Option<Value> {
        let (server, tool) = name.split_once(SEP)?;
        let mc = self.mcp_config_of(identity)?;
        if let Some(d) = mc.server(server).and_then(|s| s.denial(tool)) {
            return Some(tool_error(d.message(tool)));
        }
        let why = self
            .guard
            .refused_tool(&identity.mcp_config_id, server, tool)?;
        Some(tool_error(format!(
            "Tool '{tool}' of server '{server}' is blocked: {why}."
        )))
    }

    /// The refusal of an unprefixed tool name a server's deny list holds and that server
    /// lists (asks for its discovery).
    async fn denied_direct(&self, identity: &Identity, name: &str) -> Option<Value> {
        let mc = self.mcp_config_of(identity)?;
        for s in mc.servers.iter().filter(|s| !s.denied_tools.is_empty()) {
            let Some(d) = s.denial(name) else {
                continue;
            };
            let Ok(entry) = self.discover_entry(identity, s).await else {
                continue;
            };
            let listed = entry
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|t| {
                    t.iter()
                        .any(|t| t.get("name").and_then(Value::as_str) == Some(name))
                });
            if listed {
                return Some(tool_error(d.message(name)));
            }
        }
        None
    }

    /// The refusal of a tool the allow/deny lists or the last screening keep out.
    fn refused(&self, route: &Route, tool: &str) -> Option<Value> {
        let server = route.server.name.as_str();
        if let Some(d) = route.server.denial(tool) {
            return Some(tool_error(d.message(tool)));
        }
        if !route.server.allows_tool(tool) {
            return Some(tool_error(format!(
                "Tool '{tool}' is not allowed on server '{server}'."
            )));
        }
        self.guard
            .refused_tool(&route.config_id, server, tool)
            .map(|why| {
                tool_error(format!(
                    "Tool '{tool}' of server '{server}' is blocked: {why}."
                ))
            })
    }

    /// One `tools/call` of `tool` on the route's upstream, timed (and traced:
    /// `enkrypt.tool.forward`).
    async fn upstream_call(
        &self,
        route: &Route,
        tool: &str,
        params: Value,
        ctx: RequestCtx,
    ) -> Result<crate::upstream::RawResult, UpstreamError> {
        let limit = route.spec.timeouts.request;
        let started = Instant::now();
        let span = crate::otel::forward_span(&route.server.name, tool);
        let r = span
            .instrument(async {
                let up = self.pool.get_keyed(&route.key, &route.spec).await?;
                up.request_raw("tools/call", Some(params), ctx).await
            })
            .await;
        if !span.is_none() {
            let outcome = match &r {
                Ok(_) => crate::otel::Outcome::Ok,
                Err(_) => crate::otel::Outcome::Error,
            };
            span.record_outcome(outcome);
        }
        self.metrics.record(
            started.elapsed(),
            limit,
            r.as_ref().err().map(UpstreamError::is_timeout),
        );
        r
    }

    /// The tool's `inputSchema`, from its server's (cached) discovery.
    async fn input_schema(&self, identity: &Identity, route: &Route, tool: &str) -> Option<Value> {
        let entry = self.discover_entry(identity, &route.server).await.ok()?;
        entry
            .get("tools")?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(tool))?
            .get("inputSchema")
            .cloned()
    }

    /// A call under the server's guardrails: the input verdict before the upstream is called
    /// (beside it in async mode, the result then withheld when blocked), the output verdict
    /// before the caller sees the result.
    async fn guarded_call(
        &self,
        identity: &Identity,
        route: &Route,
        tool: &str,
        mut params: Value,
        ctx: RequestCtx,
    ) -> Result<CallOutcome, RpcError> {
        let server = route.server.name.as_str();
        let pol = &route.policies;
        let args =
            crate::jsonrpc::arguments_of(&params).unwrap_or_else(|| Value::Object(Map::new()));
        let mut out = CallOutcome::plain(Value::Null);
        let mut redactions = Redactions::default();
        let raw = match &pol.input {
            None => self.upstream_call(route, tool, params, ctx).await,
            Some(p) => {
                let schema = if p.local.contains(Detector::Schema) {
                    self.input_schema(identity, route, tool).await
                } else {
                    None
                };
                let beside = self.config().common.async_input_guardrails && !p.pii_redaction;
                let input_span = crate::otel::span(crate::otel::Kind::GuardInput);
                let check =
                    input_span.instrument(self.guard.check_input(p, schema.as_ref(), &args));
                let (checked, raw) = if beside {
                    let (c, r) = futures_util::future::join(
                        check,
                        self.upstream_call(route, tool, params, ctx),
                    )
                    .await;
                    (c, Some(r))
                } else {
                    let checked = check.await;
                    if checked.verdict.blocked {
                        (checked, None)
                    } else {
                        if let Some(a) = &checked.args {
                            crate::jsonrpc::set_arguments(&mut params, a.clone());
                        }
                        let raw = self.upstream_call(route, tool, params, ctx).await;
                        (checked, Some(raw))
                    }
                };
                input_span.record_flag(checked.verdict.blocked);
                self.guard.recent.record(
                    server,
                    tool,
                    Direction::Input,
                    &checked.verdict,
                    checked.redactions.len(),
                );
                if checked.verdict.blocked {
                    tracing::info!(server, tool, reason = %checked.verdict.reason, "input blocked by guardrails");
                    out.result = blocked_result(
                        server,
                        Direction::Input,
                        beside,
                        p.name.as_deref(),
                        &checked.verdict,
                    );
                    out.blocked = Some(Direction::Input);
                    out.input = Some(checked.verdict);
                    return Ok(out);
                }
                redactions = checked.redactions;
                out.input = Some(checked.verdict);
                match raw {
                    Some(r) => r,
                    None => return Ok(out),
                }
            }
        };
        let mut result = match raw {
            Ok(raw) => match crate::upstream::parse_result(&raw) {
                Ok(v) => v,
                Err(e) => {
                    out.result = tool_error(crate::mask::text(&format!("{server}: {e}")));
                    return Ok(out);
                }
            },
            Err(UpstreamError::Rpc(e)) => return Err(e),
            Err(e) => {
                out.result = tool_error(crate::mask::text(&format!("{server}: {e}")));
                return Ok(out);
            }
        };
        let output_span = if pol.output.is_some() {
            crate::otel::span(crate::otel::Kind::GuardOutput)
        } else {
            crate::otel::Span::none()
        };
        let verdict = output_span
            .instrument(self.guard.check_output(
                pol.output.as_ref(),
                &mut result,
                &redactions,
                &args,
            ))
            .await;
        output_span.record_flag(verdict.blocked);
        self.guard
            .recent
            .record(server, tool, Direction::Output, &verdict, 0);
        if verdict.blocked {
            tracing::info!(server, tool, reason = %verdict.reason, "output blocked by guardrails");
            let name = pol.output.as_ref().and_then(|p| p.name.as_deref());
            out.result = blocked_result(server, Direction::Output, true, name, &verdict);
            out.blocked = Some(Direction::Output);
        } else {
            out.result = result;
        }
        if pol.output.is_some() {
            out.output = Some(verdict);
        }
        Ok(out)
    }
}
