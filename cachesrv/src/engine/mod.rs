//! The cache engine: a sync, runtime-free, Redis 7-compatible keyspace.
//!
//! It knows nothing of RESP, sockets or threads of its own; the command layer calls it from many threads.
//!
//! Structure: [`Engine`] holds `databases` databases (default 16); each is a fixed power-of-two
//! number of shards (default 64), each a `parking_lot::Mutex` over a table (module `table`:
//! dense entries for O(1) random sampling plus a compact Robin Hood index). One seeded hash per
//! key access picks the shard (top bits) and the home slot (low bits). Entries are single heap
//! blocks holding metadata, key and string value (module `block`).
//!
//! Contracts for the command layer:
//!
//! - **Gate**: run each command (or each parsed batch, never across an `.await`) under
//!   [`Engine::shared`]; run EXEC's queued commands and scripts under [`Engine::exclusive`].
//!   Neither is reentrant. The engine's own methods never take the gate, except
//!   [`Engine::active_expire_cycle`], which tries it and skips its turn while EXEC runs. The
//!   contract is a type: a [`DbHandle`] is only given against a proof that the thread holds
//!   the gate ([`Held`], borrowed from a guard, so neither the proof nor the handle outlives
//!   it): `Engine::db(idx, held)` inside this crate, [`Engine::enter`] outside it. Snapshot
//!   writers and loaders, which must not hold the gate for a whole file, get a [`DbShards`]
//!   (one shard lock at a time), and `INFO keyspace` reads [`Engine::keyspace_info`].
//! - **Locking**: single-key work goes through [`DbHandle::with_key`]; multi-key work through
//!   [`Engine::lock_keys`] (shards locked in ascending global order). Do not call the engine
//!   from inside a `with_key` closure or while a [`MultiGuard`] is alive (that would take a
//!   second shard lock out of order). Lock order overall: gate, eviction pool, shards ascending.
//! - **Memory**: call [`Engine::ensure_memory`] before each `denyoom` command, holding no shard
//!   lock; refuse the command on `Err(Oom)`. Eviction brings `used_memory <= maxmemory`, so after
//!   any write memory exceeds the limit by at most that write.
//! - **Hits/misses**: counted by the engine, per key opened with [`Access::READ`]; writes use
//!   [`Access::WRITE`] (not counted). `expired_keys` and `evicted_keys` are counted by the engine.
//! - **WATCH**: [`Engine::watch`] returns a [`WatchToken`]; EXEC, after taking
//!   [`Engine::exclusive`], aborts if [`Engine::is_dirty`] is true for any token. Drop tokens on
//!   EXEC, DISCARD, UNWATCH and disconnect.
//! - **Callbacks** of [`DbHandle::scan`] and [`DbHandle::keys`] run under a shard lock, like
//!   `with_key` closures: they must only copy data out, never call the engine.
//! - **Empty collections** are deleted by the engine; TTL replies use [`KeyRef::now_ms`].
//! - **Glob**: [`glob_match`] follows Redis exactly, so a lone `*` does not match the empty key;
//!   treat a `MATCH *` as no filter, as Redis does.

#![warn(missing_docs)]

mod block;
mod clock;
mod error;
mod events;
mod evict;
mod expire;
mod gate;
pub mod glob;
mod hash;
mod keyref;
mod load;
mod memory;
mod removed;
mod snapshot;
mod table;
pub mod value;
mod watch;
pub mod zset;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use clock::{CachedClock, Clock, ManualClock, SystemClock};
pub use error::{EngineError, Oom};
pub use events::{KeyEvent, KeyEvents};
pub use evict::{EvictionPolicy, EVPOOL_SIZE, LFU_INIT_VAL};
pub(crate) use gate::with_exclusive;
pub use gate::{ExclusiveGuard, Held, HeldExclusive, SharedGuard};
pub use glob::glob_match;
pub use keyref::{Access, KeyRef, MultiGuard, Ttl, MAX_STRING};
pub use load::{LoadValue, Loaded};
pub use memory::alloc_size;
pub use removed::{Removal, RemovalSink};
pub use snapshot::{dirtied_here, AccessInfo, DbShards, ShardCopy, SnapEntry};
pub use value::{
    parse_i64_strict, str_encoding, HashValue, Kind, ListValue, SetValue, Value, ValueRef,
};
pub use watch::{KeySignal, WatchToken};
pub use zset::{ZLimits, ZSetValue};

