//! Per-tool call counters, with bounded labels.
//!
//! A series is labelled by server (from the config: trusted and bounded), upstream transport
//! (`stdio`, `http`, `sse`) and tool. Tool names come from upstream servers, which the gateway
//! does not trust: at most [`ToolTable::cap`] distinct tools get a series of their own; past
//! that, and for a name longer than [`MAX_TOOL_LABEL`] bytes, calls are counted under the tool
//! `other` of their server. A [`ToolStats`] handle is resolved once (the tool index keeps it)
//! and then recorded into with relaxed atomics only.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::histogram::Histogram;

/// Distinct tools with a series of their own, by default.
pub const DEFAULT_TOOL_CAP: usize = 1000;

/// Longest tool name used as a label value; a longer one counts as `other`.
pub const MAX_TOOL_LABEL: usize = 128;

/// The label value that gathers the tools past the cap.
pub const OTHER: &str = "other";

/// The upstream transport label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportLabel {
    /// A stdio child.
    Stdio,
    /// Streamable HTTP.
    Http,
    /// Legacy HTTP+SSE.
    Sse,
}

impl TransportLabel {
    /// Every value, in label order.
    pub const ALL: [TransportLabel; 3] = [
        TransportLabel::Stdio,
        TransportLabel::Http,
        TransportLabel::Sse,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportLabel::Stdio => "stdio",
            TransportLabel::Http => "http",
            TransportLabel::Sse => "sse",
        }
    }

    /// The label of an upstream's transport.
    pub fn of(t: &crate::upstream::Transport) -> TransportLabel {
        match t {
            crate::upstream::Transport::Stdio { .. } => TransportLabel::Stdio,
            crate::upstream::Transport::StreamableHttp { .. } => TransportLabel::Http,
            crate::upstream::Transport::Sse { .. } => TransportLabel::Sse,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result without `isError`.
    Ok,
    /// An `isError` result or a JSON-RPC error (upstream failure, timeout, bad answer).
    Error,
    /// Refused by the allow/deny lists, a tool screening or a guardrail.
    Blocked,
}

impl Outcome {
    /// The outcome of a call that was `blocked`, or else returned an `error` result.
    pub fn of(blocked: bool, error: bool) -> Outcome {
        match (blocked, error) {
            (true, _) => Outcome::Blocked,
            (false, true) => Outcome::Error,
            (false, false) => Outcome::Ok,
        }
    }
}

/// True for a `tools/call` result with `isError: true`.
pub fn is_error(result: &serde_json::Value) -> bool {
    result.get("isError").and_then(serde_json::Value::as_bool) == Some(true)
}

/// [`is_error`] on a result kept as the upstream wrote it, without parsing it: an
/// `"isError"` key whose value is `true` (a key: inside a JSON string its quotes would be
/// escaped). A nested object's `isError` counts too.
pub fn raw_is_error(raw: &str) -> bool {
    static KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"isError\""));
    KEY.find_iter(raw.as_bytes()).any(|at| {
        let rest = raw[at + 9..].trim_start();
        rest.strip_prefix(':')
            .is_some_and(|v| v.trim_start().starts_with("true"))
    })
}

/// Writes `v` as a label value of the text format (`\\`, `\"` and newlines escaped).
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// One tool's counters.
#[derive(Debug)]
pub struct ToolStats {
    /// Its label set as the page writes it, escaped once:
    /// `server="...",tool="...",transport="..."`.
    labels: Box<str>,
    ok: AtomicU64,
    error: AtomicU64,
    blocked: AtomicU64,
    duration: Histogram,
}

impl ToolStats {
    /// The counters of `tool` on `server` over `transport`, all zero.
    pub fn new(server: &str, tool: &str, transport: TransportLabel) -> ToolStats {
        let mut labels = String::with_capacity(server.len() + tool.len() + 40);
        labels.push_str("server=\"");
        escape_into(&mut labels, server);
        labels.push_str("\",tool=\"");
        escape_into(&mut labels, tool);
        labels.push_str("\",transport=\"");
        labels.push_str(transport.as_str());
        labels.push('"');
        ToolStats {
            labels: labels.into(),
            ok: AtomicU64::new(0),
            error: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            duration: Histogram::default(),
        }
    }

