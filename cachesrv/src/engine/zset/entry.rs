//! One sorted-set member with its score, in a single allocation behind a thin pointer.
//!
//! Layout (alignment 8): `score f64 | len u32 | member bytes`. The pointer is 8 bytes, so the
//! member index (a hash set of entries) and the order (runs of entry pointers) each spend one
//! word per member, and a member's bytes are stored once. A 13-byte member takes one 32-byte
//! malloc chunk.
//!
//! Invariants (relied on by the `unsafe` code, which is all in this file): `ptr` is a live
//! allocation made here with `layout(len)`, owned by exactly one [`Entry`]; [`EntryRef`]s are
//! non-owning copies that the sorted set never uses after dropping the owner.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

use crate::engine::memory::alloc_size;

const HDR: usize = 12;

fn layout(len: usize) -> Layout {
    match Layout::from_size_align(HDR + len, 8) {
        Ok(l) => l,
        Err(_) => handle_alloc_error(Layout::new::<u64>()),
    }
}

/// An owned member and score.
pub(crate) struct Entry {
    ptr: NonNull<u8>,
}

// SAFETY: an Entry uniquely owns its allocation, like a Box<[u8]>.
unsafe impl Send for Entry {}
// SAFETY: shared references only read, except `set_score`, which needs `&mut`.
unsafe impl Sync for Entry {}

impl Entry {
    /// A new entry. Members longer than `u32::MAX` bytes cannot reach here (the protocol
    /// bounds arguments to `proto-max-bulk-len`, at most 512 MB by default, at most 4 GB).
    pub(crate) fn new(member: &[u8], score: f64) -> Entry {
        let len = member.len().min(u32::MAX as usize);
        let l = layout(len);
        // SAFETY: the layout has a non-zero size (HDR > 0).
        let raw = unsafe { alloc(l) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(l)
        };
        // SAFETY: the allocation holds HDR + len bytes, aligned to 8.
        unsafe {
            std::ptr::write(raw as *mut f64, score);
            std::ptr::write_unaligned(raw.add(8) as *mut u32, len as u32);
            std::ptr::copy_nonoverlapping(member.as_ptr(), raw.add(HDR), len);
        }
        Entry { ptr }
    }

    /// A non-owning reference.
    #[inline]
    pub(crate) fn as_ref(&self) -> EntryRef {
        EntryRef { ptr: self.ptr }
    }

    /// The member.
    #[inline]
    pub(crate) fn member(&self) -> &[u8] {
        // SAFETY: the owner is alive for the borrow.
        unsafe { self.as_ref().member_unbound() }
    }

    /// The score.
    #[inline]
    pub(crate) fn score(&self) -> f64 {
        self.as_ref().score()
    }

    /// Changes the score in place.
    #[inline]
    pub(crate) fn set_score(&mut self, score: f64) {
        // SAFETY: the first 8 bytes are the score; `&mut self` gives exclusivity.
        unsafe { std::ptr::write(self.ptr.as_ptr() as *mut f64, score) }
    }

    /// Heap bytes of the allocation.
    #[inline]
    pub(crate) fn heap(&self) -> usize {
        alloc_size(HDR + self.member().len())
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let len = self.member().len();
        // SAFETY: allocated in `new` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout(len)) }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry::new(self.member(), self.score())
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({:?}, {})",
            String::from_utf8_lossy(self.member()),
            self.score()
        )
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.member().hash(state);
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.member() == other.member()
    }
}
impl Eq for Entry {}

impl Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.member()
    }
}

/// A non-owning copy of an [`Entry`]'s pointer, valid while its owner lives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryRef {
    ptr: NonNull<u8>,
}

// SAFETY: only read through, while the owning sorted set (Send + Sync) keeps it alive.
unsafe impl Send for EntryRef {}
// SAFETY: as above.
unsafe impl Sync for EntryRef {}

impl EntryRef {
    /// The score.
    #[inline]
    pub(crate) fn score(self) -> f64 {
        // SAFETY: the owner is alive (module invariant); the score is the first 8 bytes.
        unsafe { std::ptr::read(self.ptr.as_ptr() as *const f64) }
    }

    /// Changes the score in place.
    ///
    /// # Safety
    /// The owning [`Entry`] must be alive, and the caller must have exclusive access to the
    /// set that owns it (no other reference reads the score meanwhile).
    #[inline]
    pub(crate) unsafe fn set_score(self, score: f64) {
        std::ptr::write(self.ptr.as_ptr() as *mut f64, score);
    }

    /// The member, for a lifetime the caller ties to the owning set.
    ///
    /// # Safety
    /// The owning [`Entry`] must outlive the returned slice.
    #[inline]
    pub(crate) unsafe fn member_unbound<'a>(self) -> &'a [u8] {
        let p = self.ptr.as_ptr();
        let len = std::ptr::read_unaligned(p.add(8) as *const u32) as usize;
        std::slice::from_raw_parts(p.add(HDR), len)
    }

    /// Orders by (score, member) as a sorted set does.
    #[inline]
    pub(crate) fn cmp_key(self, score: f64, member: &[u8]) -> Ordering {
        match self.score().partial_cmp(&score) {
            Some(Ordering::Equal) | None => {
                // SAFETY: the owner is alive for this call.
                unsafe { self.member_unbound() }.cmp(member)
            }
            Some(o) => o,
        }
    }
}
