//! Span times: read about ten times per traced request, so from the cheapest clock that is
//! right.
//!
//! Where the kernel keeps its own time with the CPU's time-stamp counter (x86-64 Linux with
//! clocksource `tsc`: a constant rate, in step across CPUs), a reading is the counter (one
//! `rdtsc`, under a third of a `clock_gettime` and none of its conversion), marked by its top
//! bit. The export thread turns readings into Unix nanoseconds ([`Calibration::unix`]) by
//! interpolating between pairs of (counter, system time) it takes itself before each batch,
//! so span times follow the system clock, its adjustments included; the counter's rate is
//! measured against the monotonic clock, which setting the system clock does not move.
//! Elsewhere a reading is the Unix time in nanoseconds already, and converting it changes
//! nothing.
//!
//! If the counter ever runs backwards or changes its rate, readings go back to the system
//! clock for good; readings already taken keep the last good calibration.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The top bit marks a counter reading (Unix nanoseconds stay below it until 2262).
const MARK: u64 = 1 << 63;

/// Readings are counter readings.
static TSC: AtomicBool = AtomicBool::new(false);
/// Nanoseconds per counter tick (`f64` bits), for durations on the request path.
static RATE: AtomicU64 = AtomicU64::new(0);
/// The calibration that [`init`] started, refined by [`Calibration::refresh`].
static CAL: Mutex<Option<Calibration>> = Mutex::new(None);

/// Unix time in nanoseconds, from the system clock.
pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())
    })
}

