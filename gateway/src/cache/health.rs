//! Health of the cache backend: counters, the last error, and the outage breaker.
//!
//! The breaker keeps a down backend from costing every request a full `cache_timeout`: after an
//! outage error ([`CacheError::is_outage`]) calls are refused at once with
//! [`CacheError::Unavailable`] for a backoff window; when it ends, one call (the *probe*) is let
//! through while the others keep being refused; the probe's success closes the breaker, its
//! failure opens a new window. Per-entry errors count as errors but never open the breaker.
//!
//! Logging, as the gateway's contract for cache outages: one `warn` when an outage starts, one
//! `info` when it ends, `debug` for the failures in between.
//!
//! Invariant: the state mutex is held only for a few field updates, never across an `.await`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::error::CacheError;
use crate::histogram::{Histogram, HistogramSnapshot};

/// The backend operations timed for `/metrics`, by label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `PING`.
    Ping,
    /// One `GET`.
    Get,
    /// `MGET`.
    GetMany,
    /// `SET` with a TTL.
    Set,
    /// `DEL`.
    Del,
    /// A prefix `SCAN`.
    Scan,
}

impl Op {
    /// Every operation, in label order.
    pub const ALL: [Op; 6] = [Op::Ping, Op::Get, Op::GetMany, Op::Set, Op::Del, Op::Scan];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Get => "get",
            Op::GetMany => "mget",
            Op::Set => "set",
            Op::Del => "del",
            Op::Scan => "scan",
        }
    }
}

#[derive(Debug)]
struct Down {
    since: Instant,
    since_unix: u64,
    retry_at: Instant,
    reason: String,
    failures: u64,
}

#[derive(Debug, Default)]
struct State {
    down: Option<Down>,
    probing: bool,
    last_error: Option<String>,
}

/// A snapshot for [`super::CacheStatus`].
#[derive(Debug, Clone, Default)]
pub(crate) struct HealthSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub skipped: u64,
    pub degraded: Option<String>,
    pub degraded_since: Option<u64>,
    pub last_error: Option<String>,
}

/// Counters and breaker (see the module header).
#[derive(Debug)]
pub(crate) struct Health {
    backoff: Duration,
    down_flag: AtomicBool,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    label: &'static str,
    /// Operation durations, by [`Op`]; recorded while `timed`.
    durations: [Histogram; Op::ALL.len()],
    timed: AtomicBool,
}

/// Admission to the backend; a probe's flag is released when the permit drops (also when the
/// calling future is cancelled).
pub(crate) struct Permit<'a> {
    health: &'a Health,
    probe: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.health.state.lock().probing = false;
        }
    }
}

impl Health {
    pub(crate) fn new(backoff: Duration, label: &'static str) -> Health {
        Health {
            backoff,
            down_flag: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            label,
            durations: Default::default(),
            timed: AtomicBool::new(true),
        }
    }

