//! The registry of connected clients, for `CLIENT LIST/INFO/KILL`, `INFO clients` and
//! `maxclients`.
//!
//! Each connection has a [`ClientInfo`] shared with the registry: what other connections may
//! read (its address, name, database, idle time) or do to it (kill it). Its own command state is
//! the connection's private [`super::Session`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::Wake;

/// `CLIENT LIST`'s `cmd=NULL`: no command yet, or the last one was unknown.
pub const NO_COMMAND: usize = usize::MAX;

/// What the registry knows of one connection.
#[derive(Debug)]
pub struct ClientInfo {
    /// `CLIENT ID`: unique, increasing.
    pub id: u64,
    /// The peer address.
    pub addr: SocketAddr,
    /// The local address it connected to.
    pub laddr: SocketAddr,
    /// When it connected.
    pub created: Instant,
    /// Unix milliseconds of its last command (the server's cached clock).
    pub last_active_ms: AtomicU64,
    /// `CLIENT SETNAME`.
    pub name: Mutex<Option<Bytes>>,
    /// `CLIENT SETINFO LIB-NAME` and `LIB-VER`.
    pub lib: Mutex<(Option<Bytes>, Option<Bytes>)>,
    /// Selected database.
    pub db: AtomicUsize,
    /// Channel + pattern subscription counts.
    pub subs: AtomicUsize,
    /// Pattern subscription count.
    pub psubs: AtomicUsize,
    /// RESP version (2 or 3).
    pub resp: AtomicUsize,
    /// Inside MULTI: number of queued commands, or -1 as `usize::MAX`.
    pub multi: AtomicUsize,
    /// A MONITOR connection.
    pub monitor: AtomicBool,
    /// Blocked in BLPOP and the like (`CLIENT LIST` flag `b`).
    pub blocked: AtomicBool,
    /// Table id of the last command ([`NO_COMMAND`]: none), for `cmd=`.
    pub last_cmd: AtomicUsize,
    /// Wakes the connection's loop (to close it).
    pub(crate) waker: Arc<dyn Wake>,
    /// Set when killed, so the connection closes even if it is busy.
    pub killed: AtomicBool,
    /// The ACL user (`None`: default), for `user=` and ACL DELUSER.
    pub user: Mutex<Option<Bytes>>,
    /// Shard channel subscriptions (`ssub=`).
    pub ssubs: AtomicUsize,
    /// Its inbox (for invalidation messages other clients' writes send it).
    pub mailbox: std::sync::OnceLock<super::Mailbox>,
    /// `CLIENT NO-EVICT on`: not evicted for `maxmemory-clients`.
    pub no_evict: AtomicBool,
    /// Bytes of its buffers (query, replies, queued pushes).
    pub mem: AtomicUsize,
    /// `CLIENT TRACKING` state for `CLIENT LIST`: [`TRACKING`], [`TRACKING_BROKEN`],
    /// [`TRACKING_BCAST`] bits.
    pub tracking: std::sync::atomic::AtomicU8,
    /// The tracking REDIRECT client (`redir=`; -1: none).
    pub redir: std::sync::atomic::AtomicI64,
}

/// [`ClientInfo::tracking`]: tracking is on (`t`).
pub const TRACKING: u8 = 1;
/// [`ClientInfo::tracking`]: its redirect client is gone (`R`).
pub const TRACKING_BROKEN: u8 = 2;
/// [`ClientInfo::tracking`]: BCAST mode (`B`).
pub const TRACKING_BCAST: u8 = 4;

impl ClientInfo {
    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// The `CLIENT LIST` line, without the trailing newline; `cmd` names the last command
    /// (`NULL` for none).
    pub fn list_line(&self, now_ms: u64, cmd: &str) -> String {
        let name = self.name.lock().clone().unwrap_or_default();
        let (lib_name, lib_ver) = self.lib.lock().clone();
        let age = self.created.elapsed().as_secs();
        let idle = now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000;
        let subs = self.subs.load(Ordering::Relaxed);
        let psubs = self.psubs.load(Ordering::Relaxed);
        let ssubs = self.ssubs.load(Ordering::Relaxed);
        let mut flags = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if subs + psubs + ssubs > 0 {
            flags.push('P');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        let multi = self.multi.load(Ordering::Relaxed);
        if multi != usize::MAX {
            flags.push('x');
        }
        let tracking = self.tracking.load(Ordering::Relaxed);
        for (bit, c) in [
            (TRACKING, 't'),
            (TRACKING_BROKEN, 'R'),
            (TRACKING_BCAST, 'B'),
        ] {
            if tracking & bit != 0 {
                flags.push(c);
            }
        }
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let multi = if multi == usize::MAX {
            -1
        } else {
            multi as i64
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            String::from_utf8_lossy(&name),
            age,
            idle,
            flags,
            self.db.load(Ordering::Relaxed),
            subs,
            psubs,
            ssubs,
            multi,
            cmd,
            String::from_utf8_lossy(self.user.lock().as_deref().unwrap_or(b"default")),
            self.redir.load(Ordering::Relaxed),
            self.resp.load(Ordering::Relaxed),
            String::from_utf8_lossy(lib_name.as_deref().unwrap_or_default()),
            String::from_utf8_lossy(lib_ver.as_deref().unwrap_or_default()),
        )
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    count: AtomicUsize,
}

impl Clients {
    /// Number of connected clients, counting those accepted and not yet registered.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Takes a place for a connection just accepted, unless `max` are taken. The place is
    /// given back by [`Clients::unregister`] once registered, or by [`Clients::release`].
    /// Counting at accept keeps `maxclients` exact while connections are still on their way
    /// to the thread that will serve them.
    pub fn reserve(&self, max: usize) -> bool {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a place taken by [`Clients::reserve`] for a connection never registered.
    pub fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    /// Registers a new connection, in the place [`Clients::reserve`] took for it.
    pub fn register(
        &self,
        addr: SocketAddr,
        laddr: SocketAddr,
        waker: Arc<dyn Wake>,
        now_ms: u64,
    ) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Self::info(id, addr, laddr, waker, now_ms);
        self.map.lock().insert(id, info.clone());
        info
    }

    /// A client that is not registered (not in `CLIENT LIST`, not counted): the one scripts
    /// run their commands as.
    pub fn detached(addr: SocketAddr, waker: Arc<dyn Wake>) -> Arc<ClientInfo> {
        Self::info(0, addr, addr, waker, 0)
    }

    fn info(
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        waker: Arc<dyn Wake>,
        now_ms: u64,
    ) -> Arc<ClientInfo> {
        Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(now_ms),
            name: Mutex::new(None),
            lib: Mutex::new((None, None)),
            db: AtomicUsize::new(0),
            subs: AtomicUsize::new(0),
            psubs: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            multi: AtomicUsize::new(usize::MAX),
            monitor: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            last_cmd: AtomicUsize::new(NO_COMMAND),
            waker,
            killed: AtomicBool::new(false),
            user: Mutex::new(None),
            ssubs: AtomicUsize::new(0),
            mailbox: std::sync::OnceLock::new(),
            no_evict: AtomicBool::new(false),
            mem: AtomicUsize::new(0),
            tracking: std::sync::atomic::AtomicU8::new(0),
            redir: std::sync::atomic::AtomicI64::new(-1),
        })
    }

    /// Removes a closed connection.
    pub fn unregister(&self, id: u64) {
        if self.map.lock().remove(&id).is_some() {
            self.release();
        }
    }

    /// A snapshot of every client, in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    /// One client by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }
}
