//! The spans of a request, recorded as plain values: no `tracing` span, no SDK span.
//!
//! A request's [`Trace`] (ids, the root span's attributes, the finished child spans) is shared
//! by its [`Span`] guards and by the request's futures through a context ([`Cx`]: the trace and
//! the current span) that [`Scoped`] makes current on the polling thread for each poll of the
//! future it wraps (and for its drop), so code deep in the call (the upstream's `traceparent`,
//! a log line's ids) finds it without an argument. When the last reference to the trace goes (the
//! request and any task it spawned are done), the trace is ended and handed to the export queue
//! in one push. Ids come from a per-thread generator; times are [`super::clock`] readings, made
//! Unix nanoseconds by the exporter.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use parking_lot::Mutex;

use super::clock::now;
use super::{enabled, queue, Outcome};

thread_local! {
    /// The trace and the current span of the request whose future this thread is polling.
    static CURRENT: RefCell<Option<Cx>> = const { RefCell::new(None) };
}

/// Runs `f` with `cx` current (taken out of `cx` for the call and put back after, also when
/// `f` panics), then makes the context current before it current again.
fn enter<R>(cx: &mut Option<Cx>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        slot: &'a mut Option<Cx>,
        prev: Option<Cx>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let prev = self.prev.take();
            if let Ok(mine) = CURRENT.try_with(|c| c.replace(prev)) {
                *self.slot = mine;
            }
        }
    }
    let Ok(prev) = CURRENT.try_with(|c| c.replace(cx.take())) else {
        return f();
    };
    let _restore = Restore { slot: cx, prev };
    f()
}

/// Runs `f` on the current context, if a request is traced here.
fn with_current<R>(f: impl FnOnce(&Cx) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

pin_project_lite::pin_project! {
    /// A future run with a span current ([`Span::instrument`], [`carry`]): a plain wrapper, so
    /// the future is not moved again once it is in place. Without a context it only polls.
    pub struct Scoped<F> {
        cx: Option<Cx>,
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            // The future is dropped in its context too (its guards may log).
            let mut this = this.project();
            if this.cx.is_some() && this.fut.is_some() {
                let mut fut = this.fut.as_mut();
                enter(this.cx, move || fut.set(None));
            }
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut slot = this.fut;
        if this.cx.is_none() {
            return match slot.as_mut().as_pin_mut() {
                Some(fut) => fut.poll(cx),
                None => panic!("a Scoped future polled after it completed"),
            };
        }
        // A finished future is dropped here, in its context (not again on drop).
        enter(this.cx, move || {
            let Some(fut) = slot.as_mut().as_pin_mut() else {
                panic!("a Scoped future polled after it completed");
            };
            let out = fut.poll(cx);
            if out.is_ready() {
                slot.set(None);
            }
            out
        })
    }
}

/// The running request's trace and current span.
#[derive(Clone)]
pub(super) struct Cx {
    trace: Arc<Trace>,
    span: u64,
}

/// What a child span measures (its name and its attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `enkrypt.auth`: the gateway key check (`enkrypt.auth.result`).
    Auth,
    /// `enkrypt.discovery`: the tool index lookup (`enkrypt.cache.hit`).
    Discovery,
    /// `enkrypt.guardrail.check.input` (`enkrypt.guardrail.blocked`).
    GuardInput,
    /// `enkrypt.guardrail.check.output` (`enkrypt.guardrail.blocked`).
    GuardOutput,
    /// `enkrypt.tool.forward`: the upstream call (`server_name`, `tool_name`, `outcome`).
    Forward,
}

impl Kind {
    /// The span name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Auth => "enkrypt.auth",
            Kind::Discovery => "enkrypt.discovery",
            Kind::GuardInput => "enkrypt.guardrail.check.input",
            Kind::GuardOutput => "enkrypt.guardrail.check.output",
            Kind::Forward => "enkrypt.tool.forward",
        }
    }

    /// The key of the span's flag attribute, if it has one.
    pub(super) fn flag_key(self) -> Option<&'static str> {
        match self {
            Kind::Auth => Some("enkrypt.auth.result"),
            Kind::Discovery => Some("enkrypt.cache.hit"),
            Kind::GuardInput | Kind::GuardOutput => Some("enkrypt.guardrail.blocked"),
            Kind::Forward => None,
        }
    }
}