/// A reading: a marked counter value, or Unix nanoseconds.
#[inline]
pub(super) fn now() -> u64 {
    if TSC.load(Ordering::Relaxed) {
        counter() | MARK
    } else {
        unix_now()
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn counter() -> u64 {
    // SAFETY: `rdtsc` reads a register; it has no precondition (x86-64 always has it).
    unsafe { core::arch::x86_64::_rdtsc() & !MARK }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn counter() -> u64 {
    unix_now()
}

/// The time from reading `start` to now.
pub(super) fn elapsed(start: u64) -> Duration {
    let end = now();
    let nanos = if start & MARK != 0 && end & MARK != 0 {
        let ticks = (end & !MARK).saturating_sub(start & !MARK);
        (ticks as f64 * f64::from_bits(RATE.load(Ordering::Relaxed))) as u64
    } else if start & MARK == 0 && end & MARK == 0 {
        end.saturating_sub(start)
    } else {
        // The clock changed in between: no duration worth reporting.
        0
    };
    Duration::from_nanos(nanos)
}

/// Chooses the clock (once, when telemetry starts): the counter when the kernel keeps time
/// with it, after measuring its rate over a few milliseconds.
pub(super) fn init() {
    let mut cal = CAL.lock().unwrap_or_else(|e| e.into_inner());
    if cal.is_some() || !kernel_uses_tsc() {
        return;
    }
    let a = Pair::take();
    std::thread::sleep(Duration::from_millis(2));
    let b = Pair::take();
    let Some(rate) = b.rate_since(&a) else {
        return;
    };
    RATE.store(rate.to_bits(), Ordering::Relaxed);
    *cal = Some(Calibration {
        base: a,
        last: b,
        rate,
    });
    TSC.store(true, Ordering::Relaxed);
}

/// Whether the kernel's clocksource is the time-stamp counter.
fn kernel_uses_tsc() -> bool {
    cfg!(all(target_arch = "x86_64", target_os = "linux"))
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

/// The calibration in force now (refreshed first), to convert a batch's readings.
pub(super) fn calibration() -> Calibration {
    let mut cal = CAL.lock().unwrap_or_else(|e| e.into_inner());
    match cal.as_mut() {
        Some(c) => {
            c.refresh();
            c.clone()
        }
        None => Calibration::none(),
    }
}

/// A counter reading and the times taken with it: monotonic (for the rate: never stepped) and
/// system (for Unix times: stepped when the system clock is set).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Pair {
    tsc: u64,
    /// Nanoseconds since the process's first pair.
    mono: u64,
    unix: u64,
}

/// Nanoseconds of the monotonic clock since the first call.
fn mono_now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Pair {
    /// The monotonic and system times, between two counter readings (their middle): the
    /// closest of a few tries, so a thread descheduled in between does not skew the pair.
    fn take() -> Pair {
        let mut best = (u64::MAX, Pair::default());
        for _ in 0..8 {
            let before = counter();
            let mono = mono_now();
            let unix = unix_now();
            let after = counter();
            let window = after.saturating_sub(before);
            if window < best.0 {
                best = (
                    window,
                    Pair {
                        tsc: before + window / 2,
                        mono,
                        unix,
                    },
                );
            }
        }
        best.1
    }

    /// Nanoseconds per tick from `a` to this pair, if the counter went forward at a
    /// believable rate (between 10 MHz and 100 GHz).
    fn rate_since(&self, a: &Pair) -> Option<f64> {
        let ticks = self.tsc.checked_sub(a.tsc).filter(|t| *t > 0)?;
        let rate = self.mono.saturating_sub(a.mono) as f64 / ticks as f64;
        (0.01..=100.0).contains(&rate).then_some(rate)
    }
}

/// How counter readings become Unix nanoseconds: the line through two pairs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Calibration {
    /// The older pair (at least a second before `last` once the process has run that long).
    /// Unix times are reckoned from `last` (the system clock may have been set since `base`).
    base: Pair,
    /// The newest pair.
    last: Pair,
    /// Nanoseconds per tick from `base` to `last`.
    rate: f64,
}

impl Calibration {
    /// Converts nothing (no counter readings).
    pub(super) fn none() -> Calibration {
        Calibration {
            base: Pair::default(),
            last: Pair::default(),
            rate: 0.0,
        }
    }

    /// Takes a new pair. The rate is measured from a pair at least a second older, so it
    /// stays precise however often batches go out; a counter that ran backwards or changed
    /// its rate by more than 1 % sends readings back to the system clock.
    fn refresh(&mut self) {
        if !TSC.load(Ordering::Relaxed) {
            return;
        }
        if self.update(Pair::take()) {
            RATE.store(self.rate.to_bits(), Ordering::Relaxed);
        } else {
            TSC.store(false, Ordering::Relaxed);
        }
    }

    /// [`Calibration::refresh`] with the pair `p`: false, and nothing changed, when the
    /// counter is not usable any more.
    fn update(&mut self, p: Pair) -> bool {
        let Some(rate) = p.rate_since(&self.base) else {
            return false;
        };
        if (rate / self.rate - 1.0).abs() > 0.01 {
            return false;
        }
        if self.last.mono.saturating_sub(self.base.mono) >= 1_000_000_000 {
            self.base = self.last;
        }
        self.last = p;
        self.rate = rate;
        true
    }

    /// Reading `r` in Unix nanoseconds.
    #[inline]
    pub(super) fn unix(&self, r: u64) -> u64 {
        if r & MARK == 0 {
            return r;
        }
        // Both below 2^63: the difference fits an i64, and so does the Unix time.
        let ticks = (r & !MARK) as i64 - (self.last.tsc & !MARK) as i64;
        let nanos = (ticks as f64 * self.rate) as i64;
        (self.last.unix as i64).saturating_add(nanos).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair whose monotonic and system times agree.
    fn pair(tsc: u64, unix: u64) -> Pair {
        Pair {
            tsc,
            mono: unix,
            unix,
        }
    }

    fn cal(base: (u64, u64), last: (u64, u64)) -> Calibration {
        let (a, b) = (pair(base.0, base.1), pair(last.0, last.1));
        Calibration {
            base: a,
            last: b,
            rate: b.rate_since(&a).expect("rate"),
        }
    }

    #[test]
    fn counter_readings_follow_the_line_through_the_pairs() {
        // 3 ticks per nanosecond.
        let c = cal((3_000, 1_000), (3_000_000_000, 1_000_999_000));
        assert_eq!(c.unix(3_000_000_000 | MARK), 1_000_999_000);
        assert_eq!(c.unix(3_000_000_300 | MARK), 1_000_999_100);
        assert_eq!(c.unix(2_999_999_700 | MARK), 1_000_998_900);
        assert_eq!(c.unix(3_000 | MARK), 1_000);
    }

    #[test]
    fn unmarked_readings_are_unix_time_already() {
        let c = cal((3_000, 1_000), (3_000_000_000, 1_000_999_000));
        assert_eq!(c.unix(1_700_000_000_123_456_789), 1_700_000_000_123_456_789);
        assert_eq!(Calibration::none().unix(42), 42);
    }

    #[test]
    fn a_counter_that_changes_rate_or_runs_back_is_dropped() {
        let mut c = cal((0, 0), (1_000_000, 1_000_000));
        assert!(c.update(pair(2_000_000, 2_000_000)));
        assert_eq!(c.rate, 1.0);
        let good = c.clone();
        assert!(!c.update(pair(3_000_000, 4_000_000)), "rate jumped");
        // Readings already taken keep the last good calibration.
        assert_eq!(c, good);
        assert_eq!(c.unix(2_500_000 | MARK), 2_500_000);
        let mut c = cal((1_000, 0), (1_000_000, 1_000_000));
        assert!(!c.update(pair(10, 2_000_000)), "counter ran back");
    }

    #[test]
    fn setting_the_system_clock_moves_unix_times_not_the_rate() {
        let mut c = cal((0, 0), (1_000_000, 1_000_000));
        // The system clock set 5 s ahead; the monotonic clock ran on with the counter.
        assert!(c.update(Pair {
            tsc: 2_000_000,
            mono: 2_000_000,
            unix: 5_002_000_000,
        }));
        assert_eq!(c.rate, 1.0);
        assert_eq!(c.unix(2_000_100 | MARK), 5_002_000_100);
    }

    #[test]
    fn the_base_pair_moves_only_once_a_second_old() {
        let mut c = cal((0, 0), (1_000, 1_000));
        assert!(c.update(pair(2_000, 2_000)));
        assert_eq!(c.base.tsc, 0);
        let mut c = cal((0, 0), (1_500_000_000, 1_500_000_000));
        assert!(c.update(pair(1_600_000_000, 1_600_000_000)));
        assert_eq!(c.base.tsc, 1_500_000_000);
        assert_eq!(c.last.tsc, 1_600_000_000);
    }

    /// On this machine's clock, whichever it is: a reading converts to the system time it was
    /// taken at, and durations are right.
    #[test]
    fn readings_convert_to_the_system_time() {
        init();
        let before = unix_now();
        let r = now();
        let after = unix_now();
        let start = now();
        std::thread::sleep(Duration::from_millis(30));
        let took = elapsed(start);
        let c = calibration();
        let t = c.unix(r);
        // Interpolation error is far under 100 us over these intervals.
        assert!(
            t + 100_000 >= before && t <= after + 100_000,
            "{before} <= {t} <= {after} ({})",
            if TSC.load(Ordering::Relaxed) {
                "counter"
            } else {
                "system clock"
            }
        );
        assert!(
            took >= Duration::from_millis(29) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}
