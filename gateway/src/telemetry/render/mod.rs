//! The `/metrics` page: a [`Scrape`] (every figure, read once) written in the Prometheus text
//! format (version 0.0.4) by `prometheus-client`, through a collector built per scrape.
//!
//! Names follow the reference product's OpenTelemetry instruments as its collector exports
//! them to Prometheus (`enkrypt.tool.calls` -> `enkrypt_tool_calls_total`,
//! `enkrypt.tool.duration` in seconds -> `enkrypt_tool_duration_seconds`), so its dashboards
//! keep working; the seeds' `cache.hits`, `cache.misses`, `cache.operations.duration` and
//! `cache.size` are `enkrypt_cache_hits_total`, `enkrypt_cache_misses_total`,
//! `enkrypt_cache_operations_duration_seconds` and `enkrypt_cache_size`. The full list is in
//! docs/configuration.md.

use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::tools::ToolSeries;
use super::{auth_reason, AUTH_REASONS};
use crate::guard::detect::Detector;
use crate::guard::stats::{StatsSnapshot, DIRECTIONS};
use crate::histogram::{HistogramSnapshot, BOUND_LABELS};
use crate::metrics::TimeoutSnapshot;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The cache's figures.
#[derive(Debug, Clone, Default)]
pub struct CacheFigures {
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Failed backend calls.
    pub errors: u64,
    /// Calls skipped during an outage.
    pub skipped: u64,
    /// Running degraded.
    pub degraded: bool,
    /// Entries: tools, gateway_config, key_to_id (`None`: could not be counted).
    pub entries: Option<[u64; 3]>,
    /// `used_memory`.
    pub used_memory: Option<u64>,
    /// `maxmemory`.
    pub maxmemory: Option<u64>,
    /// Durations per backend operation.
    pub durations: Vec<(&'static str, HistogramSnapshot)>,
}

/// One upstream server's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamFigures {
    /// The server's name.
    pub server: String,
    /// Every definition of it has a live session.
    pub up: bool,
    /// Successful connects.
    pub connects: u64,
    /// Failed connects.
    pub failures: u64,
    /// Connects that replaced an earlier session.
    pub restarts: u64,
}

/// Every figure of one scrape.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Per-tool series with at least one call.
    pub tools: Vec<ToolSeries>,
    /// Distinct tools holding a series of their own.
    pub tool_labels: usize,
    /// Guardrail counters.
    pub guard: StatsSnapshot,
    /// Timeout counters.
    pub timeouts: TimeoutSnapshot,
    /// Durations of the timed operations.
    pub timeout_durations: HistogramSnapshot,
    /// Requests in flight.
    pub active_operations: usize,
    /// Successful authentications.
    pub auth_ok: u64,
    /// Failed ones, per reason in [`AUTH_REASONS`] order.
    pub auth_failed: [u64; AUTH_REASONS.len()],
    /// Downstream sessions.
    pub sessions: usize,
    /// Upstream servers, sorted by name.
    pub upstreams: Vec<UpstreamFigures>,
    /// The cache, when known.
    pub cache: Option<CacheFigures>,
    /// Seconds since the gateway started.
    pub uptime_seconds: f64,
}

/// Writes `s` in the Prometheus text format.
pub fn render(s: Scrape) -> String {
    let s = Arc::new(s);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Page(s.clone())));
    let mut out = String::with_capacity(16 * 1024 + s.tools.len() * 2048);
    // Writing into a String cannot fail; an error would only come from the collector.
    if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    write_tools(&mut out, &s.tools);
    out
}

#[derive(Debug)]
struct Page(Arc<Scrape>);

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

fn counter(e: &mut MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    e.encode_counter::<NoLabelSet, u64, u64>(&v, None)
}

fn gauge(e: &mut MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    e.encode_gauge(&v)
}

fn histogram(e: &mut MetricEncoder<'_>, h: &HistogramSnapshot) -> std::fmt::Result {
    e.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
}

