//! Sorted sets: members ordered by (score, member), with O(1) member -> score lookup.
//!
//! Two encodings, as `OBJECT ENCODING` reports them and as Redis 7.0 chooses them:
//!
//! - `listpack`: up to `zset-max-listpack-entries` members (128) of at most
//!   `zset-max-listpack-value` bytes (64): one sorted vector of entries, searched in order
//!   (member lookups scan it, as Redis scans its listpack).
//! - `skiplist`: a hash set of entries (member -> score) plus `runs::Runs`, an
//!   order-statistic sequence of entry pointers, for O(log n) insert, delete, rank, range by
//!   score or by member order.
//!
//! Each member and score live once, in one `entry::Entry` allocation; the index and the runs
//! hold 8-byte pointers to it. A set converts to `skiplist` when an insert passes a limit and
//! never converts back (as Redis's ZADD). The heap bytes of the entries are counted as they
//! change, so [`ZSetValue::mem_usage`] is O(1) and exact for the structure's state.

mod entry;
mod fmt;
mod runs;

pub use fmt::fmt_score;

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use entry::{Entry, EntryRef};
use runs::{RunIter, Runs};

use super::hash::{rand_below, KeyHasher};
use super::memory::{alloc_size, swiss_index_size};

/// The listpack limits (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZLimits {
    /// Most members a listpack holds.
    pub entries: usize,
    /// Longest member a listpack holds.
    pub value: usize,
}

impl Default for ZLimits {
    fn default() -> Self {
        ZLimits {
            entries: 128,
            value: 64,
        }
    }
}

/// Hashes members with the engine's seeded key hash (one random seed per process).
#[derive(Clone, Copy, Default)]
pub(crate) struct MemberHash;

/// The hasher of [`MemberHash`].
pub(crate) struct MemberHasher {
    h: u64,
}

fn seed() -> &'static KeyHasher {
    static SEED: OnceLock<KeyHasher> = OnceLock::new();
    SEED.get_or_init(KeyHasher::random)
}

impl BuildHasher for MemberHash {
    type Hasher = MemberHasher;
    fn build_hasher(&self) -> MemberHasher {
        MemberHasher { h: 0 }
    }
}

impl Hasher for MemberHasher {
    fn finish(&self) -> u64 {
        self.h
    }
    fn write(&mut self, bytes: &[u8]) {
        self.h = self.h.rotate_left(29) ^ seed().hash(bytes);
    }
    fn write_usize(&mut self, _n: usize) {
        // The length prefix adds nothing: the byte hash covers the length.
    }
}

enum Repr {
    Pack(Vec<Entry>),
    Skip {
        index: HashSet<Entry, MemberHash>,
        runs: Runs,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Pack(Vec::new())
    }
}

/// A sorted set (see the module header).
#[derive(Default)]
pub struct ZSetValue {
    repr: Repr,
    /// Heap bytes of the entries.
    entry_heap: usize,
}

impl std::fmt::Debug for ZSetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Clone for ZSetValue {
    fn clone(&self) -> Self {
        let mut z = ZSetValue::new();
        if let Repr::Skip { .. } = self.repr {
            z.convert_to_skiplist();
        }
        for (m, s) in self.iter() {
            z.insert_new(m, s);
        }
        z
    }
}

impl PartialEq for ZSetValue {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}
impl Eq for ZSetValue {}

fn key_less(e: EntryRef, score: f64, member: &[u8]) -> bool {
    e.cmp_key(score, member) == std::cmp::Ordering::Less
}

impl ZSetValue {
    /// An empty set (listpack encoded).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set whose encoding suits `len` members of at most `max_len` bytes, as Redis's
    /// `zsetTypeCreate` sizes the destination of a store.
    pub fn with_hint(len: usize, max_len: usize, lim: ZLimits) -> Self {
        let mut z = Self::new();
        if len > lim.entries || max_len > lim.value {
            z.convert_to_skiplist();
        }
        z
    }

