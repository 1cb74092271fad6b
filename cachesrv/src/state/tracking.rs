//! Client-side caching (`CLIENT TRACKING`), as Redis 7.0 does it.
//!
//! Default mode: the keys a tracking client reads are remembered in a table (key name ->
//! client ids; at most `tracking-table-max-keys` keys, the oldest arbitrary ones dropped with
//! an invalidation); a write, expiry or eviction of a remembered key sends those clients one
//! invalidation and forgets the key. BCAST mode: every write of a key under one of the
//! client's prefixes sends it an invalidation. `FLUSHDB`/`FLUSHALL` send every tracking client
//! the null invalidation.
//!
//! Messages go to the client itself as a RESP3 push (`>2 invalidate [keys]`), or to its
//! REDIRECT client: as that push if it speaks RESP3, as a `__redis__:invalidate` pub/sub
//! message if it speaks RESP2 and is subscribed, else nowhere. A redirect client that is gone
//! marks the redirect broken (and a RESP3 tracking client gets `tracking-redir-broken`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use protocol::RespWrite;

use super::{ClientInfo, Clients, Push};

thread_local! {
    static WRITER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Sets the client whose command runs on this thread (for NOLOOP; 0: none).
pub fn set_writer(id: u64) {
    WRITER.with(|w| w.set(id));
}

/// The client whose command runs on this thread (0: none).
pub fn writer() -> u64 {
    WRITER.with(|w| w.get())
}

/// A tracking client's options (`CLIENT TRACKING ON ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackOpts {
    /// REDIRECT client id (0: none).
    pub redirect: u64,
    /// BCAST.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
    /// BCAST prefixes (sorted, as TRACKINGINFO lists them).
    pub prefixes: std::collections::BTreeSet<Bytes>,
}

struct Tracker {
    info: Arc<ClientInfo>,
    redirect: u64,
    bcast: bool,
    noloop: bool,
    broken: bool,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracker>,
    /// Default mode: key -> ids of the clients that read it.
    table: HashMap<Bytes, HashSet<u64>>,
    /// Items in `table` (key, client) pairs.
    items: usize,
    /// BCAST: prefix -> ids.
    prefixes: BTreeMap<Bytes, HashSet<u64>>,
}

/// The tracking state of the server.
#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    active: AtomicUsize,
    max_keys: AtomicUsize,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("clients", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

/// `INFO` figures: tracking clients, keys, items, prefixes.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackingInfo {
    /// `tracking_clients`.
    pub clients: usize,
    /// `tracking_total_keys`.
    pub keys: usize,
    /// `tracking_total_items`.
    pub items: usize,
    /// `tracking_total_prefixes`.
    pub prefixes: usize,
}

