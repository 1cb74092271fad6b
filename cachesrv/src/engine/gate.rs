//! The engine-wide execution gate, for MULTI/EXEC atomicity across threads.
//!
//! Normal commands run under [`SharedGuard`] (many at once); EXEC runs its queued commands under
//! [`ExclusiveGuard`] (alone). The gate is a set of cache-line-padded `RwLock`s: a reader takes
//! only its thread's stripe, so readers on different threads do not contend; a writer takes every
//! stripe in index order, so two writers cannot deadlock. Not reentrant: a thread holding either
//! guard must not ask for the gate again.
//!
//! A guard hands out a proof that it is held: [`Held`] (shared or exclusive) or
//! [`HeldExclusive`], zero-sized, `Copy`, borrowed from the guard (so none outlives it) and
//! constructible only here. The engine gives a [`super::DbHandle`] only against a [`Held`].
//! Where no guard can be named (a script's `redis.call` runs in a Lua callback inside the
//! script's exclusive hold), [`with_exclusive`] checks this thread's count of exclusive guards
//! at run time instead: the one proof not taken from a guard.

use std::cell::Cell;
use std::marker::PhantomData;
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

/// Proof that this thread holds the engine's gate, shared or exclusively, for `'g`: borrowed
/// from a guard ([`SharedGuard::held`], [`ExclusiveGuard::held`], [`HeldExclusive::held`]), so
/// it cannot outlive it, and neither can a [`super::DbHandle`] obtained with it. Not `Send`:
/// the gate is held by the thread that took it.
///
/// ```compile_fail,E0597
/// use cachesrv::engine::Engine;
/// let engine = Engine::default();
/// let held = {
///     let guard = engine.shared();
///     guard.held()
/// };
/// std::hint::black_box(held);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Held<'g> {
    _guard: PhantomData<&'g ()>,
    _thread: PhantomData<*const ()>,
}

/// Proof that this thread holds the engine's gate exclusively, for `'g` (EXEC, scripts): from
/// [`ExclusiveGuard::exclusive`], or checked at run time inside the crate (`with_exclusive`).
#[derive(Debug, Clone, Copy)]
pub struct HeldExclusive<'g> {
    held: Held<'g>,
}

impl<'g> Held<'g> {
    fn new() -> Self {
        Held {
            _guard: PhantomData,
            _thread: PhantomData,
        }
    }
}

impl<'g> HeldExclusive<'g> {
    /// The same hold, as a proof of the gate (exclusive access includes shared access).
    #[inline]
    pub fn held(self) -> Held<'g> {
        self.held
    }
}

/// Runs `f` with a proof of the exclusive gate if this thread holds it (checked at run time,
/// from the count of exclusive guards of this thread); `None` otherwise. For code that runs
/// inside an exclusive hold but cannot be handed its guard's proof: a script's `redis.call`,
/// reached through a Lua C callback. The proof cannot leave `f`.
pub(crate) fn with_exclusive<R>(f: impl FnOnce(HeldExclusive<'_>) -> R) -> Option<R> {
    held_exclusively().then(|| f(HeldExclusive { held: Held::new() }))
}

impl Gate {
    fn stripe(&self) -> &RwLock<()> {
        &self.stripes[STRIPE.with(|s| *s)]
    }

    pub(crate) fn shared(&self) -> SharedGuard<'_> {
        SharedGuard::new(self.stripe().read())
    }

    pub(crate) fn try_shared(&self) -> Option<SharedGuard<'_>> {
        self.stripe().try_read().map(SharedGuard::new)
    }

    pub(crate) fn try_shared_for(&self, wait: Duration) -> Option<SharedGuard<'_>> {
        self.stripe().try_read_for(wait).map(SharedGuard::new)
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
}

/// True when this thread holds the gate exclusively (inside EXEC or a script).
fn held_exclusively() -> bool {
    EXCLUSIVE.with(|e| e.get() > 0)
}

impl<'a> SharedGuard<'a> {
    fn new(g: RwLockReadGuard<'a, ()>) -> Self {
        SharedGuard(g)
    }

    /// The proof that the gate is held, for as long as this guard is borrowed.
    #[inline]
    pub fn held(&self) -> Held<'_> {
        Held::new()
    }
}

impl ExclusiveGuard<'_> {
    /// The proof that the gate is held, for as long as this guard is borrowed.
    #[inline]
    pub fn held(&self) -> Held<'_> {
        Held::new()
    }

    /// The proof that the gate is held exclusively, for as long as this guard is borrowed.
    #[inline]
    pub fn exclusive(&self) -> HeldExclusive<'_> {
        HeldExclusive { held: Held::new() }
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

    /// Whether [`with_exclusive`] gives a proof on this thread.
    fn proof_here() -> bool {
        with_exclusive(|_| ()).is_some()
    }

    #[test]
    fn the_run_time_proof_follows_the_exclusive_guard_of_this_thread() {
        let gate = Gate::default();
        assert!(!proof_here());
        {
            let _a = gate.shared();
            assert!(!proof_here(), "a shared hold is not exclusive");
        }
        {
            let _x = gate.exclusive();
            assert!(proof_here());
            let other = std::thread::scope(|s| s.spawn(proof_here).join().expect("thread"));
            assert!(!other, "another thread does not hold it");
        }
        assert!(!proof_here());
        let g = gate.try_shared();
        assert!(g.is_some() && !proof_here());
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
