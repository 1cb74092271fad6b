//! Pub/sub channels and patterns, shared by every connection.
//!
//! A subscriber registers a [`Mailbox`]: an unbounded queue of messages plus a byte counter,
//! and the [`Wake`] that tells its owner something arrived (no runtime involved).
//! Publishing never blocks on a slow subscriber; its connection closes it once its pending
//! output passes `client-output-buffer-limit` (see [`super::climits`]); whatever the limits, a
//! mailbox refuses deliveries past [`MAILBOX_LIMIT`] bytes and has its connection closed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use protocol::{Protocol, RespWrite};

use super::Wake;
use crate::engine::glob::glob_match;

/// Queued bytes after which a mailbox refuses deliveries and its connection is closed, even
/// with no output buffer limit configured.
pub const MAILBOX_LIMIT: usize = 1 << 30;

/// Something delivered to a connection from outside its own commands.
#[derive(Debug, Clone)]
pub enum Push {
    /// A published message; `pattern` is set for pattern subscriptions.
    Message {
        /// The pattern that matched.
        pattern: Option<Bytes>,
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
    /// A message published with SPUBLISH to a shard channel (`smessage`).
    Shard {
        /// The channel.
        channel: Bytes,
        /// The payload.
        payload: Bytes,
    },
    /// A `MONITOR` line (without `+` and CRLF).
    Monitor(Bytes),
    /// A message encoded already (client-side caching invalidations).
    Raw(Bytes),
}

impl Push {
    /// The bytes this push counts for against the mailbox limit.
    pub fn size(&self) -> usize {
        match self {
            Push::Message {
                pattern,
                channel,
                payload,
            } => pattern.as_ref().map_or(0, Bytes::len) + channel.len() + payload.len() + 32,
            Push::Shard { channel, payload } => channel.len() + payload.len() + 32,
            Push::Monitor(b) => b.len() + 8,
            Push::Raw(b) => b.len(),
        }
    }

    /// Encodes the push as the client's protocol wants it; returns its accounted size.
    pub fn write(&self, out: &mut BytesMut, proto: Protocol) -> usize {
        match self {
            Push::Message {
                pattern,
                channel,
                payload,
            } => {
                match pattern {
                    Some(pat) => {
                        out.write_push_len(4, proto);
                        out.write_bulk(b"pmessage");
                        out.write_bulk(pat);
                    }
                    None => {
                        out.write_push_len(3, proto);
                        out.write_bulk(b"message");
                    }
                }
                out.write_bulk(channel);
                out.write_bulk(payload);
            }
            Push::Shard { channel, payload } => {
                out.write_push_len(3, proto);
                out.write_bulk(b"smessage");
                out.write_bulk(channel);
                out.write_bulk(payload);
            }
            Push::Monitor(line) => out.write_simple(line),
            Push::Raw(b) => out.extend_from_slice(b),
        }
        self.size()
    }
}

/// The queue behind a mailbox.
#[derive(Debug, Default)]
struct Queue {
    pushes: Mutex<VecDeque<Push>>,
    /// The receiving end is gone: deliveries fail.
    closed: AtomicBool,
}

/// A mailbox's receiving end, owned by its connection. Dropping it closes the mailbox.
#[derive(Debug)]
pub struct Pushes {
    queue: Arc<Queue>,
}

impl Pushes {
    /// The oldest push waiting, if any.
    pub fn try_recv(&self) -> Option<Push> {
        self.queue.pushes.lock().pop_front()
    }
}

impl Drop for Pushes {
    fn drop(&mut self) {
        let mut q = self.queue.pushes.lock();
        self.queue.closed.store(true, Ordering::Release);
        q.clear();
    }
}

/// A connection's inbox for pushes.
#[derive(Debug, Clone)]
pub struct Mailbox {
    queue: Arc<Queue>,
    queued: Arc<AtomicUsize>,
    waker: Arc<dyn Wake>,
}

impl Mailbox {
    /// A mailbox, its receiving end, and its byte counter (decrement it as pushes are written).
    /// `waker` is woken after each delivery.
    pub fn new(waker: Arc<dyn Wake>) -> (Mailbox, Pushes, Arc<AtomicUsize>) {
        let queue = Arc::new(Queue::default());
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Mailbox {
                queue: queue.clone(),
                queued: queued.clone(),
                waker,
            },
            Pushes { queue },
            queued,
        )
    }

    /// Delivers a push; false if the connection is gone or was disconnected for being too slow.
    pub fn deliver(&self, p: Push) -> bool {
        let n = p.size();
        if self.queued.fetch_add(n, Ordering::AcqRel) + n > MAILBOX_LIMIT {
            // Its loop closes a connection whose mailbox is over the limit.
            self.waker.wake();
            return false;
        }
        let sent = {
            let mut q = self.queue.pushes.lock();
            let open = !self.queue.closed.load(Ordering::Acquire);
            if open {
                q.push_back(p);
            }
            open
        };
        if sent {
            self.waker.wake();
        }
        sent
    }
}

