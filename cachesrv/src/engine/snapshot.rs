//! Reading the keyspace for a snapshot (an RDB file, `BGSAVE`), one shard at a time.
//!
//! [`DbShards::visit_shard`] runs a callback over a whole shard under its lock (the shard seen
//! at one instant). [`DbShards::copy_shard`] copies a shard out in slices of at most `slice`
//! keys, taking the shard's lock once per slice (strings go into one reused buffer, no
//! allocation per key), so a writer of that shard waits at most for one slice's copy however
//! large the shard is, and the slow work (encoding, compression, I/O) runs with no lock held.
//!
//! The slices walk the shard's dense entry vector from the end down, as `SCAN` does: inserts
//! append (above the cursor) and a deletion moves the last entry into the hole, so an entry not
//! yet visited never moves above the cursor. What can happen between slices: a key written is
//! copied with its new value if not visited yet, a key created after the walk passed is left
//! out, and an already copied entry moved below the cursor would be met twice: a set of the keys
//! copied (compared byte for byte) skips it. If the table was replaced (FLUSHDB, SWAPDB; its
//! `epoch` changed) the walk restarts on the new table, still skipping keys already copied.
//! So every key is copied whole, as it was at one instant, once. The set is built only once a
//! walk needs it (the table's count of moved entries or its epoch changed between two slices):
//! a copy made while no key is deleted hashes nothing.
//!
//! Also the change counter that `save <seconds> <changes>` rules read.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::evict::{idle_ms, lfu_decr};
use super::{Engine, EngineError, Value, ValueRef};

/// What a snapshot records of a key's accesses, per `maxmemory-policy` (as Redis's RDB: the
/// idle time under LRU policies, the LFU counter under LFU ones, nothing under the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessInfo {
    /// Nothing (policies that use neither).
    None,
    /// Seconds since the last access.
    IdleSecs(u64),
    /// The LFU counter (after decay).
    Freq(u8),
}

/// One key as a snapshot sees it.
#[derive(Debug, Clone, Copy)]
pub struct SnapEntry<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its value.
    pub value: ValueRef<'a>,
    /// Absolute expiry in Unix ms.
    pub expire_ms: Option<u64>,
    /// Access data for the `IDLE`/`FREQ` opcodes.
    pub access: AccessInfo,
}

/// A copy of one shard's live keys, made by [`DbShards::copy_shard`]; reusable.
#[derive(Debug, Default)]
pub struct ShardCopy {
    arena: Vec<u8>,
    items: Vec<Copied>,
    /// Key hash -> last item with that hash; `Copied::same_hash` chains the others. Filled
    /// only while `indexed` (see the module header).
    seen: HashMap<u64, u32>,
    indexed: bool,
    /// Longest time the shard's lock was held for one slice of the last copy.
    max_hold: std::time::Duration,
}

#[derive(Debug)]
struct Copied {
    key: (usize, usize),
    same_hash: u32,
    value: CopiedValue,
    expire_ms: Option<u64>,
    access: AccessInfo,
}

#[derive(Debug)]
enum CopiedValue {
    Str(usize, usize),
    Other(Value),
}

impl ShardCopy {
    /// Number of keys copied.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no key was copied.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The longest time one slice of the last copy held the shard's lock.
    pub fn max_hold(&self) -> std::time::Duration {
        self.max_hold
    }

    /// Calls `f` for each copied key.
    pub fn for_each(&self, mut f: impl FnMut(SnapEntry<'_>)) {
        for c in &self.items {
            let key = &self.arena[c.key.0..c.key.0 + c.key.1];
            let value = match &c.value {
                CopiedValue::Str(at, len) => ValueRef::Str(&self.arena[*at..*at + *len]),
                CopiedValue::Other(v) => v.as_ref(),
            };
            f(SnapEntry {
                key,
                value,
                expire_ms: c.expire_ms,
                access: c.access,
            });
        }
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
        self.seen.clear();
        self.indexed = false;
        self.max_hold = std::time::Duration::ZERO;
        if self.arena.capacity() > 64 << 20 {
            self.arena.shrink_to(1 << 20);
        }
    }
}

impl Engine {
    /// Shard-by-shard access to database `idx` (`DbIndex` if out of range) for snapshot
    /// writers and loaders, without the gate: see [`DbShards`].
    pub fn db_shards(&self, idx: usize) -> Result<DbShards<'_>, EngineError> {
        if idx < self.dbs.len() {
            Ok(DbShards { eng: self, db: idx })
        } else {
            Err(EngineError::DbIndex)
        }
    }

    /// Shards per database (the unit a snapshot locks at a time).
    pub fn shards_per_db(&self) -> usize {
        1 << self.shard_bits
    }

