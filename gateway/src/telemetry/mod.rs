//! Telemetry: the Prometheus `GET /metrics` endpoint.
//!
//! What is recorded where it happens, with relaxed atomics and no lock on the call path: tool
//! calls per server, tool and upstream transport ([`tools`]; the handle is resolved once, when
//! the tool index is built), authentication outcomes (here), guardrail checks, blocks per
//! detector, redactions and pin changes (`guard::stats`), timeouts (`metrics`), cache lookups
//! and operation durations (`cache`), upstream connects and restarts (`upstream::pool`). At
//! scrape time [`scrape`] reads them all into a [`render::Scrape`], which
//! [`render::render`] writes in the Prometheus text format with `prometheus-client`.
//! Who may read `/metrics` is decided in [`endpoint`].
//!
//! Labels are bounded: server names (from the config), transports, directions, detectors,
//! cache operations, authentication failure reasons; tool names only up to a cap. Never a key,
//! an argument or a user-supplied string.

pub mod endpoint;
pub mod render;
pub mod tools;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::auth::AuthError;
use crate::service::Gateway;
use render::{CacheFigures, Scrape, UpstreamFigures};
use tools::{ToolStats, ToolTable, TransportLabel};

/// Authentication failure reasons, in label order.
pub const AUTH_REASONS: [AuthError; 6] = [
    AuthError::Missing,
    AuthError::Unknown,
    AuthError::Disabled,
    AuthError::Mismatch,
    AuthError::Expired,
    AuthError::NotMember,
];

/// The label value of an authentication failure.
pub fn auth_reason(e: AuthError) -> &'static str {
    match e {
        AuthError::Missing => "missing",
        AuthError::Unknown => "unknown",
        AuthError::Disabled => "disabled",
        AuthError::Mismatch => "mismatch",
        AuthError::Expired => "expired",
        AuthError::NotMember => "not_member",
    }
}

/// The gateway's own counters (the others live beside what they count).
#[derive(Debug)]
pub struct Telemetry {
    recording: AtomicBool,
    /// Per-tool calls.
    pub tools: ToolTable,
    auth_ok: AtomicU64,
    auth_failed: [AtomicU64; AUTH_REASONS.len()],
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            recording: AtomicBool::new(true),
            tools: ToolTable::default(),
            auth_ok: AtomicU64::new(0),
            auth_failed: Default::default(),
        }
    }
}

impl Telemetry {
    /// Whether tool calls and cache operations are timed and counted
    /// (`enkrypt_metrics_enabled`).
    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// Turns recording on or off.
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The counters of a tool, `None` while recording is off.
    pub fn tool(
        &self,
        server: &str,
        tool: &str,
        transport: TransportLabel,
    ) -> Option<Arc<ToolStats>> {
        self.recording()
            .then(|| self.tools.handle(server, tool, transport))
    }

    /// The start of a timed call, `None` while recording is off.
    pub fn start(&self) -> Option<Instant> {
        self.recording().then(Instant::now)
    }

    /// An authentication outcome.
    pub fn auth(&self, r: Result<(), AuthError>) {
        match r {
            Ok(()) => self.auth_ok.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                let i = AUTH_REASONS.iter().position(|x| *x == e).unwrap_or(0);
                self.auth_failed[i].fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// `(successes, failures per reason in AUTH_REASONS order)`.
    pub fn auth_counts(&self) -> (u64, [u64; AUTH_REASONS.len()]) {
        let mut f = [0u64; AUTH_REASONS.len()];
        for (i, c) in self.auth_failed.iter().enumerate() {
            f[i] = c.load(Ordering::Relaxed);
        }
        (self.auth_ok.load(Ordering::Relaxed), f)
    }
}

/// Reads every figure of the gateway (the cache's status included, which for an external
/// cache costs an `INFO memory` and a bounded `SCAN`).
pub async fn scrape(gw: &Gateway) -> Scrape {
    let status = gw.cache.status().await;
    let cache = CacheFigures {
        hits: status.hits,
        misses: status.misses,
        errors: status.errors,
        skipped: status.skipped,
        degraded: status.degraded,
        entries: status
            .entries
            .map(|e| [e.tools, e.gateway_config, e.key_to_id]),
        used_memory: status.used_memory,
        maxmemory: status.maxmemory,
        durations: gw.cache.op_durations(),
    };
    let mut upstreams: Vec<UpstreamFigures> = Vec::new();
    let mut stats = gw.pool.stats();
    stats.sort_by(|a, b| a.name.cmp(&b.name));
    for s in stats {
        // Several definitions of one server name (in several mcp_configs) add up.
        match upstreams.last_mut() {
            Some(u) if u.server == s.name => {
                u.up &= s.up;
                u.connects += s.connects;
                u.failures += s.failures;
                u.restarts += s.restarts;
            }
            _ => upstreams.push(UpstreamFigures {
                server: s.name,
                up: s.up,
                connects: s.connects,
                failures: s.failures,
                restarts: s.restarts,
            }),
        }
    }
    let (auth_ok, auth_failed) = gw.telemetry.auth_counts();
    Scrape {
        tools: gw.telemetry.tools.series(),
        tool_labels: gw.telemetry.tools.distinct(),
        guard: gw.guard.stats.snapshot(),
        timeouts: gw.metrics.snapshot(),
        timeout_durations: gw.metrics.durations().snapshot(),
        active_operations: gw.sessions.iter().map(|s| s.inflight.len()).sum(),
        auth_ok,
        auth_failed,
        sessions: gw.sessions.len(),
        upstreams,
        cache: Some(cache),
        uptime_seconds: gw.started.elapsed().as_secs_f64(),
    }
}
