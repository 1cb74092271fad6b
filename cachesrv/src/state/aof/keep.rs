//! The ordering lock kept by an event loop from one write command of a batch to the next
//! ([`Aof::keep_scope`], [`Aof::order_kept`]; see the parent module's doc).

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use parking_lot::MutexGuard;

use super::{Aof, LogBuf};

thread_local! {
    /// The batch this thread runs ([`KeepScope`]): the AOF whose ordering lock it may keep
    /// between its write commands (null: none may be kept), and whether it holds it now.
    static KEPT: Cell<(*const Aof, bool)> = const { Cell::new((std::ptr::null(), false)) };
    /// A [`Logged`] over the kept lock is live: the lock must not be let go meanwhile.
    static KEPT_IN_USE: Cell<bool> = const { Cell::new(false) };
}

/// Lets the event loop's thread keep the ordering lock between the write commands of the batch
/// it runs ([`Aof::order_kept`]); the lock is let go when the scope ends, or earlier
/// ([`KeepScope::allow`], [`Aof::release_kept`]).
pub struct KeepScope<'a> {
    aof: &'a Aof,
}

impl KeepScope<'_> {
    /// Allows keeping the lock (only while the batch holds the engine's shared gate: the lock
    /// is taken after the gate, never before), or lets it go and allows it no more.
    #[inline]
    pub fn allow(&self, yes: bool) {
        if yes {
            let (a, kept) = KEPT.get();
            if a.is_null() {
                KEPT.set((self.aof, kept));
            }
        } else {
            self.aof.release_kept();
            KEPT.set((std::ptr::null(), false));
        }
    }
}

impl Drop for KeepScope<'_> {
    fn drop(&mut self) {
        self.aof.release_kept();
        KEPT.set((std::ptr::null(), false));
    }
}

/// The ordering lock's buffer, held by a guard or through the lock the batch keeps
/// ([`Aof::order_kept`]).
pub struct Logged<'a> {
    guard: ManuallyDrop<MutexGuard<'a, LogBuf>>,
    kept: bool,
}

impl Deref for Logged<'_> {
    type Target = LogBuf;
    #[inline]
    fn deref(&self) -> &LogBuf {
        &self.guard
    }
}

impl DerefMut for Logged<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut LogBuf {
        &mut self.guard
    }
}

impl Drop for Logged<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.kept {
            // The lock stays held, for the batch's next write command.
            KEPT_IN_USE.set(false);
        } else {
            // SAFETY: dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.guard) };
        }
    }
}

impl Aof {
    /// [`Aof::order`] for a command of the batch a [`KeepScope`] allows to keep the lock: the
    /// lock is taken by the batch's first write command and kept for the next ones.
    #[inline]
    pub fn order_kept(&self) -> Option<Logged<'_>> {
        if !self.is_on() {
            return None;
        }
        let (a, kept) = KEPT.get();
        // Not kept for another command running inside this one (none does): that one waits,
        // as it always did, rather than share the buffer.
        if !std::ptr::eq(a, self) || KEPT_IN_USE.get() {
            return self.order().map(|g| Logged {
                guard: ManuallyDrop::new(g),
                kept: false,
            });
        }
        if !kept {
            let g = self.log.lock();
            if !self.is_on() {
                return None;
            }
            MutexGuard::leak(g);
            KEPT.set((a, true));
        }
        KEPT_IN_USE.set(true);
        // SAFETY: this thread holds the lock (taken above, or by an earlier command of the
        // batch and kept), and no other guard over it is live on this thread: the others are
        // taken after `release_kept`, which lets go of the kept lock, and `KEPT_IN_USE` keeps
        // it from doing so while this one lives.
        let mut guard = unsafe { self.log.make_guard_unchecked() };
        if kept {
            // Another event loop waits for the lock: its write goes first (one load when none
            // waits), so a long batch does not hold up the other loops' writes.
            MutexGuard::bump(&mut guard);
            if !self.is_on() {
                // Switched off by the thread the lock went to: nothing more is logged (as
                // `order`), and the lock is let go.
                KEPT.set((a, false));
                KEPT_IN_USE.set(false);
                drop(guard);
                return None;
            }
        }
        Some(Logged {
            guard: ManuallyDrop::new(guard),
            kept: true,
        })
    }

    /// Lets go of the ordering lock this thread keeps for its batch, if it keeps it (not while
    /// a [`Logged`] over it is in use: taking the lock again would then wait, as it always did).
    #[inline]
    pub fn release_kept(&self) {
        let (a, kept) = KEPT.get();
        if kept && std::ptr::eq(a, self) && !KEPT_IN_USE.get() {
            KEPT.set((a, false));
            // SAFETY: this thread holds the lock (kept by `order_kept`), and no guard over it
            // is live.
            unsafe { self.log.force_unlock() };
        }
    }

    /// A scope in which this thread may keep the ordering lock between the write commands of
    /// the batch it runs (see [`KeepScope::allow`]).
    pub fn keep_scope(&self) -> KeepScope<'_> {
        KeepScope { aof: self }
    }
}
