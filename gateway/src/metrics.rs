//! Timeout metrics, in the shape of the reference's `enkrypt_get_timeout_metrics`: operations
//! counted by outcome, and by how close they came to their limit (escalation levels: normal
//! below 80 % of the timeout, warn from 80 %, timeout from 100 %, fail from 120 %), plus
//! their durations for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::TimeoutSettings;
use crate::histogram::Histogram;

/// The counters' values at one moment, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutSnapshot {
    /// Operations finished or cancelled.
    pub total: u64,
    /// Operations that succeeded.
    pub successful: u64,
    /// Operations that timed out.
    pub timeouts: u64,
    /// Operations cancelled.
    pub cancelled: u64,
    /// Successes below 80 % of their limit.
    pub normal: u64,
    /// Successes from 80 % of their limit.
    pub warn: u64,
    /// Timeouts, and successes from 100 % of their limit.
    pub timeout_level: u64,
    /// Successes from 120 % of their limit.
    pub fail: u64,
}

/// Counters.
#[derive(Debug, Default)]
pub struct Metrics {
    total: AtomicU64,
    successful: AtomicU64,
    timeouts: AtomicU64,
    cancelled: AtomicU64,
    normal: AtomicU64,
    warn: AtomicU64,
    timeout_level: AtomicU64,
    fail: AtomicU64,
    duration: Histogram,
}

impl Metrics {
    /// Records a finished operation: `timed_out` is `None` on success, `Some(true)` for a
    /// timeout and `Some(false)` for another failure.
    pub fn record(&self, elapsed: Duration, limit: Duration, timed_out: Option<bool>) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.duration.observe(elapsed);
        match timed_out {
            None => {
                self.successful.fetch_add(1, Ordering::Relaxed);
                let ratio = elapsed.as_secs_f64() / limit.as_secs_f64().max(1e-9);
                let level = if ratio >= 1.2 {
                    &self.fail
                } else if ratio >= 1.0 {
                    &self.timeout_level
                } else if ratio >= 0.8 {
                    &self.warn
                } else {
                    &self.normal
                };
                level.fetch_add(1, Ordering::Relaxed);
            }
            Some(true) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                self.timeout_level.fetch_add(1, Ordering::Relaxed);
            }
            Some(false) => {}
        }
    }

    /// Records a cancelled operation.
    pub fn cancelled(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters' current values.
    pub fn snapshot(&self) -> TimeoutSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TimeoutSnapshot {
            total: load(&self.total),
            successful: load(&self.successful),
            timeouts: load(&self.timeouts),
            cancelled: load(&self.cancelled),
            normal: load(&self.normal),
            warn: load(&self.warn),
            timeout_level: load(&self.timeout_level),
            fail: load(&self.fail),
        }
    }

    /// The finished operations' durations.
    pub fn durations(&self) -> &Histogram {
        &self.duration
    }

    /// The reference's result object; `active` is the number of requests in flight.
    pub fn to_json(&self, t: &TimeoutSettings, active: usize) -> Value {
        let total = self.total.load(Ordering::Relaxed);
        let ok = self.successful.load(Ordering::Relaxed);
        json!({
            "timeout_metrics": {
                "total_operations": total,
                "successful_operations": ok,
                "timeout_operations": self.timeouts.load(Ordering::Relaxed),
                "cancelled_operations": self.cancelled.load(Ordering::Relaxed),
                "escalation_counts": {
                    "normal": self.normal.load(Ordering::Relaxed),
                    "warn": self.warn.load(Ordering::Relaxed),
                    "timeout": self.timeout_level.load(Ordering::Relaxed),
                    "fail": self.fail.load(Ordering::Relaxed)
                },
                "success_rate": if total > 0 { ok as f64 / total as f64 } else { 0.0 },
                "active_operations": active
            },
            "active_operations": {},
            "timeout_config": {
                "default_timeout": t.default.as_secs_f64(),
                "guardrail_timeout": t.guardrail.as_secs_f64(),
                "auth_timeout": t.auth.as_secs_f64(),
                "tool_execution_timeout": t.tool_execution.as_secs_f64(),
                "discovery_timeout": t.discovery.as_secs_f64(),
                "cache_timeout": t.cache.as_secs_f64(),
                "connectivity_timeout": t.connectivity.as_secs_f64()
            }
        })
    }
}
