//! Guardrail counters: checks by direction and verdict, blocks and findings per detector,
//! redactions, tool pin changes, registration blocks, remote calls and errors, verdict cache
//! hits. Plain relaxed atomics (no lock on the call path); read as JSON by the health report
//! and, later, the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::detect::Detector;
use super::policy::Direction;

const DETECTORS: usize = Detector::ALL.len();

/// The counters' values at one moment, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Checks by direction (input, output, registration).
    pub checks: [u64; 3],
    /// Checks that passed, by direction.
    pub passed: [u64; 3],
    /// Checks that blocked, by direction.
    pub blocked: [u64; 3],
    /// Blocks per detector, in [`Detector::ALL`] order.
    pub blocks_by_detector: [u64; DETECTORS],
    /// Findings per detector, in [`Detector::ALL`] order.
    pub findings_by_detector: [u64; DETECTORS],
    /// Values redacted.
    pub redactions: u64,
    /// Secrets masked in outputs.
    pub masked: u64,
    /// Tool definitions that changed since they were pinned.
    pub pin_changes: u64,
    /// Calls refused because their policy cannot run.
    pub fail_closed: u64,
    /// Remote provider calls.
    pub remote_calls: u64,
    /// Remote provider failures.
    pub remote_errors: u64,
    /// Checks blocked by the remote stage.
    pub remote_blocks: u64,
    /// Remote failures let through (fail open).
    pub fail_open_passes: u64,
    /// Verdicts answered from the in-process cache.
    pub cache_hits: u64,
}

/// The direction labels, in [`StatsSnapshot`] order.
pub const DIRECTIONS: [Direction; 3] =
    [Direction::Input, Direction::Output, Direction::Registration];

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

    /// The counters' current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let all = |a: &[AtomicU64]| -> Vec<u64> { a.iter().map(load).collect() };
        let mut s = StatsSnapshot::default();
        s.checks.copy_from_slice(&all(&self.checks));
        s.passed.copy_from_slice(&all(&self.passed));
        s.blocked.copy_from_slice(&all(&self.blocked));
        s.blocks_by_detector
            .copy_from_slice(&all(&self.blocks_by_detector));
        s.findings_by_detector
            .copy_from_slice(&all(&self.findings_by_detector));
        s.redactions = load(&self.redactions);
        s.masked = load(&self.masked);
        s.pin_changes = load(&self.pin_changes);
        s.fail_closed = load(&self.fail_closed);
        s.remote_calls = load(&self.remote_calls);
        s.remote_errors = load(&self.remote_errors);
        s.remote_blocks = load(&self.remote_blocks);
        s.fail_open_passes = load(&self.fail_open_passes);
        s.cache_hits = load(&self.cache_hits);
        s
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
