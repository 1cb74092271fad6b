//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, and (module
//! `bitfield`) BITFIELD and BITFIELD_RO.
//!
//! Bits are numbered as in Redis: bit 0 is the most significant bit of the first byte.
//! Argument checks and their order follow Redis 7.0 (`bitops.c`).

use super::flags::*;
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::{Access, EngineError, Ttl};

mod bitfield;

use bitfield::{bitfield, bitfield_ro};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("setbit", 4, WRITE | DENYOOM, (1, 1, 1), setbit);
    add("getbit", 3, READONLY | FAST, (1, 1, 1), getbit);
    add("bitcount", -2, READONLY, (1, 1, 1), bitcount);
    add("bitpos", -3, READONLY, (1, 1, 1), bitpos);
    add("bitop", -4, WRITE | DENYOOM, (2, -1, 1), bitop);
    add("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), bitfield);
    add("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), bitfield_ro);
}

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// Mask of the bits `from..=to` (0: most significant) of one byte.
#[inline]
fn byte_mask(from: u64, to: u64) -> u8 {
    (0xFFu8 >> from) & (0xFFu8 << (7 - to))
}

/// The value of bit `bit` of `s` (0 past the end).
pub(crate) fn get_bit(s: &[u8], bit: u64) -> u8 {
    match s.get((bit >> 3) as usize) {
        Some(b) => (b >> (7 - (bit & 7))) & 1,
        None => 0,
    }
}

/// Sets bit `bit` of `s` (which must hold it) to `on`; returns its previous value.
pub(crate) fn set_bit(s: &mut [u8], bit: u64, on: bool) -> u8 {
    let byte = &mut s[(bit >> 3) as usize];
    let m = 1u8 << (7 - (bit & 7));
    let old = u8::from(*byte & m != 0);
    if on {
        *byte |= m;
    } else {
        *byte &= !m;
    }
    old
}

/// Number of set bits among bits `from..=to` of `s` (both within `s`, `from <= to`).
pub(crate) fn count_bits(s: &[u8], from: u64, to: u64) -> u64 {
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    if fb == lb {
        return u64::from((s[fb] & byte_mask(from & 7, to & 7)).count_ones());
    }
    let first = u64::from((s[fb] & byte_mask(from & 7, 7)).count_ones());
    let last = u64::from((s[lb] & byte_mask(0, to & 7)).count_ones());
    first + last + popcount(&s[fb + 1..lb])
}

/// Set bits in `s`.
pub(crate) fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// The first bit equal to `bit` among bits `from..=to` of `s` (both within `s`,
/// `from <= to`).
pub(crate) fn find_bit(s: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    // The bits looked for, as ones, within `mask`.
    let hit = |b: u8, mask: u8| if bit { b & mask } else { !b & mask };
    let at = |i: usize, v: u8| Some(((i as u64) << 3) + u64::from(v.leading_zeros()));
    if fb == lb {
        let v = hit(s[fb], byte_mask(from & 7, to & 7));
        return if v != 0 { at(fb, v) } else { None };
    }
    let v = hit(s[fb], byte_mask(from & 7, 7));
    if v != 0 {
        return at(fb, v);
    }
    let skip = if bit { 0x00 } else { 0xFF };
    if let Some(i) = s[fb + 1..lb].iter().position(|&b| b != skip) {
        let i = fb + 1 + i;
        return at(i, hit(s[i], 0xFF));
    }
    let v = hit(s[lb], byte_mask(0, to & 7));
    if v != 0 {
        at(lb, v)
    } else {
        None
    }
}

/// A bit offset argument: `0 <= offset` and `offset / 8 < proto-max-bulk-len`.
fn bit_offset(ctx: &mut Ctx<'_>, a: &[u8]) -> Option<u64> {
    bit_offset_in(ctx, a, 0)
}

/// A bit offset argument; with `width > 0`, `#n` stands for `n * width` (BITFIELD).
fn bit_offset_in(ctx: &mut Ctx<'_>, a: &[u8], width: u32) -> Option<u64> {
    let max_bulk = ctx.shared.parser_limits().max_bulk as u64;
    let n = match a.strip_prefix(b"#") {
        Some(n) if width > 0 => int(n).map(|n| n.wrapping_mul(i64::from(width))),
        _ => int(a),
    };
    match n {
        Some(n) if n >= 0 && ((n as u64) >> 3) < max_bulk => Some(n as u64),
        _ => {
            ctx.err(BAD_OFFSET);
            None
        }
    }
}

fn setbit(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(offset) = bit_offset(ctx, a[2]) else {
        return;
    };
    let on = match int(a[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return ctx.err(BAD_BIT),
    };
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        k.modify_str((offset >> 3) as usize + 1, |s| set_bit(s, offset, on))
    });
    match r {
        Ok(old) => {
            ctx.notify(super::notify::STRING, "setbit", a[1]);
            ctx.int(i64::from(old))
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn getbit(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(offset) = bit_offset(ctx, a[2]) else {
        return;
    };
    let access = ctx.read_access();
    let r = ctx.db().with_key(a[1], access, |k| {
        k.as_str().map(|s| s.map_or(0, |s| get_bit(s, offset)))
    });
    match r {
        Ok(b) => ctx.int(i64::from(b)),
        Err(e) => ctx.engine_err(e),
    }
}

/// Converts a `start end [BYTE|BIT]` range (in bytes, or in bits when `isbit`) over a string
/// of `len` bytes as Redis does (negative indexes, clamping) into the bit range
/// `from..=to`; `None` when empty.
fn convert_range(mut start: i64, mut end: i64, isbit: bool, len: usize) -> Option<(u64, u64)> {
    let total = if isbit { (len as i64) << 3 } else { len as i64 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if isbit {
        (start, end)
    } else {
        (start << 3, (end << 3) + 7)
    })
}

/// The optional `BYTE|BIT` argument: true for BIT, false when absent.
fn unit(a: Option<&&[u8]>) -> Result<bool, &'static str> {
    match a {
        None => Ok(false),
        Some(u) if eq(u, "bit") => Ok(true),
        Some(u) if eq(u, "byte") => Ok(false),
        Some(_) => Err("ERR syntax error"),
    }
}

/// Reads the string at `key` (`None`: missing) and replies with what `f` computes from it, an
/// integer or an error.
fn int_of_string(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&[u8]>) -> Result<i64, &'static str>,
) {
    let access = ctx.read_access();
    match ctx.db().with_key(key, access, |k| k.as_str().map(f)) {
        Ok(Ok(n)) => ctx.int(n),
        Ok(Err(msg)) => ctx.err(msg),
        Err(e) => ctx.engine_err(e),
    }
}

fn bitcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    // As Redis 7.0: the key is looked up (a missing one counts 0) before the range is parsed.
    int_of_string(ctx, a[1], |s| {
        let Some(s) = s else {
            return Ok(0);
        };
        let range = match a.len() {
            2 => convert_range(0, -1, false, s.len()),
            4 | 5 => {
                let (Some(start), Some(end)) = (int(a[2]), int(a[3])) else {
                    return Err(NOT_INTEGER);
                };
                let isbit = unit(a.get(4))?;
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                convert_range(start, end, isbit, s.len())
            }
            _ => return Err("ERR syntax error"),
        };
        Ok(range.map_or(0, |(from, to)| count_bits(s, from, to) as i64))
    });
}

