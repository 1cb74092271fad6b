//! One shard's key table: a dense entry vector plus a compact Robin Hood index.
//!
//! - `entries`: `Vec<Block>`, 8 bytes per key, dense, so a uniformly random key is one
//!   `rand_below(len)` away (eviction sampling, RANDOMKEY). Deletion is `swap_remove`: the last
//!   entry moves into the hole.
//! - `index`: open addressing with linear probing and Robin Hood displacement, one `u32` per slot:
//!   `dist << 24 | pos` (probe distance from the home slot, position in `entries`), `u32::MAX`
//!   for empty. Lookups dereference only entries whose distance equals the current probe length,
//!   that is entries with the same home slot, so a hit touches about one block and a miss about
//!   0.5. Deletion shifts the following run back (no tombstones). Max load 7/8; the index is
//!   rebuilt from `entries` on growth, shrink, or the (practically impossible with a seeded hash)
//!   case of a probe distance above 254.
//! - `volatile`: positions of the entries that have an expiry, so volatile-* eviction and the
//!   active expire cycle sample only among them; each volatile block stores its own position in
//!   this list, so removal is O(1).
//!
//! Limits: at most 16 777 215 keys per shard (24-bit positions); an insert beyond fails.
//! Accounting: `entry_bytes` is the exact sum of `Block::mem_usage` over `entries`, and
//! `overhead_bytes` a function of the three capacities; all three are freed when the table
//! empties, so an emptied table counts 0 bytes.

use super::block::Block;
use super::hash::{rand_below, KeyHasher};
use super::memory::alloc_size;

const EMPTY: u32 = u32::MAX;
const POS_MASK: u32 = 0x00FF_FFFF;
const MAX_DIST: u32 = 254;
const MIN_INDEX: usize = 8;
const MAX_INDEX: usize = 1 << 30;
/// Most keys one table holds.
pub(crate) const MAX_ENTRIES: usize = POS_MASK as usize;

/// A shard's keys (see the module header).
#[derive(Debug, Default)]
pub(crate) struct Table {
    entries: Vec<Block>,
    index: Box<[u32]>,
    volatile: Vec<u32>,
    entry_bytes: usize,
    /// Entries moved by a deletion (the last one into the hole) so far: a walk that releases
    /// the lock between slices knows from it whether an entry may have moved past its cursor.
    moves: u64,
}

impl Table {
    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of keys with an expiry.
    #[inline]
    pub(crate) fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Entries moved by deletions since the table was made (see the field).
    #[inline]
    pub(crate) fn moves(&self) -> u64 {
        self.moves
    }

    /// Accounted bytes: entries plus the table's own arrays.
    pub(crate) fn mem_total(&self) -> usize {
        self.entry_bytes
            + alloc_size(self.entries.capacity() * std::mem::size_of::<Block>())
            + alloc_size(self.index.len() * 4)
            + alloc_size(self.volatile.capacity() * 4)
    }

    /// The entries, densely.
    #[inline]
    pub(crate) fn entries(&self) -> &[Block] {
        &self.entries
    }

    /// The block at `pos`.
    #[inline]
    pub(crate) fn get(&self, pos: usize) -> Option<&Block> {
        self.entries.get(pos)
    }

    /// Entry position of the `i`-th volatile key.
    #[inline]
    pub(crate) fn volatile_pos(&self, i: usize) -> Option<usize> {
        self.volatile.get(i).map(|&p| p as usize)
    }

    /// A uniformly random entry position.
    pub(crate) fn random_pos(&self) -> Option<usize> {
        (!self.entries.is_empty()).then(|| rand_below(self.entries.len()))
    }

    /// A uniformly random position among keys with an expiry.
    pub(crate) fn random_volatile_pos(&self) -> Option<usize> {
        self.volatile_pos(rand_below(self.volatile.len()))
    }

    /// Sets the LRU/LFU field of the entry at `pos` (no size change).
    #[inline]
    pub(crate) fn set_lru(&mut self, pos: usize, lru: u32) {
        if let Some(b) = self.entries.get_mut(pos) {
            b.set_lru(lru);
        }
    }

