//! Bulk insertion of keys read from a file (an RDB file, the RDB base of an append-only file).
//!
//! A load inserts keys that are new by construction, one after the other, before any client
//! is served; so where a command opens a [`super::KeyRef`] (lazy expiry, keyspace statistics,
//! LRU refresh), a loaded key is only checked for being a duplicate and inserted, its block
//! built straight from the bytes read ([`LoadValue::Str`]). [`DbShards::reserve`] sizes every
//! shard of a database once from the count the file declares (`RESIZEDB`), as Redis expands
//! its dictionaries, so the shard tables are not rebuilt while growing. No eviction runs during
//! a load (as in Redis); the memory is accounted as usual.

use super::block::{Block, Payload};
use super::value::Value;
use super::{DbShards, EngineError};

/// A value read from a file, to be stored under a new key.
#[derive(Debug)]
pub enum LoadValue<'a> {
    /// A string, borrowed from the reader's buffer.
    Str(&'a [u8]),
    /// Any value (an empty collection is not stored).
    Value(Value),
}

/// What [`DbShards::insert_loaded`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// The key was added.
    Added,
    /// The key already exists: nothing was changed.
    Duplicate,
    /// The value is an empty collection: nothing was stored (Redis skips empty keys too).
    Empty,
}

/// Fewer keys than this are not reserved for.
const MIN_RESERVE: usize = 4096;

/// How the keys of one database spread over its shards: the average plus a margin for the
/// hash's spread (a few standard deviations at any size).
fn per_shard(keys: usize, shards: usize) -> usize {
    let avg = keys / shards.max(1);
    avg + avg / 16 + 16
}

impl DbShards<'_> {
    /// Makes room in every shard for `keys` more keys in this database (spread as the keys'
    /// hashes spread them), so loading that many grows no table. Best effort: a shard that
    /// cannot hold its share is left as it is. Below 4 096 keys it does nothing
    /// (growing is cheap there, and empty shards stay unallocated).
    pub fn reserve(&self, keys: usize) {
        if keys < MIN_RESERVE {
            return;
        }
        let eng = self.eng;
        let shards = &eng.dbs[self.db].shards;
        let each = per_shard(keys, shards.len());
        for (s, cell) in shards.iter().enumerate() {
            let mut g = cell.lock.lock();
            g.table.reserve(&eng.hasher, each);
            eng.sync_shard(&mut g, cell, eng.gid(self.db, s));
        }
    }

    /// Inserts a key read from a file, unless it exists: `expire_ms` is its absolute expiry,
    /// `idle_secs`/`freq` its recorded access (applied as `RESTORE IDLETIME|FREQ` does; a key
    /// without them gets a fresh LRU/LFU field as of `now_ms`). The change counts as a write
    /// (watchers of the key are signalled, the change counter moves).
    pub fn insert_loaded(
        &self,
        key: &[u8],
        value: LoadValue<'_>,
        expire_ms: Option<u64>,
        idle_secs: Option<u64>,
        freq: Option<u8>,
        now_ms: u64,
    ) -> Result<Loaded, EngineError> {
        let eng = self.eng;
        let h = eng.hasher.hash(key);
        let s = eng.shard_of(h);
        let cell = &eng.dbs[self.db].shards[s];
        let gid = eng.gid(self.db, s);
        let mut g = cell.lock.lock();
        if g.table.find(h, key).is_some() {
            return Ok(Loaded::Duplicate);
        }
        let lru = eng
            .evictor
            .restored_lru(now_ms, idle_secs, freq)
            .unwrap_or_else(|| eng.evictor.new_lru(now_ms));
        let block = match value {
            LoadValue::Str(v) => Block::new(lru, key, Payload::Str(v), expire_ms),
            LoadValue::Value(v) => {
                let empty = match &v {
                    Value::Str(_) => false,
                    Value::Hash(x) => x.is_empty(),
                    Value::Set(x) => x.is_empty(),
                    Value::List(x) => x.is_empty(),
                    Value::ZSet(x) => x.is_empty(),
                };
                if empty {
                    return Ok(Loaded::Empty);
                }
                Block::from_value(lru, key, v, expire_ms)
            }
        };
        if g.table.insert(&eng.hasher, h, block).is_err() {
            return Err(EngineError::Full);
        }
        g.watched.signal(key);
        eng.add_dirty(gid, 1);
        eng.sync_shard(&mut g, cell, gid);
        Ok(Loaded::Added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Access, Engine, EngineConfig, SetValue, ValueRef};

    #[test]
    fn loaded_keys_read_back_and_duplicates_are_refused() {
        let eng = Engine::new(EngineConfig::default());
        let db = eng.db_unproven(2).expect("db 2");
        let shards = eng.db_shards(2).expect("db 2");
        shards.reserve(5000);
        let now = eng.now_ms();
        let used0 = eng.used_memory();
        for i in 0..5000 {
            let key = format!("key:{i}");
            let val = format!("value-{i}");
            let got = shards.insert_loaded(
                key.as_bytes(),
                LoadValue::Str(val.as_bytes()),
                (i % 2 == 0).then_some(now + 60_000),
                None,
                None,
                now,
            );
            assert_eq!(got, Ok(Loaded::Added));
        }
        assert_eq!(db.dbsize(), 5000);
        assert_eq!(db.info().expires, 2500);
        assert!(eng.used_memory() > used0 + 5000 * 20);
        db.with_key(b"key:42", Access::READ, |k| {
            assert!(matches!(k.value(), Some(ValueRef::Str(b"value-42"))));
            assert_eq!(k.expire_at(), Some(now + 60_000));
        });
        let again = shards.insert_loaded(b"key:7", LoadValue::Str(b"x"), None, None, None, now);
        assert_eq!(again, Ok(Loaded::Duplicate));
        db.with_key(b"key:7", Access::READ, |k| {
            assert!(matches!(k.value(), Some(ValueRef::Str(b"value-7"))));
        });
        let empty = LoadValue::Value(Value::Set(SetValue::new()));
        assert_eq!(
            shards.insert_loaded(b"empty", empty, None, None, None, now),
            Ok(Loaded::Empty)
        );
        assert_eq!(db.dbsize(), 5000);
        assert_eq!(eng.db_unproven(0).expect("db 0").dbsize(), 0);
    }

    #[test]
    fn reserve_sizes_shards_for_their_share() {
        assert!(per_shard(1_000_000, 64) >= 15_625 + 4 * 125);
        assert_eq!(per_shard(0, 64), 16);
        let eng = Engine::new(EngineConfig::default());
        let shards = eng.db_shards(0).expect("db 0");
        let before = eng.used_memory();
        shards.reserve(MIN_RESERVE - 1);
        assert_eq!(
            eng.used_memory(),
            before,
            "a small database is not reserved for"
        );
        shards.reserve(100_000);
        // The reserved arrays are accounted at once.
        assert!(eng.used_memory() >= before + 100_000 * 8);
    }
}
