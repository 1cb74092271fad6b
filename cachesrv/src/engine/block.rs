//! The entry block: one heap allocation per key holding its metadata, key and (for strings) value.
//!
//! Layout (byte-aligned, no padding):
//!
//! ```text
//! meta    u32 LE   bits 0..24 LRU clock or LFU data (Redis's 24-bit `lru` field),
//!                  bits 24..27 kind (string, hash, set, list, zset), bit 27 "has expiry"
//! klen    varint   key length (LEB128)
//! vlen    varint   string length; strings only
//! expire  u64 LE   absolute Unix ms; only with the expiry bit
//! volpos  u32 LE   position in the shard's volatile list; only with the expiry bit
//! key     klen bytes
//! payload string bytes, or for a collection a pointer (usize LE) to its own boxed value
//! ```
//!
//! A 14-byte key with a 100-byte string value and no TTL takes 4 + 1 + 1 + 14 + 100 = 120 bytes,
//! one 128-byte malloc chunk. A [`Block`] is a thin, owning pointer (8 bytes); the shard's dense
//! entry vector stores it directly.
//!
//! Invariants (upheld by every constructor and mutator here, relied on by the `unsafe` reads):
//! the pointer is a live allocation of exactly `total_len()` bytes with alignment 1 made by the
//! global allocator; the header is well formed; a collection pointer came from `Box::into_raw` of
//! the type its kind names and is owned by this block alone. All `unsafe` code of the engine is in
//! this file, apart from the sorted-set entries' own (`zset/entry.rs`).

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ptr::{self, NonNull};

use super::memory::alloc_size;
use super::value::{HashValue, Kind, ListValue, SetValue, Value, ValueRef, ZSetValue};

/// Mask of the 24-bit LRU/LFU field in `meta`.
pub(crate) const LRU_MASK: u32 = 0x00FF_FFFF;
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u32 = 0b111 << KIND_SHIFT;
const VOLATILE: u32 = 1 << 27;
const PTR: usize = std::mem::size_of::<usize>();

fn kind_bits(k: Kind) -> u32 {
    (match k {
        Kind::Str => 0,
        Kind::Hash => 1,
        Kind::Set => 2,
        Kind::List => 3,
        Kind::ZSet => 4,
    }) << KIND_SHIFT
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// The payload a new block is built with.
pub(crate) enum Payload<'a> {
    Str(&'a [u8]),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    List(Box<ListValue>),
    ZSet(Box<ZSetValue>),
}

impl Payload<'_> {
    fn kind(&self) -> Kind {
        match self {
            Payload::Str(_) => Kind::Str,
            Payload::Hash(_) => Kind::Hash,
            Payload::Set(_) => Kind::Set,
            Payload::List(_) => Kind::List,
            Payload::ZSet(_) => Kind::ZSet,
        }
    }
}

impl<'a> From<&'a Value> for Payload<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Str(s) => Payload::Str(s),
            Value::Hash(h) => Payload::Hash(Box::new(h.clone())),
            Value::Set(s) => Payload::Set(Box::new(s.clone())),
            Value::List(l) => Payload::List(Box::new(l.clone())),
            Value::ZSet(z) => Payload::ZSet(Box::new(z.clone())),
        }
    }
}

/// Decoded header offsets.
#[derive(Clone, Copy)]
struct Hdr {
    meta: u32,
    klen: usize,
    vlen: usize,
    exp_off: usize,
    key_off: usize,
}

impl Hdr {
    fn kind(&self) -> Kind {
        match (self.meta & KIND_MASK) >> KIND_SHIFT {
            0 => Kind::Str,
            1 => Kind::Hash,
            2 => Kind::Set,
            3 => Kind::List,
            _ => Kind::ZSet,
        }
    }
    fn volatile(&self) -> bool {
        self.meta & VOLATILE != 0
    }
    fn val_off(&self) -> usize {
        self.key_off + self.klen
    }
    fn total(&self) -> usize {
        self.key_off + self.klen + self.vlen
    }
}

/// An owned entry block (see the module header).
pub(crate) struct Block {
    ptr: NonNull<u8>,
}

