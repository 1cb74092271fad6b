//! A lock-free latency histogram for the `/metrics` endpoint.
//!
//! Fixed bucket bounds (seconds, Prometheus's usual spread from 1 ms to 60 s), one relaxed
//! atomic per bucket, the count and the sum in nanoseconds: recording is three atomic adds
//! and a short scan of the bounds, never a lock or an allocation. Read at scrape time into the
//! non-cumulative `(upper bound, count)` pairs `prometheus-client` encodes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (`+Inf` is implied): from 100 us (a cache read)
/// to a minute (a slow tool), few enough that a page of 1 000 tools stays small.
pub const BOUNDS: [f64; 10] = [0.0001, 0.001, 0.005, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0, 60.0];

/// The bounds as the page writes them (`le` label values).
pub const BOUND_LABELS: [&str; 11] = [
    "0.0001", "0.001", "0.005", "0.025", "0.1", "0.25", "1", "2.5", "10", "60", "+Inf",
];

/// The bounds in nanoseconds, for the recording path.
const BOUNDS_NS: [u64; 10] = [
    100_000,
    1_000_000,
    5_000_000,
    25_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
    60_000_000_000,
];

/// A histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (non-cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Sum of the observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations in this bucket alone)`, the last bound `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        Histogram::default().snapshot()
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The buckets (non-cumulative, the last one `+Inf`), the count (their sum) and the sum
    /// in seconds, without allocating.
    pub fn load(&self) -> ([u64; BOUNDS.len() + 1], u64, f64) {
        let mut b = [0u64; BOUNDS.len() + 1];
        let mut count = 0u64;
        for (i, c) in self.buckets.iter().enumerate() {
            b[i] = c.load(Ordering::Relaxed);
            count += b[i];
        }
        (b, count, self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9)
    }

    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The current values. The count is the buckets' sum, so the two always agree.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = Vec::with_capacity(BOUNDS.len() + 1);
        let mut count = 0u64;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            count += n;
            buckets.push((BOUNDS.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        HistogramSnapshot {
            sum: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(120));
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.buckets[0], (0.0001, 1));
        assert_eq!(s.buckets[1], (0.001, 2));
        assert_eq!(s.buckets[4], (0.1, 1));
        assert_eq!(s.buckets[10].1, 1);
        assert!(s.buckets[10].0.is_infinite());
        assert!((s.sum - 120.03155).abs() < 1e-9);
        let (b, count, sum) = h.load();
        assert_eq!(count, 5);
        assert_eq!(b[1], 2);
        assert!((sum - s.sum).abs() < 1e-12);
        for (bound, label) in BOUNDS.iter().zip(BOUND_LABELS) {
            assert_eq!(bound.to_string(), label);
        }
    }
}