/// One metric without labels.
fn single(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    f: impl FnOnce(&mut MetricEncoder<'_>) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut e = enc.encode_descriptor(name, help, unit, kind)?;
    f(&mut e)
}

/// One metric with a series per label set.
fn family<'a, L: EncodeLabelSet + 'a>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    series: impl IntoIterator<
        Item = (
            L,
            Box<dyn FnOnce(&mut MetricEncoder<'_>) -> std::fmt::Result + 'a>,
        ),
    >,
) -> std::fmt::Result {
    let mut e = enc.encode_descriptor(name, help, unit, kind)?;
    for (labels, f) in series {
        let mut s = e.encode_family(&labels)?;
        f(&mut s)?;
    }
    Ok(())
}

type Series<'a, L> = (
    L,
    Box<dyn FnOnce(&mut MetricEncoder<'_>) -> std::fmt::Result + 'a>,
);

fn counters<'a, L: 'a>(items: impl IntoIterator<Item = (L, u64)>) -> Vec<Series<'a, L>> {
    items
        .into_iter()
        .map(|(l, v)| {
            let f: Box<dyn FnOnce(&mut MetricEncoder<'_>) -> std::fmt::Result + 'a> =
                Box::new(move |e| counter(e, v));
            (l, f)
        })
        .collect()
}

fn gauges<'a, L: 'a>(items: impl IntoIterator<Item = (L, u64)>) -> Vec<Series<'a, L>> {
    items
        .into_iter()
        .map(|(l, v)| {
            let f: Box<dyn FnOnce(&mut MetricEncoder<'_>) -> std::fmt::Result + 'a> =
                Box::new(move |e| gauge(e, v));
            (l, f)
        })
        .collect()
}

impl Collector for Page {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let s = &*self.0;
        encode_tools(&mut enc, s)?;
        encode_guard(&mut enc, &s.guard)?;
        encode_auth(&mut enc, s)?;
        encode_timeouts(&mut enc, s)?;
        encode_upstreams(&mut enc, &s.upstreams)?;
        if let Some(c) = &s.cache {
            encode_cache(&mut enc, c)?;
        }
        single(
            &mut enc,
            "enkrypt_session_active",
            "Downstream MCP sessions open",
            None,
            MetricType::Gauge,
            |e| gauge(e, s.sessions as u64),
        )?;
        single(
            &mut enc,
            "enkrypt_gateway_uptime",
            "Seconds since the gateway started",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            |e| e.encode_gauge(&s.uptime_seconds),
        )?;
        let version: Labels<1> = [("version", env!("CARGO_PKG_VERSION"))];
        family(
            &mut enc,
            "enkrypt_gateway_build_info",
            "The gateway's version (always 1)",
            None,
            MetricType::Gauge,
            gauges([(version, 1)]),
        )
    }
}

fn encode_tools(enc: &mut DescriptorEncoder<'_>, s: &Scrape) -> std::fmt::Result {
    single(
        enc,
        "enkrypt_tool_label_values",
        "Distinct tools with a series of their own (capped; the rest count as tool=\"other\")",
        None,
        MetricType::Gauge,
        |e| gauge(e, s.tool_labels as u64),
    )
}

/// The per-tool families: `(name, help, value of (ok, error, blocked))`.
type ToolCounter = (&'static str, &'static str, fn((u64, u64, u64)) -> u64);

const TOOL_COUNTERS: [ToolCounter; 4] = [
    (
        "enkrypt_tool_calls_total",
        "Tool calls through the gateway, per server, tool and upstream transport",
        |(ok, err, blocked)| ok + err + blocked,
    ),
    (
        "enkrypt_tool_success_total",
        "Tool calls that returned a result",
        |(ok, _, _)| ok,
    ),
    (
        "enkrypt_tool_errors_total",
        "Tool calls that failed (isError result, upstream error or timeout)",
        |(_, err, _)| err,
    ),
    (
        "enkrypt_tool_blocked_total",
        "Tool calls refused by allow/deny lists, screening or guardrails",
        |(_, _, b)| b,
    ),
];

