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
        let access = crate::engine::Access::WRITE.no_touch();
        if !self.db().with_key(key, access, |k| k.exists()) {
            self.notify(GENERIC, "del", key);
        }
    }
}