/// A finished child span.
#[derive(Debug, Clone)]
pub(super) struct Child {
    pub id: u64,
    pub parent: u64,
    pub kind: Kind,
    pub start: u64,
    pub end: u64,
    pub flag: Option<bool>,
    pub outcome: Option<Outcome>,
    pub tool: Option<ToolNames>,
    /// The span's server and tool are the request's ([`Data::tool`]), not kept again.
    pub root_tool: bool,
}

/// A server's and a tool's names, in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ToolNames {
    both: Box<str>,
    /// Where the tool's name starts.
    split: usize,
}

impl ToolNames {
    /// `server` and `tool`.
    pub fn new(server: &str, tool: &str) -> ToolNames {
        let mut both = String::with_capacity(server.len() + tool.len());
        both.push_str(server);
        both.push_str(tool);
        ToolNames {
            both: both.into_boxed_str(),
            split: server.len(),
        }
    }

    /// The server's name.
    pub fn server(&self) -> &str {
        self.both.split_at(self.split).0
    }

    /// The tool's name.
    pub fn tool(&self) -> &str {
        self.both.split_at(self.split).1
    }

    /// Whether these are `server` and `tool`.
    pub fn is(&self, server: &str, tool: &str) -> bool {
        self.server() == server && self.tool() == tool
    }
}

/// What the request records as it goes: the root span's attributes and the finished children.
#[derive(Debug, Default)]
pub(super) struct Data {
    pub method: Option<std::borrow::Cow<'static, str>>,
    pub tool: Option<ToolNames>,
    pub outcome: Option<Outcome>,
    pub children: Vec<Child>,
}

/// One request's trace.
pub(super) struct Trace {
    trace_id: u128,
    root: u64,
    /// The caller's span (`traceparent`), 0 when the request starts a trace.
    parent: u64,
    sampled: bool,
    state: Option<Box<str>>,
    transport: &'static str,
    start: u64,
    data: Mutex<Data>,
}

/// A trace once its request is done: what the exporter encodes.
#[derive(Debug)]
pub(super) struct Finished {
    pub trace_id: u128,
    pub root: u64,
    pub parent: u64,
    pub state: Option<Box<str>>,
    pub transport: &'static str,
    pub start: u64,
    pub end: u64,
    pub data: Data,
}

impl Finished {
    /// The spans it holds (the root and its children).
    pub fn spans(&self) -> usize {
        1 + self.data.children.len()
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if !self.sampled {
            return;
        }
        let data = std::mem::take(self.data.get_mut());
        queue::push(Finished {
            trace_id: self.trace_id,
            root: self.root,
            parent: self.parent,
            state: self.state.take(),
            transport: self.transport,
            start: self.start,
            end: now(),
            data,
        });
    }
}

/// A span of a request: the root (`enkrypt.request`) or a child. Dropping a child ends it; the
/// root ends with its trace. [`Span::none`] (telemetry off) records nothing.
pub struct Span(Option<Open>);

struct Open {
    trace: Arc<Trace>,
    id: u64,
    /// `None` for the root.
    child: Option<ChildOpen>,
}

struct ChildOpen {
    parent: u64,
    kind: Kind,
    start: u64,
    /// 0 unset, 1 false, 2 true.
    flag: AtomicU8,
    /// 0 unset, else 1 + the outcome's index.
    outcome: AtomicU8,
    tool: Option<ToolNames>,
    root_tool: bool,
}

impl Span {
    /// No span: telemetry is off, or the request is not traced.
    pub fn none() -> Span {
        Span(None)
    }