use evict::Evictor;
use gate::Gate;
use hash::KeyHasher;
use memory::{delta, Striped};
use table::Table;
use watch::Watched;

/// Per-key share of the table arrays reported by `MEMORY USAGE` (entry pointer plus index slots
/// at typical load).
pub const ENTRY_TABLE_OVERHEAD: usize = 16;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Number of databases (`databases`), at least 1.
    pub databases: usize,
    /// Shards per database; rounded up to a power of two in `1..=4096`.
    pub shards_per_db: usize,
    /// `maxmemory` in bytes; 0 = unlimited.
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub policy: EvictionPolicy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time` in minutes.
    pub lfu_decay_time: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            databases: 16,
            shards_per_db: 64,
            maxmemory: 0,
            policy: EvictionPolicy::NoEviction,
            samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// Counters for `INFO stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// `expired_keys`: keys deleted because their TTL passed (lazily or actively).
    pub expired_keys: u64,
    /// `evicted_keys`: keys deleted to honour `maxmemory`.
    pub evicted_keys: u64,
    /// `keyspace_hits`: lookups with [`Access::READ`] that found the key.
    pub keyspace_hits: u64,
    /// `keyspace_misses`: lookups with [`Access::READ`] that did not.
    pub keyspace_misses: u64,
}

/// One line of `INFO keyspace`: `db0:keys=1,expires=0,avg_ttl=0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyspaceInfo {
    /// Keys (including expired keys not yet reclaimed, as Redis counts them).
    pub keys: usize,
    /// Keys with an expiry.
    pub expires: usize,
    /// Running estimate of the TTL of keys with an expiry, in ms (maintained by the active
    /// expire cycle, as in Redis).
    pub avg_ttl: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) expired: Striped,
    pub(crate) evicted: Striped,
    pub(crate) hits: Striped,
    pub(crate) misses: Striped,
    /// Keys changed (RDB `rdb_changes_since_last_save` is derived from it); never reset.
    pub(crate) dirty: Striped,
}

/// A shard's state, under its mutex.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    pub(crate) table: Table,
    pub(crate) watched: Watched,
    pub(crate) expire_cursor: usize,
    reported: usize,
    /// Bumped whenever `table` is replaced wholesale (FLUSHDB, SWAPDB), so a walk that
    /// releases the lock between slices knows its positions no longer apply.
    pub(crate) epoch: u64,
}

/// A shard with lock-free length hints (written under the lock, read without it).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ShardCell {
    pub(crate) lock: Mutex<Shard>,
    pub(crate) len: AtomicUsize,
    pub(crate) vol: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) shards: Box<[ShardCell]>,
    pub(crate) avg_ttl: AtomicU64,
}

/// The keyspace (see the module header for the contracts).
pub struct Engine {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: KeyHasher,
    pub(crate) dbs: Box<[Db]>,
    pub(crate) shard_bits: u32,
    pub(crate) used: Striped,
    pub(crate) stats: Stats,
    pub(crate) evictor: Evictor,
    pub(crate) expire_cursor: Mutex<usize>,
    pub(crate) gate: Gate,
    pub(crate) removal_sink: std::sync::OnceLock<Arc<dyn RemovalSink>>,
    pub(crate) events: events::Events,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("databases", &self.dbs.len())
            .field("shards_per_db", &(1usize << self.shard_bits))
            .field("used_memory", &self.used_memory())
            .finish()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

impl Engine {
    /// An engine on the system clock.
    pub fn new(config: EngineConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An engine on the given clock.
    pub fn with_clock(config: EngineConfig, clock: Arc<dyn Clock>) -> Self {
        let shards = config.shards_per_db.clamp(1, 4096).next_power_of_two();
        let dbs = (0..config.databases.max(1))
            .map(|_| Db {
                shards: (0..shards).map(|_| ShardCell::default()).collect(),
                avg_ttl: AtomicU64::new(0),
            })
            .collect();
        let evictor = Evictor::new(config.maxmemory, config.policy, config.samples);
        evictor
            .lfu_log_factor
            .store(config.lfu_log_factor, Ordering::Relaxed);
        evictor
            .lfu_decay_time
            .store(config.lfu_decay_time, Ordering::Relaxed);
        Self {
            clock,
            hasher: KeyHasher::random(),
            dbs,
            shard_bits: shards.trailing_zeros(),
            used: Striped::default(),
            stats: Stats::default(),
            evictor,
            expire_cursor: Mutex::new(0),
            gate: Gate::default(),
            removal_sink: std::sync::OnceLock::new(),
            events: events::Events::default(),
        }
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time in Unix ms, from the engine's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// A handle on database `idx` (`DbIndex` if out of range), for as long as the proof that
    /// this thread holds the gate: the handle borrows the proof's guard. The command layer
    /// passes the proof of the gate it runs a command under; code outside this crate goes
    /// through [`Engine::enter`].
    pub(crate) fn db<'s>(
        &'s self,
        idx: usize,
        _gate: Held<'s>,
    ) -> Result<DbHandle<'s>, EngineError> {
        self.db_unproven(idx)
    }

