//! OpenTelemetry: one trace per client request, OTLP metrics, and the log events bridged to
//! OTLP logs, all sent over OTLP/HTTP (protobuf) to the collector of the config's
//! `enkrypt_telemetry` (or `plugins.telemetry.config`). Off by default.
//!
//! The trace of a request (span names and attribute keys are the reference product's where it
//! has them):
//!
//! ```text
//! enkrypt.request                    transport, mcp.method.name, server_name, tool_name, outcome
//! ├── enkrypt.auth                   enkrypt.auth.result
//! ├── enkrypt.discovery              enkrypt.cache.hit        (the tool index lookup)
//! ├── enkrypt.guardrail.check.input  enkrypt.guardrail.blocked
//! ├── enkrypt.tool.forward           server_name, tool_name, outcome (the upstream call)
//! └── enkrypt.guardrail.check.output enkrypt.guardrail.blocked
//! ```
//!
//! No key, argument value or result is ever an attribute. An incoming `traceparent` header
//! (HTTP transport) makes the request's trace a child of the caller's; HTTP upstreams get
//! the `traceparent` of the upstream call's span.
//!
//! Cost: with telemetry off, [`enabled`] is one relaxed atomic load and every span helper
//! returns [`Span::none`] (no span is created, nothing is allocated). With it on, spans are
//! queued to a batch processor whose export runs on its own threads: a slow or unreachable
//! collector fills the bounded queue and spans are dropped, calls never wait for it.

mod export;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use export::{endpoint_base, start, Guard, Started};

/// The `target` of the gateway's trace spans: the span layer takes these spans only.
pub const TARGET: &str = "enkrypt";

static ON: AtomicBool = AtomicBool::new(false);

/// Whether telemetry is exporting (set once at start when the config enables it).
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The request's root span (`enkrypt.request`), or [`Span::none`] when telemetry is off.
pub fn request_span(transport: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "enkrypt.request",
        "otel.kind" = "server",
        transport,
        "mcp.method.name" = Empty,
        server_name = Empty,
        tool_name = Empty,
        outcome = Empty,
        "otel.status_code" = Empty,
    )
}

/// Makes `span` (a request span) a child of the trace context in `headers`
/// (`traceparent`, `tracestate`), when they carry a valid one.
pub fn accept_parent(span: &Span, headers: &http::HeaderMap) {
    if span.is_none() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// `enkrypt.auth`: the gateway key check, a child of `request` (none when `request` is).
pub fn auth_span(request: &Span) -> Span {
    if request.is_none() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        parent: request,
        "enkrypt.auth",
        "enkrypt.auth.result" = Empty
    )
}

/// Records the key check's result (`success` or `failure`) on an auth span.
pub fn record_auth(span: &Span, ok: bool) {
    if !span.is_none() {
        span.record(
            "enkrypt.auth.result",
            if ok { "success" } else { "failure" },
        );
    }
}

/// The current span when telemetry is on (to carry into a spawned task), else
/// [`Span::none`].
pub fn current() -> Span {
    if enabled() {
        Span::current()
    } else {
        Span::none()
    }
}

/// `enkrypt.discovery`: the tool index lookup (cached discovery) of a tool call.
pub fn discovery_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(target: TARGET, "enkrypt.discovery", "enkrypt.cache.hit" = Empty)
}

/// `enkrypt.guardrail.check.input` or `.output`.
pub fn guardrail_span(output: bool) -> Span {
    if !enabled() {
        return Span::none();
    }
    if output {
        tracing::info_span!(
            target: TARGET,
            "enkrypt.guardrail.check.output",
            "enkrypt.guardrail.blocked" = Empty
        )
    } else {
        tracing::info_span!(
            target: TARGET,
            "enkrypt.guardrail.check.input",
            "enkrypt.guardrail.blocked" = Empty
        )
    }
}

/// `enkrypt.tool.forward`: the upstream call.
pub fn forward_span(server: &str, tool: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "enkrypt.tool.forward",
        "otel.kind" = "client",
        server_name = server,
        tool_name = tool,
        outcome = Empty,
        "otel.status_code" = Empty,
    )
}

/// Records the tool call's server and tool on the current (request) span.
pub fn note_tool(server: &str, tool: &str) {
    if enabled() {
        let s = Span::current();
        s.record("server_name", server);
        s.record("tool_name", tool);
    }
}

