//! Guardrail counters: checks by direction and verdict, blocks and findings per detector,
//! redactions, tool pin changes, registration blocks, remote calls and errors, verdict cache
//! hits. Plain relaxed atomics (no lock on the call path); read as JSON by the health report
//! and, later, the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::detect::Detector;
use super::policy::Direction;

const DETECTORS: usize = Detector::ALL.len();

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    checks: [AtomicU64; 3],
    passed: [AtomicU64; 3],
    blocked: [AtomicU64; 3],
    blocks_by_detector: [AtomicU64; DETECTORS],
    findings_by_detector: [AtomicU64; DETECTORS],
    redactions: AtomicU64,
    masked: AtomicU64,
    pin_changes: AtomicU64,
    fail_closed: AtomicU64,
    remote_calls: AtomicU64,
    remote_errors: AtomicU64,
    remote_blocks: AtomicU64,
    fail_open_passes: AtomicU64,
    cache_hits: AtomicU64,
}

fn dir(d: Direction) -> usize {
    match d {
        Direction::Input => 0,
        Direction::Output => 1,
        Direction::Registration => 2,
    }
}

fn idx(d: Detector) -> usize {
    Detector::ALL.iter().position(|x| *x == d).unwrap_or(0)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// A finished check: `blocked_by` lists the detectors that blocked it (empty: passed).
    pub fn check(&self, direction: Direction, blocked_by: &[Detector]) {
        bump(&self.checks[dir(direction)]);
        if blocked_by.is_empty() {
            bump(&self.passed[dir(direction)]);
        } else {
            bump(&self.blocked[dir(direction)]);
            for d in blocked_by {
                bump(&self.blocks_by_detector[idx(*d)]);
            }
        }
    }

    /// A check blocked by the remote stage.
    pub fn remote_block(&self, direction: Direction) {
        bump(&self.checks[dir(direction)]);
        bump(&self.blocked[dir(direction)]);
        bump(&self.remote_blocks);
    }

    /// A finding of `d`, whether or not it blocked.
    pub fn finding(&self, d: Detector) {
        bump(&self.findings_by_detector[idx(d)]);
    }

    /// `n` values redacted.
    pub fn redacted(&self, n: usize) {
        self.redactions.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A secret masked in an output.
    pub fn masked(&self) {
        bump(&self.masked);
    }

    /// A tool whose definition changed since it was pinned.
    pub fn pin_change(&self) {
        bump(&self.pin_changes);
    }

    /// A call refused because its policy cannot run.
    pub fn fail_closed(&self) {
        bump(&self.fail_closed);
    }

    /// A remote call; `ok` false for a failure (timeout, error, bad answer).
    pub fn remote(&self, ok: bool) {
        bump(&self.remote_calls);
        if !ok {
            bump(&self.remote_errors);
        }
    }

    /// A remote failure let through because the provider fails open.
    pub fn fail_open_pass(&self) {
        bump(&self.fail_open_passes);
    }

    /// A verdict answered from the in-process cache.
    pub fn cache_hit(&self) {
        bump(&self.cache_hits);
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut by_dir = Map::new();
        for d in [Direction::Input, Direction::Output, Direction::Registration] {
            let i = dir(d);
            by_dir.insert(
                d.as_str().to_string(),
                json!({
                    "checks": load(&self.checks[i]),
                    "passed": load(&self.passed[i]),
                    "blocked": load(&self.blocked[i]),
                }),
            );
        }
        let mut detectors = Map::new();
        for d in Detector::ALL {
            let (b, f) = (
                load(&self.blocks_by_detector[idx(d)]),
                load(&self.findings_by_detector[idx(d)]),
            );
            if b > 0 || f > 0 {
                detectors.insert(d.name().to_string(), json!({ "findings": f, "blocks": b }));
            }
        }
        json!({
            "checks": by_dir,
            "detectors": detectors,
            "redactions": load(&self.redactions),
            "secrets_masked": load(&self.masked),
            "pin_changes": load(&self.pin_changes),
            "fail_closed": load(&self.fail_closed),
            "remote": {
                "calls": load(&self.remote_calls),
                "errors": load(&self.remote_errors),
                "blocks": load(&self.remote_blocks),
                "fail_open_passes": load(&self.fail_open_passes),
            },
            "verdict_cache_hits": load(&self.cache_hits),
        })
    }
}
