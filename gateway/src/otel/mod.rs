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
//! The spans are not `tracing` spans nor SDK spans: a request's [`Span`]s are plain values
//! sharing one trace object, made current for each poll of the request's futures
//! ([`Span::instrument`]); the finished trace goes to the export queue in one push, and the
//! export thread writes the OTLP protobuf request straight from it (`encode`, `queue`).
//! Metrics and logs use the OpenTelemetry SDK (log records get the request's trace context),
//! but the per-request metrics are kept in atomics: the request counts (`counts`, read by
//! observable counters) and the duration histogram (`durations`, sent after the SDK's metrics
//! by a wrapper of its exporter).
//!
//! Span times are read from the CPU's time-stamp counter where the kernel keeps time with it,
//! and made Unix nanoseconds on the export thread (`clock`).
//!
//! Cost: with telemetry off, [`enabled`] is one relaxed atomic load and every span helper
//! returns [`Span::none`] (no span is created, nothing is allocated). With it on, a slow or
//! unreachable collector fills the bounded queue and traces are dropped; calls never wait for
//! it.

mod clock;
mod counts;
mod durations;
mod encode;
mod export;
mod queue;
mod trace;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, ObservableCounter};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;

pub use export::{endpoint_base, start, Guard, Started};
pub use trace::{Kind, Scoped, Span};

static ON: AtomicBool = AtomicBool::new(false);

/// Whether telemetry is exporting (set once at start when the config enables it).
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The request's root span (`enkrypt.request`), a child of the caller's trace when `headers`
/// carry a valid `traceparent` (and `tracestate`); [`Span::none`] when telemetry is off.
pub fn request_span(transport: &'static str, headers: Option<&http::HeaderMap>) -> Span {
    if !enabled() {
        return Span::none();
    }
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    let parent = headers
        .filter(|h| h.contains_key(TRACEPARENT))
        .and_then(parent_of);
    Span::root(transport, parent)
}

/// The caller's trace context in `headers`: trace id, span id, sampled, tracestate.
fn parent_of(headers: &http::HeaderMap) -> Option<(u128, u64, bool, Option<Box<str>>)> {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let state = sc.trace_state().header();
    Some((
        u128::from_be_bytes(sc.trace_id().to_bytes()),
        u64::from_be_bytes(sc.span_id().to_bytes()),
        sc.is_sampled(),
        (!state.is_empty()).then(|| state.into_boxed_str()),
    ))
}

/// A child span of the current one (`enkrypt.auth`, `enkrypt.discovery`, the guardrail
/// checks); [`Span::none`] when telemetry is off or no request is traced here.
pub fn span(kind: Kind) -> Span {
    if !enabled() {
        return Span::none();
    }
    Span::child(kind)
}

/// `enkrypt.tool.forward`: the upstream call.
pub fn forward_span(server: &str, tool: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    Span::forward(server, tool)
}

/// Runs `fut` (a task the request spawns) in the running request's trace.
#[inline]
pub fn carry<F: std::future::Future>(fut: F) -> Scoped<F> {
    trace::carry(fut)
}

/// Sets the `outcome` of the running request (its root span).
pub fn request_outcome(outcome: Outcome) {
    if enabled() {
        trace::with_data(|d| d.outcome = Some(outcome));
    }
}

/// Records the tool call's server and tool on the request span.
pub fn note_tool(server: &str, tool: &str) {
    if enabled() {
        trace::with_data(|d| d.tool = Some(trace::ToolNames::new(server, tool)));
    }
}

/// How a request ended, for the `outcome` attribute and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok = 0,
    /// A tool result with `isError` (an upstream failure or a guardrail block).
    ToolError = 1,
    /// A JSON-RPC error.
    Error = 2,
    /// Cancelled by the client.
    Cancelled = 3,
}

impl Outcome {
    /// Every outcome, in the order of their discriminants.
    const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::Error,
        Outcome::Cancelled,
    ];

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

/// The MCP methods named without an allocation in spans and metrics.
const METHODS: &[&str] = &[
    "tools/call",
    "tools/list",
    "initialize",
    "ping",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// `method` as a value for spans and metrics (a known method costs no allocation).
pub fn method_name(method: &str) -> Cow<'static, str> {
    match METHODS.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_string()),
    }
}

