//! Key access under a shard lock: [`KeyRef`], [`Access`], [`Ttl`] and the multi-key
//! [`MultiGuard`].
//!
//! A `KeyRef` is created with its shard locked. On creation it applies lazy expiry (an expired
//! key is deleted, counted in `expired_keys`, signalled to watchers, and reads as absent), counts
//! a keyspace hit or miss if the [`Access`] asks for it, and refreshes the key's LRU/LFU field
//! unless told not to. Its mutators keep the shard's byte accounting, its volatile list and its
//! watchers up to date; when the `KeyRef` is dropped the shard's total is published to the global
//! `used_memory`. Emptied hashes, sets and lists are deleted, as Redis does.

use parking_lot::MutexGuard;

use super::block::{Block, Payload};
use super::evict::{idle_ms, lfu_decr};
use super::value::{
    parse_i64_strict, HashValue, Kind, ListValue, SetValue, Value, ValueRef, ZSetValue,
};
use super::{Engine, EngineError, Shard, ShardCell};

/// Largest string a write may produce (`proto-max-bulk-len`, 512 MB).
pub const MAX_STRING: usize = 512 * 1024 * 1024;

/// How a lookup counts and touches.
///
/// Read commands use [`Access::READ`] (counted in keyspace hits/misses, refreshes LRU/LFU);
/// write commands [`Access::WRITE`] (not counted, refreshes). `OBJECT`, `TYPE`-like
/// introspection add [`Access::no_touch`]; internal lookups add [`Access::no_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    stats: bool,
    touch: bool,
}

impl Access {
    /// A read: counted as hit or miss, touches.
    pub const READ: Access = Access {
        stats: true,
        touch: true,
    };
    /// A write: not counted, touches.
    pub const WRITE: Access = Access {
        stats: false,
        touch: true,
    };

    /// Does not refresh the LRU/LFU field.
    pub const fn no_touch(self) -> Self {
        Access {
            touch: false,
            ..self
        }
    }

    /// Is not counted in keyspace hits/misses.
    pub const fn no_stats(self) -> Self {
        Access {
            stats: false,
            ..self
        }
    }
}

/// What a value-replacing write does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Keep the current expiry (`SET ... KEEPTTL`); a new key gets none.
    Keep,
    /// Remove any expiry (plain `SET`).
    Clear,
    /// Expire at this absolute Unix time in ms (`SET ... PX`, `SETEX`).
    At(u64),
}

/// One key, with its shard locked (see the module header).
pub struct KeyRef<'a> {
    eng: &'a Engine,
    shard: &'a mut Shard,
    cell: &'a ShardCell,
    gid: usize,
    db: usize,
    key: &'a [u8],
    hash: u64,
    pos: Option<usize>,
    now: u64,
    modified: bool,
}

