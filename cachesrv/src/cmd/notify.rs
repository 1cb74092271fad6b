//! Keyspace notifications from command handlers: [`Ctx::notify`] publishes an event on a key
//! of the selected database, as Redis 7.0's `notifyKeyspaceEvent` call sites do.

pub(super) use crate::config::keyspace_events::{GENERIC, HASH, LIST, SET, STRING, ZSET};

use super::Ctx;

impl Ctx<'_> {
    /// Publishes `event` on `key` of the selected database if `class` is enabled.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.shared.notify(class, event, self.sess.db, key);
    }
}

impl Ctx<'_> {
    /// After `event` on a collection: publishes it, then `del` if the command emptied (and so
    /// deleted) the key, as Redis's list, set, hash and sorted-set commands do.
    pub fn notify_then_del(&self, class: u32, event: &str, key: &[u8]) {
        if self.shared.notify.flags() & (class | GENERIC) == 0 {
            return;
        }
        self.notify(class, event, key);
        if !self.key_exists(key) {
            self.notify(GENERIC, "del", key);
        }
    }
}

impl Ctx<'_> {
    /// Whether events of `class` are published (to skip work done only for them).
    #[inline]
    pub fn notifying(&self, class: u32) -> bool {
        self.shared.notify.flags() & class != 0
    }

    /// Whether `key` exists in the selected database (not counted as a hit or miss).
    pub fn key_exists(&self, key: &[u8]) -> bool {
        let access = crate::engine::Access::WRITE.no_touch();
        self.db().with_key(key, access, |k| k.exists())
    }

    /// The events of a command storing a result in `dst` (SINTERSTORE, ZUNIONSTORE, SORT
    /// STORE...): `event` when the result was stored, `del` when an empty result removed a
    /// key that `existed`.
    pub fn notify_store(&self, class: u32, event: &str, dst: &[u8], stored: bool, existed: bool) {
        if stored {
            self.notify(class, event, dst);
        } else if existed {
            self.notify(GENERIC, "del", dst);
        }
    }
}