    /// [`Engine::db`] without the proof: for the engine's own methods (which do not rely on
    /// the gate) and its tests.
    fn db_unproven(&self, idx: usize) -> Result<DbHandle<'_>, EngineError> {
        if idx < self.dbs.len() {
            Ok(DbHandle { eng: self, db: idx })
        } else {
            Err(EngineError::DbIndex)
        }
    }

    /// The `INFO keyspace` figures of database `idx` (`DbIndex` if out of range): lock-free
    /// counters, read without the gate.
    pub fn keyspace_info(&self, idx: usize) -> Result<KeyspaceInfo, EngineError> {
        Ok(self.db_unproven(idx)?.info())
    }

    #[inline]
    pub(crate) fn shard_of(&self, h: u64) -> usize {
        if self.shard_bits == 0 {
            0
        } else {
            (h >> (64 - self.shard_bits)) as usize
        }
    }

    #[inline]
    pub(crate) fn gid(&self, db: usize, shard: usize) -> usize {
        (db << self.shard_bits) | shard
    }

    #[inline]
    pub(crate) fn cell(&self, gid: usize) -> &ShardCell {
        &self.dbs[gid >> self.shard_bits].shards[gid & ((1 << self.shard_bits) - 1)]
    }

    /// Publishes a shard's byte total and length hints after a change.
    #[inline]
    pub(crate) fn sync_shard(&self, shard: &mut Shard, cell: &ShardCell, gid: usize) {
        let total = shard.table.mem_total();
        if total != shard.reported {
            self.used.add(gid, delta(total, shard.reported));
            shard.reported = total;
        }
        cell.len.store(shard.table.len(), Ordering::Relaxed);
        cell.vol
            .store(shard.table.volatile_len(), Ordering::Relaxed);
    }

    /// `MEMORY USAGE key` in `db`; `None` if the key does not exist or `db` is out of range.
    pub fn memory_usage(&self, db: usize, key: &[u8]) -> Option<usize> {
        self.db_unproven(db).ok()?.memory_usage(key)
    }

    /// `used_memory`: estimated heap bytes of all keys and values and the tables holding them.
    pub fn used_memory(&self) -> u64 {
        self.used.sum_u64()
    }

    /// Locks the shards of several keys (`(db, key)` pairs) at once; see [`MultiGuard`].
    pub fn lock_keys<'k>(
        &self,
        keys: &[(usize, &'k [u8])],
    ) -> Result<MultiGuard<'_, 'k>, EngineError> {
        let mut placed = Vec::with_capacity(keys.len());
        let mut gids = Vec::with_capacity(keys.len());
        for &(db, key) in keys {
            if db >= self.dbs.len() {
                return Err(EngineError::DbIndex);
            }
            let h = self.hasher.hash(key);
            let gid = self.gid(db, self.shard_of(h));
            placed.push((db, key, h, gid));
            gids.push(gid);
        }
        gids.sort_unstable();
        gids.dedup();
        for p in &mut placed {
            p.3 = gids.binary_search(&p.3).unwrap_or(0);
        }
        let locks: Vec<_> = gids
            .into_iter()
            .map(|g| (g, self.cell(g).lock.lock()))
            .collect();
        let keys = placed;
        Ok(MultiGuard {
            eng: self,
            locks,
            keys,
        })
    }

    /// Locks every shard of database `db` (in the order [`Engine::lock_keys`] locks them), for
    /// a command that learns which keys it reads as it goes (SORT's BY and GET patterns); its
    /// keys are opened with [`MultiGuard::open`].
    pub fn lock_db<'k>(&self, db: usize) -> Result<MultiGuard<'_, 'k>, EngineError> {
        if db >= self.dbs.len() {
            return Err(EngineError::DbIndex);
        }
        let locks = (0..1usize << self.shard_bits)
            .map(|s| {
                let gid = self.gid(db, s);
                (gid, self.cell(gid).lock.lock())
            })
            .collect();
        Ok(MultiGuard {
            eng: self,
            locks,
            keys: Vec::new(),
        })
    }

