//! Listpacks: the compact encoding Redis 7 writes for small hashes (`HASH_LISTPACK`) and for the
//! nodes of a list (`QUICKLIST_2`).
//!
//! Layout: total bytes (u32 LE), element count (u16 LE, 65535 when unknown), the entries, and an
//! end byte 0xFF. An entry is an encoding with its data, then a "back length" (the size of
//! encoding and data, 1 to 5 bytes, readable right to left). Encodings:
//!
//! | first byte | meaning |
//! | --- | --- |
//! | `0xxxxxxx` | integer 0..127 |
//! | `10xxxxxx` | string of up to 63 bytes |
//! | `110xxxxx` + 1 | 13-bit signed integer |
//! | `1110xxxx` + 1 | string of up to 4095 bytes |
//! | `0xF0` + 4 | string, 32-bit length |
//! | `0xF1`/`0xF2`/`0xF3`/`0xF4` | 16/24/32/64-bit signed integer |
//!
//! As Redis does, an element that is a canonical 64-bit integer (`string2ll`) is stored as an
//! integer; reading turns it back into the same decimal text.

use crate::engine::parse_i64_strict;

/// End-of-listpack byte.
const LP_EOF: u8 = 0xFF;
/// Header: total bytes and element count.
pub const HEADER: usize = 6;

/// Appends `v`'s encoding and data to `out`; returns their size.
fn encode_int(out: &mut Vec<u8>, v: i64) -> usize {
    if (0..=127).contains(&v) {
        out.push(v as u8);
        1
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1FFF;
        out.push(0xC0 | (u >> 8) as u8);
        out.push((u & 0xFF) as u8);
        2
    } else if i16::try_from(v).is_ok() {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        4
    } else if i32::try_from(v).is_ok() {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
        5
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
        9
    }
}

fn encode_str(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let n = s.len();
    let hdr = if n < 64 {
        out.push(0x80 | n as u8);
        1
    } else if n < 4096 {
        out.push(0xE0 | (n >> 8) as u8);
        out.push((n & 0xFF) as u8);
        2
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        5
    };
    out.extend_from_slice(s);
    hdr + n
}

/// Appends the back length of an entry of `l` bytes.
fn encode_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let part = ((l >> (7 * i)) & 0x7F) as u8;
        out.push(if i == n - 1 { part } else { part | 0x80 });
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// The number of bytes `s` takes as a listpack entry (encoding, data and back length).
pub fn entry_size(s: &[u8]) -> usize {
    let l = if let Some(v) = int_of(s) {
        match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            _ if i16::try_from(v).is_ok() => 3,
            _ if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
            _ if i32::try_from(v).is_ok() => 5,
            _ => 9,
        }
    } else if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    l + backlen_size(l)
}

fn int_of(s: &[u8]) -> Option<i64> {
    if s.len() <= 20 {
        parse_i64_strict(s)
    } else {
        None
    }
}

