//! Eviction: `maxmemory`, `maxmemory-policy`, `maxmemory-samples`, and the LRU/LFU clocks.
//!
//! Mirrors Redis 7's `performEvictions`: while `used_memory > maxmemory`, sample
//! `maxmemory-samples` keys per database (from one random non-empty shard; among keys with a TTL
//! for `volatile-*` policies) into a pool of the 16 best candidates, ranked by idle time (LRU),
//! `255 - counter` (LFU) or nearness of expiry (TTL); then delete the best pool entry that still
//! exists. `*-random` policies delete a random key, rotating over databases. Evictions are
//! serialized by the pool lock (lock order: pool, then one shard at a time); a caller that finds
//! memory already under the limit once it gets the lock returns at once.
//!
//! The LRU/LFU data is Redis's 24-bit `lru` field: under an LRU (or non-LFU) policy, the Unix
//! time in seconds modulo 2^24; under an LFU policy, 16 bits of Unix minutes (last decrement time)
//! and an 8-bit logarithmic counter (`lfu-log-factor` 10, `lfu-decay-time` 1 minute, new keys
//! start at 5). Switching between LRU and LFU policies at run time reinterprets existing fields,
//! as Redis does.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::error::Oom;
use super::hash::{rand_below, rand_f64};
use super::table::Table;
use super::{Engine, Shard};

/// Largest value of the 24-bit LRU clock.
pub(crate) const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Initial LFU counter of a new key.
pub const LFU_INIT_VAL: u8 = 5;
/// Size of the eviction pool.
pub const EVPOOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Refuse writes over the limit.
    #[default]
    NoEviction,
    /// Least recently used among all keys.
    AllKeysLru,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among all keys.
    AllKeysLfu,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Random among all keys.
    AllKeysRandom,
    /// Random among keys with a TTL.
    VolatileRandom,
    /// Nearest expiry first among keys with a TTL.
    VolatileTtl,
}

const POLICIES: [(EvictionPolicy, &str); 8] = [
    (EvictionPolicy::NoEviction, "noeviction"),
    (EvictionPolicy::AllKeysLru, "allkeys-lru"),
    (EvictionPolicy::VolatileLru, "volatile-lru"),
    (EvictionPolicy::AllKeysLfu, "allkeys-lfu"),
    (EvictionPolicy::VolatileLfu, "volatile-lfu"),
    (EvictionPolicy::AllKeysRandom, "allkeys-random"),
    (EvictionPolicy::VolatileRandom, "volatile-random"),
    (EvictionPolicy::VolatileTtl, "volatile-ttl"),
];

impl EvictionPolicy {
    /// The `CONFIG GET maxmemory-policy` name.
    pub fn as_str(self) -> &'static str {
        POLICIES[self as usize].1
    }

    /// True for `allkeys-lfu` and `volatile-lfu`.
    pub fn is_lfu(self) -> bool {
        matches!(self, Self::AllKeysLfu | Self::VolatileLfu)
    }

    /// True for policies that only evict keys with a TTL.
    pub fn is_volatile(self) -> bool {
        matches!(
            self,
            Self::VolatileLru | Self::VolatileLfu | Self::VolatileRandom | Self::VolatileTtl
        )
    }

    fn from_u8(v: u8) -> Self {
        POLICIES
            .get(usize::from(v))
            .map_or(Self::NoEviction, |p| p.0)
    }
}

impl FromStr for EvictionPolicy {
    type Err = ();
    /// Parses a policy name, case-insensitively (as `CONFIG SET` accepts it).
    fn from_str(s: &str) -> Result<Self, ()> {
        POLICIES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|p| p.0)
            .ok_or(())
    }
}

