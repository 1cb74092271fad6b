//! `CLIENT PAUSE` / `CLIENT UNPAUSE`: while a pause lasts, commands of the paused kind wait
//! (their connection stops before them and runs them once the pause ends), and the active
//! expire cycle and eviction do not run, as in Redis 7.0.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Wake;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    /// Nothing.
    Off = 0,
    /// Write commands (and commands that may replicate: scripts, PUBLISH, PFCOUNT...).
    Write = 1,
    /// Every command.
    All = 2,
}

/// The server's pause.
#[derive(Debug, Default)]
pub struct Pause {
    kind: AtomicU8,
    /// Unix ms when it ends.
    end_ms: AtomicU64,
    /// Connections waiting for its end.
    waiters: Mutex<Vec<Arc<dyn Wake>>>,
}

impl Pause {
    /// Pauses until `end_ms`; as Redis, a pause never weakens nor shortens the current one.
    pub fn pause(&self, kind: PauseKind, end_ms: u64) {
        let _g = self.waiters.lock();
        if self.kind.load(Ordering::Acquire) < kind as u8 {
            self.kind.store(kind as u8, Ordering::Release);
        }
        self.end_ms.fetch_max(end_ms, Ordering::AcqRel);
    }

    /// Ends the pause and wakes the connections that wait.
    pub fn unpause(&self) {
        let waiters = {
            let mut w = self.waiters.lock();
            self.kind.store(PauseKind::Off as u8, Ordering::Release);
            self.end_ms.store(0, Ordering::Release);
            std::mem::take(&mut *w)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Whether a pause may be in force (one relaxed load; [`Pause::current`] tells).
    #[inline]
    pub fn any(&self) -> bool {
        self.kind.load(Ordering::Relaxed) != 0
    }

    /// The pause in force at `now_ms` (one relaxed load when there is none); a pause whose
    /// time has passed ends here.
    #[inline]
    pub fn current(&self, now_ms: u64) -> PauseKind {
        if self.kind.load(Ordering::Relaxed) == 0 {
            return PauseKind::Off;
        }
        self.current_slow(now_ms)
    }

    #[cold]
    fn current_slow(&self, now_ms: u64) -> PauseKind {
        if now_ms >= self.end_ms.load(Ordering::Acquire) {
            self.unpause();
            return PauseKind::Off;
        }
        match self.kind.load(Ordering::Acquire) {
            1 => PauseKind::Write,
            2 => PauseKind::All,
            _ => PauseKind::Off,
        }
    }

    /// Unix ms when the pause ends (0: none).
    pub fn end_ms(&self) -> u64 {
        self.end_ms.load(Ordering::Acquire)
    }

    /// Registers a connection to wake when the pause ends; false if it already ended.
    pub fn wait(&self, w: Arc<dyn Wake>) -> bool {
        let mut g = self.waiters.lock();
        if self.kind.load(Ordering::Acquire) == 0 {
            return false;
        }
        g.push(w);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_never_weakened_nor_shortened_and_ends_on_time() {
        let p = Pause::default();
        assert_eq!(p.current(0), PauseKind::Off);
        p.pause(PauseKind::All, 1000);
        p.pause(PauseKind::Write, 500);
        assert_eq!(p.current(999), PauseKind::All);
        assert_eq!(p.end_ms(), 1000);
        assert_eq!(p.current(1000), PauseKind::Off);
        p.pause(PauseKind::Write, 2000);
        assert_eq!(p.current(1500), PauseKind::Write);
        p.unpause();
        assert_eq!(p.current(1500), PauseKind::Off);
    }
}