// SAFETY: a Block uniquely owns its allocation and the collection it points to, like a Box; it
// has no interior mutability, so moving it to another thread is sound.
unsafe impl Send for Block {}
// SAFETY: shared references only read the owned data.
unsafe impl Sync for Block {}

impl Block {
    /// A new block. `lru` is the 24-bit LRU/LFU field; `expire` the absolute expiry, if any
    /// (its volatile-list position starts at 0; the table sets it).
    pub(crate) fn new(lru: u32, key: &[u8], payload: Payload<'_>, expire: Option<u64>) -> Block {
        let kind = payload.kind();
        let vlen = match &payload {
            Payload::Str(s) => s.len(),
            _ => PTR,
        };
        let mut meta = (lru & LRU_MASK) | kind_bits(kind);
        if expire.is_some() {
            meta |= VOLATILE;
        }
        let key_off = 4
            + varint_len(key.len())
            + if kind == Kind::Str {
                varint_len(vlen)
            } else {
                0
            }
            + if expire.is_some() { 12 } else { 0 };
        let total = key_off + key.len() + vlen;
        let layout = match Layout::from_size_align(total, 1) {
            Ok(l) => l,
            Err(_) => handle_alloc_error(Layout::new::<u8>()),
        };
        // SAFETY: total > 0 (at least 4 header bytes).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: every write below stays within `total` bytes, in the layout computed above.
        unsafe {
            let p = ptr.as_ptr();
            ptr::copy_nonoverlapping(meta.to_le_bytes().as_ptr(), p, 4);
            let mut off = 4 + write_varint(p.add(4), key.len());
            if kind == Kind::Str {
                off += write_varint(p.add(off), vlen);
            }
            if let Some(at) = expire {
                ptr::copy_nonoverlapping(at.to_le_bytes().as_ptr(), p.add(off), 8);
                ptr::copy_nonoverlapping(0u32.to_le_bytes().as_ptr(), p.add(off + 8), 4);
                off += 12;
            }
            debug_assert_eq!(off, key_off);
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(off), key.len());
            off += key.len();
            let addr = match payload {
                Payload::Str(s) => {
                    ptr::copy_nonoverlapping(s.as_ptr(), p.add(off), s.len());
                    None
                }
                Payload::Hash(h) => Some(Box::into_raw(h) as usize),
                Payload::Set(s) => Some(Box::into_raw(s) as usize),
                Payload::List(l) => Some(Box::into_raw(l) as usize),
                Payload::ZSet(z) => Some(Box::into_raw(z) as usize),
            };
            if let Some(a) = addr {
                ptr::copy_nonoverlapping(a.to_le_bytes().as_ptr(), p.add(off), PTR);
            }
        }
        Block { ptr }
    }

    /// A new block holding an owned value.
    pub(crate) fn from_value(lru: u32, key: &[u8], value: Value, expire: Option<u64>) -> Block {
        match value {
            Value::Str(s) => Block::new(lru, key, Payload::Str(&s), expire),
            Value::Hash(h) => Block::new(lru, key, Payload::Hash(Box::new(h)), expire),
            Value::Set(s) => Block::new(lru, key, Payload::Set(Box::new(s)), expire),
            Value::List(l) => Block::new(lru, key, Payload::List(Box::new(l)), expire),
            Value::ZSet(z) => Block::new(lru, key, Payload::ZSet(Box::new(z)), expire),
        }
    }

    #[inline]
    fn hdr(&self) -> Hdr {
        let p = self.ptr.as_ptr();
        // SAFETY: the header is well formed and inside the allocation (module invariant).
        unsafe {
            let mut m = [0u8; 4];
            ptr::copy_nonoverlapping(p, m.as_mut_ptr(), 4);
            let meta = u32::from_le_bytes(m);
            let (klen, n) = read_varint(p.add(4));
            let mut off = 4 + n;
            let vlen = if (meta & KIND_MASK) == 0 {
                let (v, n) = read_varint(p.add(off));
                off += n;
                v
            } else {
                PTR
            };
            let exp_off = off;
            if meta & VOLATILE != 0 {
                off += 12;
            }
            Hdr {
                meta,
                klen,
                vlen,
                exp_off,
                key_off: off,
            }
        }
    }

    /// Bytes of the allocation.
    pub(crate) fn total_len(&self) -> usize {
        self.hdr().total()
    }

    /// The value's type.
    #[inline]
    pub(crate) fn kind(&self) -> Kind {
        self.hdr().kind()
    }

    /// The key.
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: key bytes lie at key_off..key_off+klen inside the allocation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(h.key_off), h.klen) }
    }

    /// The 24-bit LRU/LFU field.
    #[inline]
    pub(crate) fn lru(&self) -> u32 {
        self.hdr().meta & LRU_MASK
    }

    /// Sets the 24-bit LRU/LFU field.
    #[inline]
    pub(crate) fn set_lru(&mut self, lru: u32) {
        let meta = (self.hdr().meta & !LRU_MASK) | (lru & LRU_MASK);
        // SAFETY: the first 4 bytes are the meta word.
        unsafe { ptr::copy_nonoverlapping(meta.to_le_bytes().as_ptr(), self.ptr.as_ptr(), 4) }
    }

    /// True if the key has an expiry.
    #[inline]
    pub(crate) fn is_volatile(&self) -> bool {
        self.hdr().volatile()
    }

    /// The absolute expiry in Unix ms, if any.
    #[inline]
    pub(crate) fn expire(&self) -> Option<u64> {
        let h = self.hdr();
        if !h.volatile() {
            return None;
        }
        let mut b = [0u8; 8];
        // SAFETY: the expiry field is present when the volatile bit is set.
        unsafe { ptr::copy_nonoverlapping(self.ptr.as_ptr().add(h.exp_off), b.as_mut_ptr(), 8) };
        Some(u64::from_le_bytes(b))
    }

    /// Position in the shard's volatile list (0 when not volatile).
    pub(crate) fn vol_pos(&self) -> u32 {
        let h = self.hdr();
        if !h.volatile() {
            return 0;
        }
        let mut b = [0u8; 4];
        // SAFETY: the field is present when the volatile bit is set.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(h.exp_off + 8), b.as_mut_ptr(), 4)
        };
        u32::from_le_bytes(b)
    }

    /// Sets the volatile-list position; no effect on a block without expiry.
    pub(crate) fn set_vol_pos(&mut self, pos: u32) {
        let h = self.hdr();
        if h.volatile() {
            // SAFETY: the field is present when the volatile bit is set.
            unsafe {
                ptr::copy_nonoverlapping(
                    pos.to_le_bytes().as_ptr(),
                    self.ptr.as_ptr().add(h.exp_off + 8),
                    4,
                )
            }
        }
    }

    fn coll_addr(&self, h: &Hdr) -> usize {
        let mut b = [0u8; PTR];
        // SAFETY: a collection block ends with the pointer bytes.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(h.val_off()), b.as_mut_ptr(), PTR)
        };
        usize::from_le_bytes(b)
    }

    /// A view of the value.
    #[inline]
    pub(crate) fn value(&self) -> ValueRef<'_> {
        let h = self.hdr();
        match h.kind() {
            // SAFETY: string bytes lie at val_off..val_off+vlen.
            Kind::Str => ValueRef::Str(unsafe {
                std::slice::from_raw_parts(self.ptr.as_ptr().add(h.val_off()), h.vlen)
            }),
            // SAFETY (three arms): the pointer is a live Box of the kind's type owned by self.
            Kind::Hash => ValueRef::Hash(unsafe { &*(self.coll_addr(&h) as *const HashValue) }),
            Kind::Set => ValueRef::Set(unsafe { &*(self.coll_addr(&h) as *const SetValue) }),
            Kind::List => ValueRef::List(unsafe { &*(self.coll_addr(&h) as *const ListValue) }),
            Kind::ZSet => ValueRef::ZSet(unsafe { &*(self.coll_addr(&h) as *const ZSetValue) }),
        }
    }

    /// The string bytes, mutable in place (length fixed).
    pub(crate) fn str_mut(&mut self) -> Option<&mut [u8]> {
        let h = self.hdr();
        if h.kind() != Kind::Str {
            return None;
        }
        // SAFETY: string bytes lie at val_off..val_off+vlen; &mut self gives exclusivity.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(h.val_off()), h.vlen) })
    }

    /// The hash, mutably.
    pub(crate) fn hash_mut(&mut self) -> Option<&mut HashValue> {
        let h = self.hdr();
        // SAFETY: kind checked; the Box is owned by self and &mut self gives exclusivity.
        (h.kind() == Kind::Hash).then(|| unsafe { &mut *(self.coll_addr(&h) as *mut HashValue) })
    }

    /// The set, mutably.
    pub(crate) fn set_mut(&mut self) -> Option<&mut SetValue> {
        let h = self.hdr();
        // SAFETY: as for `hash_mut`.
        (h.kind() == Kind::Set).then(|| unsafe { &mut *(self.coll_addr(&h) as *mut SetValue) })
    }

    /// The list, mutably.
    pub(crate) fn list_mut(&mut self) -> Option<&mut ListValue> {
        let h = self.hdr();
        // SAFETY: as for `hash_mut`.
        (h.kind() == Kind::List).then(|| unsafe { &mut *(self.coll_addr(&h) as *mut ListValue) })
    }

    /// The sorted set, mutably.
    pub(crate) fn zset_mut(&mut self) -> Option<&mut ZSetValue> {
        let h = self.hdr();
        // SAFETY: as for `hash_mut`.
        (h.kind() == Kind::ZSet).then(|| unsafe { &mut *(self.coll_addr(&h) as *mut ZSetValue) })
    }

    /// Estimated heap bytes: the block plus its collection, if any.
    pub(crate) fn mem_usage(&self) -> usize {
        // One header decode for strings, the common case (run twice per write).
        let h = self.hdr();
        let base = alloc_size(h.total());
        if h.kind() == Kind::Str {
            return base;
        }
        match self.value() {
            ValueRef::Str(_) => base,
            ValueRef::Hash(h) => base + h.mem_usage(),
            ValueRef::Set(s) => base + s.mem_usage(),
            ValueRef::List(l) => base + l.mem_usage(),
            ValueRef::ZSet(z) => base + z.mem_usage(),
        }
    }

    /// Replaces the value with a string, setting the expiry to `expire`. Keeps the LRU/LFU field
    /// and, if the block stays volatile, its volatile-list position. Rewrites in place when the
    /// layout does not change.
    pub(crate) fn set_str(&mut self, val: &[u8], expire: Option<u64>) {
        let h = self.hdr();
        if h.kind() == Kind::Str && h.vlen == val.len() && h.volatile() == expire.is_some() {
            if let Some(at) = expire {
                self.write_expire(&h, at);
            }
            if let Some(s) = self.str_mut() {
                s.copy_from_slice(val);
            }
            return;
        }
        let vol = self.vol_pos();
        let new = Block::new(h.meta & LRU_MASK, self.key(), Payload::Str(val), expire);
        *self = new;
        self.set_vol_pos(vol);
    }

    /// Replaces the value, setting the expiry to `expire` (see [`Block::set_str`]).
    pub(crate) fn set_value(&mut self, value: Value, expire: Option<u64>) {
        if let Value::Str(s) = &value {
            self.set_str(s, expire);
            return;
        }
        let vol = self.vol_pos();
        let new = Block::from_value(self.lru(), self.key(), value, expire);
        *self = new;
        self.set_vol_pos(vol);
    }

    fn write_expire(&mut self, h: &Hdr, at: u64) {
        // SAFETY: called only on volatile blocks, where the field exists.
        unsafe {
            ptr::copy_nonoverlapping(
                at.to_le_bytes().as_ptr(),
                self.ptr.as_ptr().add(h.exp_off),
                8,
            )
        }
    }

    /// Sets or clears the expiry, keeping key, value and LRU/LFU field.
    pub(crate) fn set_expire(&mut self, expire: Option<u64>) {
        let h = self.hdr();
        match (h.volatile(), expire) {
            (true, Some(at)) => self.write_expire(&h, at),
            (false, None) => {}
            _ => {
                let lru = h.meta & LRU_MASK;
                let new = match h.kind() {
                    Kind::Str => match self.value() {
                        ValueRef::Str(s) => Block::new(lru, self.key(), Payload::Str(s), expire),
                        _ => return,
                    },
                    _ => {
                        let addr = self.coll_addr(&h);
                        // SAFETY: the collection moves to the new block; the old shell is freed
                        // below without dropping it.
                        let payload = unsafe {
                            match h.kind() {
                                Kind::Hash => Payload::Hash(Box::from_raw(addr as *mut HashValue)),
                                Kind::Set => Payload::Set(Box::from_raw(addr as *mut SetValue)),
                                Kind::ZSet => Payload::ZSet(Box::from_raw(addr as *mut ZSetValue)),
                                _ => Payload::List(Box::from_raw(addr as *mut ListValue)),
                            }
                        };
                        Block::new(lru, self.key(), payload, expire)
                    }
                };
                let old = std::mem::replace(self, new);
                if h.kind() == Kind::Str {
                    drop(old);
                } else {
                    old.free_shell();
                }
            }
        }
    }

    /// Resizes a string value to `new_len`, keeping its first bytes and zero-filling growth.
    /// No effect on collections.
    pub(crate) fn resize_str(&mut self, new_len: usize) {
        let h = self.hdr();
        if h.kind() != Kind::Str || h.vlen == new_len {
            return;
        }
        if varint_len(h.vlen) != varint_len(new_len) {
            let mut v = Vec::with_capacity(new_len);
            if let ValueRef::Str(s) = self.value() {
                v.extend_from_slice(&s[..new_len.min(s.len())]);
            }
            v.resize(new_len, 0);
            let expire = self.expire();
            self.set_str(&v, expire);
            return;
        }
        let old_total = h.total();
        let new_total = old_total - h.vlen + new_len;
        let (Ok(old_layout), Ok(_)) = (
            Layout::from_size_align(old_total, 1),
            Layout::from_size_align(new_total, 1),
        ) else {
            handle_alloc_error(Layout::new::<u8>())
        };
        // SAFETY: ptr was allocated with old_layout; new_total > 0 and fits isize (checked).
        let raw = unsafe { realloc(self.ptr.as_ptr(), old_layout, new_total) };
        let Some(p) = NonNull::new(raw) else {
            // SAFETY: checked above.
            handle_alloc_error(unsafe { Layout::from_size_align_unchecked(new_total, 1) })
        };
        self.ptr = p;
        // SAFETY: the vlen varint keeps its width; growth bytes are inside the new allocation.
        unsafe {
            let vlen_off = 4 + varint_len(h.klen);
            write_varint(p.as_ptr().add(vlen_off), new_len);
            if new_len > h.vlen {
                ptr::write_bytes(p.as_ptr().add(h.val_off() + h.vlen), 0, new_len - h.vlen);
            }
        }
    }

    /// Moves the value out, freeing the block.
    pub(crate) fn into_value(self) -> Value {
        let h = self.hdr();
        let addr = if h.kind() == Kind::Str {
            0
        } else {
            self.coll_addr(&h)
        };
        let v = match h.kind() {
            Kind::Str => match self.value() {
                ValueRef::Str(s) => Value::Str(s.to_vec()),
                _ => Value::Str(Vec::new()),
            },
            // SAFETY (three arms): ownership of the Box moves out; the shell is freed without
            // dropping it.
            Kind::Hash => Value::Hash(*unsafe { Box::from_raw(addr as *mut HashValue) }),
            Kind::Set => Value::Set(*unsafe { Box::from_raw(addr as *mut SetValue) }),
            Kind::List => Value::List(*unsafe { Box::from_raw(addr as *mut ListValue) }),
            Kind::ZSet => Value::ZSet(*unsafe { Box::from_raw(addr as *mut ZSetValue) }),
        };
        if h.kind() == Kind::Str {
            drop(self);
        } else {
            self.free_shell();
        }
        v
    }

    /// Frees the allocation without dropping the collection it points to.
    fn free_shell(self) {
        let total = self.total_len();
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        // SAFETY: allocated with exactly this layout; the collection was moved out by the caller.
        unsafe { dealloc(p, Layout::from_size_align_unchecked(total, 1)) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let h = self.hdr();
        if h.kind() != Kind::Str {
            let addr = self.coll_addr(&h);
            // SAFETY: the block owns the Box of the kind's type.
            unsafe {
                match h.kind() {
                    Kind::Hash => drop(Box::from_raw(addr as *mut HashValue)),
                    Kind::Set => drop(Box::from_raw(addr as *mut SetValue)),
                    Kind::ZSet => drop(Box::from_raw(addr as *mut ZSetValue)),
                    _ => drop(Box::from_raw(addr as *mut ListValue)),
                }
            }
        }
        // SAFETY: allocated with exactly this layout.
        unsafe {
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(h.total(), 1),
            )
        }
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("kind", &self.kind())
            .field("expire", &self.expire())
            .finish()
    }
}