impl Tracking {
    /// Any client tracking (one relaxed load).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// `tracking-table-max-keys` (0: no limit).
    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    /// Turns tracking on for a client (or changes its options: prefixes add up).
    pub fn enable(&self, info: &Arc<ClientInfo>, opts: &TrackOpts) {
        let mut g = self.inner.lock();
        let id = info.id;
        if opts.bcast {
            let all = [Bytes::new()];
            let prefixes: Vec<&Bytes> = if opts.prefixes.is_empty() {
                all.iter().collect()
            } else {
                opts.prefixes.iter().collect()
            };
            for p in prefixes {
                g.prefixes.entry(p.clone()).or_default().insert(id);
            }
        }
        let bits = super::clients::TRACKING
            | if opts.bcast {
                super::clients::TRACKING_BCAST
            } else {
                0
            };
        info.tracking.store(bits, Ordering::Relaxed);
        info.redir.store(opts.redirect as i64, Ordering::Relaxed);
        let t = Tracker {
            info: info.clone(),
            redirect: opts.redirect,
            bcast: opts.bcast,
            noloop: opts.noloop,
            broken: false,
        };
        if g.clients.insert(id, t).is_none() {
            self.active.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Turns tracking off for a client (keys it read stay in the table until written).
    pub fn disable(&self, id: u64) {
        let mut g = self.inner.lock();
        if let Some(t) = g.clients.remove(&id) {
            self.active.fetch_sub(1, Ordering::Relaxed);
            t.info.tracking.store(0, Ordering::Relaxed);
            t.info.redir.store(-1, Ordering::Relaxed);
        }
        g.prefixes.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
    }

    /// Whether the client's redirect was found broken.
    pub fn broken_redirect(&self, id: u64) -> bool {
        self.inner.lock().clients.get(&id).is_some_and(|t| t.broken)
    }

    /// Remembers that client `id` read `keys` (default mode).
    pub fn remember<'k>(&self, clients: &Clients, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut g = self.inner.lock();
        for k in keys {
            let ids = match g.table.get_mut(k) {
                Some(ids) => ids,
                None => g.table.entry(Bytes::copy_from_slice(k)).or_default(),
            };
            if ids.insert(id) {
                g.items += 1;
            }
        }
        let max = self.max_keys.load(Ordering::Relaxed);
        while max > 0 && g.table.len() > max {
            let Some(key) = g.table.keys().next().cloned() else {
                break;
            };
            invalidate_key(&mut g, clients, &key, 0);
        }
    }

    /// `key` was written, expired or evicted; `writer` is the client that wrote it (0: none).
    pub fn invalidate(&self, clients: &Clients, key: &[u8], writer: u64) {
        let mut g = self.inner.lock();
        let g = &mut *g;
        if !g.prefixes.is_empty() {
            let mut to: Vec<u64> = Vec::new();
            for (p, ids) in &g.prefixes {
                if key.starts_with(p) {
                    to.extend(ids.iter().copied());
                }
            }
            for id in to {
                if let Some(t) = g.clients.get_mut(&id) {
                    if !(t.noloop && id == writer) {
                        send(t, clients, Some(&[key]));
                    }
                }
            }
        }
        invalidate_key(g, clients, key, writer);
    }

    /// FLUSHDB / FLUSHALL: the null invalidation to every tracking client; FLUSHALL (`all`)
    /// also empties the table.
    pub fn flush(&self, clients: &Clients, all: bool) {
        let mut g = self.inner.lock();
        for t in g.clients.values_mut() {
            send(t, clients, None);
        }
        if all {
            g.table.clear();
            g.items = 0;
        }
    }

    /// Figures for `INFO`.
    pub fn info(&self) -> TrackingInfo {
        let g = self.inner.lock();
        TrackingInfo {
            clients: g.clients.len(),
            keys: g.table.len(),
            items: g.items,
            prefixes: g.prefixes.len(),
        }
    }
}

/// Sends the clients that read `key` an invalidation, and forgets it.
fn invalidate_key(g: &mut Inner, clients: &Clients, key: &[u8], writer: u64) {
    let Some(ids) = g.table.remove(key) else {
        return;
    };
    g.items -= ids.len();
    for id in ids {
        let Some(t) = g.clients.get_mut(&id) else {
            continue;
        };
        if t.bcast || (t.noloop && id == writer) {
            continue;
        }
        send(t, clients, Some(&[key]));
    }
}

/// Sends one invalidation (`None`: the null one of FLUSHDB/FLUSHALL) for tracker `t`.
fn send(t: &mut Tracker, clients: &Clients, keys: Option<&[&[u8]]>) {
    let own_resp = t.info.resp.load(Ordering::Relaxed);
    let mut target = t.info.clone();
    let redirected = t.redirect != 0;
    if redirected {
        match clients.get(t.redirect) {
            Some(r) => target = r,
            None => {
                t.broken = true;
                t.info
                    .tracking
                    .fetch_or(super::clients::TRACKING_BROKEN, Ordering::Relaxed);
                if own_resp > 2 {
                    let mut out = BytesMut::new();
                    out.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n");
                    out.write_integer(t.redirect as i64);
                    deliver(&t.info, out);
                }
                return;
            }
        }
    }
    let mut out = BytesMut::new();
    if target.resp.load(Ordering::Relaxed) > 2 {
        out.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if redirected
        && target.subs.load(Ordering::Relaxed) + target.psubs.load(Ordering::Relaxed) > 0
    {
        out.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    match keys {
        Some(keys) => {
            out.write_array_len(keys.len());
            for k in keys {
                out.write_bulk(k);
            }
        }
        // The null of the tracking client's own protocol, as Redis sends it.
        None if own_resp > 2 => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"$-1\r\n"),
    }
    deliver(&target, out);
}

fn deliver(to: &ClientInfo, msg: BytesMut) {
    if let Some(mb) = to.mailbox.get() {
        mb.deliver(Push::Raw(msg.freeze()));
    }
}
