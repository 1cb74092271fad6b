//! Cheap per-command timing for `INFO commandstats` and `SLOWLOG`. A command's time runs from
//! the end of the previous command of its batch (or the batch start) to its own end.
//!
//! On x86_64 the time stamp counter is read (a few nanoseconds, against tens for
//! `clock_gettime` on some virtual machines) and converted with a rate measured against the
//! monotonic clock when first used; elsewhere a monotonic clock in nanoseconds is used. The hot
//! path keeps raw ticks: it subtracts and compares integers (the slow log threshold is
//! converted to ticks once per batch), and ticks become nanoseconds only when a batch's counts
//! are flushed, so nothing waits on a conversion after every command.

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static NS_PER_TICK: OnceLock<f64> = OnceLock::new();

    #[inline]
    pub fn now() -> u64 {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// A monotonic clock reading and the counter at that instant: the counter is read on both
    /// sides of the clock, and the closest of a few tries kept, so a thread descheduled in
    /// between does not skew the rate (it would for the life of the process).
    fn pair() -> (Instant, u64) {
        let mut best = (u64::MAX, Instant::now(), 0);
        for _ in 0..8 {
            let before = now();
            let t = Instant::now();
            let window = now().wrapping_sub(before);
            if window < best.0 {
                best = (window, t, before.wrapping_add(window / 2));
            }
        }
        (best.1, best.2)
    }

    pub fn ns_per_tick() -> f64 {
        *NS_PER_TICK.get_or_init(|| {
            let (t0, c0) = pair();
            while t0.elapsed() < Duration::from_millis(2) {
                std::hint::spin_loop();
            }
            let (t1, c1) = pair();
            let (ns, c) = (
                t1.duration_since(t0).as_nanos() as f64,
                c1.wrapping_sub(c0) as f64,
            );
            if c > 0.0 {
                ns / c
            } else {
                1.0
            }
        })
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use std::sync::OnceLock;
    use std::time::Instant;

    static EPOCH: OnceLock<Instant> = OnceLock::new();

    #[inline]
    pub fn now() -> u64 {
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    pub fn ns_per_tick() -> f64 {
        1.0
    }
}

/// A point in time, in ticks.
#[derive(Clone, Copy, Debug)]
pub struct Mark(u64);

/// Now.
#[inline]
pub fn start() -> Mark {
    Mark(imp::now())
}

impl Mark {
    /// Ticks from `self` to `later`.
    #[inline]
    pub fn ticks_to(self, later: Mark) -> u64 {
        later.0.wrapping_sub(self.0)
    }
}

/// Ticks as nanoseconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as f64 * imp::ns_per_tick()) as u64
}

/// Microseconds as ticks (saturating: `u64::MAX` stays "never").
pub fn micros_to_ticks(micros: u64) -> u64 {
    if micros == u64::MAX {
        return u64::MAX;
    }
    let t = micros as f64 * 1000.0 / imp::ns_per_tick();
    if t >= u64::MAX as f64 {
        u64::MAX
    } else {
        t as u64
    }
}

/// Measures the tick rate now rather than on the first command.
pub fn calibrate() {
    imp::ns_per_tick();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_both_ways() {
        calibrate();
        let a = start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ns = ticks_to_ns(a.ticks_to(start()));
        assert!((20_000_000..2_000_000_000).contains(&ns), "{ns} ns");
        let t = micros_to_ticks(1000);
        let back = ticks_to_ns(t);
        assert!((990_000..=1_010_000).contains(&back), "{back} ns");
        assert_eq!(micros_to_ticks(u64::MAX), u64::MAX);
    }
}
