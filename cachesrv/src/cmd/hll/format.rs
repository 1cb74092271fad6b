//! Redis's HyperLogLog string format, byte for byte, and its cardinality estimator.
//!
//! A HyperLogLog is a string value: a 16-byte header (`HYLL`, the encoding byte, three unused
//! bytes, the cached cardinality as 8 bytes little-endian whose top bit marks it invalid), then
//! 16384 registers of 6 bits, either **dense** (12288 bytes, register `i` at bit `6 i`, least
//! significant bits first) or **sparse**, as run-length opcodes:
//!
//! - `ZERO`  `00xxxxxx`: `x + 1` (1..64) registers at 0;
//! - `XZERO` `01xxxxxx yyyyyyyy`: `(x << 8 | y) + 1` (1..16384) registers at 0;
//! - `VAL`   `1vvvvvxx`: `x + 1` (1..4) registers at `v + 1` (1..32).
//!
//! Elements hash with MurmurHash64A (seed `0xadc83b19`): the low 14 bits choose the register,
//! the position of the first set bit in the other 50 (plus one) is the value. Updates of the
//! sparse form split and merge opcodes exactly as Redis's `hllSparseSet` does, and promote to
//! dense when a value exceeds 32 or the string would grow past `hll-sparse-max-bytes`, so the
//! bytes stored match Redis's for the same operations. The estimator is Ertl's improved raw
//! estimator, as Redis 7 computes it.

/// Register index bits.
const P: u32 = 14;
/// Hash bits left for the pattern.
const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Largest register value.
const REGISTER_MAX: u8 = 63;
/// Header size.
pub const HDR: usize = 16;
/// Size of a dense HyperLogLog.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
/// Encoding byte of the dense form.
pub const DENSE: u8 = 0;
/// Encoding byte of the sparse form.
pub const SPARSE: u8 = 1;

const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// `0.5 / ln 2`.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// MurmurHash64A, as Redis uses it (little-endian reads).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let mut k = u64::from_le_bytes(b);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and its pattern length (1..=51).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HyperLogLog: sparse, one XZERO opcode, a valid cached cardinality of 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut v, n);
        left -= n;
    }
    v
}

/// True if `s` is a HyperLogLog as Redis's `isHLLObjectOrReply` checks it: the magic, a known
/// encoding, and the exact size for the dense form.
pub fn is_valid(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

/// Marks the cached cardinality invalid.
pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// The cached cardinality, if valid.
pub fn cached(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(b))
}

/// Stores a freshly computed cardinality in the header (valid).
pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Dense register `i` of `regs` (the bytes after the header).
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u16::from(regs[byte]);
    // The last register's second byte is past the end (Redis reads the string's terminator).
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