/// The index of `method` in [`METHODS`]: found by address for a name [`method_name`] gave
/// (one of `METHODS` itself), by text otherwise.
pub(super) fn method_index(method: &str) -> Option<usize> {
    METHODS
        .iter()
        .position(|k| std::ptr::eq(*k, method))
        .or_else(|| METHODS.iter().position(|k| *k == method))
}

/// When a request started, for its duration ([`finish_request`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestStart(u64);

/// Now, as the start of a request.
pub fn request_started() -> RequestStart {
    RequestStart(clock::now())
}

/// A request handled: its method and outcome on the request span, and the request metrics.
pub fn finish_request(method: Cow<'static, str>, outcome: Outcome, started: RequestStart) {
    if INSTRUMENTS.get().is_some() {
        let known = method_index(&method);
        counts::add(known, &method, outcome);
        durations::record(known, &method, clock::elapsed(started.0));
    }
    trace::with_data(|d| {
        d.method = Some(method);
        d.outcome = Some(outcome);
    });
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

/// The two hex digits of each byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

/// The W3C `traceparent` of a span.
fn traceparent(trace_id: u128, span_id: u64, sampled: bool) -> [u8; 55] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    for (i, b) in trace_id.to_be_bytes().iter().enumerate() {
        out[3 + 2 * i..5 + 2 * i].copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    for (i, b) in span_id.to_be_bytes().iter().enumerate() {
        out[36 + 2 * i..38 + 2 * i].copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    if sampled {
        out[54] = b'1';
    }
    out
}

/// A trace context header of an upstream request.
pub type TraceHeader = (http::HeaderName, http::HeaderValue);

/// The trace context headers (`traceparent`, and `tracestate` when there is one) of the
/// current span, for an HTTP upstream request; both `None` when telemetry is off or no request
/// is traced here (no allocation but the header values').
pub fn trace_headers() -> [Option<TraceHeader>; 2] {
    if !enabled() {
        return [None, None];
    }
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
    trace::current(|t, s, sampled, state| {
        // Owned bytes: the upstream client keeps a copy of its request's headers, and a
        // clone of these is a count, not a new allocation.
        let parent = http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(traceparent(
            t, s, sampled,
        )))
        .ok()
        .map(|v| (TRACEPARENT, v));
        let state = state
            .and_then(|st| http::HeaderValue::from_str(st).ok())
            .map(|v| (TRACESTATE, v));
        [parent, state]
    })
    .unwrap_or_default()
}

/// The trace and span ids of the current span, for log lines.
pub(crate) fn current_ids() -> Option<(u128, u64)> {
    if !enabled() {
        return None;
    }
    trace::current(|t, s, _, _| (t, s))
}

/// The current span as an OpenTelemetry context, for the log records made under it.
pub(crate) fn current_context() -> Option<opentelemetry::Context> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    if !enabled() {
        return None;
    }
    trace::current(|t, s, sampled, _| {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let sc = SpanContext::new(
            TraceId::from_bytes(t.to_be_bytes()),
            SpanId::from_bytes(s.to_be_bytes()),
            flags,
            false,
            TraceState::default(),
        );
        opentelemetry::Context::new().with_remote_span_context(sc)
    })
}