    /// Position of `key`, whose hash is `h`.
    #[inline]
    pub(crate) fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut i = (h as usize) & mask;
        let mut dist = 0u32;
        loop {
            let s = self.index[i];
            if s == EMPTY {
                return None;
            }
            let sd = s >> 24;
            if sd < dist {
                return None;
            }
            if sd == dist {
                let pos = (s & POS_MASK) as usize;
                if self.entries.get(pos).is_some_and(|b| b.key() == key) {
                    return Some(pos);
                }
            }
            i = (i + 1) & mask;
            dist += 1;
            if dist > MAX_DIST {
                return None;
            }
        }
    }

    /// Adds a block whose key (hash `h`) is not present. Returns its position, or gives the block
    /// back when the table is full.
    pub(crate) fn insert(
        &mut self,
        hasher: &KeyHasher,
        h: u64,
        mut block: Block,
    ) -> Result<usize, Block> {
        let pos = self.entries.len();
        if pos >= MAX_ENTRIES {
            return Err(block);
        }
        if self.entries.len() == self.entries.capacity() {
            let extra = (self.entries.capacity() / 2).max(4);
            self.entries.reserve_exact(extra);
        }
        if block.is_volatile() {
            block.set_vol_pos(self.volatile.len() as u32);
            self.volatile.push(pos as u32);
        }
        self.entry_bytes += block.mem_usage();
        self.entries.push(block);
        let need = self.entries.len();
        let ok = if self.index.len() < MIN_INDEX || need * 8 > self.index.len() * 7 {
            self.rebuild(hasher, (self.index.len() * 2).max(MIN_INDEX))
        } else {
            self.index_insert(h, pos) || self.rebuild(hasher, self.index.len() * 2)
        };
        if ok {
            Ok(pos)
        } else {
            // The index cannot place the key even at its largest size: undo the push.
            self.remove(hasher, pos).map_or(Ok(pos), Err)
        }
    }

    /// Makes room for `additional` more keys without growing again: the entry vector and the
    /// index are sized for them at once (a bulk load knows its size up front). False if the
    /// table cannot hold that many.
    pub(crate) fn reserve(&mut self, hasher: &KeyHasher, additional: usize) -> bool {
        let want = self.entries.len().saturating_add(additional);
        if want > MAX_ENTRIES {
            return false;
        }
        self.entries
            .reserve_exact(want.saturating_sub(self.entries.len()));
        let slots = (want * 8).div_ceil(7) + 1;
        slots <= self.index.len() || self.rebuild(hasher, slots)
    }

    /// Removes and returns the entry at `pos`; `None` if there is none.
    pub(crate) fn remove(&mut self, hasher: &KeyHasher, pos: usize) -> Option<Block> {
        if pos >= self.entries.len() {
            return None;
        }
        let last = self.entries.len() - 1;
        let h = hasher.hash(self.entries[pos].key());
        let mut broken = false;
        match self.slot_of(h, pos) {
            Some(slot) => self.index_delete(slot),
            None => broken = true,
        }
        if pos != last {
            let hl = hasher.hash(self.entries[last].key());
            match self.slot_of(hl, last) {
                Some(s) => self.index[s] = (self.index[s] & !POS_MASK) | pos as u32,
                None => broken = true,
            }
        }
        if self.entries[pos].is_volatile() {
            let vp = self.entries[pos].vol_pos() as usize;
            self.vol_remove(vp);
        }
        let block = self.entries.swap_remove(pos);
        if pos != last {
            self.moves = self.moves.wrapping_add(1);
        }
        if pos != last && self.entries[pos].is_volatile() {
            let vp = self.entries[pos].vol_pos() as usize;
            if let Some(v) = self.volatile.get_mut(vp) {
                *v = pos as u32;
            }
        }
        self.entry_bytes -= block.mem_usage();
        if broken {
            // Only after a failed insert: restore the index from the entries.
            self.rebuild(hasher, self.index.len().max(MIN_INDEX));
        }
        self.maybe_shrink(hasher);
        Some(block)
    }

    /// Runs `f` on the block at `pos`, then updates the accounting and the volatile list.
    pub(crate) fn modify<R>(&mut self, pos: usize, f: impl FnOnce(&mut Block) -> R) -> Option<R> {
        let b = self.entries.get_mut(pos)?;
        let before = b.mem_usage();
        let was_vol = b.is_volatile();
        let vp = b.vol_pos() as usize;
        let r = f(b);
        let after = b.mem_usage();
        let is_vol = b.is_volatile();
        if !was_vol && is_vol {
            b.set_vol_pos(self.volatile.len() as u32);
            self.volatile.push(pos as u32);
        }
        self.entry_bytes = self.entry_bytes + after - before;
        if was_vol && !is_vol {
            self.vol_remove(vp);
            self.maybe_shrink_volatile();
        }
        Some(r)
    }

    fn vol_remove(&mut self, vp: usize) {
        if vp >= self.volatile.len() {
            return;
        }
        self.volatile.swap_remove(vp);
        if let Some(&moved) = self.volatile.get(vp) {
            if let Some(b) = self.entries.get_mut(moved as usize) {
                b.set_vol_pos(vp as u32);
            }
        }
    }

    fn slot_of(&self, h: u64, pos: usize) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut i = (h as usize) & mask;
        for _ in 0..=MAX_DIST {
            let s = self.index[i];
            if s == EMPTY {
                return None;
            }
            if (s & POS_MASK) as usize == pos {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn index_insert(&mut self, h: u64, pos: usize) -> bool {
        let mask = self.index.len() - 1;
        let mut i = (h as usize) & mask;
        let mut cur = pos as u32;
        let mut dist = 0u32;
        loop {
            let s = self.index[i];
            if s == EMPTY {
                self.index[i] = (dist << 24) | cur;
                return true;
            }
            let sd = s >> 24;
            if sd < dist {
                self.index[i] = (dist << 24) | cur;
                cur = s & POS_MASK;
                dist = sd;
            }
            i = (i + 1) & mask;
            dist += 1;
            if dist > MAX_DIST {
                return false;
            }
        }
    }

    fn index_delete(&mut self, mut i: usize) {
        let mask = self.index.len() - 1;
        loop {
            let j = (i + 1) & mask;
            let s = self.index[j];
            if s == EMPTY || s >> 24 == 0 {
                self.index[i] = EMPTY;
                return;
            }
            self.index[i] = s - (1 << 24);
            i = j;
        }
    }

    /// Rebuilds the index with at least `cap` slots (doubling on overflow); false if impossible.
    fn rebuild(&mut self, hasher: &KeyHasher, cap: usize) -> bool {
        let mut cap = cap.max(MIN_INDEX).next_power_of_two();
        'outer: while cap <= MAX_INDEX {
            self.index = vec![EMPTY; cap].into_boxed_slice();
            for pos in 0..self.entries.len() {
                let h = hasher.hash(self.entries[pos].key());
                if !self.index_insert(h, pos) {
                    cap *= 2;
                    continue 'outer;
                }
            }
            return true;
        }
        false
    }

    fn maybe_shrink(&mut self, hasher: &KeyHasher) {
        let len = self.entries.len();
        if len == 0 {
            self.entries = Vec::new();
            self.index = Box::default();
            self.volatile = Vec::new();
            return;
        }
        if self.index.len() > 64 && len * 10 < self.index.len() {
            self.rebuild(hasher, len * 2);
        }
        if self.entries.capacity() > 64 && len * 4 < self.entries.capacity() {
            self.entries.shrink_to(len + len / 2);
        }
        self.maybe_shrink_volatile();
    }

    fn maybe_shrink_volatile(&mut self) {
        let vl = self.volatile.len();
        if vl == 0 {
            self.volatile = Vec::new();
        } else if self.volatile.capacity() > 64 && vl * 4 < self.volatile.capacity() {
            self.volatile.shrink_to(vl * 2);
        }
    }

    /// Checks every invariant; for tests.
    #[cfg(test)]
    pub(crate) fn check(&self, hasher: &KeyHasher) {
        let mut seen = 0;
        for (slot, &s) in self.index.iter().enumerate() {
            if s == EMPTY {
                continue;
            }
            seen += 1;
            let pos = (s & POS_MASK) as usize;
            let h = hasher.hash(self.entries[pos].key());
            let home = (h as usize) & (self.index.len() - 1);
            let dist = (slot + self.index.len() - home) & (self.index.len() - 1);
            assert_eq!(dist as u32, s >> 24, "distance of slot {slot}");
            assert_eq!(self.find(h, self.entries[pos].key()), Some(pos));
        }
        assert_eq!(seen, self.entries.len());
        let vol: usize = self.entries.iter().filter(|b| b.is_volatile()).count();
        assert_eq!(vol, self.volatile.len());
        for (i, &p) in self.volatile.iter().enumerate() {
            assert_eq!(self.entries[p as usize].vol_pos() as usize, i);
        }
        let bytes: usize = self.entries.iter().map(Block::mem_usage).sum();
        assert_eq!(bytes, self.entry_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::Payload;
    use super::*;
    use std::collections::HashMap;

    fn block(key: &[u8], vol: bool) -> Block {
        Block::new(0, key, Payload::Str(b"v"), vol.then_some(1))
    }

    #[test]
    fn matches_a_model_under_random_operations() {
        let hasher = KeyHasher::with_seed(3);
        let mut t = Table::default();
        let mut model: HashMap<Vec<u8>, bool> = HashMap::new();
        for step in 0..20_000u32 {
            let k = format!("k{}", crate::engine::hash::rand_below(3000)).into_bytes();
            let h = hasher.hash(&k);
            match (t.find(h, &k), step % 7) {
                (Some(pos), 0..=2) => {
                    let b = t.remove(&hasher, pos).expect("present");
                    assert_eq!(b.key(), &k[..]);
                    model.remove(&k);
                }
                (Some(pos), 3) => {
                    let vol = !model[&k];
                    t.modify(pos, |b| b.set_expire(vol.then_some(5)));
                    model.insert(k, vol);
                }
                (Some(_), _) => {}
                (None, _) => {
                    let vol = step % 3 == 0;
                    assert!(t.insert(&hasher, h, block(&k, vol)).is_ok());
                    model.insert(k, vol);
                }
            }
            if step % 1000 == 0 {
                t.check(&hasher);
            }
        }
        t.check(&hasher);
        assert_eq!(t.len(), model.len());
        assert_eq!(t.volatile_len(), model.values().filter(|v| **v).count());
        for k in model.keys() {
            assert!(t.find(hasher.hash(k), k).is_some());
        }
    }

    #[test]
    fn a_reserved_table_takes_that_many_keys_without_growing() {
        let hasher = KeyHasher::with_seed(5);
        let mut t = Table::default();
        assert!(t.reserve(&hasher, 5000));
        let (slots, cap) = (t.index.len(), t.entries.capacity());
        for i in 0..5000 {
            let k = format!("key{i}").into_bytes();
            assert!(t.insert(&hasher, hasher.hash(&k), block(&k, false)).is_ok());
        }
        assert_eq!((t.index.len(), t.entries.capacity()), (slots, cap));
        t.check(&hasher);
        // Reserving on a filled table keeps its keys findable.
        assert!(t.reserve(&hasher, 20_000));
        t.check(&hasher);
        assert!(!t.reserve(&hasher, MAX_ENTRIES));
    }

    #[test]
    fn emptied_table_frees_everything() {
        let hasher = KeyHasher::with_seed(9);
        let mut t = Table::default();
        assert_eq!(t.mem_total(), 0);
        for i in 0..5000 {
            let k = format!("key{i}").into_bytes();
            assert!(t
                .insert(&hasher, hasher.hash(&k), block(&k, i % 2 == 0))
                .is_ok());
        }
        assert!(t.mem_total() > 5000 * 32);
        while let Some(pos) = t.random_pos() {
            t.remove(&hasher, pos);
            if t.len() % 512 == 0 {
                t.check(&hasher);
            }
        }
        assert_eq!(t.mem_total(), 0);
    }
}
