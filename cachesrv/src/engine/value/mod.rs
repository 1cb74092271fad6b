//! Values stored under keys: strings, hashes, sets, lists and sorted sets (in `zset`).
//!
//! Strings are stored inline in the entry block (see `block`), so they never appear here as an
//! owned type except in [`Value::Str`], used to move a value in or out of the keyspace. The three
//! collection types wrap a standard container and keep, incrementally, the heap bytes of their
//! elements and the facts Redis's `OBJECT ENCODING` depends on, so [`HashValue::mem_usage`] and
//! `encoding()` are O(1). Their mutators are the only way to change them, which keeps those
//! counters exact; `modify` escape hatches recount in O(n) for bulk operations.
//!
//! Encodings mirror Redis 7.2 with default limits: hash `listpack` up to 128 fields of at most 64
//! bytes, else `hashtable`; set `intset` up to 512 integers, `listpack` up to 128 members of at
//! most 64 bytes, else `hashtable`; list `listpack` up to 128 elements of at most 64 bytes, else
//! `quicklist`. Like Redis, a hash or set never converts back to a smaller encoding.

use std::collections::VecDeque;

use indexmap::{IndexMap, IndexSet};

use super::hash::rand_below;
use super::memory::{alloc_size, bytes_size, swiss_index_size};
pub use super::zset::ZSetValue;

/// `hash-max-listpack-entries`, `set-max-listpack-entries`, list listpack limit.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// `hash-max-listpack-value`, `set-max-listpack-value`, list listpack element limit.
pub const LISTPACK_MAX_VALUE: usize = 64;
/// `set-max-intset-entries`.
pub const INTSET_MAX_ENTRIES: usize = 512;
/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// The type of a value, as `TYPE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `string`
    Str,
    /// `hash`
    Hash,
    /// `set`
    Set,
    /// `list`
    List,
    /// `zset`
    ZSet,
}

impl Kind {
    /// The `TYPE` reply: `string`, `hash`, `set` or `list`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::List => "list",
            Kind::ZSet => "zset",
        }
    }
}

/// Parses a string the way Redis's `string2ll` does: optional `-`, no `+`, no leading zeros, no
/// spaces, within `i64`. Used for `INCR` and for the `int` encoding.
#[inline]
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    protocol::number::parse_i64(s)
}

/// `OBJECT ENCODING` of a string: `int`, `embstr` or `raw`.
pub fn str_encoding(s: &[u8]) -> &'static str {
    if parse_i64_strict(s).is_some() {
        "int"
    } else if s.len() <= EMBSTR_MAX {
        "embstr"
    } else {
        "raw"
    }
}

fn boxed(b: &[u8]) -> Box<[u8]> {
    Box::from(b)
}

/// An owned value, used to move values into and out of the keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A byte string.
    Str(Vec<u8>),
    /// A hash.
    Hash(HashValue),
    /// A set.
    Set(SetValue),
    /// A list.
    List(ListValue),
    /// A sorted set.
    ZSet(ZSetValue),
}

impl Value {
    /// The value's type.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::Str,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::List(_) => Kind::List,
            Value::ZSet(_) => Kind::ZSet,
        }
    }

    /// The `TYPE` reply.
    pub fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }

    /// The `OBJECT ENCODING` reply.
    pub fn encoding(&self) -> &'static str {
        self.as_ref().encoding()
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Str(s) => ValueRef::Str(s),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::Set(s) => ValueRef::Set(s),
            Value::List(l) => ValueRef::List(l),
            Value::ZSet(z) => ValueRef::ZSet(z),
        }
    }
}

/// A borrowed view of a stored value.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A byte string.
    Str(&'a [u8]),
    /// A hash.
    Hash(&'a HashValue),
    /// A set.
    Set(&'a SetValue),
    /// A list.
    List(&'a ListValue),
    /// A sorted set.
    ZSet(&'a ZSetValue),
}

impl ValueRef<'_> {
    /// The value's type.
    pub fn kind(&self) -> Kind {
        match self {
            ValueRef::Str(_) => Kind::Str,
            ValueRef::Hash(_) => Kind::Hash,
            ValueRef::Set(_) => Kind::Set,
            ValueRef::List(_) => Kind::List,
            ValueRef::ZSet(_) => Kind::ZSet,
        }
    }

    /// The `TYPE` reply.
    pub fn type_name(&self) -> &'static str {
        self.kind().type_name()
    }

    /// The `OBJECT ENCODING` reply.
    pub fn encoding(&self) -> &'static str {
        match self {
            ValueRef::Str(s) => str_encoding(s),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::List(l) => l.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
        }
    }

    /// An owned copy (for `COPY`, `DUMP`-like uses).
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Str(s) => Value::Str(s.to_vec()),
            ValueRef::Hash(h) => Value::Hash(h.clone()),
            ValueRef::Set(s) => Value::Set(s.clone()),
            ValueRef::List(l) => Value::List(l.clone()),
            ValueRef::ZSet(z) => Value::ZSet((*z).clone()),
        }
    }
}

