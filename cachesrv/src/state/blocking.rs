//! The registry of blocked clients (BLPOP, BRPOP, BLMOVE, BLMPOP, BRPOPLPUSH; later BZPOPMIN,
//! BZPOPMAX, BZMPOP), per `(db, key)`, in arrival order.
//!
//! A blocked client is a [`Waiter`], queued under every key it waits on. It is served by its
//! own connection, which runs its command again when woken; the registry only decides who may
//! take from a key and who is woken:
//!
//! - **FIFO per key and value type**: a waiter may take from a key only when no earlier waiter
//!   for the same [`BlockOn`] type is queued on it ([`Blocking::may_serve`]); a client that is
//!   not blocked may take only from a key nobody of its type waits on. So clients are served in
//!   arrival order, as Redis serves them, whichever thread runs them.
//! - **Wake-ups**: the first waiter of each type on a key (its head) asks the engine to be told
//!   of the key's next write ([`crate::engine::Engine::notify_on_write`]), then tries again
//!   before sleeping, so no write between its last try and the registration is missed. Every
//!   write path signals (pushes, pushes inside MULTI/EXEC, LMOVE, SORT STORE, RENAME, MOVE,
//!   COPY, SWAPDB...), whatever thread or connection runs it. A waiter that leaves a queue
//!   (served, timed out, unblocked, disconnected) wakes the new head, which tries in turn.
//! - Sorted-set blocking commands plug in with [`BlockOn::SortedSet`]: waiters of one type
//!   never hold up those of the other on the same key.
//!
//! Lock order: the registry's mutex is a leaf with respect to the engine (never held while an
//! engine lock is taken); waking takes only the event loop's inbox lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::Wake;
use crate::engine::KeySignal;

/// The value type a blocked client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOn {
    /// A list (BLPOP, BRPOP, BLMOVE, BLMPOP, BRPOPLPUSH).
    List,
    /// A sorted set (BZPOPMIN, BZPOPMAX, BZMPOP).
    SortedSet,
}