    /// `SWAPDB a b`: exchanges the contents of two databases atomically (with respect to key
    /// operations). Watchers of both databases are signalled.
    pub fn swap_db(&self, a: usize, b: usize) -> Result<(), EngineError> {
        if a >= self.dbs.len() || b >= self.dbs.len() {
            return Err(EngineError::DbIndex);
        }
        if a == b {
            return Ok(());
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let n = 1usize << self.shard_bits;
        let mut lo_guards: Vec<_> = self.dbs[lo].shards.iter().map(|c| c.lock.lock()).collect();
        let mut hi_guards: Vec<_> = self.dbs[hi].shards.iter().map(|c| c.lock.lock()).collect();
        for s in 0..n {
            let (x, y) = (&mut *lo_guards[s], &mut *hi_guards[s]);
            std::mem::swap(&mut x.table, &mut y.table);
            x.epoch += 1;
            y.epoch += 1;
            std::mem::swap(&mut x.reported, &mut y.reported);
            x.expire_cursor = 0;
            y.expire_cursor = 0;
            x.watched.signal_all();
            y.watched.signal_all();
            self.sync_shard(x, &self.dbs[lo].shards[s], self.gid(lo, s));
            self.sync_shard(y, &self.dbs[hi].shards[s], self.gid(hi, s));
        }
        self.add_dirty(0, 1);
        let t = self.dbs[lo].avg_ttl.load(Ordering::Relaxed);
        self.dbs[lo].avg_ttl.store(
            self.dbs[hi].avg_ttl.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.dbs[hi].avg_ttl.store(t, Ordering::Relaxed);
        Ok(())
    }

    /// `FLUSHALL`: empties every database; returns the number of keys removed.
    pub fn flush_all(&self) -> usize {
        (0..self.dbs.len())
            .map(|i| DbHandle { eng: self, db: i }.flush())
            .sum()
    }

    /// `WATCH key` in `db`.
    pub fn watch(&self, db: usize, key: &[u8]) -> Result<WatchToken, EngineError> {
        let handle = self.db_unproven(db)?;
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let h = self.hasher.hash(key);
        let s = self.shard_of(h);
        let gid = self.gid(db, s);
        let cell = &self.dbs[handle.db].shards[s];
        let mut g = cell.lock.lock();
        let expire_at = {
            let k = KeyRef::open(
                self,
                &mut g,
                cell,
                gid,
                db,
                key,
                h,
                Access::WRITE.no_touch(),
            );
            k.expire_at()
        };
        g.watched.add(key, &flag);
        Ok(WatchToken {
            flag,
            db,
            key: Box::from(key),
            expire_at,
        })
    }

    /// Registers `signal` to be told once of the next write to `key` in `db` (a write, a
    /// deletion, expiry, eviction, FLUSHDB/FLUSHALL, SWAPDB). A signal dropped meanwhile is
    /// forgotten. Takes the key's shard lock: call it holding no engine lock.
    pub fn notify_on_write(
        &self,
        db: usize,
        key: &[u8],
        signal: std::sync::Weak<dyn KeySignal>,
    ) -> Result<(), EngineError> {
        let handle = self.db_unproven(db)?;
        let s = self.shard_of(self.hasher.hash(key));
        let mut g = self.dbs[handle.db].shards[s].lock.lock();
        g.watched.add_signal(key, signal);
        Ok(())
    }

    /// True if the watched key was modified (written, deleted, expired, evicted, flushed,
    /// swapped) since [`Engine::watch`], or has logically expired since. Call it after taking
    /// [`Engine::exclusive`].
    pub fn is_dirty(&self, token: &WatchToken) -> bool {
        token.signalled() || token.expire_at.is_some_and(|e| self.clock.now_ms() > e)
    }

    /// Enters the engine for accesses from outside the command layer: the shared gate is held
    /// (no EXEC or script runs meanwhile) until the returned value is dropped, and a
    /// [`DbHandle`] is only reachable through it, so none outlives the gate. Callers refresh
    /// their cached clock first and call [`Engine::ensure_memory`] before a write, with no
    /// shard lock held.
    ///
    /// ```
    /// use cachesrv::engine::Engine;
    /// let engine = Engine::default();
    /// let entered = engine.enter();
    /// assert_eq!(entered.db(0).map(|db| db.dbsize()), Ok(0));
    /// ```
    ///
    /// A handle does not outlive the gate:
    ///
    /// ```compile_fail,E0597
    /// use cachesrv::engine::Engine;
    /// let engine = Engine::default();
    /// let db = {
    ///     let entered = engine.enter();
    ///     entered.db(0).expect("db 0")
    /// };
    /// assert_eq!(db.dbsize(), 0);
    /// ```
    pub fn enter(&self) -> Entered<'_> {
        Entered {
            engine: self,
            _gate: self.gate.shared(),
        }
    }

    /// Shared access to the engine, for normal commands: the guard's [`SharedGuard::held`]
    /// proof is what a database handle is given against.
    pub fn shared(&self) -> SharedGuard<'_> {
        self.gate.shared()
    }

