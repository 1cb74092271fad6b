//! Cheap per-command timing for `INFO commandstats` and `SLOWLOG`. A command's time runs from
//! the end of the previous command of its batch (or the batch start) to its own end.
//!
//! On x86_64 the time stamp counter is read (a few nanoseconds, against tens for
//! `clock_gettime` on some virtual machines) and converted with a rate measured against the
//! monotonic clock when first used; elsewhere `Instant` is used.

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static NS_PER_TICK: OnceLock<f64> = OnceLock::new();

    fn ticks() -> u64 {
        // SAFETY: RDTSC has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    fn rate() -> f64 {
        *NS_PER_TICK.get_or_init(|| {
            let (t0, c0) = (Instant::now(), ticks());
            while t0.elapsed() < Duration::from_millis(2) {
                std::hint::spin_loop();
            }
            let (ns, c) = (
                t0.elapsed().as_nanos() as f64,
                ticks().wrapping_sub(c0) as f64,
            );
            if c > 0.0 {
                ns / c
            } else {
                1.0
            }
        })
    }

    /// A start mark.
    #[derive(Clone, Copy, Debug)]
    pub struct Mark(u64);

    /// Now.
    #[inline]
    pub fn start() -> Mark {
        Mark(ticks())
    }

    /// Nanoseconds since `m`, and a mark for now.
    #[inline]
    pub fn elapsed_ns(m: Mark) -> (u64, Mark) {
        let now = ticks();
        ((now.wrapping_sub(m.0) as f64 * rate()) as u64, Mark(now))
    }

    /// Measures the tick rate now rather than on the first command.
    pub fn calibrate() {
        rate();
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use std::time::Instant;

    /// A start mark.
    #[derive(Clone, Copy, Debug)]
    pub struct Mark(Instant);

    /// Now.
    #[inline]
    pub fn start() -> Mark {
        Mark(Instant::now())
    }

    /// Nanoseconds since `m`, and a mark for now.
    #[inline]
    pub fn elapsed_ns(m: Mark) -> (u64, Mark) {
        let now = Instant::now();
        (now.duration_since(m.0).as_nanos() as u64, Mark(now))
    }

    /// Nothing to measure.
    pub fn calibrate() {}
}

pub use imp::{calibrate, elapsed_ns, start, Mark};
