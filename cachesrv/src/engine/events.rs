//! Key events the engine reports to the layer above: keys created, expired (lazily or by the
//! active cycle), evicted, and missed by reads. The command layer turns them into keyspace notifications.
//!
//! A listener is called with the key's shard locked, so it must not call the engine; it is
//! only called for the events its mask asks for (one relaxed load per event otherwise).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// The key was created (Redis's `new` event).
    New = 1,
    /// The key's TTL passed and it was deleted.
    Expired = 2,
    /// The key was deleted to honour `maxmemory`.
    Evicted = 4,
    /// A read found no key (Redis's `keymiss` event).
    Miss = 8,
    /// The key was written or deleted by a command.
    Modified = 16,
}

/// Receives [`KeyEvent`]s (see the module header for the locking rule).
pub trait KeyEvents: Send + Sync {
    /// `event` happened to `key` in database `db`.
    fn key_event(&self, event: KeyEvent, db: usize, key: &[u8]);
}

/// The engine's listener and the events it wants.
#[derive(Default)]
pub(crate) struct Events {
    mask: AtomicU32,
    listener: OnceLock<Arc<dyn KeyEvents>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("mask", &self.mask.load(Ordering::Relaxed))
            .finish()
    }
}

impl Events {
    /// Reports `event` if it is wanted.
    #[inline(always)]
    pub(crate) fn emit(&self, event: KeyEvent, db: usize, key: &[u8]) {
        if self.mask.load(Ordering::Relaxed) & event as u32 != 0 {
            self.emit_slow(event, db, key);
        }
    }

    #[cold]
    #[inline(never)]
    fn emit_slow(&self, event: KeyEvent, db: usize, key: &[u8]) {
        if let Some(l) = self.listener.get() {
            l.key_event(event, db, key);
        }
    }
}

impl super::Engine {
    /// Sets the listener of key events (once; later calls are ignored).
    pub fn set_key_events(&self, listener: Arc<dyn KeyEvents>) {
        let _ = self.events.listener.set(listener);
    }

    /// Which events the listener is told of: a mask of [`KeyEvent`] values (0: none).
    pub fn want_key_events(&self, mask: u32) {
        self.events.mask.store(mask, Ordering::Relaxed);
    }
}
