//! Latency tracking as Redis 7.0 does it: a histogram of every command's durations (HDR
//! buckets of two significant digits, in nanoseconds) for `INFO latencystats` and
//! `LATENCY HISTOGRAM`, and the latency monitor's time series per event (`command`,
//! `fast-command`), one sample per second, 160 kept, for `LATENCY LATEST/HISTORY/GRAPH/DOCTOR`.

use std::collections::{BTreeMap, HashMap};
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

/// One command's durations: bucket lowest value -> count.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

impl Histogram {
    /// Records one duration (nanoseconds).
    pub fn record(&mut self, ns: u64) {
        *self.counts.entry(bucket(ns.max(1)).0).or_default() += 1;
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
        for (&low, &n) in &self.counts {
            seen += n;
            if seen >= wanted {
                return bucket(low).1;
            }
        }
        self.counts.keys().next_back().map_or(0, |&l| bucket(l).1)
    }

    /// `LATENCY HISTOGRAM`'s buckets: (microseconds, cumulative count) at 1024 ns doubling,
    /// where the count grew.
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level: u64 = 1024;
        let mut prev = 0;
        loop {
            let high = bucket(level).1;
            let cum: u64 = self.counts.range(..=high).map(|(_, n)| n).sum();
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
    hists: Mutex<HashMap<usize, Histogram>>,
    events: Mutex<BTreeMap<String, Series>>,
}

impl Latency {
    /// Records a batch of (command id, nanoseconds, is fast) durations.
    pub fn record(&self, samples: &[(usize, u64, bool)]) {
        if self.tracking.load(Ordering::Relaxed) {
            let mut h = self.hists.lock();
            for &(id, ns, _) in samples {
                h.entry(id).or_default().record(ns);
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
        self.hists.lock().get(&id).cloned()
    }

    /// `CONFIG RESETSTAT`: the command histograms.
    pub fn reset_histograms(&self) {
        self.hists.lock().clear();
    }
}
