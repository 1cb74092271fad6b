//! The active expire cycle (Redis's `activeExpireCycle`, slow mode).
//!
//! Each call walks the shards of all databases from where the previous call stopped. In a shard
//! with keys that have a TTL it checks up to 20 of them (its volatile list, from a per-shard
//! rotating cursor, so every volatile key is eventually checked and keys without a TTL are never
//! looked at), deletes the expired ones, and repeats on that shard while more than 25% of the
//! checked keys were expired. It stops when the time budget is spent and resumes there next call;
//! it never walks the whole keyspace in one call. The server calls it `hz` times per second with
//! a budget of about 25% of `1000/hz` ms. It also maintains each database's `avg_ttl` estimate.
//!
//! The budget is measured with `Instant` (real time); expiry decisions use the engine's clock.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Engine, Shard};

/// Keys checked per shard per loop.
pub const KEYS_PER_LOOP: usize = 20;

#[derive(Debug, Default)]
struct Sample {
    sampled: usize,
    expired: usize,
    ttl_sum: u64,
    ttl_n: u64,
}

impl Engine {
    /// Runs one active expire cycle within `budget`; returns the number of keys it deleted.
    /// Returns 0 at once if another cycle is running or EXEC holds the gate.
    pub fn active_expire_cycle(&self, budget: Duration) -> usize {
        let Some(mut cursor) = self.expire_cursor.try_lock() else {
            return 0;
        };
        let Some(_gate) = self.gate.try_shared() else {
            return 0;
        };
        let start = Instant::now();
        let total = self.dbs.len() << self.shard_bits;
        let mask = (1usize << self.shard_bits) - 1;
        let mut gid = *cursor % total;
        let mut expired = 0;
        for _ in 0..total {
            let db = gid >> self.shard_bits;
            let cell = &self.dbs[db].shards[gid & mask];
            let mut next = (gid + 1) % total;
            if cell.vol.load(Ordering::Relaxed) > 0 {
                let mut g = cell.lock.lock();
                loop {
                    let now = self.clock.now_ms();
                    let s = self.expire_sample(&mut g, gid, now);
                    expired += s.expired;
                    if let Some(avg) = s.ttl_sum.checked_div(s.ttl_n) {
                        let a = &self.dbs[db].avg_ttl;
                        let old = a.load(Ordering::Relaxed);
                        let new = if old == 0 {
                            avg
                        } else {
                            (old / 50) * 49 + avg / 50
                        };
                        a.store(new, Ordering::Relaxed);
                    }
                    if s.sampled == 0 || s.expired * 4 <= s.sampled {
                        break;
                    }
                    if start.elapsed() >= budget {
                        next = gid;
                        break;
                    }
                }
                self.sync_shard(&mut g, cell, gid);
                drop(g);
                if start.elapsed() >= budget {
                    gid = next;
                    break;
                }
            }
            gid = next;
        }
        *cursor = gid;
        expired
    }

    fn expire_sample(&self, shard: &mut Shard, gid: usize, now: u64) -> Sample {
        let mut s = Sample::default();
        let n = KEYS_PER_LOOP.min(shard.table.volatile_len());
        for _ in 0..n {
            let vl = shard.table.volatile_len();
            if vl == 0 {
                break;
            }
            if shard.expire_cursor >= vl {
                shard.expire_cursor = 0;
            }
            let Some(pos) = shard.table.volatile_pos(shard.expire_cursor) else {
                break;
            };
            let Some(b) = shard.table.get(pos) else {
                break;
            };
            let at = b.expire().unwrap_or(u64::MAX);
            s.sampled += 1;
            if now > at {
                shard.watched.signal(b.key());
                self.report_removal(gid >> self.shard_bits, b.key(), super::Removal::Expired);
                self.events
                    .emit(super::KeyEvent::Expired, gid >> self.shard_bits, b.key());
                // The last volatile entry moves into this slot: do not advance the cursor.
                shard.table.remove(&self.hasher, pos);
                self.stats.expired.add(gid, 1);
                s.expired += 1;
            } else {
                s.ttl_sum += at - now;
                s.ttl_n += 1;
                shard.expire_cursor += 1;
            }
        }
        s
    }
}
