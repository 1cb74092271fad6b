//! Time source of the engine.
//!
//! Every expiry decision, LRU/LFU clock and TTL computation reads the wall clock through the
//! [`Clock`] trait, so tests can drive time with [`ManualClock`] instead of sleeping. Times are
//! absolute Unix milliseconds, as Redis stores them (`PEXPIREAT`, `PEXPIRETIME`). Time budgets
//! (the active expire cycle) use `std::time::Instant`, not this clock: a frozen test clock must
//! not make a budget endless.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix milliseconds.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self {
            now: AtomicU64::new(start_ms),
        }
    }

    /// Sets the current time.
    pub fn set(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The system clock read once per batch instead of once per key: [`CachedClock::refresh`] is
/// called by the server after each read from a socket and by its periodic task, and every key
/// access in between uses that time (Redis caches its clock per command the same way). On a
/// machine where reading the clock costs tens of nanoseconds, this removes a clock read per
/// key access.
#[derive(Debug)]
pub struct CachedClock {
    ms: std::sync::atomic::AtomicU64,
}

impl Default for CachedClock {
    fn default() -> Self {
        let c = CachedClock {
            ms: std::sync::atomic::AtomicU64::new(0),
        };
        c.refresh();
        c
    }
}

impl CachedClock {
    /// Reads the system clock into the cache.
    pub fn refresh(&self) {
        self.ms
            .store(SystemClock.now_ms(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for CachedClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set(42);
        assert_eq!(c.now_ms(), 42);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