    /// Lets a call through, or refuses it while the breaker is open.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, CacheError> {
        if !self.down_flag.load(Ordering::Acquire) {
            return Ok(Permit {
                health: self,
                probe: false,
            });
        }
        let mut st = self.state.lock();
        let now = Instant::now();
        let refused = match &st.down {
            None => None,
            Some(d) if now < d.retry_at => Some((d.reason.clone(), d.retry_at - now)),
            Some(d) if st.probing => Some((d.reason.clone(), Duration::ZERO)),
            Some(_) => None,
        };
        if let Some((reason, retry_in)) = refused {
            drop(st);
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(CacheError::Unavailable { reason, retry_in });
        }
        let probe = st.down.is_some();
        st.probing |= probe;
        Ok(Permit {
            health: self,
            probe,
        })
    }

    /// Records the outcome of an admitted call.
    pub(crate) fn record<T>(&self, r: &Result<T, CacheError>) {
        match r {
            Ok(_) => {
                if self.down_flag.load(Ordering::Acquire) {
                    self.recovered();
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn recovered(&self) {
        let mut st = self.state.lock();
        if let Some(d) = st.down.take() {
            self.down_flag.store(false, Ordering::Release);
            drop(st);
            tracing::info!(
                backend = self.label,
                after_ms = d.since.elapsed().as_millis() as u64,
                failures = d.failures,
                "cache backend reachable again"
            );
        }
    }

    /// Counts a failure; an outage error opens (or re-opens) the breaker.
    pub(crate) fn failed(&self, e: &CacheError) {
        if matches!(e, CacheError::Unavailable { .. }) {
            return;
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let msg = e.to_string();
        let mut st = self.state.lock();
        st.last_error = Some(msg.clone());
        if !e.is_outage() {
            drop(st);
            tracing::debug!(backend = self.label, error = %msg, "cache call failed");
            return;
        }
        let now = Instant::now();
        match st.down.as_mut() {
            Some(d) => {
                d.retry_at = now + self.backoff;
                d.failures += 1;
                d.reason = msg.clone();
                drop(st);
                tracing::debug!(backend = self.label, error = %msg, "cache backend still down");
            }
            None => {
                st.down = Some(Down {
                    since: now,
                    since_unix: SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    retry_at: now + self.backoff,
                    reason: msg.clone(),
                    failures: 1,
                });
                self.down_flag.store(true, Ordering::Release);
                drop(st);
                tracing::warn!(
                    backend = self.label,
                    error = %msg,
                    retry_every_ms = self.backoff.as_millis() as u64,
                    "cache backend unavailable; the gateway continues without it (discovery goes \
                     to the upstream servers) until it is back"
                );
            }
        }
    }

    /// Whether operations are timed (on unless `/metrics` recording is off).
    pub(crate) fn set_timed(&self, on: bool) {
        self.timed.store(on, Ordering::Relaxed);
    }

    /// The start of a timed operation, `None` while timing is off.
    pub(crate) fn start(&self) -> Option<Instant> {
        self.timed.load(Ordering::Relaxed).then(Instant::now)
    }

    /// Records how long `op` took since `start`.
    pub(crate) fn timed(&self, op: Op, start: Option<Instant>) {
        if let Some(t) = start {
            self.durations[op as usize].observe(t.elapsed());
        }
    }

    /// Each operation's durations.
    pub(crate) fn durations(&self) -> Vec<(Op, HistogramSnapshot)> {
        Op::ALL
            .iter()
            .map(|op| (*op, self.durations[*op as usize].snapshot()))
            .collect()
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// True while the breaker is open or half-open.
    pub(crate) fn is_down(&self) -> bool {
        self.down_flag.load(Ordering::Acquire)
    }

    pub(crate) fn snapshot(&self) -> HealthSnapshot {
        let st = self.state.lock();
        HealthSnapshot {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            degraded: st.down.as_ref().map(|d| d.reason.clone()),
            degraded_since: st.down.as_ref().map(|d| d.since_unix),
            last_error: st.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage() -> CacheError {
        CacheError::Backend {
            message: "cannot connect".into(),
            outage: true,
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let h = Health::new(Duration::from_millis(50), "test");
        let p = h.admit().expect("closed breaker admits");
        h.record::<()>(&Err(outage()));
        drop(p);
        assert!(h.is_down());
        assert!(matches!(h.admit(), Err(CacheError::Unavailable { .. })));
        std::thread::sleep(Duration::from_millis(60));
        let probe = h.admit().expect("probe after the window");
        assert!(
            matches!(h.admit(), Err(CacheError::Unavailable { .. })),
            "one probe at a time"
        );
        h.record(&Ok(()));
        drop(probe);
        assert!(!h.is_down());
        let s = h.snapshot();
        assert_eq!((s.errors, s.skipped), (1, 2));
        assert!(s.degraded.is_none() && s.last_error.is_some());
    }

    #[test]
    fn entry_errors_do_not_open_the_breaker() {
        let h = Health::new(Duration::from_secs(1), "test");
        h.record::<()>(&Err(CacheError::BadEntry("x".into())));
        assert!(!h.is_down());
        assert!(h.admit().is_ok());
    }

    #[test]
    fn cancelled_probe_releases_the_slot() {
        let h = Health::new(Duration::ZERO, "test");
        h.record::<()>(&Err(outage()));
        let p = h.admit().expect("probe");
        drop(p);
        assert!(h.admit().is_ok(), "a dropped probe frees the slot");
    }
}