/// Writes the per-tool families. They are most of a large page (a thousand tools make some 17
/// thousand lines), so they are written straight from each tool's label set, escaped once
/// when its counters were created, in the same text format (and checked against
/// `prometheus-client`'s output and a real Prometheus in the tests).
fn write_tools(out: &mut String, tools: &[ToolSeries]) {
    let mut num = itoa::Buffer::new();
    for (name, help, value) in TOOL_COUNTERS {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        out.push_str(help);
        out.push_str("\n# TYPE ");
        out.push_str(name);
        out.push_str(" counter\n");
        for t in tools {
            out.push_str(name);
            out.push('{');
            out.push_str(t.stats.labels());
            out.push_str("} ");
            out.push_str(num.format(value(t.stats.counts())));
            out.push('\n');
        }
    }
    const NAME: &str = "enkrypt_tool_duration_seconds";
    out.push_str("# HELP ");
    out.push_str(NAME);
    out.push_str(" Tool call latency through the gateway\n# TYPE ");
    out.push_str(NAME);
    out.push_str(" histogram\n");
    for t in tools {
        let (buckets, count, sum) = t.stats.duration().load();
        let mut cumulative = 0u64;
        for (n, le) in buckets.iter().zip(BOUND_LABELS) {
            cumulative += n;
            out.push_str(NAME);
            out.push_str("_bucket{");
            out.push_str(t.stats.labels());
            out.push_str(",le=\"");
            out.push_str(le);
            out.push_str("\"} ");
            out.push_str(num.format(cumulative));
            out.push('\n');
        }
        out.push_str(NAME);
        out.push_str("_sum{");
        out.push_str(t.stats.labels());
        out.push_str("} ");
        let _ = write!(out, "{sum:?}");
        out.push('\n');
        out.push_str(NAME);
        out.push_str("_count{");
        out.push_str(t.stats.labels());
        out.push_str("} ");
        out.push_str(num.format(count));
        out.push('\n');
    }
}

