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