fn bitpos(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let bit = match int(a[2]) {
        Some(0) => false,
        Some(1) => true,
        Some(_) => return ctx.err("ERR The bit argument must be 1 or 0."),
        None => return ctx.err(NOT_INTEGER),
    };
    int_of_string(ctx, a[1], |s| {
        // A missing key is an endless run of zeros.
        let Some(s) = s else {
            return Ok(if bit { -1 } else { 0 });
        };
        let (range, end_given) = match a.len() {
            3 => (convert_range(0, -1, false, s.len()), false),
            4..=6 => {
                let Some(start) = int(a[3]) else {
                    return Err(NOT_INTEGER);
                };
                let isbit = unit(a.get(5))?;
                let end = match a.get(4) {
                    None => -1,
                    Some(e) => int(e).ok_or(NOT_INTEGER)?,
                };
                (convert_range(start, end, isbit, s.len()), a.len() >= 5)
            }
            _ => return Err("ERR syntax error"),
        };
        let Some((from, to)) = range else {
            return Ok(-1);
        };
        Ok(match find_bit(s, bit, from, to) {
            Some(p) => p as i64,
            // Looking for a zero with no explicit end: the string continues with zeros right
            // after the range (which then ends with the string).
            None if !bit && !end_given => ((to >> 3) as i64 + 1) << 3,
            None => -1,
        })
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Xor,
    Not,
}

/// Folds `src` (zero-padded to `acc`'s length) into `acc`, growing `acc` with zeros first
/// when `src` is longer.
fn fold(acc: &mut Vec<u8>, src: &[u8], op: Op) {
    if src.len() > acc.len() {
        acc.resize(src.len(), 0);
    }
    let n = src.len();
    match op {
        Op::And => {
            for (d, s) in acc.iter_mut().zip(src) {
                *d &= s;
            }
            acc[n..].fill(0);
        }
        Op::Or => acc.iter_mut().zip(src).for_each(|(d, s)| *d |= s),
        Op::Xor => acc.iter_mut().zip(src).for_each(|(d, s)| *d ^= s),
        Op::Not => acc.iter_mut().for_each(|d| *d = !*d),
    }
}

fn bitop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let op = if eq(a[1], "and") {
        Op::And
    } else if eq(a[1], "or") {
        Op::Or
    } else if eq(a[1], "xor") {
        Op::Xor
    } else if eq(a[1], "not") {
        Op::Not
    } else {
        return ctx.syntax_error();
    };
    if op == Op::Not && a.len() != 4 {
        return ctx.err("ERR BITOP NOT must be called with a single source key.");
    }
    let db_idx = ctx.sess.db;
    let keys: Vec<(usize, &[u8])> = a[2..].iter().map(|k| (db_idx, *k)).collect();
    let mut deleted = false;
    let r = (|| -> Result<usize, EngineError> {
        let mut g = ctx.shared.engine.lock_keys(&keys)?;
        let mut acc: Vec<u8> = Vec::new();
        for i in 1..g.len() {
            let Some(k) = g.key(i, Access::READ) else {
                continue;
            };
            let src = k.as_str()?.unwrap_or_default();
            if i == 1 {
                acc.extend_from_slice(src);
                if op == Op::Not {
                    fold(&mut acc, &[], Op::Not);
                }
            } else {
                fold(&mut acc, src, op);
            }
        }
        if let Some(mut dest) = g.key(0, Access::WRITE) {
            if acc.is_empty() {
                deleted = dest.delete();
            } else {
                dest.put_str(&acc, Ttl::Clear)?;
            }
        }
        Ok(acc.len())
    })();
    match r {
        Ok(n) => {
            ctx.notify_store(super::notify::STRING, "set", a[2], n > 0, deleted);
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::runner::testing::{runner, OOM};

    #[test]
    fn setbit_growth_is_accounted_and_refused_over_maxmemory() {
        let mut r = runner(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
        let before = r.shared().engine.used_memory();
        // 512 KB of zeros.
        assert_eq!(r.run(&["SETBIT", "b", "4194303", "1"]), ":0\r\n");
        let after = r.shared().engine.used_memory();
        assert!(after >= before + 512 * 1024, "{before} -> {after}");
        assert_eq!(r.run(&["BITOP", "NOT", "c", "b"]), ":524288\r\n");
        assert_eq!(r.run(&["SETBIT", "d", "0", "1"]), OOM);
        assert_eq!(r.run(&["BITOP", "OR", "e", "b"]), OOM);
        // Reads still work.
        assert_eq!(r.run(&["GETBIT", "b", "4194303"]), ":1\r\n");
        assert_eq!(r.run(&["BITCOUNT", "c"]), ":4194303\r\n");
    }

    #[test]
    fn offsets_are_limited_by_proto_max_bulk_len() {
        let mut r = runner(&[]);
        assert_eq!(
            r.run(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
            "+OK\r\n"
        );
        let bad = "-ERR bit offset is not an integer or out of range\r\n";
        assert_eq!(r.run(&["SETBIT", "b", "8388608", "1"]), bad);
        assert_eq!(r.run(&["GETBIT", "b", "8388608"]), bad);
        assert_eq!(r.run(&["SETBIT", "b", "8388607", "1"]), ":0\r\n");
        assert_eq!(r.run(&["STRLEN", "b"]), ":1048576\r\n");
    }

    /// Bit by bit, for comparison.
    fn naive_count(s: &[u8], from: u64, to: u64) -> u64 {
        (from..=to).map(|b| u64::from(get_bit(s, b))).sum()
    }

    fn naive_find(s: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
        (from..=to).find(|&b| get_bit(s, b) == u8::from(bit))
    }

    #[test]
    fn masks_select_msb_first_bits() {
        assert_eq!(byte_mask(0, 7), 0xFF);
        assert_eq!(byte_mask(0, 0), 0x80);
        assert_eq!(byte_mask(7, 7), 0x01);
        assert_eq!(byte_mask(2, 4), 0b0011_1000);
    }

    #[test]
    fn get_and_set_bits() {
        let mut s = vec![0u8; 2];
        assert_eq!(set_bit(&mut s, 0, true), 0);
        assert_eq!(set_bit(&mut s, 15, true), 0);
        assert_eq!(set_bit(&mut s, 15, true), 1);
        assert_eq!(s, [0x80, 0x01]);
        assert_eq!(get_bit(&s, 0), 1);
        assert_eq!(get_bit(&s, 1), 0);
        assert_eq!(get_bit(&s, 15), 1);
        assert_eq!(get_bit(&s, 16), 0);
        assert_eq!(get_bit(&s, u64::MAX), 0);
        assert_eq!(set_bit(&mut s, 0, false), 1);
        assert_eq!(s, [0x00, 0x01]);
    }

    #[test]
    fn counts_and_finds_match_a_bit_by_bit_scan() {
        let data: Vec<u8> = (0u32..40)
            .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 13) as u8)
            .chain([0, 0, 0xFF, 0xFF, 0, 0x10])
            .collect();
        let bits = (data.len() * 8) as u64;
        for from in (0..bits).step_by(3) {
            for to in (from..bits).step_by(5) {
                assert_eq!(count_bits(&data, from, to), naive_count(&data, from, to));
                for bit in [false, true] {
                    assert_eq!(
                        find_bit(&data, bit, from, to),
                        naive_find(&data, bit, from, to),
                        "{bit} {from}..={to}"
                    );
                }
            }
        }
        assert_eq!(popcount(&data), naive_count(&data, 0, bits - 1));
    }

    #[test]
    fn finds_nothing_in_uniform_runs() {
        let zeros = [0u8; 20];
        let ones = [0xFFu8; 20];
        assert_eq!(find_bit(&zeros, true, 0, 159), None);
        assert_eq!(find_bit(&ones, false, 3, 150), None);
        assert_eq!(find_bit(&zeros, false, 9, 150), Some(9));
        assert_eq!(find_bit(&ones, true, 100, 100), Some(100));
    }

    #[test]
    fn ranges_convert_as_redis() {
        let r = |s, e, b, l| convert_range(s, e, b, l);
        assert_eq!(r(0, -1, false, 3), Some((0, 23)));
        assert_eq!(r(1, 1, false, 3), Some((8, 15)));
        assert_eq!(r(-2, -1, false, 3), Some((8, 23)));
        assert_eq!(r(5, 100, true, 3), Some((5, 23)));
        assert_eq!(r(-100, -50, false, 3), Some((0, 7)));
        assert_eq!(r(2, 1, false, 3), None);
        assert_eq!(r(0, -1, false, 0), None);
        assert_eq!(r(3, 10, false, 3), None);
    }

    #[test]
    fn bit_operations_pad_shorter_sources_with_zeros() {
        let mut acc = vec![0xF0, 0xFF];
        fold(&mut acc, &[0xFF], Op::And);
        assert_eq!(acc, [0xF0, 0x00]);
        let mut acc = vec![0x0F];
        fold(&mut acc, &[0xF0, 0x01], Op::Or);
        assert_eq!(acc, [0xFF, 0x01]);
        fold(&mut acc, &[0xFF], Op::Xor);
        assert_eq!(acc, [0x00, 0x01]);
        fold(&mut acc, &[], Op::Not);
        assert_eq!(acc, [0xFF, 0xFE]);
        let mut acc = vec![0x01];
        fold(&mut acc, &[0x01, 0x01], Op::And);
        assert_eq!(acc, [0x01, 0x00]);
    }
}