fn encode_guard(enc: &mut DescriptorEncoder<'_>, g: &StatsSnapshot) -> std::fmt::Result {
    let by_dir = |v: &[u64; 3]| -> Vec<(Labels<'static, 1>, u64)> {
        DIRECTIONS
            .iter()
            .zip(v)
            .map(|(d, n)| ([("direction", d.as_str())], *n))
            .collect()
    };
    family(
        enc,
        "enkrypt_guardrail_checks",
        "Guardrail checks, per direction",
        None,
        MetricType::Counter,
        counters(by_dir(&g.checks)),
    )?;
    family(
        enc,
        "enkrypt_guardrail_blocks",
        "Guardrail checks that blocked, per direction",
        None,
        MetricType::Counter,
        counters(by_dir(&g.blocked)),
    )?;
    single(
        enc,
        "enkrypt_guardrail_input_blocks",
        "Input guardrail checks that blocked",
        None,
        MetricType::Counter,
        |e| counter(e, g.blocked[0]),
    )?;
    single(
        enc,
        "enkrypt_guardrail_output_blocks",
        "Output guardrail checks that blocked",
        None,
        MetricType::Counter,
        |e| counter(e, g.blocked[1]),
    )?;
    let by_detector = |v: &[u64; Detector::ALL.len()]| -> Vec<(Labels<'static, 1>, u64)> {
        Detector::ALL
            .iter()
            .zip(v)
            .map(|(d, n)| ([("detector", d.name())], *n))
            .collect()
    };
    family(
        enc,
        "enkrypt_guardrail_detector_blocks",
        "Blocks per guardrail detector",
        None,
        MetricType::Counter,
        counters(by_detector(&g.blocks_by_detector)),
    )?;
    family(
        enc,
        "enkrypt_guardrail_detector_findings",
        "Findings per guardrail detector, whether or not they blocked",
        None,
        MetricType::Counter,
        counters(by_detector(&g.findings_by_detector)),
    )?;
    let plain: [(&str, &str, u64); 9] = [
        (
            "enkrypt_pii_redactions",
            "Values redacted before the upstream saw them",
            g.redactions,
        ),
        (
            "enkrypt_guardrail_secrets_masked",
            "Secrets masked in tool outputs",
            g.masked,
        ),
        (
            "enkrypt_tool_pin_changes",
            "Tool definitions that changed since they were pinned",
            g.pin_changes,
        ),
        (
            "enkrypt_degradation_fail_closed",
            "Calls refused because their guardrail policy could not run",
            g.fail_closed,
        ),
        (
            "enkrypt_degradation_fail_open",
            "Remote guardrail failures let through (fail open)",
            g.fail_open_passes,
        ),
        (
            "enkrypt_guardrail_remote_calls",
            "Calls to the remote guardrail provider",
            g.remote_calls,
        ),
        (
            "enkrypt_guardrail_remote_errors",
            "Failed calls to the remote guardrail provider",
            g.remote_errors,
        ),
        (
            "enkrypt_guardrail_remote_blocks",
            "Checks blocked by the remote guardrail provider",
            g.remote_blocks,
        ),
        (
            "enkrypt_guardrail_verdict_cache_hits",
            "Guardrail verdicts answered from the verdict cache",
            g.cache_hits,
        ),
    ];
    for (name, help, v) in plain {
        single(enc, name, help, None, MetricType::Counter, |e| {
            counter(e, v)
        })?;
    }
    Ok(())
}

fn encode_auth(enc: &mut DescriptorEncoder<'_>, s: &Scrape) -> std::fmt::Result {
    single(
        enc,
        "enkrypt_auth_success",
        "Gateway key authentications that succeeded",
        None,
        MetricType::Counter,
        |e| counter(e, s.auth_ok),
    )?;
    family(
        enc,
        "enkrypt_auth_failure",
        "Gateway key authentications that failed, per reason",
        None,
        MetricType::Counter,
        counters(
            AUTH_REASONS
                .iter()
                .zip(s.auth_failed)
                .map(|(r, n)| ([("reason", auth_reason(*r))], n)),
        ),
    )
}

fn encode_timeouts(enc: &mut DescriptorEncoder<'_>, s: &Scrape) -> std::fmt::Result {
    let t = &s.timeouts;
    let plain: [(&str, &str, u64); 7] = [
        (
            "enkrypt_timeout_operations",
            "Timed operations (upstream calls and discoveries)",
            t.total,
        ),
        (
            "enkrypt_timeout_success",
            "Timed operations that succeeded",
            t.successful,
        ),
        (
            "enkrypt_timeout_timed_out",
            "Timed operations that timed out",
            t.timeouts,
        ),
        (
            "enkrypt_timeout_cancelled",
            "Timed operations cancelled by the client",
            t.cancelled,
        ),
        (
            "enkrypt_timeout_escalation_warn",
            "Successes that took 80 % of their limit or more",
            t.warn,
        ),
        (
            "enkrypt_timeout_escalation_timeout",
            "Timeouts, and successes that took their whole limit",
            t.timeout_level,
        ),
        (
            "enkrypt_timeout_escalation_fail",
            "Successes that took 120 % of their limit or more",
            t.fail,
        ),
    ];
    for (name, help, v) in plain {
        single(enc, name, help, None, MetricType::Counter, |e| {
            counter(e, v)
        })?;
    }
    single(
        enc,
        "enkrypt_timeout_duration",
        "Durations of the timed operations",
        Some(&Unit::Seconds),
        MetricType::Histogram,
        |e| histogram(e, &s.timeout_durations),
    )?;
    single(
        enc,
        "enkrypt_timeout_active",
        "Requests in flight",
        None,
        MetricType::Gauge,
        |e| gauge(e, s.active_operations as u64),
    )
}

