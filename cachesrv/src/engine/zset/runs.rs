//! The order of a large sorted set: runs of entry pointers with a Fenwick tree of run lengths.
//!
//! Members sorted by (score, member) are cut into runs of at most [`RUN`] pointers, each run a
//! fixed-capacity vector. Finding a member's run is a binary search over the runs' last
//! entries, finding a rank a descent of the Fenwick tree over run lengths, so lookups by
//! score, by member order and by rank are O(log n); an insert or delete moves at most `RUN`
//! pointers inside its run and updates the tree in O(log n). A full run splits in two (at the
//! ends a new run starts instead, so ascending or descending loads leave full runs); an
//! emptied run goes, and a short one merges with its neighbour. Splits and merges shift the
//! vector of runs and rebuild the tree (O(n / RUN) word moves, once per ~RUN / 2 updates).
//!
//! Memory: one word per member in a run (runs are at least about half full), plus a 24-byte
//! vector header, a 4-byte tree cell and an 8-byte last score per run.

use std::cmp::Ordering;

use super::entry::EntryRef;
use crate::engine::memory::alloc_size;

/// Pointers per run.
pub(crate) const RUN: usize = 128;

/// The ordered runs (see the module header).
#[derive(Default)]
pub(crate) struct Runs {
    runs: Vec<Vec<EntryRef>>,
    /// Fenwick tree over run lengths: cell `k - 1` holds the 1-based tree's `t[k]`.
    fen: Vec<u32>,
    /// The score of each run's last entry, so finding a run reads one dense array (the
    /// entries are only visited on equal scores).
    last: Vec<f64>,
    len: usize,
}

fn new_run() -> Vec<EntryRef> {
    Vec::with_capacity(RUN)
}

impl Runs {
    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes (the entries themselves are counted by their owner).
    pub(crate) fn heap(&self) -> usize {
        let per_run = alloc_size(RUN * std::mem::size_of::<EntryRef>());
        alloc_size(self.runs.capacity() * std::mem::size_of::<Vec<EntryRef>>())
            + alloc_size(self.fen.capacity() * 4)
            + alloc_size(self.last.capacity() * 8)
            + self.runs.len() * per_run
    }

    fn rebuild(&mut self) {
        let n = self.runs.len();
        self.last.clear();
        self.last.extend(
            self.runs
                .iter()
                .map(|r| r.last().map_or(0.0, |e| e.score())),
        );
        self.fen.clear();
        self.fen.extend(self.runs.iter().map(|r| r.len() as u32));
        for k in 1..=n {
            let p = k + (k & k.wrapping_neg());
            if p <= n {
                self.fen[p - 1] += self.fen[k - 1];
            }
        }
    }

    fn fen_add(&mut self, run: usize, delta: i32) {
        let n = self.fen.len();
        let mut k = run + 1;
        while k <= n {
            self.fen[k - 1] = self.fen[k - 1].wrapping_add_signed(delta);
            k += k & k.wrapping_neg();
        }
    }

    /// Entries in runs before `run`.
    fn prefix(&self, run: usize) -> usize {
        let mut s = 0usize;
        let mut k = run.min(self.fen.len());
        while k > 0 {
            s += self.fen[k - 1] as usize;
            k &= k - 1;
        }
        s
    }

