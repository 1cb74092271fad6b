//! Keyspace notifications (`notify-keyspace-events`): messages on `__keyspace@<db>__:<key>`
//! (the event as payload) and `__keyevent@<db>__:<event>` (the key as payload), published
//! through the pub/sub registry as Redis 7.0 publishes them.
//!
//! Commands report their events with [`Shared::notify`]; keys created, expired, evicted or
//! missed are reported by the engine through [`EngineEvents`]. With notifications off, a
//! report costs one relaxed load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Weak;

use bytes::Bytes;

use super::Shared;
use crate::config::keyspace_events as kev;
use crate::engine::{KeyEvent, KeyEvents};

/// The classes to publish (0 unless `K` or `E` is set as well).
#[derive(Debug, Default)]
pub struct Notify {
    flags: AtomicU32,
    requested: AtomicU32,
}

impl Notify {
    /// Applies `notify-keyspace-events` flags; returns the engine events they need.
    pub fn configure(&self, flags: u32) -> u32 {
        self.requested.store(flags, Ordering::Relaxed);
        let flags = if flags & (kev::KEYSPACE | kev::KEYEVENT) == 0 {
            0
        } else {
            flags
        };
        self.flags.store(flags, Ordering::Relaxed);
        let mut mask = 0;
        for (class, ev) in [
            (kev::NEW, KeyEvent::New),
            (kev::EXPIRED, KeyEvent::Expired),
            (kev::EVICTED, KeyEvent::Evicted),
            (kev::KEY_MISS, KeyEvent::Miss),
        ] {
            if flags & class != 0 {
                mask |= ev as u32;
            }
        }
        mask
    }

    /// The flags as configured.
    fn requested(&self) -> u32 {
        self.requested.load(Ordering::Relaxed)
    }

    /// The classes in effect.
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// Tells the engine which key events to report: those notifications need, and writes,
    /// expiries and evictions while a client tracks keys.
    pub fn refresh_key_events(&self) {
        let mut mask = self.notify.configure(self.notify.requested());
        if self.tracking.active() {
            mask |= KeyEvent::Modified as u32 | KeyEvent::Expired as u32 | KeyEvent::Evicted as u32;
        }
        self.engine.want_key_events(mask);
    }
}

impl Shared {
    /// Publishes `event` on `key` of database `db` if its `class` is enabled.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, db: usize, key: &[u8]) {
        let flags = self.notify.flags();
        if flags & class != 0 {
            self.publish_event(flags, event, db, key);
        }
    }

    #[cold]
    fn publish_event(&self, flags: u32, event: &str, db: usize, key: &[u8]) {
        if flags & kev::KEYSPACE != 0 {
            let mut ch = Vec::with_capacity(24 + key.len());
            ch.extend_from_slice(format!("__keyspace@{db}__:").as_bytes());
            ch.extend_from_slice(key);
            self.pubsub
                .publish(&Bytes::from(ch), &Bytes::copy_from_slice(event.as_bytes()));
        }
        if flags & kev::KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}");
            self.pubsub
                .publish(&Bytes::from(ch), &Bytes::copy_from_slice(key));
        }
    }
}

/// The engine's listener: publishes `new`, `expired`, `evicted` and `keymiss`, and
/// invalidates tracked keys that were written, expired or evicted.
pub struct EngineEvents(pub Weak<Shared>);

impl KeyEvents for EngineEvents {
    fn key_event(&self, event: KeyEvent, db: usize, key: &[u8]) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let (class, name) = match event {
            KeyEvent::New => (kev::NEW, "new"),
            KeyEvent::Expired => (kev::EXPIRED, "expired"),
            KeyEvent::Evicted => (kev::EVICTED, "evicted"),
            KeyEvent::Miss => (kev::KEY_MISS, "keymiss"),
            KeyEvent::Modified => (0, ""),
        };
        if class != 0 {
            shared.notify(class, name, db, key);
        }
        if event != KeyEvent::New && event != KeyEvent::Miss && shared.tracking.active() {
            shared
                .tracking
                .invalidate(&shared.clients, key, super::tracking::writer());
        }
    }
}