    /// Whether this records nothing.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    fn cx(&self) -> Option<Cx> {
        self.0.as_ref().map(|o| Cx {
            trace: o.trace.clone(),
            span: o.id,
        })
    }

    /// Runs `fut` with this span current (its children's parent, the `traceparent` an HTTP
    /// upstream gets, the ids of its log lines).
    #[inline]
    pub fn instrument<F: Future>(&self, fut: F) -> Scoped<F> {
        Scoped {
            cx: self.cx(),
            fut: Some(fut),
        }
    }

    /// Runs `f` with this span current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.cx() {
            Some(cx) => enter(&mut Some(cx), f),
            None => f(),
        }
    }

    /// Sets the span's flag attribute (`enkrypt.auth.result`, `enkrypt.cache.hit`,
    /// `enkrypt.guardrail.blocked`).
    pub fn record_flag(&self, value: bool) {
        if let Some(c) = self.0.as_ref().and_then(|o| o.child.as_ref()) {
            c.flag.store(1 + u8::from(value), Ordering::Relaxed);
        }
    }

    /// Sets the `outcome` of the request (root) or of the upstream call.
    pub fn record_outcome(&self, outcome: Outcome) {
        let Some(open) = &self.0 else {
            return;
        };
        match &open.child {
            Some(c) => c.outcome.store(1 + outcome as u8, Ordering::Relaxed),
            None => open.trace.data.lock().outcome = Some(outcome),
        }
    }

    /// The root span of a request, with the caller's context `parent` (trace id, span id,
    /// sampled, tracestate) when it sent one.
    pub(super) fn root(
        transport: &'static str,
        parent: Option<(u128, u64, bool, Option<Box<str>>)>,
    ) -> Span {
        let (trace_id, parent, sampled, state) = match parent {
            Some((t, s, sampled, state)) => (t, s, sampler().parent_based(sampled, t), state),
            None => {
                let t = new_trace_id();
                (t, 0, sampler().root(t), None)
            }
        };
        let root = new_span_id();
        Span(Some(Open {
            trace: Arc::new(Trace {
                trace_id,
                root,
                parent,
                sampled,
                state,
                transport,
                start: now(),
                data: Mutex::new(Data {
                    children: Vec::with_capacity(6),
                    ..Data::default()
                }),
            }),
            id: root,
            child: None,
        }))
    }

    /// A child of the current span, or none when no request is traced here (the upstream
    /// call's span is [`Span::forward`]).
    pub(super) fn child(kind: Kind) -> Span {
        Span::child_with(kind, None, false)
    }

    /// An upstream call's span (`enkrypt.tool.forward`) for `server` and `tool`: when they are
    /// the request's own (as noted on its span), they are not copied again.
    pub(super) fn forward(server: &str, tool: &str) -> Span {
        let Some(same) = with_current(|cx| {
            let d = cx.trace.data.lock();
            d.tool.as_ref().is_some_and(|n| n.is(server, tool))
        }) else {
            return Span::none();
        };
        if same {
            Span::child_with(Kind::Forward, None, true)
        } else {
            Span::child_with(Kind::Forward, Some(ToolNames::new(server, tool)), false)
        }
    }

    fn child_with(kind: Kind, tool: Option<ToolNames>, root_tool: bool) -> Span {
        let Some((trace, parent)) = with_current(|cx| (cx.trace.clone(), cx.span)) else {
            return Span::none();
        };
        Span(Some(Open {
            trace,
            id: new_span_id(),
            child: Some(ChildOpen {
                parent,
                kind,
                start: now(),
                flag: AtomicU8::new(0),
                outcome: AtomicU8::new(0),
                tool,
                root_tool,
            }),
        }))
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let Some(open) = self.0.take() else {
            return;
        };
        let Some(c) = open.child else {
            return;
        };
        if !open.trace.sampled {
            return;
        }
        let flag = match c.flag.load(Ordering::Relaxed) {
            0 => None,
            f => Some(f == 2),
        };
        let outcome = match c.outcome.load(Ordering::Relaxed) {
            0 => None,
            o => Outcome::ALL.get(usize::from(o - 1)).copied(),
        };
        let done = Child {
            id: open.id,
            parent: c.parent,
            kind: c.kind,
            start: c.start,
            end: now(),
            flag,
            outcome,
            tool: c.tool,
            root_tool: c.root_tool,
        };
        open.trace.data.lock().children.push(done);
    }
}