    /// (run, offset) of the entry at `rank` (`rank < len`).
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        if rank >= self.len {
            return None;
        }
        let n = self.fen.len();
        let mut pos = 0usize;
        let mut rem = rank;
        let mut step = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && (self.fen[next - 1] as usize) <= rem {
                pos = next;
                rem -= self.fen[next - 1] as usize;
            }
            step >>= 1;
        }
        Some((pos, rem))
    }

    /// The entry at `rank`.
    pub(crate) fn get(&self, rank: usize) -> Option<EntryRef> {
        let (r, o) = self.locate(rank)?;
        self.runs.get(r)?.get(o).copied()
    }

    /// The rank of the first entry for which `pred` is false (`pred` must be true on a
    /// prefix of the order and false after it).
    pub(crate) fn partition_point(&self, pred: impl Fn(EntryRef) -> bool) -> usize {
        let r = self
            .runs
            .partition_point(|run| run.last().is_some_and(|&e| pred(e)));
        match self.runs.get(r) {
            None => self.len,
            Some(run) => self.prefix(r) + run.partition_point(|&e| pred(e)),
        }
    }

    /// (run, offset) where the key sorts (the run is the last one past every entry).
    fn find(&self, score: f64, member: &[u8]) -> (usize, usize) {
        let less = |e: EntryRef| e.cmp_key(score, member) == Ordering::Less;
        let runs = &self.runs;
        let lo = self.last.partition_point(|&ls| ls < score);
        let hi = lo + self.last[lo..].partition_point(|&ls| ls <= score);
        // Runs ending at `score` itself are told apart by their last member.
        let r = lo
            + runs[lo..hi.min(runs.len())]
                .partition_point(|run| run.last().is_some_and(|&e| less(e)));
        let r = r.min(self.runs.len().saturating_sub(1));
        let o = self
            .runs
            .get(r)
            .map_or(0, |run| run.partition_point(|&e| less(e)));
        (r, o)
    }

    /// Inserts `e` (whose key is not present) in order.
    pub(crate) fn insert(&mut self, e: EntryRef) {
        // SAFETY: the caller owns `e`'s entry for the duration of the call.
        let member = unsafe { e.member_unbound() };
        self.len += 1;
        if self.runs.is_empty() {
            let mut run = new_run();
            run.push(e);
            self.runs.push(run);
            self.rebuild();
            return;
        }
        let (r, o) = self.find(e.score(), member);
        let last = self.runs.len() - 1;
        if self.runs[r].len() < RUN {
            self.runs[r].insert(o, e);
            self.fen_add(r, 1);
            self.fix_last(r);
            return;
        }
        if r == last && o == RUN {
            let mut run = new_run();
            run.push(e);
            self.runs.push(run);
        } else if r == 0 && o == 0 {
            let mut run = new_run();
            run.push(e);
            self.runs.insert(0, run);
        } else {
            let mut tail = new_run();
            tail.extend(self.runs[r].drain(RUN / 2..));
            if o <= RUN / 2 {
                self.runs[r].insert(o, e);
            } else {
                tail.insert(o - RUN / 2, e);
            }
            self.runs.insert(r + 1, tail);
        }
        self.rebuild();
    }

    /// Removes the entry with this key; its rank if it was there.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> Option<usize> {
        if self.runs.is_empty() {
            return None;
        }
        let (r, o) = self.find(score, member);
        let hit = self.runs[r]
            .get(o)
            .is_some_and(|&e| e.cmp_key(score, member) == Ordering::Equal);
        if !hit {
            return None;
        }
        let rank = self.prefix(r) + o;
        self.runs[r].remove(o);
        self.len -= 1;
        let n = self.runs[r].len();
        if n == 0 {
            self.runs.remove(r);
            self.shrink();
            self.rebuild();
        } else if n < RUN / 4 && self.merge_around(r) {
            self.rebuild();
        } else {
            self.fen_add(r, -1);
            self.fix_last(r);
        }
        Some(rank)
    }

    fn fix_last(&mut self, r: usize) {
        if let (Some(slot), Some(e)) = (self.last.get_mut(r), self.runs[r].last()) {
            *slot = e.score();
        }
    }

    /// Merges run `r` into a neighbour when both fit in half a run; true if it did.
    fn merge_around(&mut self, r: usize) -> bool {
        let n = self.runs[r].len();
        if r + 1 < self.runs.len() && n + self.runs[r + 1].len() <= RUN / 2 {
            let next = self.runs.remove(r + 1);
            self.runs[r].extend(next);
        } else if r > 0 && n + self.runs[r - 1].len() <= RUN / 2 {
            let cur = self.runs.remove(r);
            self.runs[r - 1].extend(cur);
        } else {
            return false;
        }
        self.shrink();
        true
    }

    fn shrink(&mut self) {
        let cap = self.runs.capacity();
        if cap > 16 && self.runs.len() * 4 < cap {
            self.runs.shrink_to(self.runs.len() * 2);
            self.fen.shrink_to(self.runs.len() * 2);
            self.last.shrink_to(self.runs.len() * 2);
        }
    }

    /// Entries at ranks `start..end` (clamped), in order.
    pub(crate) fn range(&self, start: usize, end: usize) -> RunIter<'_> {
        let end = end.min(self.len);
        let start = start.min(end);
        let front = self.locate(start).unwrap_or((self.runs.len(), 0));
        let back = if end == 0 {
            (0, 0)
        } else {
            self.locate(end - 1).map_or((0, 0), |(r, o)| (r, o + 1))
        };
        RunIter {
            runs: &self.runs,
            front,
            back,
            left: end - start,
        }
    }
}

/// A double-ended iterator over a rank range of [`Runs`].
pub(crate) struct RunIter<'a> {
    runs: &'a [Vec<EntryRef>],
    /// Next entry from the front.
    front: (usize, usize),
    /// One past the next entry from the back.
    back: (usize, usize),
    left: usize,
}

impl Iterator for RunIter<'_> {
    type Item = EntryRef;

    fn next(&mut self) -> Option<EntryRef> {
        if self.left == 0 {
            return None;
        }
        let (mut r, mut o) = self.front;
        while self.runs.get(r).is_some_and(|run| o >= run.len()) {
            r += 1;
            o = 0;
        }
        let e = *self.runs.get(r)?.get(o)?;
        self.front = (r, o + 1);
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for RunIter<'_> {
    fn next_back(&mut self) -> Option<EntryRef> {
        if self.left == 0 {
            return None;
        }
        let (mut r, mut o) = self.back;
        while o == 0 {
            r = r.checked_sub(1)?;
            o = self.runs.get(r)?.len();
        }
        let e = *self.runs.get(r)?.get(o - 1)?;
        self.back = (r, o - 1);
        self.left -= 1;
        Some(e)
    }
}

impl ExactSizeIterator for RunIter<'_> {}
