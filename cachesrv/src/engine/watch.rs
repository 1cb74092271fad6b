//! WATCH support: per-key modification signals.
//!
//! `WATCH key` creates a [`WatchToken`] holding a shared dirty flag and registers a weak
//! reference to it in the key's shard, under the key. Every write to a key of that shard checks,
//! under the shard lock, whether the shard has watchers (one `is_empty` test when nobody watches)
//! and if the key is watched sets the flags and forgets them. Deletion by lazy or active expiry,
//! eviction, FLUSHDB/FLUSHALL and SWAPDB signal too (the last two signal every watched key of the
//! affected shards: rare false positives, never a miss). A watched key that was live at WATCH time
//! and is logically expired at EXEC time counts as modified, as in Redis 7, even if nobody has
//! deleted it yet. Dropping a token is UNWATCH; dead registrations are swept lazily.
//!
//! The same registrations carry [`KeySignal`]s: one-shot "this key was written" notices that
//! blocked clients (BLPOP and friends) use to learn that a key they wait on may be ready.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// Told when a key it was registered on with [`crate::engine::Engine::notify_on_write`] is
/// written (or deleted, expired, evicted, flushed, swapped). Called under the key's shard lock:
/// it must be quick, must not block and must not call the engine.
pub trait KeySignal: Send + Sync {
    /// The key was written.
    fn signal(&self);
}

/// One registration under a key: a WATCH flag or a [`KeySignal`].
#[derive(Debug)]
enum Watcher {
    Flag(Weak<AtomicBool>),
    Signal(Weak<dyn KeySignal>),
}

impl std::fmt::Debug for dyn KeySignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySignal")
    }
}

impl Watcher {
    fn live(&self) -> bool {
        match self {
            Watcher::Flag(w) => w.strong_count() > 0,
            Watcher::Signal(w) => w.strong_count() > 0,
        }
    }
}

/// The result of `WATCH` on one key; see [`crate::engine::Engine::is_dirty`].
#[derive(Debug)]
pub struct WatchToken {
    pub(crate) flag: Arc<AtomicBool>,
    pub(crate) db: usize,
    pub(crate) key: Box<[u8]>,
    pub(crate) expire_at: Option<u64>,
}

impl WatchToken {
    /// The watched database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// The watched key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// True once a write to the key has been signalled (expiry not included; see
    /// [`crate::engine::Engine::is_dirty`]).
    pub fn signalled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// A shard's watched keys.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    map: HashMap<Box<[u8]>, Vec<Watcher>>,
    sweep_at: usize,
}

impl Watched {
    /// Registers `flag` under `key`.
    pub(crate) fn add(&mut self, key: &[u8], flag: &Arc<AtomicBool>) {
        self.insert(key, Watcher::Flag(Arc::downgrade(flag)));
    }

    /// Registers `signal` under `key`, to be told once of its next write.
    pub(crate) fn add_signal(&mut self, key: &[u8], signal: Weak<dyn KeySignal>) {
        self.insert(key, Watcher::Signal(signal));
    }

    fn insert(&mut self, key: &[u8], w: Watcher) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, v| {
                v.retain(Watcher::live);
                !v.is_empty()
            });
            self.sweep_at = (self.map.len() * 2).max(64);
        }
        match self.map.get_mut(key) {
            Some(v) => {
                v.retain(Watcher::live);
                // A signal registered again before it fired is registered once.
                let dup = match &w {
                    Watcher::Signal(s) => v
                        .iter()
                        .any(|x| matches!(x, Watcher::Signal(y) if Weak::ptr_eq(s, y))),
                    Watcher::Flag(_) => false,
                };
                if !dup {
                    v.push(w);
                }
            }
            None => {
                self.map.insert(Box::from(key), vec![w]);
            }
        }
    }

    /// Marks the watchers of `key` dirty.
    #[inline]
    pub(crate) fn signal(&mut self, key: &[u8]) {
        if self.map.is_empty() {
            return;
        }
        if let Some(v) = self.map.remove(key) {
            fire(v);
        }
    }

    /// Marks every watcher of the shard dirty.
    pub(crate) fn signal_all(&mut self) {
        for (_, v) in self.map.drain() {
            fire(v);
        }
    }

    /// Number of watched keys (live or not yet swept).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

fn fire(v: Vec<Watcher>) {
    for w in v {
        match w {
            Watcher::Flag(w) => {
                if let Some(f) = w.upgrade() {
                    f.store(true, Ordering::Release);
                }
            }
            Watcher::Signal(w) => {
                if let Some(s) = w.upgrade() {
                    s.signal();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_marks_only_that_key() {
        let mut w = Watched::default();
        let a = Arc::new(AtomicBool::new(false));
        let b = Arc::new(AtomicBool::new(false));
        w.add(b"a", &a);
        w.add(b"b", &b);
        w.signal(b"a");
        assert!(a.load(Ordering::Acquire));
        assert!(!b.load(Ordering::Acquire));
        w.signal_all();
        assert!(b.load(Ordering::Acquire));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn dead_registrations_are_swept() {
        let mut w = Watched::default();
        for i in 0..1000 {
            let f = Arc::new(AtomicBool::new(false));
            w.add(format!("k{i}").as_bytes(), &f);
        }
        assert!(w.len() <= 200, "{}", w.len());
    }
}