/// Runs `f` on the running request's trace data, if a request is traced here.
pub(super) fn with_data(f: impl FnOnce(&mut Data)) {
    let _ = with_current(|cx| f(&mut cx.trace.data.lock()));
}

/// Runs `fut` in the running request's context (for a task it spawns).
#[inline]
pub(super) fn carry<F: Future>(fut: F) -> Scoped<F> {
    let cx = if enabled() {
        with_current(Cx::clone)
    } else {
        None
    };
    Scoped { cx, fut: Some(fut) }
}

/// The trace id, current span id, sampled flag and tracestate of the running request.
pub(super) fn current<R>(f: impl FnOnce(u128, u64, bool, Option<&str>) -> R) -> Option<R> {
    with_current(|cx| {
        let t = &cx.trace;
        f(t.trace_id, cx.span, t.sampled, t.state.as_deref())
    })
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(super::clock::unix_now());
    h.finish()
}

/// The next number of this thread's generator (wyrand).
fn next_u64() -> u64 {
    RNG.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

fn new_span_id() -> u64 {
    loop {
        let id = next_u64();
        if id != 0 {
            return id;
        }
    }
}

fn new_trace_id() -> u128 {
    loop {
        let id = (u128::from(next_u64()) << 64) | u128::from(next_u64());
        if id != 0 {
            return id;
        }
    }
}

/// Which traces are exported (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sampler {
    /// Follow the caller's sampled flag when there is a caller.
    parent_based: bool,
    /// The share of new traces kept, 0.0 to 1.0.
    ratio: f64,
}

impl Sampler {
    /// From the variables' values: `always_on` (the default), `always_off`, `traceidratio`,
    /// `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`; the
    /// ratio argument defaults to 1.
    pub(super) fn from_env(name: Option<&str>, arg: Option<&str>) -> Sampler {
        let ratio = arg
            .and_then(|a| a.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0);
        let name = name.map(str::trim).unwrap_or("parentbased_always_on");
        let (parent_based, rest) = match name.strip_prefix("parentbased_") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let ratio = match rest {
            "always_off" => 0.0,
            "traceidratio" => ratio,
            _ => 1.0,
        };
        Sampler {
            parent_based,
            ratio,
        }
    }

    fn root(&self, trace_id: u128) -> bool {
        if self.ratio >= 1.0 {
            return true;
        }
        // The trace id's low 63 bits against the ratio, as the SDK's ratio sampler does.
        let bound = (self.ratio * (1u64 << 63) as f64) as u64;
        ((trace_id as u64) >> 1) < bound
    }

    fn parent_based(&self, parent_sampled: bool, trace_id: u128) -> bool {
        if self.parent_based {
            parent_sampled
        } else {
            self.root(trace_id)
        }
    }
}

static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Sets the sampler (at start).
pub(super) fn set_sampler(s: Sampler) {
    let _ = SAMPLER.set(s);
}

fn sampler() -> Sampler {
    SAMPLER.get().copied().unwrap_or(Sampler {
        parent_based: true,
        ratio: 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers() {
        let on = Sampler::from_env(None, None);
        assert!(on.root(7) && !on.parent_based(false, 7));
        let off = Sampler::from_env(Some("always_off"), None);
        assert!(!off.root(u128::MAX) && !off.parent_based(true, 0));
        let half = Sampler::from_env(Some("traceidratio"), Some("0.5"));
        let kept = (0..1000u128)
            .filter(|i| half.root(u128::from(next_u64()) ^ i))
            .count();
        assert!((300..700).contains(&kept), "{kept}");
        let pb = Sampler::from_env(Some("parentbased_traceidratio"), Some("0"));
        assert!(pb.parent_based(true, 1) && !pb.root(1));
    }

    #[test]
    fn ids_are_never_zero_and_differ() {
        let a = new_trace_id();
        let b = new_trace_id();
        assert!(a != 0 && b != 0 && a != b);
        assert_ne!(new_span_id(), new_span_id());
    }
}
