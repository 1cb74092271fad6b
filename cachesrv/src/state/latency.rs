//! Latency tracking as Redis 7.0 does it: a histogram of every command's durations (HDR
//! buckets of two significant digits, in nanoseconds) for `INFO latencystats` and
//! `LATENCY HISTOGRAM`, and the latency monitor's time series per event (`command`,
//! `fast-command`), one sample per second, 160 kept, for `LATENCY LATEST/HISTORY/GRAPH/DOCTOR`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event.
pub const SERIES_LEN: usize = 160;

/// The bucket of a value: (lowest, highest) equivalent values, as an HDR histogram with a
/// lowest discernible value of 1 and two significant digits (256 sub-buckets) has them.
pub fn bucket(v: u64) -> (u64, u64) {
    let magnitude = 63 - (v | 255).leading_zeros() as u64;
    let shift = magnitude - 7;
    let low = (v >> shift) << shift;
    (low, low + (1 << shift) - 1)
}

/// The counts index of a value: the first 256 values one by one, then 128 buckets per power
/// of two.
fn index(v: u64) -> usize {
    let magnitude = 63 - (v | 255).leading_zeros() as usize;
    let shift = magnitude - 7;
    let sub = (v >> shift) as usize;
    if shift == 0 {
        sub
    } else {
        256 + (shift - 1) * 128 + (sub - 128)
    }
}

/// The lowest value of a counts index.
fn index_value(i: usize) -> u64 {
    if i < 256 {
        i as u64
    } else {
        let shift = (i - 256) / 128 + 1;
        (((i - 256) % 128 + 128) as u64) << shift
    }
}

/// One command's durations, as HDR counts (grown as larger values come).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    /// Records one duration (nanoseconds).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let i = index(ns.max(1));
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Number of values recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value at a percentile (HDR's `value_at_percentile`: the highest equivalent value of
    /// the bucket where the cumulative count reaches it).
    pub fn percentile(&self, p: f64) -> u64 {
        let p = p.min(100.0);
        let wanted = ((p / 100.0 * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return bucket(index_value(i)).1;
            }
        }
        0
    }

    /// `LATENCY HISTOGRAM`'s buckets: (microseconds, cumulative count) at 1024 ns doubling,
    /// where the count grew.
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level: u64 = 1024;
        let mut prev = 0;
        loop {
            let high = bucket(level).1;
            let cum: u64 = self.counts.iter().take(index(high) + 1).sum();
            if cum > prev {
                out.push((high / 1000, cum));
                prev = cum;
            }
            if cum >= self.total || level > (1 << 50) {
                break;
            }
            level *= 2;
        }
        out
    }
}

/// One event's series.
#[derive(Debug, Clone)]
pub struct Series {
    /// (unix seconds, latency ms), oldest first once wrapped at `idx`.
    pub samples: [(u64, u64); SERIES_LEN],
    /// The next slot.
    pub idx: usize,
    /// The highest latency ever.
    pub max: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [(0, 0); SERIES_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// The samples in time order.
    pub fn in_order(&self) -> Vec<(u64, u64)> {
        (0..SERIES_LEN)
            .map(|j| self.samples[(self.idx + j) % SERIES_LEN])
            .filter(|s| s.0 != 0)
            .collect()
    }

    /// The newest sample.
    pub fn latest(&self) -> (u64, u64) {
        self.samples[(self.idx + SERIES_LEN - 1) % SERIES_LEN]
    }
}

/// Histograms per command id and the latency monitor.
#[derive(Debug, Default)]
pub struct Latency {
    /// `latency-tracking`.
    pub tracking: AtomicBool,
    /// `latency-monitor-threshold` in milliseconds (0: off).
    pub threshold_ms: AtomicU64,
    /// By command id (the command table's dense index): no hashing per command.
    hists: Mutex<Vec<Histogram>>,
    events: Mutex<BTreeMap<String, Series>>,
}

impl Latency {
    /// Records a batch of (command id, nanoseconds, is fast) durations.
    pub fn record(&self, samples: &[(usize, u64, bool)]) {
        if self.tracking.load(Ordering::Relaxed) {
            let mut h = self.hists.lock();
            for &(id, ns, _) in samples {
                if id >= h.len() {
                    h.resize_with(id + 1, Histogram::default);
                }
                h[id].record(ns);
            }
        }
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if threshold > 0 {
            for &(_, ns, fast) in samples {
                let ms = ns / 1_000_000;
                if ms >= threshold {
                    self.add_sample(if fast { "fast-command" } else { "command" }, ms);
                }
            }
        }
    }

    /// Adds a monitor sample (the per-second maximum is kept).
    pub fn add_sample(&self, event: &str, ms: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut ev = self.events.lock();
        let s = ev.entry(event.to_string()).or_insert_with(Series::new);
        s.max = s.max.max(ms);
        let prev = (s.idx + SERIES_LEN - 1) % SERIES_LEN;
        if s.samples[prev].0 == now {
            s.samples[prev].1 = s.samples[prev].1.max(ms);
            return;
        }
        s.samples[s.idx] = (now, ms);
        s.idx = (s.idx + 1) % SERIES_LEN;
    }

    /// Every event's series, by name.
    pub fn events(&self) -> Vec<(String, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// One event's series.
    pub fn event(&self, name: &str) -> Option<Series> {
        self.events.lock().get(name).cloned()
    }

    /// `LATENCY RESET`: every event (None) or the named ones; how many were reset.
    pub fn reset_events(&self, names: Option<&[String]>) -> usize {
        let mut ev = self.events.lock();
        match names {
            None => {
                let n = ev.len();
                ev.clear();
                n
            }
            Some(names) => names.iter().filter(|n| ev.remove(*n).is_some()).count(),
        }
    }

    /// A command's histogram.
    pub fn histogram(&self, id: usize) -> Option<Histogram> {
        self.hists.lock().get(id).filter(|h| h.total() > 0).cloned()
    }

    /// `CONFIG RESETSTAT`: the command histograms.
    pub fn reset_histograms(&self) {
        self.hists.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_hdr_buckets_of_two_significant_digits() {
        // Redis reports 12 us as p50=12.031 (12000 ns is in [11968, 12031]).
        assert_eq!(bucket(12_000), (11_968, 12_031));
        assert_eq!(bucket(200), (200, 200));
        for v in [1u64, 255, 256, 257, 1023, 1024, 12_000, 999_999, 1 << 40] {
            let i = index(v);
            let (low, high) = bucket(v);
            assert_eq!(index_value(i), low, "{v}");
            assert!(low <= v && v <= high);
            assert_eq!(index(high), i);
            assert_eq!(index(high + 1), i + 1);
        }
    }

    #[test]
    fn percentiles_and_cdf_follow_hdr() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.total(), 100);
        assert_eq!(h.percentile(50.0), bucket(50_000).1);
        assert_eq!(h.percentile(99.0), bucket(99_000).1);
        assert_eq!(h.percentile(100.0), bucket(100_000).1);
        let cdf = h.cdf();
        assert_eq!(cdf.first(), Some(&(1, 1)));
        assert_eq!(cdf.last().map(|c| c.1), Some(100));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
}