impl<'a> KeyRef<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        eng: &'a Engine,
        shard: &'a mut Shard,
        cell: &'a ShardCell,
        gid: usize,
        db: usize,
        key: &'a [u8],
        hash: u64,
        access: Access,
    ) -> Self {
        let now = eng.clock.now_ms();
        let mut pos = shard.table.find(hash, key);
        if let Some(p) = pos {
            let (expired, lru) = match shard.table.get(p) {
                Some(b) => (b.expire().is_some_and(|e| now > e), b.lru()),
                None => (false, 0),
            };
            if expired {
                shard.watched.signal(key);
                eng.report_removal(db, key, super::Removal::Expired);
                eng.events.emit(super::KeyEvent::Expired, db, key);
                shard.table.remove(&eng.hasher, p);
                eng.stats.expired.add(gid, 1);
                pos = None;
            } else if access.touch {
                shard.table.set_lru(p, eng.evictor.touched_lru(now, lru));
            }
        }
        if access.stats {
            if pos.is_some() {
                eng.stats.hits.add(gid, 1);
            } else {
                eng.stats.misses.add(gid, 1);
                eng.events.emit(super::KeyEvent::Miss, db, key);
            }
        }
        KeyRef {
            eng,
            shard,
            cell,
            gid,
            db,
            key,
            hash,
            pos,
            now,
            modified: false,
        }
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        self.key
    }

    /// The database index.
    pub fn db(&self) -> usize {
        self.db
    }

    /// The clock reading taken when the key was opened (Unix ms); use it for TTL replies.
    pub fn now_ms(&self) -> u64 {
        self.now
    }

    fn block(&self) -> Option<&Block> {
        self.pos.and_then(|p| self.shard.table.get(p))
    }

    /// True if the key exists (and is not expired).
    pub fn exists(&self) -> bool {
        self.pos.is_some()
    }

    /// The value.
    pub fn value(&self) -> Option<ValueRef<'_>> {
        self.block().map(Block::value)
    }

    /// The value's type.
    pub fn kind(&self) -> Option<Kind> {
        self.block().map(Block::kind)
    }

    /// The string value; `WrongType` for other types.
    pub fn as_str(&self) -> Result<Option<&[u8]>, EngineError> {
        match self.value() {
            None => Ok(None),
            Some(ValueRef::Str(s)) => Ok(Some(s)),
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The hash; `WrongType` for other types.
    pub fn as_hash(&self) -> Result<Option<&HashValue>, EngineError> {
        match self.value() {
            None => Ok(None),
            Some(ValueRef::Hash(h)) => Ok(Some(h)),
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The set; `WrongType` for other types.
    pub fn as_set(&self) -> Result<Option<&SetValue>, EngineError> {
        match self.value() {
            None => Ok(None),
            Some(ValueRef::Set(s)) => Ok(Some(s)),
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The list; `WrongType` for other types.
    pub fn as_list(&self) -> Result<Option<&ListValue>, EngineError> {
        match self.value() {
            None => Ok(None),
            Some(ValueRef::List(l)) => Ok(Some(l)),
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The sorted set; `WrongType` for other types.
    pub fn as_zset(&self) -> Result<Option<&ZSetValue>, EngineError> {
        match self.value() {
            None => Ok(None),
            Some(ValueRef::ZSet(z)) => Ok(Some(z)),
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The absolute expiry (Unix ms), if the key exists and has one.
    pub fn expire_at(&self) -> Option<u64> {
        self.block().and_then(Block::expire)
    }

    /// `OBJECT IDLETIME` in ms (meaningful under non-LFU policies).
    pub fn idle_ms(&self) -> Option<u64> {
        self.block().map(|b| idle_ms(self.now, b.lru()))
    }

    /// `OBJECT FREQ` (meaningful under LFU policies).
    pub fn lfu_freq(&self) -> Option<u8> {
        let decay = self
            .eng
            .evictor
            .lfu_decay_time
            .load(std::sync::atomic::Ordering::Relaxed);
        self.block().map(|b| lfu_decr(self.now, b.lru(), decay))
    }

    /// Sets the key's LRU/LFU field as `RESTORE ... IDLETIME`/`FREQ` and the RDB `IDLE`/`FREQ`
    /// opcodes do: `idle_secs` applies under non-LFU policies, `freq` under LFU ones; a value
    /// that does not apply to the current policy is ignored, as in Redis.
    pub fn set_access_meta(&mut self, idle_secs: Option<u64>, freq: Option<u8>) {
        let Some(pos) = self.pos else {
            return;
        };
        if let Some(lru) = self.eng.evictor.restored_lru(self.now, idle_secs, freq) {
            self.shard.table.set_lru(pos, lru);
        }
    }

    /// `MEMORY USAGE`: the entry's bytes plus its share of the table.
    pub fn memory_usage(&self) -> Option<usize> {
        self.block()
            .map(|b| b.mem_usage() + super::ENTRY_TABLE_OVERHEAD)
    }

    fn resolve(&self, ttl: Ttl) -> Option<u64> {
        match ttl {
            Ttl::Keep => self.expire_at(),
            Ttl::Clear => None,
            Ttl::At(t) => Some(t),
        }
    }

    fn insert_block(&mut self, block: Block) -> Result<usize, EngineError> {
        self.modified = true;
        match self.shard.table.insert(&self.eng.hasher, self.hash, block) {
            Ok(pos) => {
                self.pos = Some(pos);
                self.eng
                    .events
                    .emit(super::KeyEvent::New, self.db, self.key);
                Ok(pos)
            }
            Err(_) => Err(EngineError::Full),
        }
    }

    fn new_block(&self, payload: Payload<'_>, expire: Option<u64>) -> Block {
        Block::new(
            self.eng.evictor.new_lru(self.now),
            self.key,
            payload,
            expire,
        )
    }

    fn modify<R>(&mut self, f: impl FnOnce(&mut Block) -> R) -> Option<R> {
        self.modified = true;
        let pos = self.pos?;
        self.shard.table.modify(pos, f)
    }

    /// Creates or replaces the value (`SET`, `RESTORE`, the destination of `COPY`/`RENAME`).
    /// An empty hash, set or list is never stored: putting one deletes the key.
    pub fn put(&mut self, value: Value, ttl: Ttl) -> Result<(), EngineError> {
        let empty = match &value {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        };
        if empty {
            self.delete();
            return Ok(());
        }
        let expire = self.resolve(ttl);
        if self.pos.is_some() {
            self.modify(|b| b.set_value(value, expire));
            Ok(())
        } else {
            let b = Block::from_value(self.eng.evictor.new_lru(self.now), self.key, value, expire);
            self.insert_block(b).map(drop)
        }
    }

    /// Creates or replaces a string value without an intermediate allocation (`SET`).
    pub fn put_str(&mut self, value: &[u8], ttl: Ttl) -> Result<(), EngineError> {
        let expire = self.resolve(ttl);
        if self.pos.is_some() {
            self.modify(|b| b.set_str(value, expire));
            Ok(())
        } else {
            let b = self.new_block(Payload::Str(value), expire);
            self.insert_block(b).map(drop)
        }
    }

    /// `APPEND`: appends to a string (creating it); returns the new length.
    pub fn append(&mut self, tail: &[u8]) -> Result<usize, EngineError> {
        match self.as_str()? {
            None => {
                self.put_str(tail, Ttl::Keep)?;
                Ok(tail.len())
            }
            Some(s) => {
                let old = s.len();
                let new = old + tail.len();
                if new > MAX_STRING {
                    return Err(EngineError::TooLarge);
                }
                self.modify(|b| {
                    b.resize_str(new);
                    if let Some(s) = b.str_mut() {
                        s[old..].copy_from_slice(tail);
                    }
                });
                Ok(new)
            }
        }
    }

    /// Gives `f` the string's bytes, first creating the key (empty) if absent and zero-padding
    /// it to at least `min_len` bytes (`SETRANGE`, `SETBIT`, `BITFIELD`).
    pub fn modify_str<R>(
        &mut self,
        min_len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, EngineError> {
        if min_len > MAX_STRING {
            return Err(EngineError::TooLarge);
        }
        if self.as_str()?.is_none() {
            let b = self.new_block(Payload::Str(&[]), None);
            self.insert_block(b)?;
        }
        self.modify(|b| {
            if b.str_mut().is_some_and(|s| s.len() < min_len) {
                b.resize_str(min_len);
            }
            b.str_mut().map(f)
        })
        .flatten()
        .ok_or(EngineError::WrongType)
    }

    /// `SETRANGE`: overwrites at `offset`, zero-padding; returns the new length. An empty
    /// `bytes` creates nothing and changes nothing.
    pub fn set_range(&mut self, offset: usize, bytes: &[u8]) -> Result<usize, EngineError> {
        let cur = self.as_str()?.map_or(0, <[u8]>::len);
        if bytes.is_empty() {
            return Ok(cur);
        }
        let end = offset
            .checked_add(bytes.len())
            .ok_or(EngineError::TooLarge)?;
        self.modify_str(end, |s| {
            s[offset..end].copy_from_slice(bytes);
            s.len()
        })
    }

    /// `INCRBY`/`DECRBY`: adds `delta` to a string holding a canonical integer (a missing key
    /// counts as 0); keeps the expiry. Rewrites in place when the length does not change.
    pub fn incr_by(&mut self, delta: i64) -> Result<i64, EngineError> {
        let cur = match self.as_str()? {
            None => 0,
            Some(s) => parse_i64_strict(s).ok_or(EngineError::NotInteger)?,
        };
        let new = cur.checked_add(delta).ok_or(EngineError::Overflow)?;
        let mut buf = itoa::Buffer::new();
        let text = buf.format(new).as_bytes();
        if self.pos.is_some() {
            self.modify(|b| {
                let e = b.expire();
                b.set_str(text, e);
            });
        } else {
            let b = self.new_block(Payload::Str(text), None);
            self.insert_block(b)?;
        }
        Ok(new)
    }

    fn update_coll<T, R>(
        &mut self,
        kind: Kind,
        create: bool,
        make: impl FnOnce() -> Payload<'static>,
        get: impl FnOnce(&mut Block) -> Option<&mut T>,
        f: impl FnOnce(&mut T) -> R,
        is_empty: impl Fn(&Block) -> bool,
    ) -> Result<Option<R>, EngineError> {
        match self.kind() {
            None if !create => return Ok(None),
            None => {
                let b = self.new_block(make(), None);
                self.insert_block(b)?;
            }
            Some(k) if k != kind => return Err(EngineError::WrongType),
            Some(_) => {}
        }
        let r = self.modify(|b| get(b).map(f)).flatten();
        if self.block().is_some_and(is_empty) {
            self.delete();
        }
        Ok(r)
    }

    /// Runs `f` on the hash (creating an empty one first if absent and `create`); deletes the
    /// key if `f` leaves it empty. `Ok(None)` if absent and not created.
    pub fn update_hash<R>(
        &mut self,
        create: bool,
        f: impl FnOnce(&mut HashValue) -> R,
    ) -> Result<Option<R>, EngineError> {
        self.update_coll(
            Kind::Hash,
            create,
            || Payload::Hash(Box::default()),
            Block::hash_mut,
            f,
            |b| matches!(b.value(), ValueRef::Hash(h) if h.is_empty()),
        )
    }

    /// As [`KeyRef::update_hash`], for sets.
    pub fn update_set<R>(
        &mut self,
        create: bool,
        f: impl FnOnce(&mut SetValue) -> R,
    ) -> Result<Option<R>, EngineError> {
        self.update_coll(
            Kind::Set,
            create,
            || Payload::Set(Box::default()),
            Block::set_mut,
            f,
            |b| matches!(b.value(), ValueRef::Set(s) if s.is_empty()),
        )
    }

    /// As [`KeyRef::update_hash`], for lists.
    pub fn update_list<R>(
        &mut self,
        create: bool,
        f: impl FnOnce(&mut ListValue) -> R,
    ) -> Result<Option<R>, EngineError> {
        self.update_coll(
            Kind::List,
            create,
            || Payload::List(Box::default()),
            Block::list_mut,
            f,
            |b| matches!(b.value(), ValueRef::List(l) if l.is_empty()),
        )
    }

    /// As [`KeyRef::update_hash`], for sorted sets.
    pub fn update_zset<R>(
        &mut self,
        create: bool,
        f: impl FnOnce(&mut ZSetValue) -> R,
    ) -> Result<Option<R>, EngineError> {
        self.update_coll(
            Kind::ZSet,
            create,
            || Payload::ZSet(Box::default()),
            Block::zset_mut,
            f,
            |b| matches!(b.value(), ValueRef::ZSet(z) if z.is_empty()),
        )
    }

    /// Sets (`Some`) or removes (`None`) the expiry; false if the key does not exist. An expiry
    /// in the past is stored as given; the command layer deletes the key instead, as Redis's
    /// EXPIRE does.
    pub fn set_expire_at(&mut self, at: Option<u64>) -> bool {
        if self.pos.is_none() {
            return false;
        }
        self.modify(|b| b.set_expire(at));
        true
    }

    /// Deletes the key; true if it existed.
    pub fn delete(&mut self) -> bool {
        self.take_block().is_some()
    }

    /// Removes the key and returns its value.
    pub fn take(&mut self) -> Option<Value> {
        self.take_block().map(Block::into_value)
    }

    fn take_block(&mut self) -> Option<Block> {
        let pos = self.pos.take()?;
        self.modified = true;
        self.shard.table.remove(&self.eng.hasher, pos)
    }
}

impl Drop for KeyRef<'_> {
    fn drop(&mut self) {
        if self.modified {
            self.shard.watched.signal(self.key);
            self.eng
                .events
                .emit(super::KeyEvent::Modified, self.db, self.key);
            self.eng.add_dirty(self.gid, 1);
        }
        self.eng.sync_shard(self.shard, self.cell, self.gid);
    }
}

/// Several keys locked at once, possibly in several databases (MSET, RENAME, COPY, MOVE,
/// SMOVE, ...). Created by [`Engine::lock_keys`], which locks the shards involved in ascending
/// global shard order (a shard needed twice is locked once), so multi-key operations cannot
/// deadlock with each other or with single-key ones. Access the keys one at a time by index.
pub struct MultiGuard<'e, 'k> {
    pub(crate) eng: &'e Engine,
    pub(crate) locks: Vec<(usize, MutexGuard<'e, Shard>)>,
    pub(crate) keys: Vec<(usize, &'k [u8], u64, usize)>,
}

impl MultiGuard<'_, '_> {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no keys were given.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `i`-th key as given to `lock_keys`; `None` if out of range.
    pub fn key(&mut self, i: usize, access: Access) -> Option<KeyRef<'_>> {
        let &(db, key, hash, li) = self.keys.get(i)?;
        self.open_in(li, db, key, hash, access)
    }

    /// Key `key` of database `db`, if this guard holds its shard (one from
    /// [`super::Engine::lock_db`] holds every shard of its database); `None` otherwise.
    pub fn open<'s>(&'s mut self, db: usize, key: &'s [u8], access: Access) -> Option<KeyRef<'s>> {
        let hash = self.eng.hasher.hash(key);
        let gid = self.eng.gid(db, self.eng.shard_of(hash));
        let li = self.locks.binary_search_by_key(&gid, |(g, _)| *g).ok()?;
        self.open_in(li, db, key, hash, access)
    }

    /// `key` (hash `hash`) of database `db`, in the shard of lock `li`.
    fn open_in<'s>(
        &'s mut self,
        li: usize,
        db: usize,
        key: &'s [u8],
        hash: u64,
        access: Access,
    ) -> Option<KeyRef<'s>> {
        let eng = self.eng;
        let (gid, guard) = self.locks.get_mut(li)?;
        let gid = *gid;
        Some(KeyRef::open(
            eng,
            guard,
            eng.cell(gid),
            gid,
            db,
            key,
            hash,
            access,
        ))
    }
}