/// Sets dense register `i` of `regs` to `v`.
#[inline]
pub fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u16::from(v);
    let max = u16::from(REGISTER_MAX);
    regs[byte] &= !((max << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count`; true if it changed.
#[inline]
pub fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// A sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `ZERO` or `XZERO`: a run of zero registers.
    Zero { len: usize, x: bool },
    /// `VAL`: a run of registers at `value`.
    Val { value: u8, len: usize },
}

/// The opcode at `p[0]` and its size in bytes, or `None` for a truncated XZERO.
#[inline]
pub fn op_at(p: &[u8]) -> Option<(Op, usize)> {
    let b = p[0];
    if b & 0x80 != 0 {
        let value = ((b >> 2) & 0x1f) + 1;
        let len = usize::from(b & 0x3) + 1;
        Some((Op::Val { value, len }, 1))
    } else if b & 0xc0 == 0x40 {
        let lo = *p.get(1)?;
        let len = ((usize::from(b & 0x3f) << 8) | usize::from(lo)) + 1;
        Some((Op::Zero { len, x: true }, 2))
    } else {
        let len = usize::from(b & 0x3f) + 1;
        Some((Op::Zero { len, x: false }, 1))
    }
}

fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push(0x40 | (l >> 8) as u8);
    v.push((l & 0xff) as u8);
}

/// A run of `len` zero registers as one opcode (ZERO up to 64, XZERO beyond).
fn push_zeros(v: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(v, len);
    } else {
        v.push(len as u8 - 1);
    }
}

/// Every register of a sparse HyperLogLog, visited in runs: `f(first, len, value)`. `Err` if
/// the opcodes do not cover exactly the 16384 registers.
pub fn sparse_runs(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), ()> {
    let mut p = HDR;
    let mut idx = 0usize;
    while p < s.len() {
        let (op, n) = op_at(&s[p..]).ok_or(())?;
        match op {
            Op::Zero { len, .. } => {
                f(idx, len, 0);
                idx += len;
            }
            Op::Val { value, len } => {
                if idx + len > REGISTERS {
                    break;
                }
                f(idx, len, value);
                idx += len;
            }
        }
        p += n;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(())
    }
}

/// Converts a sparse HyperLogLog to dense (header copied, encoding changed); `Err` if the
/// sparse form is corrupt.
pub fn to_dense(s: &[u8]) -> Result<Vec<u8>, ()> {
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&s[..HDR]);
    d[4] = DENSE;
    let regs = &mut d[HDR..];
    sparse_runs(s, |first, len, v| {
        if v > 0 {
            for i in first..first + len {
                dense_put(regs, i, v);
            }
        }
    })?;
    Ok(d)
}

/// What an update of a sparse HyperLogLog did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// Nothing (the register was already as high).
    Unchanged,
    /// The register was raised.
    Updated,
    /// Corrupt sparse data.
    Invalid,
}

/// Raises register `index` to `count` in the HyperLogLog `s` (sparse or dense), promoting a
/// sparse one to dense as Redis does (`max_sparse`: `hll-sparse-max-bytes`).
pub fn set(s: &mut Vec<u8>, index: usize, count: u8, max_sparse: usize) -> Set {
    if s[4] == DENSE {
        return if dense_set(&mut s[HDR..], index, count) {
            Set::Updated
        } else {
            Set::Unchanged
        };
    }
    sparse_set(s, index, count, max_sparse)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Set {
    match to_dense(s) {
        Ok(d) => {
            *s = d;
            dense_set(&mut s[HDR..], index, count);
            Set::Updated
        }
        Err(()) => Set::Invalid,
    }
}

/// Redis's `hllSparseSet`: split the opcode holding the register, then merge adjacent VAL
/// opcodes of equal value around it.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_sparse: usize) -> Set {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: the opcode covering `index`.
    let end = s.len();
    let mut p = HDR;
    let mut prev: Option<usize> = None;
    let mut first = 0usize;
    let mut found: Option<(Op, usize)> = None;
    while p < end {
        let Some((op, n)) = op_at(&s[p..]) else {
            return Set::Invalid;
        };
        let span = match op {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        };
        if index < first + span {
            found = Some((op, n));
            break;
        }
        prev = Some(p);
        p += n;
        first += span;
    }
    let Some((op, oplen)) = found else {
        return Set::Invalid;
    };
    let span = match op {
        Op::Zero { len, .. } | Op::Val { len, .. } => len,
    };
    // Step 2: the replacement sequence.
    match op {
        Op::Val { value, .. } if value >= count => return Set::Unchanged,
        Op::Val { len: 1, .. } | Op::Zero { len: 1, x: false } => {
            s[p] = val_byte(count, 1);
            merge(s, prev.unwrap_or(HDR));
            invalidate(s);
            return Set::Updated;
        }
        _ => {}
    }
    let last = first + span - 1;
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    match op {
        Op::Zero { .. } => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_byte(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val { value, .. } => {
            if index != first {
                seq.push(val_byte(value, index - first));
            }
            seq.push(val_byte(count, 1));
            if index != last {
                seq.push(val_byte(value, last - index));
            }
        }
    }
    // Step 3: put it in place of the old opcode, unless that makes the string too long.
    if seq.len() > oplen && s.len() + seq.len() - oplen > max_sparse {
        return promote(s, index, count);
    }
    s.splice(p..p + oplen, seq);
    // Step 4: merge adjacent VAL opcodes.
    merge(s, prev.unwrap_or(HDR));
    invalidate(s);
    Set::Updated
}

/// Redis's step 4: from `p`, over at most 5 opcodes, merges each VAL with a following VAL of
/// the same value while their lengths fit one opcode.
fn merge(s: &mut Vec<u8>, mut p: usize) {
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            let (v1, l1) = (((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1);
            let n = s[p + 1];
            let (v2, l2) = (((n >> 2) & 0x1f) + 1, usize::from(n & 3) + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                s[p + 1] = val_byte(v1, l1 + l2);
                s.remove(p);
                continue;
            }
        }
        p += 1;
    }
}

/// Adds `max[i] = max(max[i], register i)` for every register of `s`; `Err` if corrupt.
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), ()> {
    if s[4] == DENSE {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        return Ok(());
    }
    sparse_runs(s, |first, len, v| {
        if v > 0 {
            for m in &mut max[first..first + len] {
                if v > *m {
                    *m = v;
                }
            }
        }
    })
}

/// The register histogram of a HyperLogLog (`None` if the sparse form is corrupt).
pub fn histogram(s: &[u8]) -> Option<[u32; 64]> {
    let mut h = [0u32; 64];
    if s[4] == DENSE {
        let regs = &s[HDR..];
        for i in 0..REGISTERS {
            h[usize::from(dense_get(regs, i))] += 1;
        }
        return Some(h);
    }
    // Redis counts what it decoded and flags a wrong total afterwards.
    let mut p = HDR;
    let mut idx = 0usize;
    while p < s.len() {
        let (op, n) = op_at(&s[p..])?;
        match op {
            Op::Zero { len, .. } => h[0] += len as u32,
            Op::Val { value, len } => h[usize::from(value)] += len as u32,
        }
        idx += match op {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        };
        p += n;
    }
    (idx == REGISTERS).then_some(h)
}

/// The histogram of raw registers (one byte each).
pub fn raw_histogram(regs: &[u8]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &r in regs {
        h[usize::from(r & 63)] += 1;
    }
    h
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram (Ertl's estimator, as Redis 7).
pub fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(h[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hll_is_one_xzero() {
        let h = new_sparse();
        assert_eq!(h.len(), 18);
        assert_eq!(&h[16..], &[0x7f, 0xff]);
        assert!(is_valid(&h));
        assert_eq!(estimate(&histogram(&h).expect("valid")), 0);
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_sparse();
        for i in 0..2000u32 {
            let (idx, c) = pat_len(format!("e{i}").as_bytes());
            assert_ne!(set(&mut sparse, idx, c, 1 << 20), Set::Invalid);
        }
        assert_eq!(sparse[4], SPARSE);
        let dense = to_dense(&sparse).expect("valid");
        let (a, b) = (histogram(&sparse), histogram(&dense));
        assert_eq!(a, b);
        let e = estimate(&a.expect("valid"));
        assert!((1900..2100).contains(&e), "{e}");
    }

    #[test]
    fn corrupt_sparse_data_is_detected() {
        let mut h = new_sparse();
        h.pop();
        assert!(histogram(&h).is_none());
        assert!(to_dense(&h).is_err());
        let mut short = new_sparse();
        short[16] = 0x40; // XZERO of 1 register: 16383 missing.
        assert!(histogram(&short).is_none());
    }
}