    /// The most keys one database can hold (every shard's table full).
    pub fn max_keys_per_db(&self) -> usize {
        self.shards_per_db()
            .saturating_mul(super::table::MAX_ENTRIES)
    }

    /// Keys changed since the engine started (writes, deletions, flushed keys; never reset):
    /// the difference between two readings is the number of changes in between.
    pub fn dirty(&self) -> u64 {
        self.stats.dirty.sum_u64()
    }

    /// Counts `n` changes made by this thread in shard `gid` (`dirty`, and this thread's own
    /// count, [`dirtied_here`]).
    #[inline]
    pub(crate) fn add_dirty(&self, gid: usize, n: u64) {
        self.stats.dirty.add(gid, n as i64);
        DIRTIED_HERE.with(|d| d.set(d.get().wrapping_add(n)));
    }
}

thread_local! {
    /// Changes to the keyspace made by this thread (never reset; compare two readings).
    static DIRTIED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The changes this thread has made to the keyspace so far: two readings around a command
/// tell whether it changed anything, without summing every stripe of `dirty` (and without
/// counting what other threads changed meanwhile).
#[inline]
pub fn dirtied_here() -> u64 {
    DIRTIED_HERE.with(std::cell::Cell::get)
}

/// One database's shards, for snapshot writers and loaders (an RDB file, `BGSAVE`, the RDB
/// base of an append-only file): every operation takes one shard's lock at a time and none
/// takes the engine's gate, so a snapshot runs beside traffic and EXEC without stalling it
/// (and is not atomic with respect to it: see [`DbShards::copy_shard`] for what a copy
/// guarantees). Loads run before clients are served. Commands use a [`super::DbHandle`].
#[derive(Debug, Clone, Copy)]
pub struct DbShards<'e> {
    pub(super) eng: &'e Engine,
    pub(super) db: usize,
}

impl DbShards<'_> {
    /// The database index.
    pub fn index(&self) -> usize {
        self.db
    }
}

impl DbShards<'_> {
    /// Calls `f` for every live key of shard `shard` (keys whose expiry has passed are left
    /// out), holding the shard's lock for the whole walk; returns the number of keys visited.
    /// Like the callbacks of [`super::DbHandle::scan`], `f` must not call the engine.
    pub fn visit_shard(&self, shard: usize, mut f: impl FnMut(SnapEntry<'_>)) -> usize {
        let eng = self.eng;
        let Some(cell) = eng.dbs[self.db].shards.get(shard) else {
            return 0;
        };
        if cell.len.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let now = eng.clock.now_ms();
        let policy = eng.evictor.policy();
        let lru_policy = matches!(
            policy,
            super::EvictionPolicy::AllKeysLru | super::EvictionPolicy::VolatileLru
        );
        let decay = eng.evictor.lfu_decay_time.load(Ordering::Relaxed);
        let g = cell.lock.lock();
        let mut n = 0;
        for b in g.table.entries() {
            let expire_ms = b.expire();
            if expire_ms.is_some_and(|e| now > e) {
                continue;
            }
            let access = if policy.is_lfu() {
                AccessInfo::Freq(lfu_decr(now, b.lru(), decay))
            } else if lru_policy {
                AccessInfo::IdleSecs(idle_ms(now, b.lru()) / 1000)
            } else {
                AccessInfo::None
            };
            f(SnapEntry {
                key: b.key(),
                value: b.value(),
                expire_ms,
                access,
            });
            n += 1;
        }
        n
    }
}

/// No item.
const NONE: u32 = u32::MAX;

impl ShardCopy {
    /// True if `key` (hash `h`) was copied already.
    fn has(&self, h: u64, key: &[u8]) -> bool {
        let mut i = self.seen.get(&h).copied().unwrap_or(NONE);
        while i != NONE {
            let c = &self.items[i as usize];
            if &self.arena[c.key.0..c.key.0 + c.key.1] == key {
                return true;
            }
            i = c.same_hash;
        }
        false
    }

    /// Builds the set of the keys copied so far; from now on [`ShardCopy::push`] keeps it.
    #[cold]
    fn index(&mut self, hasher: &super::hash::KeyHasher) {
        self.indexed = true;
        for i in 0..self.items.len() {
            let (at, len) = self.items[i].key;
            let h = hasher.hash(&self.arena[at..at + len]);
            self.items[i].same_hash = self.seen.insert(h, i as u32).unwrap_or(NONE);
        }
    }