/// Builds a listpack element by element.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// An empty listpack.
    pub fn new() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Appends one element.
    pub fn push(&mut self, s: &[u8]) {
        let l = match int_of(s) {
            Some(v) => encode_int(&mut self.buf, v),
            None => encode_str(&mut self.buf, s),
        };
        encode_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// Elements so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes the finished listpack would take.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Why a listpack (or another compact encoding) is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// An element read from a compact encoding: bytes or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A byte string.
    Str(&'a [u8]),
    /// An integer (its decimal text is the element).
    Int(i64),
}

impl Elem<'_> {
    /// The element as bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(v) => v.to_string().into_bytes(),
        }
    }

    /// Calls `f` with the element's bytes, without allocating for integers.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Str(s) => f(s),
            Elem::Int(v) => {
                let mut b = itoa::Buffer::new();
                f(b.format(v).as_bytes())
            }
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Parses and validates a whole listpack, calling `f` for each element in order.
pub fn for_each<'a>(
    lp: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<(), Malformed>,
) -> Result<usize, Malformed> {
    const BAD: Malformed = Malformed("invalid listpack");
    if lp.len() < HEADER + 1 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() || lp[lp.len() - 1] != LP_EOF {
        return Err(BAD);
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]) as usize;
    let body = &lp[..lp.len() - 1];
    let mut p = HEADER;
    let mut count = 0usize;
    while p < body.len() {
        let b = body[p];
        let need = |n: usize| body.get(p..p + n).ok_or(BAD);
        let (elem, l) = if b & 0x80 == 0 {
            (Elem::Int(i64::from(b)), 1)
        } else if b & 0xC0 == 0x80 {
            let n = (b & 0x3F) as usize;
            (Elem::Str(&need(1 + n)?[1..]), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let d = need(2)?;
            let u = (u64::from(b & 0x1F) << 8) | u64::from(d[1]);
            (Elem::Int(sign_extend(u, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let d = need(2)?;
            let n = ((b & 0x0F) as usize) << 8 | d[1] as usize;
            (Elem::Str(&need(2 + n)?[2..]), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let d = need(5)?;
                    let n = u32::from_le_bytes([d[1], d[2], d[3], d[4]]) as usize;
                    let s = body
                        .get(p + 5..(p + 5).checked_add(n).ok_or(BAD)?)
                        .ok_or(BAD)?;
                    (Elem::Str(s), 5 + n)
                }
                0xF1..=0xF4 => {
                    let width = [2usize, 3, 4, 8][(b - 0xF1) as usize];
                    let d = need(1 + width)?;
                    let mut v = [0u8; 8];
                    v[..width].copy_from_slice(&d[1..]);
                    let u = u64::from_le_bytes(v);
                    (Elem::Int(sign_extend(u, width as u32 * 8)), 1 + width)
                }
                _ => return Err(BAD),
            }
        };
        let bl = backlen_size(l);
        let back = body.get(p + l..p + l + bl).ok_or(BAD)?;
        let mut expect = Vec::with_capacity(5);
        encode_backlen(&mut expect, l);
        if back != expect.as_slice() {
            return Err(BAD);
        }
        f(elem)?;
        count += 1;
        p += l + bl;
    }
    if declared != 65535 && declared != count {
        return Err(BAD);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_encoding() {
        let elems: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-1".to_vec(),
            b"-4096".to_vec(),
            b"4095".to_vec(),
            b"-32768".to_vec(),
            b"32767".to_vec(),
            b"8388607".to_vec(),
            b"-8388608".to_vec(),
            b"2147483647".to_vec(),
            b"-2147483648".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"".to_vec(),
            vec![b'a'; 63],
            vec![b'b'; 64],
            vec![b'c'; 4095],
            vec![b'd'; 4096],
            vec![b'e'; 20000],
        ];
        let mut b = Builder::new();
        let mut expected_size = HEADER + 1;
        for e in &elems {
            b.push(e);
            expected_size += entry_size(e);
        }
        assert_eq!(b.size(), expected_size);
        let lp = b.finish();
        assert_eq!(lp.len(), expected_size);
        let mut got = Vec::new();
        let n = for_each(&lp, |e| {
            got.push(e.to_bytes());
            Ok(())
        })
        .expect("valid");
        assert_eq!(n, elems.len());
        assert_eq!(got, elems);
    }

    #[test]
    fn known_bytes() {
        // Redis: RPUSH of "a" and 1 gives this listpack.
        let mut b = Builder::new();
        b.push(b"a");
        b.push(b"1");
        assert_eq!(
            b.finish(),
            vec![12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xFF]
        );
    }

    #[test]
    fn rejects_corruption() {
        let mut b = Builder::new();
        b.push(b"hello");
        b.push(b"12345");
        let lp = b.finish();
        for cut in 0..lp.len() {
            assert!(for_each(&lp[..cut], |_| Ok(())).is_err());
        }
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(for_each(&bad, |_| Ok(())).is_err());
        let mut bad = lp.clone();
        bad[6] = 0x8F;
        assert!(for_each(&bad, |_| Ok(())).is_err());
        let mut bad = lp;
        bad[6] = 0xF7;
        assert!(for_each(&bad, |_| Ok(())).is_err());
    }
}