impl std::fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The LRU clock: Unix seconds modulo 2^24.
#[inline]
pub(crate) fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Estimated idle milliseconds of an object whose LRU field is `lru` (Redis's
/// `estimateObjectIdleTime`).
#[inline]
pub(crate) fn idle_ms(now_ms: u64, lru: u32) -> u64 {
    let c = lru_clock(now_ms);
    let secs = if c >= lru {
        c - lru
    } else {
        c + (LRU_CLOCK_MAX - lru)
    };
    u64::from(secs) * 1000
}

#[inline]
pub(crate) fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

fn lfu_elapsed_minutes(now_ms: u64, ldt: u32) -> u32 {
    let now = lfu_minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The LFU counter after decay (Redis's `LFUDecrAndReturn`).
pub(crate) fn lfu_decr(now_ms: u64, lru: u32, decay_time: u32) -> u8 {
    let ldt = lru >> 8;
    let counter = (lru & 0xFF) as u8;
    let periods = lfu_elapsed_minutes(now_ms, ldt)
        .checked_div(decay_time)
        .unwrap_or(0);
    if periods == 0 {
        counter
    } else if periods > u32::from(counter) {
        0
    } else {
        counter - periods as u8
    }
}

/// Logarithmic increment (Redis's `LFULogIncr`).
pub(crate) fn lfu_log_incr(counter: u8, log_factor: u32) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if rand_f64() < p {
        counter + 1
    } else {
        counter
    }
}

/// Run-time eviction settings and the pool.
#[derive(Debug)]
pub(crate) struct Evictor {
    pub(crate) maxmemory: AtomicU64,
    policy: AtomicU8,
    pub(crate) samples: AtomicUsize,
    pub(crate) lfu_log_factor: AtomicU32,
    pub(crate) lfu_decay_time: AtomicU32,
    next_db: AtomicUsize,
    pool: Mutex<Pool>,
}

impl Evictor {
    pub(crate) fn new(maxmemory: u64, policy: EvictionPolicy, samples: usize) -> Self {
        Self {
            maxmemory: AtomicU64::new(maxmemory),
            policy: AtomicU8::new(policy as u8),
            samples: AtomicUsize::new(samples.max(1)),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            next_db: AtomicUsize::new(0),
            pool: Mutex::new(Pool::default()),
        }
    }

    #[inline]
    pub(crate) fn policy(&self) -> EvictionPolicy {
        EvictionPolicy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub(crate) fn set_policy(&self, p: EvictionPolicy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }

    /// The 24-bit field for a new key.
    #[inline]
    pub(crate) fn new_lru(&self, now_ms: u64) -> u32 {
        if self.policy().is_lfu() {
            (lfu_minutes(now_ms) << 8) | u32::from(LFU_INIT_VAL)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The 24-bit field of a key restored with a given idle time or frequency (Redis's
    /// `objectSetLRUOrLFU`): under an LFU policy `freq` sets the counter; under the others
    /// `idle_secs` dates the last access back. `None` when what is given does not apply.
    pub(crate) fn restored_lru(
        &self,
        now_ms: u64,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) -> Option<u32> {
        if self.policy().is_lfu() {
            freq.map(|f| (lfu_minutes(now_ms) << 8) | u32::from(f))
        } else {
            let idle = idle_secs?;
            let clock = u64::from(lru_clock(now_ms));
            let max = u64::from(LRU_CLOCK_MAX);
            let idle = idle.min(max);
            Some(if idle <= clock {
                (clock - idle) as u32
            } else {
                (max - (idle - clock)) as u32
            })
        }
    }

    /// The 24-bit field after an access.
    #[inline]
    pub(crate) fn touched_lru(&self, now_ms: u64, lru: u32) -> u32 {
        if self.policy().is_lfu() {
            let c = lfu_decr(now_ms, lru, self.lfu_decay_time.load(Ordering::Relaxed));
            let c = lfu_log_incr(c, self.lfu_log_factor.load(Ordering::Relaxed));
            (lfu_minutes(now_ms) << 8) | u32::from(c)
        } else {
            lru_clock(now_ms)
        }
    }
}

/// One pool candidate; `key` buffers are reused.
#[derive(Debug, Default)]
struct Candidate {
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// The eviction pool: up to 16 candidates, sorted by ascending score (best last).
#[derive(Debug, Default)]
struct Pool {
    items: Vec<Candidate>,
    spare: Vec<Vec<u8>>,
    policy: Option<EvictionPolicy>,
}

impl Pool {
    /// Empties the pool if it was filled under another policy (scores are not comparable).
    fn prepare(&mut self, policy: EvictionPolicy) {
        if self.policy != Some(policy) {
            while let Some(c) = self.items.pop() {
                self.spare.push(c.key);
            }
            self.policy = Some(policy);
        }
    }

    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.items.len() == EVPOOL_SIZE && self.items.first().is_some_and(|c| score <= c.score) {
            return;
        }
        if self.items.iter().any(|c| c.db == db && c.key == key) {
            return;
        }
        let at = self.items.partition_point(|c| c.score < score);
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(key);
        self.items.insert(
            at,
            Candidate {
                score,
                db,
                key: buf,
            },
        );
        if self.items.len() > EVPOOL_SIZE {
            let dropped = self.items.remove(0);
            self.spare.push(dropped.key);
        }
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.items.pop()
    }

    fn recycle(&mut self, c: Candidate) {
        self.spare.push(c.key);
    }
}

impl Engine {
    /// Frees memory by eviction until `used_memory <= maxmemory` (Redis's `performEvictions`).
    ///
    /// The command layer calls this before every command flagged `denyoom` (writes that may
    /// grow memory), with no shard lock held. `Err(Oom)` means the command must be refused:
    /// the policy is `noeviction`, or nothing evictable is left (e.g. a `volatile-*` policy and
    /// no key with a TTL).
    pub fn ensure_memory(&self) -> Result<(), Oom> {
        let max = self.evictor.maxmemory.load(Ordering::Relaxed);
        if max == 0 || self.used.upper_bound() <= max || self.used_memory() <= max {
            return Ok(());
        }
        let policy = self.evictor.policy();
        if policy == EvictionPolicy::NoEviction {
            return Err(Oom);
        }
        let mut pool = self.evictor.pool.lock();
        while self.used_memory() > self.evictor.maxmemory.load(Ordering::Relaxed) {
            let freed = match policy {
                EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => {
                    self.evict_random(policy.is_volatile())
                }
                _ => self.evict_from_pool(&mut pool, policy),
            };
            if !freed {
                let limit = self.evictor.maxmemory.load(Ordering::Relaxed);
                return if limit == 0 || self.used_memory() <= limit {
                    Ok(())
                } else {
                    Err(Oom)
                };
            }
        }
        Ok(())
    }

    /// Picks a random non-empty shard of `db` (by the lock-free length hints).
    pub(crate) fn random_shard(&self, db: usize, volatile: bool) -> Option<usize> {
        let shards = &self.dbs[db].shards;
        let start = rand_below(shards.len());
        (0..shards.len())
            .map(|i| (start + i) & (shards.len() - 1))
            .find(|&s| {
                let c = &shards[s];
                if volatile {
                    c.vol.load(Ordering::Relaxed) > 0
                } else {
                    c.len.load(Ordering::Relaxed) > 0
                }
            })
    }

    fn evict_random(&self, volatile: bool) -> bool {
        for _ in 0..self.dbs.len() {
            let db = self.evictor.next_db.fetch_add(1, Ordering::Relaxed) % self.dbs.len();
            let Some(s) = self.random_shard(db, volatile) else {
                continue;
            };
            let cell = &self.dbs[db].shards[s];
            let mut g = cell.lock.lock();
            let pos = if volatile {
                g.table.random_volatile_pos()
            } else {
                g.table.random_pos()
            };
            if let Some(pos) = pos {
                if self.evict_at(&mut g, db, pos) {
                    self.sync_shard(&mut g, cell, self.gid(db, s));
                    return true;
                }
            }
        }
        false
    }

    fn evict_at(&self, shard: &mut Shard, db: usize, pos: usize) -> bool {
        let Some(block) = shard.table.get(pos) else {
            return false;
        };
        shard.watched.signal(block.key());
        self.report_removal(db, block.key(), super::Removal::Evicted);
        self.events.emit(super::KeyEvent::Evicted, db, block.key());
        if shard.table.remove(&self.hasher, pos).is_some() {
            self.stats.evicted.add(0, 1);
            true
        } else {
            false
        }
    }

    fn sample_into(
        &self,
        table: &Table,
        db: usize,
        pool: &mut Pool,
        policy: EvictionPolicy,
    ) -> usize {
        let n = self.evictor.samples.load(Ordering::Relaxed).max(1);
        let volatile = policy.is_volatile();
        let count = if volatile {
            table.volatile_len()
        } else {
            table.len()
        };
        if count == 0 {
            return 0;
        }
        let now = self.clock.now_ms();
        let decay = self.evictor.lfu_decay_time.load(Ordering::Relaxed);
        for _ in 0..n.min(count) {
            let pos = if volatile {
                table.random_volatile_pos()
            } else {
                table.random_pos()
            };
            let Some(b) = pos.and_then(|p| table.get(p)) else {
                continue;
            };
            let score = match policy {
                EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                    255 - u64::from(lfu_decr(now, b.lru(), decay))
                }
                EvictionPolicy::VolatileTtl => u64::MAX - b.expire().unwrap_or(u64::MAX),
                _ => idle_ms(now, b.lru()),
            };
            pool.offer(score, db, b.key());
        }
        n.min(count)
    }

    fn evict_from_pool(&self, pool: &mut Pool, policy: EvictionPolicy) -> bool {
        pool.prepare(policy);
        for _ in 0..64 {
            let mut sampled = 0;
            for db in 0..self.dbs.len() {
                if let Some(s) = self.random_shard(db, policy.is_volatile()) {
                    let g = self.dbs[db].shards[s].lock.lock();
                    sampled += self.sample_into(&g.table, db, pool, policy);
                }
            }
            if sampled == 0 {
                return false;
            }
            while let Some(c) = pool.pop_best() {
                let h = self.hasher.hash(&c.key);
                let s = self.shard_of(h);
                let cell = &self.dbs[c.db].shards[s];
                let mut g = cell.lock.lock();
                let found = g.table.find(h, &c.key).filter(|&p| {
                    !policy.is_volatile() || g.table.get(p).is_some_and(|b| b.is_volatile())
                });
                let evicted = found.is_some_and(|pos| self.evict_at(&mut g, c.db, pos));
                if evicted {
                    self.sync_shard(&mut g, cell, self.gid(c.db, s));
                }
                drop(g);
                pool.recycle(c);
                if evicted {
                    return true;
                }
            }
        }
        false
    }

    /// Sets `maxmemory` in bytes (0 = no limit).
    pub fn set_maxmemory(&self, bytes: u64) {
        self.evictor.maxmemory.store(bytes, Ordering::Relaxed);
    }

    /// `maxmemory` in bytes.
    pub fn maxmemory(&self) -> u64 {
        self.evictor.maxmemory.load(Ordering::Relaxed)
    }

    /// Sets `maxmemory-policy`.
    pub fn set_policy(&self, policy: EvictionPolicy) {
        self.evictor.set_policy(policy);
    }

    /// `maxmemory-policy`.
    pub fn policy(&self) -> EvictionPolicy {
        self.evictor.policy()
    }

    /// Sets `maxmemory-samples` (at least 1).
    pub fn set_samples(&self, n: usize) {
        self.evictor.samples.store(n.max(1), Ordering::Relaxed);
    }

    /// `maxmemory-samples`.
    pub fn samples(&self) -> usize {
        self.evictor.samples.load(Ordering::Relaxed)
    }

    /// Sets `lfu-log-factor`.
    pub fn set_lfu_log_factor(&self, f: u32) {
        self.evictor.lfu_log_factor.store(f, Ordering::Relaxed);
    }

    /// Sets `lfu-decay-time` in minutes (0 = never decay).
    pub fn set_lfu_decay_time(&self, minutes: u32) {
        self.evictor
            .lfu_decay_time
            .store(minutes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for (p, n) in POLICIES {
            assert_eq!(p.as_str(), n);
            assert_eq!(n.parse::<EvictionPolicy>(), Ok(p));
            assert_eq!(n.to_uppercase().parse::<EvictionPolicy>(), Ok(p));
        }
        assert!("lru".parse::<EvictionPolicy>().is_err());
        assert!(EvictionPolicy::VolatileTtl.is_volatile());
        assert!(!EvictionPolicy::AllKeysLfu.is_volatile());
        assert!(EvictionPolicy::AllKeysLfu.is_lfu());
    }

    #[test]
    fn lru_idle_time_wraps_like_redis() {
        let now = 1_700_000_000_000u64;
        assert_eq!(idle_ms(now, lru_clock(now)), 0);
        assert_eq!(idle_ms(now + 5_000, lru_clock(now)), 5_000);
        let wrap = u64::from(LRU_CLOCK_MAX) * 1000;
        assert_eq!(idle_ms(wrap + 2_000, LRU_CLOCK_MAX - 1), 2_000);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut c = LFU_INIT_VAL;
        for _ in 0..100 {
            c = lfu_log_incr(c, 10);
        }
        assert!(c > LFU_INIT_VAL && c < 30, "{c}");
        let mut hot = LFU_INIT_VAL;
        for _ in 0..1_000_000 {
            hot = lfu_log_incr(hot, 10);
        }
        assert!(hot > 100, "{hot}");
        let now = 1_700_000_000_000u64;
        let lru = (lfu_minutes(now) << 8) | 20;
        assert_eq!(lfu_decr(now, lru, 1), 20);
        assert_eq!(lfu_decr(now + 5 * 60_000, lru, 1), 15);
        assert_eq!(lfu_decr(now + 30 * 60_000, lru, 1), 0);
        assert_eq!(lfu_decr(now + 30 * 60_000, lru, 0), 20);
    }

    #[test]
    fn pool_keeps_the_best_sixteen() {
        let mut p = Pool::default();
        for i in 0..100u64 {
            p.offer(i, 0, format!("k{i}").as_bytes());
        }
        p.offer(99, 0, b"k99");
        assert_eq!(p.items.len(), EVPOOL_SIZE);
        let best = p.pop_best().expect("non-empty");
        assert_eq!((best.score, best.key.as_slice()), (99, &b"k99"[..]));
        assert_eq!(p.items.first().map(|c| c.score), Some(84));
    }
}
