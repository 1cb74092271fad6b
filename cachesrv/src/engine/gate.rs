//! The engine-wide execution gate, for MULTI/EXEC atomicity across threads.
//!
//! Normal commands run under [`SharedGuard`] (many at once); EXEC runs its queued commands under
//! [`ExclusiveGuard`] (alone). The gate is a set of cache-line-padded `RwLock`s: a reader takes
//! only its thread's stripe, so readers on different threads do not contend; a writer takes every
//! stripe in index order, so two writers cannot deadlock. Not reentrant: a thread holding either
//! guard must not ask for the gate again.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::memory::Padded;

const GATE_STRIPES: usize = 16;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % GATE_STRIPES;
}

/// The gate (see the module header).
#[derive(Debug, Default)]
pub(crate) struct Gate {
    stripes: [Padded<RwLock<()>>; GATE_STRIPES],
}

/// Shared access: normal commands.
#[must_use]
pub struct SharedGuard<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

/// Exclusive access: EXEC and scripts.
#[must_use]
pub struct ExclusiveGuard<'a>(#[allow(dead_code)] [RwLockWriteGuard<'a, ()>; GATE_STRIPES]);

impl Gate {
    fn stripe(&self) -> &RwLock<()> {
        &self.stripes[STRIPE.with(|s| *s)]
    }

    pub(crate) fn shared(&self) -> SharedGuard<'_> {
        SharedGuard::held(self.stripe().read())
    }

    pub(crate) fn try_shared(&self) -> Option<SharedGuard<'_>> {
        self.stripe().try_read().map(SharedGuard::held)
    }

    pub(crate) fn try_shared_for(&self, wait: Duration) -> Option<SharedGuard<'_>> {
        self.stripe().try_read_for(wait).map(SharedGuard::held)
    }

    pub(crate) fn exclusive(&self) -> ExclusiveGuard<'_> {
        let guard = ExclusiveGuard(std::array::from_fn(|i| self.stripes[i].write()));
        EXCLUSIVE.with(|e| e.set(e.get() + 1));
        guard
    }
}

thread_local! {
    /// How many exclusive guards this thread holds (0 or 1: the gate is not reentrant).
    static EXCLUSIVE: Cell<u32> = const { Cell::new(0) };
    /// How many shared guards this thread holds.
    static SHARED: Cell<u32> = const { Cell::new(0) };
}

/// True when this thread holds the gate exclusively (inside EXEC or a script).
pub fn held_exclusively() -> bool {
    EXCLUSIVE.with(|e| e.get() > 0)
}

/// True when this thread holds the gate, shared or exclusively (guards are not `Send`: a
/// guard taken on a thread is dropped there).
pub fn held() -> bool {
    held_exclusively() || SHARED.with(|s| s.get() > 0)
}

impl<'a> SharedGuard<'a> {
    fn held(g: RwLockReadGuard<'a, ()>) -> Self {
        SHARED.with(|s| s.set(s.get() + 1));
        SharedGuard(g)
    }
}

impl Drop for SharedGuard<'_> {
    fn drop(&mut self) {
        SHARED.with(|s| s.set(s.get().saturating_sub(1)));
    }
}

impl Drop for ExclusiveGuard<'_> {
    fn drop(&mut self) {
        EXCLUSIVE.with(|e| e.set(e.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn held_follows_the_guards_of_this_thread() {
        let gate = Gate::default();
        assert!(!held());
        {
            let _a = gate.shared();
            assert!(held());
            let other = std::thread::scope(|s| s.spawn(held).join().expect("thread"));
            assert!(!other, "another thread does not hold it");
        }
        assert!(!held());
        {
            let _x = gate.exclusive();
            assert!(held() && held_exclusively());
        }
        assert!(!held());
        let g = gate.try_shared();
        assert!(g.is_some() && held());
        drop(g);
        assert!(!held());
    }

    #[test]
    fn exclusive_excludes_shared() {
        let gate = Arc::new(Gate::default());
        let counter = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for _ in 0..4 {
            let gate = gate.clone();
            let counter = counter.clone();
            handles.push(std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _g = gate.shared();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for _ in 0..50 {
            let _x = gate.exclusive();
            let a = counter.load(Ordering::Relaxed);
            std::thread::yield_now();
            assert_eq!(a, counter.load(Ordering::Relaxed));
        }
        for h in handles {
            h.join().expect("thread");
        }
        assert!(gate.try_shared().is_some());
    }
}