/// A hash: field -> value, with O(1) random access for `HRANDFIELD`.
#[derive(Debug, Clone, Default)]
pub struct HashValue {
    map: IndexMap<Box<[u8]>, Box<[u8]>>,
    elem_bytes: usize,
    big: usize,
    hashtable: bool,
}

impl PartialEq for HashValue {
    fn eq(&self, other: &Self) -> bool {
        self.map.len() == other.map.len()
            && self
                .map
                .iter()
                .all(|(k, v)| other.map.get(k).is_some_and(|o| o == v))
    }
}
impl Eq for HashValue {}

impl HashValue {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fields (`HLEN`).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.map.get(field).map(|v| &**v)
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.map.contains_key(field)
    }

    /// Sets `field` to `value`; true if the field is new (`HSET` counts these).
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(old) = self.map.get_mut(field) {
            let old_len = old.len();
            if old_len == value.len() {
                old.copy_from_slice(value);
            } else {
                *old = boxed(value);
                self.elem_bytes = self.elem_bytes - bytes_size(old_len) + bytes_size(value.len());
                self.big = self.big - usize::from(old_len > LISTPACK_MAX_VALUE)
                    + usize::from(value.len() > LISTPACK_MAX_VALUE);
            }
            self.update_encoding();
            false
        } else {
            self.elem_bytes += bytes_size(field.len()) + bytes_size(value.len());
            self.big += usize::from(field.len() > LISTPACK_MAX_VALUE)
                + usize::from(value.len() > LISTPACK_MAX_VALUE);
            self.map.insert(boxed(field), boxed(value));
            self.update_encoding();
            true
        }
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.map.swap_remove_entry(field) {
            Some((f, v)) => {
                self.forget(&f, &v);
                self.maybe_shrink();
                true
            }
            None => false,
        }
    }

    fn forget(&mut self, f: &[u8], v: &[u8]) {
        self.elem_bytes -= bytes_size(f.len()) + bytes_size(v.len());
        self.big -=
            usize::from(f.len() > LISTPACK_MAX_VALUE) + usize::from(v.len() > LISTPACK_MAX_VALUE);
    }

    fn maybe_shrink(&mut self) {
        let cap = self.map.capacity();
        if cap > 16 && self.map.len() * 4 < cap {
            self.map.shrink_to(self.map.len() * 2);
        }
    }

    fn update_encoding(&mut self) {
        if self.map.len() > LISTPACK_MAX_ENTRIES || self.big > 0 {
            self.hashtable = true;
        }
    }

    /// Fields and values, in storage order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.map.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The `i`-th field and value in storage order.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.map.get_index(i).map(|(k, v)| (&**k, &**v))
    }

    /// A uniformly random field and value.
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        self.get_index(rand_below(self.map.len()))
    }

    /// Applies `f` to the underlying map, then recounts (O(n)); for bulk changes.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut IndexMap<Box<[u8]>, Box<[u8]>>) -> R) -> R {
        let r = f(&mut self.map);
        self.elem_bytes = 0;
        self.big = 0;
        for (k, v) in &self.map {
            self.elem_bytes += bytes_size(k.len()) + bytes_size(v.len());
            self.big += usize::from(k.len() > LISTPACK_MAX_VALUE)
                + usize::from(v.len() > LISTPACK_MAX_VALUE);
        }
        self.update_encoding();
        r
    }

    /// `OBJECT ENCODING`: `listpack` or `hashtable`.
    pub fn encoding(&self) -> &'static str {
        if self.hashtable {
            "hashtable"
        } else {
            "listpack"
        }
    }

    /// Estimated heap bytes, including the box holding this struct.
    pub fn mem_usage(&self) -> usize {
        let cap = self.map.capacity();
        alloc_size(std::mem::size_of::<Self>())
            + alloc_size(cap * (std::mem::size_of::<(usize, Box<[u8]>, Box<[u8]>)>()))
            + swiss_index_size(cap)
            + self.elem_bytes
    }
}

