//! Server-wide command statistics (`INFO commandstats`) and the slow log (`SLOWLOG`).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Per-command counters for `INFO commandstats`.
#[derive(Debug)]
pub struct CommandStats {
    calls: Vec<AtomicU64>,
    /// Nanoseconds: a batch of fast commands takes less than a microsecond, and truncating
    /// each batch's time to microseconds would report them as taking none.
    nanos: Vec<AtomicU64>,
    rejected: Vec<AtomicU64>,
    failed: Vec<AtomicU64>,
}

impl CommandStats {
    /// Counters for `n` commands (ids `0..n`).
    pub fn new(n: usize) -> Self {
        let mk = || (0..n).map(|_| AtomicU64::new(0)).collect();
        CommandStats {
            calls: mk(),
            nanos: mk(),
            rejected: mk(),
            failed: mk(),
        }
    }

    /// (name, calls, usec, rejected, failed) for every command used since the last reset, in
    /// id order; `name` gives a command id's name.
    pub fn snapshot(
        &self,
        name: impl Fn(usize) -> &'static str,
    ) -> Vec<(&'static str, u64, u64, u64, u64)> {
        (0..self.calls.len())
            .map(|id| {
                (
                    name(id),
                    self.calls[id].load(Ordering::Relaxed),
                    self.nanos[id].load(Ordering::Relaxed) / 1000,
                    self.rejected[id].load(Ordering::Relaxed),
                    self.failed[id].load(Ordering::Relaxed),
                )
            })
            .filter(|s| s.1 + s.3 + s.4 > 0)
            .collect()
    }

    /// Adds a batch's counts for command `id`.
    pub fn add(&self, id: usize, calls: u64, nanos: u64, rejected: u64, failed: u64) {
        if calls > 0 {
            self.calls[id].fetch_add(calls, Ordering::Relaxed);
            self.nanos[id].fetch_add(nanos, Ordering::Relaxed);
        }
        if rejected > 0 {
            self.rejected[id].fetch_add(rejected, Ordering::Relaxed);
        }
        if failed > 0 {
            self.failed[id].fetch_add(failed, Ordering::Relaxed);
        }
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset(&self) {
        for v in [&self.calls, &self.nanos, &self.rejected, &self.failed] {
            v.iter().for_each(|a| a.store(0, Ordering::Relaxed));
        }
    }
}

/// One `SLOWLOG` entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Unique id.
    pub id: u64,
    /// Unix time in seconds.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Arguments (at most 32, each at most 128 bytes, as Redis trims them).
    pub args: Vec<Bytes>,
    /// Client address.
    pub addr: String,
    /// Client name.
    pub name: Bytes,
}

/// The slow log.
#[derive(Debug, Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: std::collections::VecDeque<SlowEntry>,
    next_id: u64,
    slower_than: i64,
    max_len: usize,
}

impl SlowLog {
    /// Applies `slowlog-log-slower-than` and `slowlog-max-len`.
    pub fn configure(&mut self, slower_than: i64, max_len: usize) {
        self.slower_than = slower_than;
        self.max_len = max_len;
        self.entries.truncate(max_len);
    }

    /// Microseconds at or above which a command is logged (`u64::MAX`: off).
    pub fn threshold(&self) -> u64 {
        if self.slower_than < 0 {
            u64::MAX
        } else {
            self.slower_than as u64
        }
    }

    /// Logs an entry (its id is assigned here).
    pub fn push(&mut self, mut e: SlowEntry) {
        e.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(e);
        self.entries.truncate(self.max_len);
    }
}