    /// Shared access if it comes within `wait` (a script may hold the gate exclusively).
    pub fn try_shared_for(&self, wait: std::time::Duration) -> Option<SharedGuard<'_>> {
        self.gate.try_shared_for(wait)
    }

    /// Shared access if no one holds or waits for exclusive access.
    pub fn try_shared(&self) -> Option<SharedGuard<'_>> {
        self.gate.try_shared()
    }

    /// Exclusive access to the engine, for EXEC and scripts (proofs:
    /// [`ExclusiveGuard::held`], [`ExclusiveGuard::exclusive`]).
    pub fn exclusive(&self) -> ExclusiveGuard<'_> {
        self.gate.exclusive()
    }

    /// The counters of `INFO stats`.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            expired_keys: self.stats.expired.sum_u64(),
            evicted_keys: self.stats.evicted.sum_u64(),
            keyspace_hits: self.stats.hits.sum_u64(),
            keyspace_misses: self.stats.misses.sum_u64(),
        }
    }

    /// `CONFIG RESETSTAT`: zeroes the counters of [`Engine::stats`].
    pub fn reset_stats(&self) {
        self.stats.expired.reset();
        self.stats.evicted.reset();
        self.stats.hits.reset();
        self.stats.misses.reset();
    }
}

/// The engine entered by [`Engine::enter`]: the shared gate held while it lives.
#[must_use]
pub struct Entered<'a> {
    engine: &'a Engine,
    _gate: SharedGuard<'a>,
}

impl Entered<'_> {
    /// A handle on database `idx` (`DbIndex` if out of range), valid while the gate is held.
    pub fn db(&self, idx: usize) -> Result<DbHandle<'_>, EngineError> {
        self.engine.db(idx, self._gate.held())
    }
}

/// A validated database index; the entry point of per-database operations.
#[derive(Debug, Clone, Copy)]
pub struct DbHandle<'e> {
    eng: &'e Engine,
    db: usize,
}