/// The encoding state of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SetEnc {
    #[default]
    Intset,
    Listpack,
    Hashtable,
}

/// A set of byte strings, with O(1) random access for `SRANDMEMBER`/`SPOP`.
#[derive(Debug, Clone, Default)]
pub struct SetValue {
    set: IndexSet<Box<[u8]>>,
    elem_bytes: usize,
    big: usize,
    non_int: usize,
    enc: SetEnc,
}

impl PartialEq for SetValue {
    fn eq(&self, other: &Self) -> bool {
        self.set.len() == other.set.len() && self.set.iter().all(|m| other.set.contains(m))
    }
}
impl Eq for SetValue {}

impl SetValue {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of members (`SCARD`).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// True if `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.set.contains(member)
    }

    /// Adds `member`; true if it was not there.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.set.contains(member) {
            return false;
        }
        self.count(member, true);
        self.set.insert(boxed(member));
        self.update_encoding();
        true
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.set.swap_remove_full(member) {
            Some((_, m)) => {
                self.count(&m, false);
                self.maybe_shrink();
                true
            }
            None => false,
        }
    }

    /// Removes and returns a uniformly random member (`SPOP`).
    pub fn pop_random(&mut self) -> Option<Box<[u8]>> {
        let m = self.set.swap_remove_index(rand_below(self.set.len()))?;
        self.count(&m, false);
        self.maybe_shrink();
        Some(m)
    }

    fn count(&mut self, m: &[u8], add: bool) {
        let b = bytes_size(m.len());
        let big = usize::from(m.len() > LISTPACK_MAX_VALUE);
        let non_int = usize::from(parse_i64_strict(m).is_none());
        if add {
            self.elem_bytes += b;
            self.big += big;
            self.non_int += non_int;
        } else {
            self.elem_bytes -= b;
            self.big -= big;
            self.non_int -= non_int;
        }
    }

    fn maybe_shrink(&mut self) {
        let cap = self.set.capacity();
        if cap > 16 && self.set.len() * 4 < cap {
            self.set.shrink_to(self.set.len() * 2);
        }
    }

    fn update_encoding(&mut self) {
        let len = self.set.len();
        let fits_listpack = len <= LISTPACK_MAX_ENTRIES && self.big == 0;
        self.enc = match self.enc {
            SetEnc::Intset if self.non_int == 0 && len <= INTSET_MAX_ENTRIES => SetEnc::Intset,
            SetEnc::Intset if self.non_int > 0 && fits_listpack => SetEnc::Listpack,
            SetEnc::Listpack if fits_listpack => SetEnc::Listpack,
            _ => SetEnc::Hashtable,
        };
    }

    /// Members, in storage order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.set.iter().map(|m| &**m)
    }

    /// The `i`-th member in storage order.
    pub fn get_index(&self, i: usize) -> Option<&[u8]> {
        self.set.get_index(i).map(|m| &**m)
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<&[u8]> {
        self.get_index(rand_below(self.set.len()))
    }

    /// Applies `f` to the underlying set, then recounts (O(n)); for bulk changes.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut IndexSet<Box<[u8]>>) -> R) -> R {
        let r = f(&mut self.set);
        let members = std::mem::take(&mut self.set);
        self.elem_bytes = 0;
        self.big = 0;
        self.non_int = 0;
        for m in &members {
            self.count(m, true);
        }
        self.set = members;
        self.update_encoding();
        r
    }

    /// `OBJECT ENCODING`: `intset`, `listpack` or `hashtable`.
    pub fn encoding(&self) -> &'static str {
        match self.enc {
            SetEnc::Intset => "intset",
            SetEnc::Listpack => "listpack",
            SetEnc::Hashtable => "hashtable",
        }
    }

    /// Estimated heap bytes, including the box holding this struct.
    pub fn mem_usage(&self) -> usize {
        let cap = self.set.capacity();
        alloc_size(std::mem::size_of::<Self>())
            + alloc_size(cap * std::mem::size_of::<(usize, Box<[u8]>)>())
            + swiss_index_size(cap)
            + self.elem_bytes
    }
}

/// A list of byte strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListValue {
    items: VecDeque<Box<[u8]>>,
    elem_bytes: usize,
    big: usize,
}

impl ListValue {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of elements (`LLEN`).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn add_counts(&mut self, e: &[u8]) {
        self.elem_bytes += bytes_size(e.len());
        self.big += usize::from(e.len() > LISTPACK_MAX_VALUE);
    }