    /// The label set, escaped: `server="...",tool="...",transport="..."`.
    pub fn labels(&self) -> &str {
        &self.labels
    }

    /// Records a finished call.
    pub fn record(&self, outcome: Outcome, elapsed: Duration) {
        let c = match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Error => &self.error,
            Outcome::Blocked => &self.blocked,
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.duration.observe(elapsed);
    }

    /// `(ok, error, blocked)` so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.error.load(Ordering::Relaxed),
            self.blocked.load(Ordering::Relaxed),
        )
    }

    /// The call durations.
    pub fn duration(&self) -> &Histogram {
        &self.duration
    }
}

/// One server's tools, per transport.
#[derive(Debug)]
struct ServerTools {
    tools: [DashMap<Arc<str>, Arc<ToolStats>>; 3],
    other: [Arc<ToolStats>; 3],
}

impl ServerTools {
    fn new(server: &str) -> ServerTools {
        ServerTools {
            tools: Default::default(),
            other: TransportLabel::ALL.map(|t| Arc::new(ToolStats::new(server, OTHER, t))),
        }
    }
}

/// Every tool's counters.
#[derive(Debug)]
pub struct ToolTable {
    servers: DashMap<Arc<str>, Arc<ServerTools>>,
    distinct: AtomicUsize,
    cap: usize,
}

impl Default for ToolTable {
    fn default() -> Self {
        ToolTable::with_cap(DEFAULT_TOOL_CAP)
    }
}

/// One series of the table, for rendering.
#[derive(Debug)]
pub struct ToolSeries {
    /// Server label.
    pub server: Arc<str>,
    /// Tool label (`other` for the tools past the cap).
    pub tool: Arc<str>,
    /// Transport label.
    pub transport: TransportLabel,
    /// The counters.
    pub stats: Arc<ToolStats>,
}

impl ToolTable {
    /// A table giving at most `cap` tools a series of their own.
    pub fn with_cap(cap: usize) -> ToolTable {
        ToolTable {
            servers: DashMap::new(),
            distinct: AtomicUsize::new(0),
            cap,
        }
    }

    /// The cap on distinct tools.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Distinct tools holding a series of their own.
    pub fn distinct(&self) -> usize {
        self.distinct.load(Ordering::Relaxed)
    }

    fn server(&self, server: &str) -> Arc<ServerTools> {
        if let Some(s) = self.servers.get(server) {
            return s.clone();
        }
        self.servers
            .entry(Arc::from(server))
            .or_insert_with(|| Arc::new(ServerTools::new(server)))
            .value()
            .clone()
    }

    /// The counters of `tool` on `server` over `transport`: its own, or its server's `other`
    /// once the cap is reached (or the name is too long to be a label).
    pub fn handle(&self, server: &str, tool: &str, transport: TransportLabel) -> Arc<ToolStats> {
        let s = self.server(server);
        let t = transport.index();
        if let Some(h) = s.tools[t].get(tool) {
            return h.clone();
        }
        if tool.len() > MAX_TOOL_LABEL || tool == OTHER {
            return s.other[t].clone();
        }
        if self.distinct.fetch_add(1, Ordering::Relaxed) >= self.cap {
            self.distinct.fetch_sub(1, Ordering::Relaxed);
            return s.other[t].clone();
        }
        let mut created = false;
        let h = s.tools[t]
            .entry(Arc::from(tool))
            .or_insert_with(|| {
                created = true;
                Arc::new(ToolStats::new(server, tool, transport))
            })
            .value()
            .clone();
        if !created {
            // Another caller inserted it first: it holds the slot.
            self.distinct.fetch_sub(1, Ordering::Relaxed);
        }
        h
    }