impl DbHandle<'_> {
    /// The database index.
    pub fn index(&self) -> usize {
        self.db
    }

    /// Locks `key`'s shard and runs `f` on it (see [`KeyRef`]).
    pub fn with_key<R>(
        &self,
        key: &[u8],
        access: Access,
        f: impl FnOnce(&mut KeyRef<'_>) -> R,
    ) -> R {
        let eng = self.eng;
        let h = eng.hasher.hash(key);
        let s = eng.shard_of(h);
        let cell = &eng.dbs[self.db].shards[s];
        let mut g = cell.lock.lock();
        let mut k = KeyRef::open(
            eng,
            &mut g,
            cell,
            eng.gid(self.db, s),
            self.db,
            key,
            h,
            access,
        );
        f(&mut k)
    }

    /// `DBSIZE`.
    pub fn dbsize(&self) -> usize {
        self.eng.dbs[self.db]
            .shards
            .iter()
            .map(|c| c.len.load(Ordering::Relaxed))
            .sum()
    }

    /// The `INFO keyspace` figures.
    pub fn info(&self) -> KeyspaceInfo {
        let db = &self.eng.dbs[self.db];
        KeyspaceInfo {
            keys: self.dbsize(),
            expires: db
                .shards
                .iter()
                .map(|c| c.vol.load(Ordering::Relaxed))
                .sum(),
            avg_ttl: db.avg_ttl.load(Ordering::Relaxed),
        }
    }

    /// `MEMORY USAGE key` (does not touch the key).
    pub fn memory_usage(&self, key: &[u8]) -> Option<usize> {
        self.with_key(key, Access::WRITE.no_touch(), |k| k.memory_usage())
    }

    /// `FLUSHDB`: empties the database; returns the number of keys removed. Values are freed
    /// outside the shard locks.
    pub fn flush(&self) -> usize {
        let eng = self.eng;
        let mut removed = 0;
        for (s, cell) in eng.dbs[self.db].shards.iter().enumerate() {
            let old = {
                let mut g = cell.lock.lock();
                let t = std::mem::take(&mut g.table);
                g.epoch += 1;
                g.watched.signal_all();
                g.expire_cursor = 0;
                eng.sync_shard(&mut g, cell, eng.gid(self.db, s));
                t
            };
            removed += old.len();
            eng.add_dirty(eng.gid(self.db, s), old.len() as u64);
            drop(old);
        }
        eng.dbs[self.db].avg_ttl.store(0, Ordering::Relaxed);
        removed
    }

    /// `RANDOMKEY`: a random live key (expired keys met on the way are deleted).
    pub fn random_key(&self) -> Option<Vec<u8>> {
        let eng = self.eng;
        for _ in 0..100 {
            let s = eng.random_shard(self.db, false)?;
            let cell = &eng.dbs[self.db].shards[s];
            let mut g = cell.lock.lock();
            let Some(pos) = g.table.random_pos() else {
                continue;
            };
            let now = eng.clock.now_ms();
            let Some(b) = g.table.get(pos) else {
                continue;
            };
            if b.expire().is_none_or(|e| now <= e) {
                return Some(b.key().to_vec());
            }
            let shard = &mut *g;
            if let Some(b) = shard.table.get(pos) {
                shard.watched.signal(b.key());
                eng.report_removal(self.db, b.key(), Removal::Expired);
                eng.events.emit(events::KeyEvent::Expired, self.db, b.key());
            }
            shard.table.remove(&eng.hasher, pos);
            eng.stats.expired.add(s, 1);
            eng.sync_shard(shard, cell, eng.gid(self.db, s));
        }
        None
    }

    /// `SCAN cursor COUNT count`: visits about `count` entries, calling `f` for each live one,
    /// and returns the next cursor (0 when done).
    ///
    /// Cursor: low `log2(shards)` bits select the shard, the rest is how many positions of that
    /// shard's dense entry vector remain to visit (0 = the whole shard). Each shard is walked from
    /// its last position down. Deletion moves the last entry into the hole, and insertion
    /// appends, so an entry not yet visited never moves above the cursor: every key present for
    /// the whole scan is returned at least once (a moved key may be returned twice). FLUSHDB and
    /// SWAPDB during a scan void the guarantee, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], ValueRef<'_>)) -> u64 {
        let eng = self.eng;
        let bits = eng.shard_bits;
        let n = 1usize << bits;
        let mut shard = (cursor & (n as u64 - 1)) as usize;
        let mut rem = cursor >> bits;
        let mut budget = count.max(1);
        let now = eng.clock.now_ms();
        loop {
            let cell = &eng.dbs[self.db].shards[shard];
            if cell.len.load(Ordering::Relaxed) > 0 || rem != 0 {
                let g = cell.lock.lock();
                let len = g.table.len();
                let mut pos = if rem == 0 {
                    len
                } else {
                    usize::try_from(rem).unwrap_or(usize::MAX).min(len)
                };
                let entries = g.table.entries();
                while pos > 0 && budget > 0 {
                    pos -= 1;
                    budget -= 1;
                    let b = &entries[pos];
                    if b.expire().is_none_or(|e| now <= e) {
                        f(b.key(), b.value());
                    }
                }
                if pos > 0 {
                    return ((pos as u64) << bits) | shard as u64;
                }
            }
            shard += 1;
            rem = 0;
            if shard == n {
                return 0;
            }
            if budget == 0 {
                return shard as u64;
            }
        }
    }

    /// `KEYS pattern`: calls `f` for every live key matching the glob (a pattern without special
    /// characters is a single lookup). Each shard is locked while it is walked.
    pub fn keys(&self, pattern: &[u8], mut f: impl FnMut(&[u8], ValueRef<'_>)) {
        if glob::is_literal(pattern) {
            self.with_key(pattern, Access::WRITE.no_touch(), |k| {
                if let Some(v) = k.value() {
                    f(k.key(), v);
                }
            });
            return;
        }
        let all = pattern == b"*";
        let now = self.eng.clock.now_ms();
        for cell in self.eng.dbs[self.db].shards.iter() {
            if cell.len.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let g = cell.lock.lock();
            for b in g.table.entries() {
                if b.expire().is_some_and(|e| now > e) {
                    continue;
                }
                if all || glob_match(pattern, b.key(), false) {
                    f(b.key(), b.value());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