/// The registry of channel and pattern subscriptions.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, HashMap<u64, Mailbox>>>,
    patterns: RwLock<Vec<(Bytes, u64, Mailbox)>>,
}

impl PubSub {
    /// Subscribes client `id` to `channel`; false if it already was.
    pub fn subscribe(&self, channel: &Bytes, id: u64, mb: &Mailbox) -> bool {
        self.channels
            .write()
            .entry(channel.clone())
            .or_default()
            .insert(id, mb.clone())
            .is_none()
    }

    /// Unsubscribes client `id` from `channel`; false if it was not subscribed.
    pub fn unsubscribe(&self, channel: &[u8], id: u64) -> bool {
        let mut map = self.channels.write();
        let Some(subs) = map.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            map.remove(channel);
        }
        removed
    }

    /// Subscribes client `id` to `pattern`; false if it already was.
    pub fn psubscribe(&self, pattern: &Bytes, id: u64, mb: &Mailbox) -> bool {
        let mut v = self.patterns.write();
        if v.iter().any(|(p, i, _)| *i == id && p == pattern) {
            return false;
        }
        v.push((pattern.clone(), id, mb.clone()));
        true
    }

    /// Unsubscribes client `id` from `pattern`.
    pub fn punsubscribe(&self, pattern: &[u8], id: u64) -> bool {
        let mut v = self.patterns.write();
        let before = v.len();
        v.retain(|(p, i, _)| !(*i == id && &p[..] == pattern));
        v.len() != before
    }

    /// Publishes; returns the number of deliveries (channel subscribers plus matching patterns).
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for mb in subs.values() {
                let p = Push::Message {
                    pattern: None,
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                if mb.deliver(p) {
                    n += 1;
                }
            }
        }
        for (pat, _, mb) in self.patterns.read().iter() {
            if glob_match(pat, channel, false) {
                let p = Push::Message {
                    pattern: Some(pat.clone()),
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                if mb.deliver(p) {
                    n += 1;
                }
            }
        }
        n
    }

    /// SPUBLISH to the subscribers of a shard channel (this registry holds shard channels
    /// only); returns the number of deliveries.
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for mb in subs.values() {
                let p = Push::Shard {
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                if mb.deliver(p) {
                    n += 1;
                }
            }
        }
        n
    }

    /// `PUBSUB CHANNELS [pattern]`.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// `PUBSUB NUMSUB channel`.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.read().get(channel).map_or(0, HashMap::len)
    }

    /// `PUBSUB NUMPAT`: the number of distinct patterns subscribed.
    pub fn numpat(&self) -> usize {
        let v = self.patterns.read();
        let mut pats: Vec<&Bytes> = v.iter().map(|(p, _, _)| p).collect();
        pats.sort();
        pats.dedup();
        pats.len()
    }

    /// Number of channels with subscribers and of pattern subscriptions (for INFO stats).
    pub fn counts(&self) -> (usize, usize) {
        (self.channels.read().len(), self.numpat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its wake-ups.
    #[derive(Debug, Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn msg(payload: &'static str) -> Push {
        Push::Monitor(Bytes::from_static(payload.as_bytes()))
    }

    #[test]
    fn a_mailbox_queues_in_order_and_wakes_its_owner() {
        let waker = Arc::new(Count::default());
        let (mb, pushes, queued) = Mailbox::new(waker.clone());
        assert!(mb.deliver(msg("a")));
        assert!(mb.clone().deliver(msg("b")));
        assert_eq!(waker.0.load(Ordering::Relaxed), 2);
        assert_eq!(queued.load(Ordering::Relaxed), 2 * (1 + 8));
        let mut out = BytesMut::new();
        while let Some(p) = pushes.try_recv() {
            p.write(&mut out, Protocol::Resp2);
        }
        assert_eq!(&out[..], b"+a\r\n+b\r\n");
    }

    #[test]
    fn a_mailbox_without_its_receiver_refuses_deliveries() {
        let waker = Arc::new(Count::default());
        let (mb, pushes, _) = Mailbox::new(waker.clone());
        assert!(mb.deliver(msg("a")));
        drop(pushes);
        assert!(!mb.deliver(msg("b")));
        assert_eq!(waker.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_mailbox_over_the_limit_refuses_and_wakes_to_be_closed() {
        let waker = Arc::new(Count::default());
        let (mb, _pushes, queued) = Mailbox::new(waker.clone());
        queued.store(MAILBOX_LIMIT, Ordering::Relaxed);
        assert!(!mb.deliver(msg("a")));
        assert_eq!(waker.0.load(Ordering::Relaxed), 1);
    }
}