/// Writes `v` as LEB128 at `p`; returns the bytes written.
///
/// # Safety
/// `p` must be valid for `varint_len(v)` bytes of writes.
unsafe fn write_varint(p: *mut u8, mut v: usize) -> usize {
    let mut i = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            // SAFETY: caller guarantees room.
            unsafe { *p.add(i) = b };
            return i + 1;
        }
        // SAFETY: caller guarantees room.
        unsafe { *p.add(i) = b | 0x80 };
        i += 1;
    }
}

/// Reads a LEB128 value written by [`write_varint`].
///
/// # Safety
/// `p` must point at a complete varint inside an allocation.
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = 0;
    loop {
        // SAFETY: caller guarantees a complete varint.
        let b = unsafe { *p.add(i) };
        v |= usize::from(b & 0x7f) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_block_layout_and_size() {
        let b = Block::new(7, &[b'k'; 14], Payload::Str(&[b'v'; 100]), None);
        assert_eq!(b.total_len(), 120);
        assert_eq!(b.mem_usage(), 128);
        assert_eq!(b.key(), &[b'k'; 14]);
        assert_eq!(b.lru(), 7);
        assert_eq!(b.kind(), Kind::Str);
        assert_eq!(b.expire(), None);
        assert!(matches!(b.value(), ValueRef::Str(s) if s == [b'v'; 100]));
    }

    #[test]
    fn expiry_round_trip_keeps_value_and_lru() {
        let mut b = Block::new(99, b"key", Payload::Str(b"value"), None);
        b.set_expire(Some(12345));
        assert_eq!(b.expire(), Some(12345));
        b.set_vol_pos(77);
        assert_eq!(b.vol_pos(), 77);
        b.set_expire(Some(54321));
        assert_eq!((b.expire(), b.vol_pos()), (Some(54321), 77));
        b.set_str(b"other value", Some(1));
        assert_eq!((b.expire(), b.vol_pos()), (Some(1), 77));
        b.set_expire(None);
        assert_eq!(b.expire(), None);
        assert_eq!(b.lru(), 99);
        assert_eq!(b.key(), b"key");
        assert!(matches!(b.value(), ValueRef::Str(s) if s == b"other value"));
    }

    #[test]
    fn collections_move_between_blocks() {
        let mut h = HashValue::new();
        h.insert(b"f", b"v");
        let mut b = Block::new(1, b"h", Payload::Hash(Box::new(h)), None);
        b.set_expire(Some(10));
        b.set_expire(None);
        if let Some(h) = b.hash_mut() {
            h.insert(b"g", b"w");
        }
        assert!(b.mem_usage() > alloc_size(b.total_len()));
        match b.into_value() {
            Value::Hash(h) => assert_eq!(h.len(), 2),
            other => panic!("{other:?}"),
        }
        let mut l = Block::from_value(0, b"l", Value::List(ListValue::new()), Some(5));
        l.set_value(Value::Str(b"s".to_vec()), None);
        assert_eq!(l.kind(), Kind::Str);
        l.set_value(Value::Set(SetValue::new()), Some(3));
        assert_eq!(l.kind(), Kind::Set);
    }

    #[test]
    fn resize_keeps_prefix_across_varint_widths() {
        let mut b = Block::new(0, b"k", Payload::Str(b"abc"), Some(9));
        b.resize_str(5);
        assert!(matches!(b.value(), ValueRef::Str(s) if s == b"abc\0\0"));
        b.resize_str(300);
        assert!(matches!(b.value(), ValueRef::Str(s) if s.len() == 300 && &s[..3] == b"abc"));
        assert_eq!(b.expire(), Some(9));
        b.resize_str(2);
        assert!(matches!(b.value(), ValueRef::Str(s) if s == b"ab"));
        let big = vec![1u8; 20_000];
        let b2 = Block::new(0, &big, Payload::Str(&big), None);
        assert_eq!(b2.key().len(), 20_000);
    }
}