/// The metric instruments (set when telemetry starts). `enkrypt.request.duration` is not one
/// of them: [`durations`] keeps it and the metric exporter sends it.
struct Instruments {
    /// Kept for as long as telemetry runs: reads [`counts`].
    _requests: ObservableCounter<u64>,
    _errors: ObservableCounter<u64>,
    cache_hits: Counter<u64>,
    cache_misses: Counter<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn set_instruments(meter: &opentelemetry::metrics::Meter) {
    let _ = INSTRUMENTS.set(Instruments {
        _requests: meter
            .u64_observable_counter("enkrypt.requests")
            .with_description("MCP requests handled")
            .with_callback(counts::observe_requests)
            .build(),
        _errors: meter
            .u64_observable_counter("enkrypt.request.errors")
            .with_description("MCP requests answered with an error or a tool error")
            .with_callback(counts::observe_errors)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_means_no_spans_and_no_headers() {
        assert!(!enabled());
        assert!(request_span("http", None).is_none());
        assert!(span(Kind::Auth).is_none());
        assert!(forward_span("s", "t").is_none());
        assert!(trace_headers().iter().all(Option::is_none));
        assert!(current_ids().is_none());
        assert!(current_context().is_none());
    }

    #[test]
    fn a_traceparent_header_is_read_back() {
        let mut h = http::HeaderMap::new();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert("traceparent", http::HeaderValue::from_static(tp));
        h.insert("tracestate", http::HeaderValue::from_static("a=1,b=2"));
        let (t, s, sampled, state) = parent_of(&h).expect("a valid parent");
        assert_eq!(format!("{t:032x}"), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(format!("{s:016x}"), "00f067aa0ba902b7");
        assert!(sampled);
        assert_eq!(state.as_deref(), Some("a=1,b=2"));
        assert_eq!(&traceparent(t, s, sampled)[..], tp.as_bytes());
        assert_eq!(
            &traceparent(1, 2, false)[..],
            b"00-00000000000000000000000000000001-0000000000000002-00"
        );
        h.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
        );
        assert!(parent_of(&h).is_none(), "an all-zero trace id is invalid");
    }

    #[tokio::test]
    async fn children_nest_under_the_current_span() {
        let caller = Some((0xabcu128, 0x99u64, true, None));
        let root = Span::root("http", caller);
        let ids = root
            .instrument(async {
                let root_ids = trace::current(|t, s, _, _| (t, s)).expect("in a trace");
                assert_eq!(root_ids.0, 0xabc, "the caller's trace");
                let auth = Span::child(Kind::Auth);
                let auth_id = auth.in_scope(|| trace::current(|_, s, _, _| s));
                auth.record_flag(true);
                drop(auth);
                let fwd = Span::forward("demo", "echo");
                let fwd_id = fwd
                    .instrument(async {
                        // A span made under the forward span is its child.
                        drop(Span::child(Kind::Discovery));
                        trace::current(|_, s, _, _| s)
                    })
                    .await;
                fwd.record_outcome(Outcome::Error);
                drop(fwd);
                // Back in the root's scope.
                assert_eq!(trace::current(|_, s, _, _| s), Some(root_ids.1));
                let mut seen = Vec::new();
                trace::with_data(|d| {
                    for c in &d.children {
                        seen.push((c.kind, c.id, c.parent, c.flag, c.outcome));
                    }
                });
                (root_ids, auth_id, fwd_id, seen)
            })
            .await;
        let ((_, root_id), auth_id, fwd_id, seen) = ids;
        let (auth_id, fwd_id) = (auth_id.expect("auth"), fwd_id.expect("forward"));
        assert_eq!(
            seen,
            vec![
                (Kind::Auth, auth_id, root_id, Some(true), None),
                (Kind::Discovery, seen[1].1, fwd_id, None, None),
                (Kind::Forward, fwd_id, root_id, None, Some(Outcome::Error)),
            ]
        );
        assert!(
            trace::current(|_, s, _, _| s).is_none(),
            "outside the request"
        );
    }

    #[tokio::test]
    async fn a_forward_span_shares_the_requests_tool_when_it_is_the_same() {
        let root = Span::root("http", None);
        root.instrument(async {
            trace::with_data(|d| d.tool = Some(trace::ToolNames::new("demo", "echo")));
            drop(Span::forward("demo", "echo"));
            drop(Span::forward("demo", "other"));
            let mut seen = Vec::new();
            trace::with_data(|d| {
                for c in &d.children {
                    seen.push((c.kind, c.root_tool, c.tool.clone()));
                }
            });
            assert_eq!(
                seen,
                vec![
                    (Kind::Forward, true, None),
                    (
                        Kind::Forward,
                        false,
                        Some(trace::ToolNames::new("demo", "other"))
                    ),
                ]
            );
        })
        .await;
        assert!(Span::forward("demo", "echo").is_none(), "outside a request");
    }
}