fn encode_upstreams(enc: &mut DescriptorEncoder<'_>, ups: &[UpstreamFigures]) -> std::fmt::Result {
    fn labels(u: &UpstreamFigures) -> Labels<'_, 1> {
        [("server", u.server.as_str())]
    }
    family(
        enc,
        "enkrypt_upstream_up",
        "1 when the upstream server has a live session",
        None,
        MetricType::Gauge,
        gauges(ups.iter().map(|u| (labels(u), u64::from(u.up)))),
    )?;
    family(
        enc,
        "enkrypt_upstream_connects",
        "Upstream sessions started (stdio children spawned, HTTP sessions opened)",
        None,
        MetricType::Counter,
        counters(ups.iter().map(|u| (labels(u), u.connects))),
    )?;
    family(
        enc,
        "enkrypt_upstream_connect_failures",
        "Upstream session starts that failed",
        None,
        MetricType::Counter,
        counters(ups.iter().map(|u| (labels(u), u.failures))),
    )?;
    family(
        enc,
        "enkrypt_upstream_restarts",
        "Upstream sessions started again after an earlier one died or was dropped",
        None,
        MetricType::Counter,
        counters(ups.iter().map(|u| (labels(u), u.restarts))),
    )
}

fn encode_cache(enc: &mut DescriptorEncoder<'_>, c: &CacheFigures) -> std::fmt::Result {
    let plain: [(&str, &str, u64); 4] = [
        (
            "enkrypt_cache_hits",
            "Cache lookups that found an entry (seeds: cache.hits)",
            c.hits,
        ),
        (
            "enkrypt_cache_misses",
            "Cache lookups that found none (seeds: cache.misses)",
            c.misses,
        ),
        (
            "enkrypt_cache_errors",
            "Failed cache backend calls",
            c.errors,
        ),
        (
            "enkrypt_cache_skipped",
            "Cache calls skipped while the backend was down",
            c.skipped,
        ),
    ];
    for (name, help, v) in plain {
        single(enc, name, help, None, MetricType::Counter, |e| {
            counter(e, v)
        })?;
    }
    let mut e = enc.encode_descriptor(
        "enkrypt_cache_operations_duration",
        "Cache backend operation latency (seeds: cache.operations.duration)",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (op, h) in &c.durations {
        let labels: Labels<1> = [("op", op)];
        let mut f = e.encode_family(&labels)?;
        histogram(&mut f, h)?;
    }
    if let Some(n) = c.entries {
        family(
            enc,
            "enkrypt_cache_size",
            "Cached entries per kind (seeds: cache.size)",
            None,
            MetricType::Gauge,
            gauges(
                ["tools", "gateway_config", "key_to_id"]
                    .into_iter()
                    .zip(n)
                    .map(|(k, v)| ([("kind", k)], v)),
            ),
        )?;
    }
    if let Some(m) = c.used_memory {
        single(
            enc,
            "enkrypt_cache_used_memory",
            "Memory the cache backend uses",
            Some(&Unit::Bytes),
            MetricType::Gauge,
            |e| gauge(e, m),
        )?;
    }
    if let Some(m) = c.maxmemory {
        single(
            enc,
            "enkrypt_cache_maxmemory",
            "The cache backend's memory limit (0: none)",
            Some(&Unit::Bytes),
            MetricType::Gauge,
            |e| gauge(e, m),
        )?;
    }
    single(
        enc,
        "enkrypt_cache_degraded",
        "1 while the cache runs degraded (backend down)",
        None,
        MetricType::Gauge,
        |e| gauge(e, u64::from(c.degraded)),
    )
}

#[cfg(test)]
mod tests;