/// How a request ended, for the `outcome` attribute and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok,
    /// A tool result with `isError` (an upstream failure or a guardrail block).
    ToolError,
    /// A JSON-RPC error.
    Error,
    /// Cancelled by the client.
    Cancelled,
}

impl Outcome {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
        }
    }

    fn failed(self) -> bool {
        matches!(self, Outcome::ToolError | Outcome::Error)
    }
}

/// Records `outcome` on `span` (and marks it an error when it is one).
pub fn record_outcome(span: &Span, outcome: Outcome) {
    if span.is_none() {
        return;
    }
    span.record("outcome", outcome.as_str());
    if outcome.failed() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Records `key = true/false` on `span`.
pub fn record_flag(span: &Span, key: &'static str, value: bool) {
    if !span.is_none() {
        span.record(key, value);
    }
}

/// A request handled: its method and outcome on the current (request) span, and the
/// request metrics.
pub fn finish_request(method: &str, outcome: Outcome, took: Duration) {
    let s = Span::current();
    s.record("mcp.method.name", method);
    record_outcome(&s, outcome);
    if let Some(m) = INSTRUMENTS.get() {
        let method = KeyValue::new("mcp.method.name", method.to_string());
        m.requests.add(
            1,
            &[method.clone(), KeyValue::new("outcome", outcome.as_str())],
        );
        if outcome.failed() {
            m.errors.add(1, std::slice::from_ref(&method));
        }
        m.duration.record(took.as_secs_f64(), &[method]);
    }
}

/// A tool discovery answered from the cache (`hit`) or by asking the server.
pub fn cache_lookup(hit: bool) {
    if let Some(m) = INSTRUMENTS.get() {
        if hit {
            m.cache_hits.add(1, &[]);
        } else {
            m.cache_misses.add(1, &[]);
        }
    }
}

/// The trace context headers (`traceparent`, and `tracestate` when there is one) of the
/// current span, for an HTTP upstream request; empty (no allocation) when telemetry is off or
/// no span is current.
pub fn trace_headers() -> Vec<(String, String)> {
    if !enabled() {
        return Vec::new();
    }
    let cx = Span::current().context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut out = HeaderInjector(Vec::with_capacity(1));
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.0
}

/// The trace and span ids of the current span, for log lines.
pub(crate) fn current_ids() -> Option<(TraceId, SpanId)> {
    if !enabled() {
        return None;
    }
    opentelemetry::Context::map_current(|cx| {
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    })
}

/// The metric instruments (set when telemetry starts).
struct Instruments {
    requests: Counter<u64>,
    errors: Counter<u64>,
    duration: Histogram<f64>,
    cache_hits: Counter<u64>,
    cache_misses: Counter<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn set_instruments(meter: &opentelemetry::metrics::Meter) {
    let _ = INSTRUMENTS.set(Instruments {
        requests: meter
            .u64_counter("enkrypt.requests")
            .with_description("MCP requests handled")
            .build(),
        errors: meter
            .u64_counter("enkrypt.request.errors")
            .with_description("MCP requests answered with an error or a tool error")
            .build(),
        duration: meter
            .f64_histogram("enkrypt.request.duration")
            .with_unit("s")
            .with_description("Time to answer an MCP request")
            .build(),
        cache_hits: meter
            .u64_counter("enkrypt.cache.hits")
            .with_description("Tool discoveries answered from the cache")
            .build(),
        cache_misses: meter
            .u64_counter("enkrypt.cache.misses")
            .with_description("Tool discoveries that asked the server")
            .build(),
    });
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector(Vec<(String, String)>);

impl Injector for HeaderInjector {
    /// An empty `tracestate` is left out.
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_means_no_spans_and_no_headers() {
        assert!(!enabled());
        assert!(request_span("http").is_none());
        assert!(forward_span("s", "t").is_none());
        assert!(trace_headers().is_empty());
        assert!(current_ids().is_none());
    }

    #[test]
    fn a_traceparent_header_is_read_back() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(&h));
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        let mut out = HeaderInjector(Vec::new());
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        assert_eq!(
            out.0,
            vec![(
                "traceparent".to_string(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()
            )]
        );
    }
}
