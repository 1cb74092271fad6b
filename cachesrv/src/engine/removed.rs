//! Keys the engine removes on its own: expired (lazily on access, or by the active expire
//! cycle) and evicted under `maxmemory`. The state layer registers a [`RemovalSink`] to hear
//! of them (the append-only file logs them as `DEL`, as Redis propagates them).
//!
//! The sink is called with the key's shard locked, just before the key goes, so whoever
//! locks that shard next sees the removal recorded: a sink must only record (a leaf lock at
//! most), never call the engine.

use std::sync::Arc;

use super::Engine;

/// Why the engine removed a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its expiry passed.
    Expired,
    /// Evicted to stay under `maxmemory`.
    Evicted,
}

/// Hears of the keys the engine removes on its own (see the module header).
pub trait RemovalSink: Send + Sync {
    /// `key` of database `db` is being removed, for `why`.
    fn removed(&self, db: usize, key: &[u8], why: Removal);
}

impl Engine {
    /// Registers the sink told of every key the engine expires or evicts from now on (once:
    /// a second registration is ignored).
    pub fn set_removal_sink(&self, sink: Arc<dyn RemovalSink>) {
        let _ = self.removal_sink.set(sink);
    }

    /// Tells the sink, if any, that `key` of `db` is being removed.
    #[inline]
    pub(crate) fn report_removal(&self, db: usize, key: &[u8], why: Removal) {
        if let Some(s) = self.removal_sink.get() {
            s.removed(db, key, why);
        }
    }
}