    /// Copies `e` (its key's hash `h` when the set of copied keys is kept).
    fn push(&mut self, h: Option<u64>, e: SnapEntry<'_>) {
        let k = (self.arena.len(), e.key.len());
        self.arena.extend_from_slice(e.key);
        let value = match e.value {
            ValueRef::Str(s) => {
                let at = self.arena.len();
                self.arena.extend_from_slice(s);
                CopiedValue::Str(at, s.len())
            }
            other => CopiedValue::Other(other.to_value()),
        };
        let idx = self.items.len() as u32;
        let same_hash = h.map_or(NONE, |h| self.seen.insert(h, idx).unwrap_or(NONE));
        self.items.push(Copied {
            key: k,
            same_hash,
            value,
            expire_ms: e.expire_ms,
            access: e.access,
        });
    }
}

impl DbShards<'_> {
    /// Copies the live keys of shard `shard` into `out` (replacing what it held), in slices
    /// of at most `slice` keys, each under the shard's lock (see the module header); returns
    /// the number of keys copied.
    pub fn copy_shard(&self, shard: usize, out: &mut ShardCopy, slice: usize) -> usize {
        out.clear();
        let eng = self.eng;
        let Some(cell) = eng.dbs[self.db].shards.get(shard) else {
            return 0;
        };
        let slice = slice.max(1);
        let decay = eng.evictor.lfu_decay_time.load(Ordering::Relaxed);
        let mut cursor = usize::MAX;
        let mut epoch = None;
        let mut moves = None;
        loop {
            if cell.len.load(Ordering::Relaxed) == 0 && epoch.is_none() {
                return 0;
            }
            let g = cell.lock.lock();
            let held = std::time::Instant::now();
            if epoch != Some(g.epoch) {
                // A new table: it may hold keys copied from the old one.
                if epoch.is_some() && !out.indexed {
                    out.index(&eng.hasher);
                }
                epoch = Some(g.epoch);
                cursor = usize::MAX;
            } else if moves != Some(g.table.moves()) && moves.is_some() && !out.indexed {
                // An entry may have moved from above the cursor to below it.
                out.index(&eng.hasher);
            }
            moves = Some(g.table.moves());
            let entries = g.table.entries();
            let mut pos = cursor.min(entries.len());
            let stop = pos.saturating_sub(slice);
            let now = eng.clock.now_ms();
            let policy = eng.evictor.policy();
            let lru_policy = matches!(
                policy,
                super::EvictionPolicy::AllKeysLru | super::EvictionPolicy::VolatileLru
            );
            while pos > stop {
                pos -= 1;
                let b = &entries[pos];
                let expire_ms = b.expire();
                if expire_ms.is_some_and(|e| now > e) {
                    continue;
                }
                let h = if out.indexed {
                    let h = eng.hasher.hash(b.key());
                    if out.has(h, b.key()) {
                        continue;
                    }
                    Some(h)
                } else {
                    None
                };
                let access = if policy.is_lfu() {
                    AccessInfo::Freq(lfu_decr(now, b.lru(), decay))
                } else if lru_policy {
                    AccessInfo::IdleSecs(idle_ms(now, b.lru()) / 1000)
                } else {
                    AccessInfo::None
                };
                out.push(
                    h,
                    SnapEntry {
                        key: b.key(),
                        value: b.value(),
                        expire_ms,
                        access,
                    },
                );
            }
            cursor = pos;
            drop(g);
            out.max_hold = out.max_hold.max(held.elapsed());
            if pos == 0 {
                return out.items.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Access, EngineConfig, EvictionPolicy, ManualClock, Ttl, Value};

    #[test]
    fn visits_every_live_key_once_and_counts_changes() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let eng = Engine::with_clock(EngineConfig::default(), clock.clone());
        let d0 = eng.dirty();
        let db = eng.db_unproven(0).expect("db 0");
        let shards = eng.db_shards(0).expect("db 0");
        for i in 0..500 {
            let k = format!("k{i}");
            db.with_key(k.as_bytes(), Access::WRITE, |k| {
                let ttl = if i % 2 == 0 {
                    Ttl::At(1_000_500)
                } else {
                    Ttl::Clear
                };
                k.put(Value::Str(b"v".to_vec()), ttl).expect("put");
            });
        }
        assert_eq!(eng.dirty() - d0, 500);
        let mut seen = 0;
        for s in 0..eng.shards_per_db() {
            seen += shards.visit_shard(s, |e| {
                assert_eq!(e.access, AccessInfo::None);
                assert!(e.key.starts_with(b"k"));
            });
        }
        assert_eq!(seen, 500);
        let mut copy = ShardCopy::default();
        let mut copied = 0;
        for s in 0..eng.shards_per_db() {
            copied += shards.copy_shard(s, &mut copy, 7);
            copy.for_each(|e| {
                assert_eq!(e.value.type_name(), "string");
                assert!(e.key.starts_with(b"k"));
                assert_eq!(
                    e.expire_ms.is_some(),
                    e.key[1..]
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
                        % 2
                        == 0
                );
            });
        }
        assert_eq!(copied, 500);
        clock.advance(1000);
        let mut live = 0;
        for s in 0..eng.shards_per_db() {
            live += shards.visit_shard(s, |_| {});
        }
        assert_eq!(live, 250);
        assert_eq!(db.flush(), 500);
        assert_eq!(eng.dirty() - d0, 1000);
    }

    #[test]
    fn sliced_copies_hold_every_stable_key_once_while_others_churn() {
        churn_while_copying(false);
    }

    #[test]
    fn sliced_copies_never_repeat_a_key_across_swapdb() {
        churn_while_copying(true);
    }

    fn churn_while_copying(swaps: bool) {
        use std::collections::HashSet;
        use std::sync::atomic::AtomicBool;
        let eng = Arc::new(Engine::new(EngineConfig {
            shards_per_db: 1,
            ..EngineConfig::default()
        }));
        let db = eng.db_unproven(0).expect("db 0");
        let shards = eng.db_shards(0).expect("db 0");
        for i in 0..300 {
            let k = format!("stable{i}");
            db.with_key(k.as_bytes(), Access::WRITE, |k| {
                k.put(Value::Str(k.key().to_vec()), Ttl::Clear)
                    .expect("put")
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (eng, stop) = (eng.clone(), stop.clone());
            std::thread::spawn(move || {
                let db = eng.db_unproven(0).expect("db 0");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // Deletions move the last entry (often a stable key) into the hole.
                    let k = format!("churn{}", n % 50);
                    db.with_key(k.as_bytes(), Access::WRITE, |k| {
                        if n.is_multiple_of(3) {
                            k.delete();
                        } else {
                            let _ = k.put(Value::Str(b"x".to_vec()), Ttl::Clear);
                        }
                    });
                    // Tables replaced and put back: walks restart, still once per key.
                    if swaps && n.is_multiple_of(200) {
                        eng.swap_db(0, 1).expect("swap");
                        std::thread::yield_now();
                        eng.swap_db(0, 1).expect("swap back");
                    }
                    // Stable keys are rewritten in place: present throughout.
                    let s = format!("stable{}", n % 300);
                    db.with_key(s.as_bytes(), Access::WRITE, |k| {
                        let v = format!("stable{}:{n}", n % 300);
                        k.put(Value::Str(v.into_bytes()), Ttl::Clear).expect("put");
                    });
                }
            })
        };
        let mut copy = ShardCopy::default();
        for _ in 0..300 {
            shards.copy_shard(0, &mut copy, 3);
            let mut keys = HashSet::new();
            copy.for_each(|e| {
                assert!(keys.insert(e.key.to_vec()), "copied twice");
                if e.key.starts_with(b"stable") {
                    assert!(matches!(e.value, ValueRef::Str(v) if v.starts_with(e.key)));
                }
            });
            let stable = keys.iter().filter(|k| k.starts_with(b"stable")).count();
            // Stable keys are there throughout, unless db 0 is swapped out for a moment.
            assert!(stable == 300 || swaps, "{stable}");
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().expect("churn thread");
        // Quiet now: a sliced copy has every key exactly once.
        let n = shards.copy_shard(0, &mut copy, 3);
        assert_eq!(n, db.dbsize());
    }

    #[test]
    fn restored_access_data_follows_the_policy() {
        let clock = Arc::new(ManualClock::new(50_000_000));
        let eng = Engine::with_clock(EngineConfig::default(), clock.clone());
        eng.set_policy(EvictionPolicy::AllKeysLru);
        let db = eng.db_unproven(0).expect("db 0");
        let shards = eng.db_shards(0).expect("db 0");
        db.with_key(b"a", Access::WRITE, |k| {
            k.put(Value::Str(b"1".to_vec()), Ttl::Clear).expect("put");
            k.set_access_meta(Some(300), Some(9));
        });
        let idle = db.with_key(b"a", Access::WRITE.no_touch(), |k| k.idle_ms());
        assert_eq!(idle, Some(300_000));
        let mut got = None;
        for s in 0..eng.shards_per_db() {
            shards.visit_shard(s, |e| got = Some(e.access));
        }
        assert_eq!(got, Some(AccessInfo::IdleSecs(300)));
        eng.set_policy(EvictionPolicy::AllKeysLfu);
        db.with_key(b"a", Access::WRITE.no_touch(), |k| {
            k.set_access_meta(Some(1), Some(42))
        });
        let freq = db.with_key(b"a", Access::WRITE.no_touch(), |k| k.lfu_freq());
        assert_eq!(freq, Some(42));
    }
}