    fn sub_counts(&mut self, e: &[u8]) {
        self.elem_bytes -= bytes_size(e.len());
        self.big -= usize::from(e.len() > LISTPACK_MAX_VALUE);
    }

    fn maybe_shrink(&mut self) {
        let cap = self.items.capacity();
        if cap > 16 && self.items.len() * 4 < cap {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    /// `LPUSH` one element.
    pub fn push_front(&mut self, e: &[u8]) {
        self.add_counts(e);
        self.items.push_front(boxed(e));
    }

    /// `RPUSH` one element.
    pub fn push_back(&mut self, e: &[u8]) {
        self.add_counts(e);
        self.items.push_back(boxed(e));
    }

    /// `LPOP` one element.
    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        let e = self.items.pop_front()?;
        self.sub_counts(&e);
        self.maybe_shrink();
        Some(e)
    }

    /// `RPOP` one element.
    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let e = self.items.pop_back()?;
        self.sub_counts(&e);
        self.maybe_shrink();
        Some(e)
    }

    /// The element at `i` (0-based from the head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|e| &**e)
    }

    /// Replaces the element at `i` (`LSET`); false if out of range.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        let Some(old) = self.items.get(i) else {
            return false;
        };
        let old_len = old.len();
        self.elem_bytes = self.elem_bytes - bytes_size(old_len) + bytes_size(e.len());
        self.big = self.big - usize::from(old_len > LISTPACK_MAX_VALUE)
            + usize::from(e.len() > LISTPACK_MAX_VALUE);
        if let Some(slot) = self.items.get_mut(i) {
            if slot.len() == e.len() {
                slot.copy_from_slice(e);
            } else {
                *slot = boxed(e);
            }
        }
        true
    }

    /// Inserts `e` before position `i` (`i == len` appends); false if `i > len`.
    pub fn insert(&mut self, i: usize, e: &[u8]) -> bool {
        if i > self.items.len() {
            return false;
        }
        self.add_counts(e);
        self.items.insert(i, boxed(e));
        true
    }

    /// Removes the element at `i`.
    pub fn remove(&mut self, i: usize) -> Option<Box<[u8]>> {
        let e = self.items.remove(i)?;
        self.sub_counts(&e);
        self.maybe_shrink();
        Some(e)
    }

    /// Keeps only positions `start..end` (clamped), as `LTRIM` does.
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let len = self.items.len();
        let end = end.min(len);
        let start = start.min(end);
        if end - start < len / 2 {
            self.items.truncate(end);
            self.items.drain(..start);
            self.recount();
        } else {
            for e in self.items.drain(end..) {
                self.elem_bytes -= bytes_size(e.len());
                self.big -= usize::from(e.len() > LISTPACK_MAX_VALUE);
            }
            for e in self.items.drain(..start) {
                self.elem_bytes -= bytes_size(e.len());
                self.big -= usize::from(e.len() > LISTPACK_MAX_VALUE);
            }
        }
        self.maybe_shrink();
    }

    fn recount(&mut self) {
        self.elem_bytes = 0;
        self.big = 0;
        let items = std::mem::take(&mut self.items);
        for e in &items {
            self.add_counts(e);
        }
        self.items = items;
    }

    /// Elements from head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.items.iter().map(|e| &**e)
    }

    /// Elements at positions `start..end` (clamped).
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        let end = end.min(self.items.len());
        let start = start.min(end);
        self.items.range(start..end).map(|e| &**e)
    }

    /// Applies `f` to the underlying deque, then recounts (O(n)); for `LREM` and the like.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut VecDeque<Box<[u8]>>) -> R) -> R {
        let r = f(&mut self.items);
        self.recount();
        self.maybe_shrink();
        r
    }

    /// `OBJECT ENCODING`: `listpack` or `quicklist`.
    pub fn encoding(&self) -> &'static str {
        if self.items.len() <= LISTPACK_MAX_ENTRIES && self.big == 0 {
            "listpack"
        } else {
            "quicklist"
        }
    }

    /// Estimated heap bytes, including the box holding this struct.
    pub fn mem_usage(&self) -> usize {
        alloc_size(std::mem::size_of::<Self>())
            + alloc_size(self.items.capacity() * std::mem::size_of::<Box<[u8]>>())
            + self.elem_bytes
    }
}

#[cfg(test)]
mod tests;
