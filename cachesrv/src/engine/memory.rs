//! Memory accounting primitives.
//!
//! The engine estimates the real heap bytes it holds, the way Redis's `used_memory` reports what
//! its allocator handed out. [`alloc_size`] models the system allocator (glibc malloc: 8 bytes of
//! chunk header, 16-byte granularity, 32-byte minimum chunk), so a 120-byte entry block counts as
//! 128 bytes, as it really costs. Every figure is a pure function of the current state of a
//! structure (its lengths and capacities), so adding the delta of each mutation keeps the total
//! exact: deleting everything brings the total back to where it started.
//!
//! Totals live in [`Striped`] counters: a few cache-line-padded atomics, each shard writing to one
//! stripe, so writers on different shards do not contend on one cache line; stripes spill into a
//! shared total now and then, which gives the eviction check a one-read fast path.

use std::sync::atomic::{AtomicI64, Ordering};

/// Number of stripes of a [`Striped`] counter.
pub(crate) const STRIPES: usize = 16;

/// Bytes the system allocator really uses for a request of `n` bytes (0 for no allocation).
#[inline]
pub fn alloc_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.saturating_add(8 + 15).max(32) & !15
    }
}

/// Heap bytes of an owned byte string of length `n` (`Box<[u8]>`: exact allocation).
#[inline]
pub(crate) fn bytes_size(n: usize) -> usize {
    alloc_size(n)
}

/// Bytes of a `hashbrown`-style index (as used by `indexmap`) able to hold `cap` entries:
/// power-of-two buckets at 7/8 load, one `usize` and one control byte each, plus a group of
/// trailing control bytes.
#[inline]
pub(crate) fn swiss_index_size(cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    let buckets = if cap < 8 {
        if cap < 4 {
            4
        } else {
            8
        }
    } else {
        (cap.saturating_mul(8) / 7).next_power_of_two()
    };
    alloc_size(buckets * (std::mem::size_of::<usize>() + 1) + 16)
}

/// A value padded to its own cache lines, so neighbours do not share them.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A signed counter split into cache-line-padded stripes, plus a flushed total.
///
/// Writers add to their stripe; when a stripe's pending amount exceeds `flush_at` in magnitude
/// it is moved to the shared total, so the shared line is written rarely. [`Striped::sum`] is
/// exact once writers are quiet. [`Striped::upper_bound`] reads only the total and adds the
/// largest amount the stripes can hold pending, so "bound under the limit" proves "sum under the
/// limit" with one shared read.
#[derive(Debug)]
pub(crate) struct Striped {
    cells: [Padded<AtomicI64>; STRIPES],
    total: Padded<AtomicI64>,
    flush_at: i64,
}

impl Default for Striped {
    fn default() -> Self {
        Self::new(1 << 16)
    }
}

impl Striped {
    /// A counter whose stripes flush to the total beyond `flush_at` pending.
    pub(crate) fn new(flush_at: i64) -> Self {
        Self {
            cells: Default::default(),
            total: Padded::default(),
            flush_at: flush_at.max(1),
        }
    }

    /// Adds `delta` to the stripe chosen by `stripe` (any number; reduced modulo the stripes).
    #[inline]
    pub(crate) fn add(&self, stripe: usize, delta: i64) {
        if delta == 0 {
            return;
        }
        let cell = &self.cells[stripe % STRIPES];
        let pending = cell.fetch_add(delta, Ordering::Relaxed).wrapping_add(delta);
        if pending > self.flush_at || pending < -self.flush_at {
            let taken = cell.swap(0, Ordering::Relaxed);
            self.total.fetch_add(taken, Ordering::Relaxed);
        }
    }

    /// The sum of the total and all stripes.
    #[inline]
    pub(crate) fn sum(&self) -> i64 {
        self.cells
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .fold(self.total.load(Ordering::Relaxed), i64::wrapping_add)
    }

    /// The sum clamped to zero, as an unsigned figure.
    #[inline]
    pub(crate) fn sum_u64(&self) -> u64 {
        u64::try_from(self.sum()).unwrap_or(0)
    }

    /// A cheap bound: at least [`Striped::sum_u64`] (one shared read instead of all stripes).
    #[inline]
    pub(crate) fn upper_bound(&self) -> u64 {
        let slack = (self.flush_at + 1).saturating_mul(STRIPES as i64);
        u64::try_from(self.total.load(Ordering::Relaxed).saturating_add(slack)).unwrap_or(0)
    }

    /// Sets every stripe and the total to zero.
    pub(crate) fn reset(&self) {
        for c in &self.cells {
            c.store(0, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
    }
}

/// Converts a pair of sizes to a signed delta.
#[inline]
pub(crate) fn delta(new: usize, old: usize) -> i64 {
    (new as i64).wrapping_sub(old as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_size_models_glibc_chunks() {
        assert_eq!(alloc_size(0), 0);
        assert_eq!(alloc_size(1), 32);
        assert_eq!(alloc_size(24), 32);
        assert_eq!(alloc_size(25), 48);
        assert_eq!(alloc_size(120), 128);
        assert_eq!(alloc_size(121), 144);
    }

    #[test]
    fn striped_counter_flushes_and_bounds() {
        let s = Striped::new(100);
        for i in 0..1000 {
            s.add(i, 7);
            assert!(s.upper_bound() >= s.sum_u64());
        }
        assert_eq!(s.sum(), 7000);
        assert!(s.total.load(Ordering::Relaxed) > 0, "flushed to the total");
        for i in 0..1000 {
            s.add(i * 3, -7);
        }
        assert_eq!(s.sum(), 0);
    }

    #[test]
    fn striped_counter_sums_and_resets() {
        let s = Striped::default();
        s.add(1, 10);
        s.add(17, 5);
        s.add(3, -4);
        assert_eq!(s.sum(), 11);
        s.add(0, -100);
        assert_eq!(s.sum_u64(), 0);
        s.reset();
        assert_eq!(s.sum(), 0);
    }

    #[test]
    fn swiss_index_grows_by_powers_of_two() {
        assert_eq!(swiss_index_size(0), 0);
        assert!(swiss_index_size(100) < swiss_index_size(200));
    }
}