/// How `CLIENT UNBLOCK` ends a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// Not asked.
    No,
    /// As if the timeout fired (`CLIENT UNBLOCK id` or `... TIMEOUT`).
    Timeout,
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK` (`... ERROR`).
    Error,
}

/// What a blocking command that found nothing to take asks for (it wrote no reply).
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// The value type it waits for.
    pub on: BlockOn,
    /// The keys it waits on, in the command's order.
    pub keys: Vec<Bytes>,
    /// When to give up; `None`: never (timeout 0).
    pub deadline: Option<Instant>,
    /// On timeout, reply a null array (BLPOP, BRPOP, BLMPOP) rather than a null (BLMOVE,
    /// BRPOPLPUSH).
    pub null_array: bool,
}

/// A client blocked in a command: what it waits for and how to run the command again.
#[derive(Debug)]
pub struct Blocked {
    /// Its place in the registry.
    pub waiter: Arc<Waiter>,
    /// The command's arguments, to run it again when a key may be ready.
    pub argv: Vec<Bytes>,
    /// When it times out.
    pub deadline: Option<Instant>,
    /// The timeout reply is a null array.
    pub null_array: bool,
}

/// One blocked client, as the registry and the engine see it.
pub struct Waiter {
    /// `CLIENT ID` of the client.
    pub client: u64,
    /// The value type it waits for.
    pub on: BlockOn,
    /// The database of its keys.
    pub db: usize,
    /// Its keys, in the order of the command.
    pub keys: Vec<Bytes>,
    /// It has a timeout.
    pub timed: bool,
    waker: Arc<dyn Wake>,
    unblock: AtomicU8,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("client", &self.client)
            .field("db", &self.db)
            .field("keys", &self.keys)
            .finish()
    }
}

impl Waiter {
    /// What `CLIENT UNBLOCK` asked for, if anything.
    pub fn unblock_request(&self) -> Unblock {
        match self.unblock.load(Ordering::Acquire) {
            1 => Unblock::Timeout,
            2 => Unblock::Error,
            _ => Unblock::No,
        }
    }
}

impl KeySignal for Waiter {
    fn signal(&self) {
        self.waker.wake();
    }
}

type Queues = HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>;

/// Every blocked client, by key and by client id.
#[derive(Debug, Default)]
pub struct Blocking {
    queues: Mutex<Queues>,
    clients: Mutex<HashMap<u64, Arc<Waiter>>>,
    count: AtomicUsize,
    timed: AtomicUsize,
}

fn is_head(q: &VecDeque<Arc<Waiter>>, client: u64, on: BlockOn) -> bool {
    q.iter()
        .find(|w| w.on == on)
        .is_none_or(|w| w.client == client)
}

impl Blocking {
    /// Number of blocked clients (`INFO` `blocked_clients`).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of blocked clients with a timeout (`INFO` `clients_in_timeout_table`).
    pub fn timed(&self) -> usize {
        self.timed.load(Ordering::Relaxed)
    }

    /// Number of keys with blocked clients (`INFO` `total_blocking_keys`).
    pub fn keys(&self) -> usize {
        self.queues.lock().len()
    }

    /// True if `client` may take from `key` now: no earlier client waiting for `on` is queued
    /// on it. A client that is not blocked passes `None`.
    pub fn may_serve(&self, db: usize, key: &[u8], client: Option<u64>, on: BlockOn) -> bool {
        if self.count() == 0 {
            return true;
        }
        let q = self.queues.lock();
        // The map's key type is (usize, Bytes): look up without allocating when possible.
        match q.get(&(db, Bytes::copy_from_slice(key))) {
            None => true,
            Some(v) => match client {
                None => v.iter().all(|w| w.on != on),
                Some(c) => is_head(v, c, on),
            },
        }
    }

    /// Queues a client (`timed`: it has a timeout) on `keys` of `db` (each once, in order) and
    /// returns its waiter. The caller registers the waiter with the engine for the keys where
    /// it is first in line ([`Blocking::heads`]), then tries once more before sleeping.
    pub fn block(
        &self,
        client: u64,
        on: BlockOn,
        db: usize,
        keys: Vec<Bytes>,
        timed: bool,
        waker: Arc<dyn Wake>,
    ) -> Arc<Waiter> {
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        let w = Arc::new(Waiter {
            client,
            on,
            db,
            keys: unique,
            timed,
            waker,
            unblock: AtomicU8::new(0),
        });
        {
            let mut q = self.queues.lock();
            for k in &w.keys {
                q.entry((db, k.clone())).or_default().push_back(w.clone());
            }
        }
        self.clients.lock().insert(client, w.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        if timed {
            self.timed.fetch_add(1, Ordering::Relaxed);
        }
        w
    }

    /// The keys of `w` on which it is now the first waiter of its type.
    pub fn heads(&self, w: &Waiter) -> Vec<Bytes> {
        let q = self.queues.lock();
        w.keys
            .iter()
            .filter(|k| {
                q.get(&(w.db, (*k).clone()))
                    .is_some_and(|v| is_head(v, w.client, w.on))
            })
            .cloned()
            .collect()
    }

    /// Removes a waiter from every queue (it was served, timed out, was unblocked or
    /// disconnected) and wakes the waiters that became the head of a queue, so they try.
    pub fn leave(&self, w: &Arc<Waiter>) {
        let mut wake: Vec<Arc<Waiter>> = Vec::new();
        {
            let mut q = self.queues.lock();
            for k in &w.keys {
                let id = (w.db, k.clone());
                let Some(v) = q.get_mut(&id) else {
                    continue;
                };
                let was_head = is_head(v, w.client, w.on);
                v.retain(|x| !Arc::ptr_eq(x, w));
                if was_head {
                    if let Some(next) = v.iter().find(|x| x.on == w.on) {
                        if !wake.iter().any(|x| Arc::ptr_eq(x, next)) {
                            wake.push(next.clone());
                        }
                    }
                }
                if v.is_empty() {
                    q.remove(&id);
                }
            }
        }
        let mut c = self.clients.lock();
        if c.get(&w.client).is_some_and(|x| Arc::ptr_eq(x, w)) {
            c.remove(&w.client);
            self.count.fetch_sub(1, Ordering::Relaxed);
            if w.timed {
                self.timed.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(c);
        for n in wake {
            n.waker.wake();
        }
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: true if the client was blocked; it is woken and
    /// ends its wait as asked.
    pub fn unblock(&self, client: u64, how: Unblock) -> bool {
        let Some(w) = self.clients.lock().get(&client).cloned() else {
            return false;
        };
        let code = match how {
            Unblock::Error => 2,
            _ => 1,
        };
        w.unblock.store(code, Ordering::Release);
        w.waker.wake();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Debug, Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn keys(k: &[&str]) -> Vec<Bytes> {
        k.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn first_come_first_served_per_key_and_type() {
        let b = Blocking::default();
        let (w1, w2) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let a = b.block(1, BlockOn::List, 0, keys(&["k", "k"]), true, w1.clone());
        let c = b.block(2, BlockOn::List, 0, keys(&["j", "k"]), false, w2.clone());
        let z = b.block(3, BlockOn::SortedSet, 0, keys(&["k"]), false, w2.clone());
        assert_eq!((b.count(), b.timed()), (3, 1));
        assert_eq!(a.keys.len(), 1);
        assert!(b.may_serve(0, b"k", Some(1), BlockOn::List));
        assert!(!b.may_serve(0, b"k", Some(2), BlockOn::List));
        assert!(b.may_serve(0, b"j", Some(2), BlockOn::List));
        assert!(b.may_serve(0, b"k", Some(3), BlockOn::SortedSet));
        assert!(!b.may_serve(0, b"k", None, BlockOn::List));
        assert!(b.may_serve(1, b"k", None, BlockOn::List));
        assert_eq!(b.heads(&c), keys(&["j"]));
        b.leave(&a);
        assert_eq!(b.timed(), 0);
        // The next list waiter on k is woken; the sorted-set one is not.
        assert_eq!(w2.0.load(Ordering::Relaxed), 1);
        assert_eq!(b.heads(&c), keys(&["j", "k"]));
        assert!(b.unblock(2, Unblock::Error));
        assert_eq!(c.unblock_request(), Unblock::Error);
        assert!(!b.unblock(9, Unblock::Timeout));
        b.leave(&c);
        b.leave(&z);
        assert_eq!((b.count(), b.keys()), (0, 0));
        assert!(!b.unblock(2, Unblock::Timeout));
    }
}