    /// Number of members (`ZCARD`).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(v) => v.len(),
            Repr::Skip { runs, .. } => runs.len(),
        }
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`: `listpack` or `skiplist`.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Skip { .. } => "skiplist",
        }
    }

    /// Estimated heap bytes, including the box holding this struct.
    pub fn mem_usage(&self) -> usize {
        let own = alloc_size(std::mem::size_of::<Self>()) + self.entry_heap;
        match &self.repr {
            Repr::Pack(v) => own + alloc_size(v.capacity() * std::mem::size_of::<Entry>()),
            Repr::Skip { index, runs } => own + swiss_index_size(index.capacity()) + runs.heap(),
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(v) => v.iter().find(|e| e.member() == member).map(Entry::score),
            Repr::Skip { index, .. } => index.get(member).map(Entry::score),
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Pack(v) => v.iter().position(|e| e.member() == member),
            Repr::Skip { index, runs } => {
                let s = index.get(member)?.score();
                Some(runs.partition_point(|e| key_less(e, s, member)))
            }
        }
    }

    /// The member and score at `rank` (ascending).
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(v) => v.get(rank).map(|e| (e.member(), e.score())),
            // SAFETY: the entry is owned by `index`, borrowed for `&self`'s lifetime.
            Repr::Skip { runs, .. } => runs
                .get(rank)
                .map(|e| (unsafe { e.member_unbound() }, e.score())),
        }
    }

    /// A uniformly random member and score.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        self.get(rand_below(self.len()))
    }

    /// The rank of the first member for which `pred(member, score)` is false; `pred` must hold
    /// on a prefix of the order (e.g. "score below min").
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(v) => v.partition_point(|e| pred(e.member(), e.score())),
            // SAFETY: the entries are owned by `index` for the call.
            Repr::Skip { runs, .. } => {
                runs.partition_point(|e| pred(unsafe { e.member_unbound() }, e.score()))
            }
        }
    }

    /// Members and scores at ranks `start..end` (clamped), ascending; `.rev()` descends.
    pub fn range(&self, start: usize, end: usize) -> ZIter<'_> {
        match &self.repr {
            Repr::Pack(v) => {
                let end = end.min(v.len());
                ZIter(It::Pack(v[start.min(end)..end].iter()))
            }
            Repr::Skip { runs, .. } => ZIter(It::Skip(runs.range(start, end))),
        }
    }

    /// Every member and score, ascending.
    pub fn iter(&self) -> ZIter<'_> {
        self.range(0, usize::MAX)
    }

    fn convert_to_skiplist(&mut self) {
        let Repr::Pack(v) = std::mem::take(&mut self.repr) else {
            return;
        };
        let mut index = HashSet::with_capacity_and_hasher(v.len(), MemberHash);
        let mut runs = Runs::default();
        for e in v {
            runs.insert(e.as_ref());
            index.insert(e);
        }
        self.repr = Repr::Skip { index, runs };
    }

    /// Inserts a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let e = Entry::new(member, score);
        self.entry_heap += e.heap();
        match &mut self.repr {
            Repr::Pack(v) => {
                let at = v.partition_point(|x| key_less(x.as_ref(), score, member));
                v.insert(at, e);
            }
            Repr::Skip { index, runs } => {
                runs.insert(e.as_ref());
                index.insert(e);
            }
        }
    }

    /// Sets `member`'s score, adding it if absent; returns the previous score. Converts to
    /// `skiplist` when the set passes `lim`.
    pub fn insert(&mut self, member: &[u8], score: f64, lim: ZLimits) -> Option<f64> {
        match self.score(member) {
            Some(old) => {
                if old != score {
                    self.update_score(member, old, score);
                }
                Some(old)
            }
            None => {
                self.insert_absent(member, score, lim);
                None
            }
        }
    }

    /// Adds `member`, which the caller has just found absent (under the same lock); converts
    /// to `skiplist` when the set passes `lim`.
    pub fn insert_absent(&mut self, member: &[u8], score: f64, lim: ZLimits) {
        debug_assert!(self.score(member).is_none());
        let mut score = score;
        if matches!(self.repr, Repr::Pack(_))
            && (self.len() + 1 > lim.entries || member.len() > lim.value)
        {
            self.convert_to_skiplist();
        }
        if matches!(self.repr, Repr::Pack(_)) && score == 0.0 {
            // A listpack stores scores as text, where -0 reads back as 0.
            score = 0.0;
        }
        self.insert_new(member, score);
    }

    /// Moves a present `member` from score `old` (its current one) to `new`.
    pub fn update_score(&mut self, member: &[u8], old: f64, new: f64) {
        let mut new = new;
        if matches!(self.repr, Repr::Pack(_)) && new == 0.0 {
            new = 0.0;
        }
        self.reposition(member, old, new);
    }

    fn reposition(&mut self, member: &[u8], old: f64, new: f64) {
        match &mut self.repr {
            Repr::Pack(v) => {
                if let Some(i) = v.iter().position(|e| e.member() == member) {
                    let mut e = v.remove(i);
                    e.set_score(new);
                    let at = v.partition_point(|x| key_less(x.as_ref(), new, member));
                    v.insert(at, e);
                }
            }
            Repr::Skip { index, runs } => {
                // The index hashes members only: the entry stays where it is.
                if let Some(e) = index.get(member).map(Entry::as_ref) {
                    runs.remove(old, member);
                    // SAFETY: `index` owns the entry and `&mut self` gives exclusive access.
                    unsafe { e.set_score(new) };
                    runs.insert(e);
                }
            }
        }
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let e = match &mut self.repr {
            Repr::Pack(v) => {
                let i = v.iter().position(|e| e.member() == member)?;
                v.remove(i)
            }
            Repr::Skip { index, runs } => {
                let e = index.take(member)?;
                runs.remove(e.score(), member);
                e
            }
        };
        self.entry_heap -= e.heap();
        self.maybe_shrink();
        Some(e.score())
    }

    /// Removes the members at ranks `start..end` (clamped); returns how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        let start = start.min(end);
        let gone: usize = match &mut self.repr {
            Repr::Pack(v) => v.drain(start..end).map(|e| e.heap()).sum(),
            Repr::Skip { index, runs } => {
                let refs: Vec<EntryRef> = runs.range(start, end).collect();
                let mut heap = 0;
                for r in refs {
                    // SAFETY: `index` owns the entry until `take` returns it below.
                    let member = unsafe { r.member_unbound() };
                    runs.remove(r.score(), member);
                    if let Some(e) = index.take(member) {
                        heap += e.heap();
                    }
                }
                heap
            }
        };
        self.entry_heap -= gone;
        self.maybe_shrink();
        end - start
    }

    fn maybe_shrink(&mut self) {
        match &mut self.repr {
            Repr::Pack(v) => {
                let cap = v.capacity();
                if cap > 16 && v.len() * 4 < cap {
                    v.shrink_to(v.len() * 2);
                }
            }
            Repr::Skip { index, .. } => {
                let cap = index.capacity();
                if cap > 16 && index.len() * 4 < cap {
                    index.shrink_to(index.len() * 2);
                }
            }
        }
    }
}

/// An iterator over a rank range of a [`ZSetValue`]: (member, score) pairs.
pub struct ZIter<'a>(It<'a>);

enum It<'a> {
    Pack(std::slice::Iter<'a, Entry>),
    Skip(RunIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            It::Pack(i) => i.next().map(|e| (e.member(), e.score())),
            // SAFETY: the entries are owned by the set borrowed for 'a.
            It::Skip(i) => i.next().map(|e| (unsafe { e.member_unbound() }, e.score())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            It::Pack(i) => i.size_hint(),
            It::Skip(i) => i.size_hint(),
        }
    }
}

impl DoubleEndedIterator for ZIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            It::Pack(i) => i.next_back().map(|e| (e.member(), e.score())),
            // SAFETY: as in `next`.
            It::Skip(i) => i
                .next_back()
                .map(|e| (unsafe { e.member_unbound() }, e.score())),
        }
    }
}

impl ExactSizeIterator for ZIter<'_> {}

#[cfg(test)]
mod tests;
