//! Limits on clients' memory: `client-output-buffer-limit` (a client whose pending output
//! passes the hard limit, or the soft one for longer than its seconds, is closed) and
//! `maxmemory-clients` (past it, the clients using the most memory are evicted, except those
//! with `CLIENT NO-EVICT on`), with the INFO figures they move.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Clients;
use crate::config::obuf::{Limit, Limits};

/// The limits in force and the figures for INFO.
#[derive(Debug, Default)]
pub struct ClientLimits {
    /// hard, soft, seconds of the normal class.
    normal: [AtomicU64; 3],
    /// hard, soft, seconds of the pubsub class.
    pubsub: [AtomicU64; 3],
    /// `maxmemory-clients` in bytes (0: none).
    max_memory: AtomicU64,
    /// Memory of every connection's buffers.
    total: AtomicU64,
    /// `evicted_clients`.
    pub evicted: AtomicU64,
    /// Largest pending output seen since the last INFO sample window.
    recent_max_output: AtomicU64,
    /// The previous window's maximum (INFO shows the larger of both).
    last_max_output: AtomicU64,
    evicting: Mutex<()>,
}

impl ClientLimits {
    /// Applies the configuration.
    pub fn configure(&self, limits: Limits, max_memory: u64) {
        for (to, from) in [(&self.normal, limits.normal), (&self.pubsub, limits.pubsub)] {
            to[0].store(from.hard, Ordering::Relaxed);
            to[1].store(from.soft, Ordering::Relaxed);
            to[2].store(from.soft_secs, Ordering::Relaxed);
        }
        self.max_memory.store(max_memory, Ordering::Relaxed);
    }

    /// The output limit of a client (`pubsub`: it is subscribed); `None` when it has none.
    #[inline]
    pub fn output_limit(&self, pubsub: bool) -> Option<Limit> {
        let l = if pubsub { &self.pubsub } else { &self.normal };
        let hard = l[0].load(Ordering::Relaxed);
        let soft = l[1].load(Ordering::Relaxed);
        if hard == 0 && soft == 0 {
            return None;
        }
        Some(Limit {
            hard,
            soft,
            soft_secs: l[2].load(Ordering::Relaxed),
        })
    }

    /// Notes a client's pending output (for `client_recent_max_output_buffer`).
    #[inline]
    pub fn note_output(&self, bytes: usize) {
        // Read first: the event loops would otherwise contend on this line every turn.
        if bytes as u64 > self.recent_max_output.load(Ordering::Relaxed) {
            self.recent_max_output
                .fetch_max(bytes as u64, Ordering::Relaxed);
        }
    }

    /// `client_recent_max_output_buffer`: the largest pending output of the last few seconds.
    pub fn recent_max_output(&self) -> u64 {
        self.recent_max_output
            .load(Ordering::Relaxed)
            .max(self.last_max_output.load(Ordering::Relaxed))
    }

    /// Starts a new window for `client_recent_max_output_buffer` (the server's periodic task).
    pub fn roll_window(&self) {
        let cur = self.recent_max_output.swap(0, Ordering::Relaxed);
        self.last_max_output.store(cur, Ordering::Relaxed);
    }

    /// A connection's memory changed from `old` to `new` bytes; true when the total is now
    /// over `maxmemory-clients`.
    #[inline]
    pub fn update_memory(&self, old: usize, new: usize) -> bool {
        let total = if new >= old {
            self.total.fetch_add((new - old) as u64, Ordering::Relaxed) + (new - old) as u64
        } else {
            self.total.fetch_sub((old - new) as u64, Ordering::Relaxed) - (old - new) as u64
        };
        let max = self.max_memory.load(Ordering::Relaxed);
        max > 0 && total > max
    }

    /// Memory of every connection's buffers.
    pub fn total_memory(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Evicts the clients using the most memory (not NO-EVICT ones) until the total is under
    /// `maxmemory-clients`; logs each as Redis does.
    pub fn evict(&self, clients: &Clients, line: impl Fn(&super::ClientInfo) -> String) {
        let Some(_g) = self.evicting.try_lock() else {
            return;
        };
        let max = self.max_memory.load(Ordering::Relaxed);
        let mut all = clients.all();
        all.retain(|c| !c.no_evict.load(Ordering::Relaxed) && !c.killed.load(Ordering::Relaxed));
        all.sort_by_key(|c| std::cmp::Reverse(c.mem.load(Ordering::Relaxed)));
        let mut total = self.total.load(Ordering::Relaxed);
        for c in all {
            if max == 0 || total <= max {
                break;
            }
            let m = c.mem.load(Ordering::Relaxed) as u64;
            crate::log::log(
                crate::log::Level::Notice,
                &format!("Evicting client: {}", line(&c)),
            );
            c.kill();
            self.evicted.fetch_add(1, Ordering::Relaxed);
            total = total.saturating_sub(m);
        }
    }
}