    /// Every series with at least one call, sorted by server, transport and tool (stable
    /// output for scrapes and tests).
    pub fn series(&self) -> Vec<ToolSeries> {
        let other: Arc<str> = Arc::from(OTHER);
        let mut out = Vec::new();
        for s in self.servers.iter() {
            for tr in TransportLabel::ALL {
                let i = tr.index();
                for e in s.tools[i].iter() {
                    if e.value().duration().count() > 0 {
                        out.push(ToolSeries {
                            server: s.key().clone(),
                            tool: e.key().clone(),
                            transport: tr,
                            stats: e.value().clone(),
                        });
                    }
                }
                if s.other[i].duration().count() > 0 {
                    out.push(ToolSeries {
                        server: s.key().clone(),
                        tool: other.clone(),
                        transport: tr,
                        stats: s.other[i].clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.server, a.transport.index(), &a.tool).cmp(&(
                &b.server,
                b.transport.index(),
                &b.tool,
            ))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn tools_past_the_cap_count_as_other() {
        let t = ToolTable::with_cap(3);
        for i in 0..5 {
            t.handle("srv", &format!("tool{i}"), TransportLabel::Stdio)
                .record(Outcome::Ok, MS);
        }
        // A tool seen before keeps its own series after the cap is reached.
        t.handle("srv", "tool1", TransportLabel::Stdio)
            .record(Outcome::Error, MS);
        assert_eq!(t.distinct(), 3);
        let labels: Vec<(String, u64, u64)> = t
            .series()
            .iter()
            .map(|s| {
                let (ok, err, _) = s.stats.counts();
                (s.tool.to_string(), ok, err)
            })
            .collect();
        assert_eq!(
            labels,
            vec![
                ("other".to_string(), 2, 0),
                ("tool0".to_string(), 1, 0),
                ("tool1".to_string(), 1, 1),
                ("tool2".to_string(), 1, 0),
            ]
        );
    }

    #[test]
    fn long_names_and_the_other_name_never_take_a_slot() {
        let t = ToolTable::with_cap(10);
        let long = "x".repeat(MAX_TOOL_LABEL + 1);
        t.handle("s", &long, TransportLabel::Http)
            .record(Outcome::Blocked, MS);
        t.handle("s", OTHER, TransportLabel::Http)
            .record(Outcome::Ok, MS);
        assert_eq!(t.distinct(), 0);
        let s = t.series();
        assert_eq!(s.len(), 1);
        assert_eq!(&*s[0].tool, OTHER);
        assert_eq!(s[0].stats.counts(), (1, 0, 1));
    }

    #[test]
    fn error_results_seen_without_parsing() {
        assert!(raw_is_error(r#"{"content":[],"isError":true}"#));
        assert!(raw_is_error(r#"{"content":[], "isError" :  true }"#));
        assert!(!raw_is_error(r#"{"content":[],"isError":false}"#));
        assert!(!raw_is_error(
            r#"{"content":[{"type":"text","text":"\"isError\":true"}]}"#
        ));
        assert!(!raw_is_error(
            r#"{"content":[{"type":"text","text":"isError"}]}"#
        ));
        assert!(is_error(&serde_json::json!({ "isError": true })));
        assert!(!is_error(&serde_json::json!({ "content": [] })));
        assert_eq!(Outcome::of(true, true), Outcome::Blocked);
        assert_eq!(Outcome::of(false, true), Outcome::Error);
    }

    #[test]
    fn labels_are_escaped_once() {
        let t = ToolTable::default();
        let h = t.handle("s\\1", "say \"hi\"\n", TransportLabel::Sse);
        assert_eq!(
            h.labels(),
            r#"server="s\\1",tool="say \"hi\"\n",transport="sse""#
        );
    }

    #[test]
    fn one_handle_per_tool_and_transport() {
        let t = ToolTable::default();
        let a = t.handle("s", "echo", TransportLabel::Stdio);
        let b = t.handle("s", "echo", TransportLabel::Stdio);
        let c = t.handle("s", "echo", TransportLabel::Sse);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(t.distinct(), 2);
    }
}
