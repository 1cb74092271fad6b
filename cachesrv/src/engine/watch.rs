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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

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
    map: HashMap<Box<[u8]>, Vec<Weak<AtomicBool>>>,
    sweep_at: usize,
}

impl Watched {
    /// Registers `flag` under `key`.
    pub(crate) fn add(&mut self, key: &[u8], flag: &Arc<AtomicBool>) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, v| {
                v.retain(|w| w.strong_count() > 0);
                !v.is_empty()
            });
            self.sweep_at = (self.map.len() * 2).max(64);
        }
        match self.map.get_mut(key) {
            Some(v) => {
                v.retain(|w| w.strong_count() > 0);
                v.push(Arc::downgrade(flag));
            }
            None => {
                self.map.insert(Box::from(key), vec![Arc::downgrade(flag)]);
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

fn fire(v: Vec<Weak<AtomicBool>>) {
    for w in v {
        if let Some(f) = w.upgrade() {
            f.store(true, Ordering::Release);
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
