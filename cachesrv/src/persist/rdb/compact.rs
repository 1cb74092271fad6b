//! The other compact encodings found in RDB files: intsets (written for sets of integers, as
//! Redis 7 does) and, for loading files of older Redis versions, ziplists and zipmaps.
//!
//! - intset: encoding width (u32 LE: 2, 4 or 8), count (u32 LE), then the integers sorted
//!   ascending, little endian, all of that width.
//! - ziplist: total bytes (u32 LE), tail offset (u32 LE), count (u16 LE), entries, 0xFF. An
//!   entry is the previous entry's length (1 byte, or 0xFE and 4 bytes), an encoding (strings:
//!   `00` 6-bit, `01` 14-bit big-endian, `10` 32-bit big-endian lengths; integers: 0xC0 i16,
//!   0xD0 i32, 0xE0 i64, 0xF0 i24, 0xFE i8, 0xF1..0xFD the values 0..12) and the data.
//! - zipmap: a count byte, then key and value pairs, each length 1 byte (or 0xFE and 4 bytes),
//!   the value preceded by a "free" byte counting unused bytes after it; 0xFF ends.

use super::listpack::{Elem, Malformed};

/// Builds an intset of `values` (sorted here; duplicates are the caller's concern).
pub fn intset(values: &mut [i64]) -> Vec<u8> {
    values.sort_unstable();
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Reads an intset, calling `f` for each integer.
pub fn for_each_intset(
    data: &[u8],
    mut f: impl FnMut(i64) -> Result<(), Malformed>,
) -> Result<usize, Malformed> {
    const BAD: Malformed = Malformed("invalid intset");
    if data.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let count = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(data.len() - 8) {
        return Err(BAD);
    }
    let mut prev: Option<i64> = None;
    for c in data[8..].chunks_exact(width) {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(c);
        let shift = 64 - 8 * width as u32;
        let v = (i64::from_le_bytes(b) << shift) >> shift;
        if prev.is_some_and(|p| p >= v) {
            return Err(BAD);
        }
        prev = Some(v);
        f(v)?;
    }
    Ok(count)
}

/// Reads a ziplist, calling `f` for each element.
pub fn for_each_ziplist<'a>(
    zl: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<(), Malformed>,
) -> Result<usize, Malformed> {
    const BAD: Malformed = Malformed("invalid ziplist");
    if zl.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let declared = u16::from_le_bytes([zl[8], zl[9]]) as usize;
    if total != zl.len() || zl[zl.len() - 1] != 0xFF {
        return Err(BAD);
    }
    let body = &zl[..zl.len() - 1];
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut count = 0usize;
    while p < body.len() {
        let start = p;
        let get =
            |from: usize, n: usize| body.get(from..from.checked_add(n).ok_or(BAD)?).ok_or(BAD);
        let stored_prev = if body[p] < 0xFE {
            p += 1;
            body[p - 1] as usize
        } else if body[p] == 0xFE {
            let d = get(p + 1, 4)?;
            p += 5;
            u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize
        } else {
            return Err(BAD);
        };
        if stored_prev != prev_len {
            return Err(BAD);
        }
        let enc = *body.get(p).ok_or(BAD)?;
        p += 1;
        let elem = match enc >> 6 {
            0 => {
                let n = (enc & 0x3F) as usize;
                let s = get(p, n)?;
                p += n;
                Elem::Str(s)
            }
            1 => {
                let lo = *body.get(p).ok_or(BAD)? as usize;
                let n = ((enc & 0x3F) as usize) << 8 | lo;
                let s = get(p + 1, n)?;
                p += 1 + n;
                Elem::Str(s)
            }
            2 => {
                if enc != 0x80 {
                    return Err(BAD);
                }
                let d = get(p, 4)?;
                let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                let s = get(p + 4, n)?;
                p += 4 + n;
                Elem::Str(s)
            }
            _ => {
                let (width, v) = match enc {
                    0xC0 => (2, None),
                    0xD0 => (4, None),
                    0xE0 => (8, None),
                    0xF0 => (3, None),
                    0xFE => (1, None),
                    0xF1..=0xFD => (0, Some(i64::from(enc & 0x0F) - 1)),
                    _ => return Err(BAD),
                };
                let v = match v {
                    Some(v) => v,
                    None => {
                        let d = get(p, width)?;
                        let mut b = [0u8; 8];
                        b[..width].copy_from_slice(d);
                        let shift = 64 - 8 * width as u32;
                        (i64::from_le_bytes(b) << shift) >> shift
                    }
                };
                p += width;
                Elem::Int(v)
            }
        };
        f(elem)?;
        prev_len = p - start;
        count += 1;
    }
    if declared != 65535 && declared != count {
        return Err(BAD);
    }
    Ok(count)
}

/// Reads a zipmap, calling `f` for each (key, value) pair.
pub fn for_each_zipmap<'a>(
    zm: &'a [u8],
    mut f: impl FnMut(&'a [u8], &'a [u8]) -> Result<(), Malformed>,
) -> Result<usize, Malformed> {
    const BAD: Malformed = Malformed("invalid zipmap");
    let mut p = 1;
    let len_at = |p: usize| -> Result<(usize, usize), Malformed> {
        match *zm.get(p).ok_or(BAD)? {
            b @ 0..=0xFD => Ok((b as usize, 1)),
            0xFE => {
                let d = zm.get(p + 1..p + 5).ok_or(BAD)?;
                Ok((u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, 5))
            }
            _ => Err(BAD),
        }
    };
    let mut count = 0;
    loop {
        if *zm.get(p).ok_or(BAD)? == 0xFF {
            break;
        }
        let (kl, kn) = len_at(p)?;
        p += kn;
        let key = zm.get(p..p.checked_add(kl).ok_or(BAD)?).ok_or(BAD)?;
        p += kl;
        let (vl, vn) = len_at(p)?;
        p += vn;
        let free = *zm.get(p).ok_or(BAD)? as usize;
        p += 1;
        let val = zm.get(p..p.checked_add(vl).ok_or(BAD)?).ok_or(BAD)?;
        p += vl + free;
        f(key, val)?;
        count += 1;
    }
    if p + 1 != zm.len() {
        return Err(BAD);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_widths_and_order() {
        let mut v = vec![5, -3, 1000];
        let is = intset(&mut v);
        assert_eq!(&is[..8], &[2, 0, 0, 0, 3, 0, 0, 0]);
        let mut got = vec![];
        for_each_intset(&is, |x| {
            got.push(x);
            Ok(())
        })
        .expect("valid");
        assert_eq!(got, vec![-3, 5, 1000]);
        let mut v = vec![i64::MIN, 0, i64::from(i32::MAX) + 1];
        let is = intset(&mut v);
        assert_eq!(is[0], 8);
        let mut got = vec![];
        for_each_intset(&is, |x| {
            got.push(x);
            Ok(())
        })
        .expect("valid");
        assert_eq!(got, vec![i64::MIN, 0, i64::from(i32::MAX) + 1]);
        assert!(for_each_intset(&is[..is.len() - 1], |_| Ok(())).is_err());
        let mut unsorted = intset(&mut [1, 2]);
        unsorted.swap(8, 10);
        assert!(for_each_intset(&unsorted, |_| Ok(())).is_err());
    }

    #[test]
    fn ziplist_known_bytes() {
        // A ziplist of "a", 7 and -200 (i16) as Redis 4 wrote it.
        let mut zl = vec![0, 0, 0, 0, 0, 0, 0, 0, 3, 0];
        zl.extend_from_slice(&[0, 0x01, b'a']);
        zl.extend_from_slice(&[3, 0xF8]);
        zl.extend_from_slice(&[2, 0xC0, 0x38, 0xFF]);
        zl.push(0xFF);
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        let mut got = vec![];
        for_each_ziplist(&zl, |e| {
            got.push(e.to_bytes());
            Ok(())
        })
        .expect("valid");
        assert_eq!(got, vec![b"a".to_vec(), b"7".to_vec(), b"-200".to_vec()]);
        for cut in 0..zl.len() {
            assert!(for_each_ziplist(&zl[..cut], |_| Ok(())).is_err());
        }
    }

    #[test]
    fn zipmap_known_bytes() {
        let zm = [
            2, 1, b'k', 2, 0, b'v', b'1', 2, b'k', b'2', 1, 3, b'x', 0, 0, 0, 0xFF,
        ];
        let mut got = vec![];
        for_each_zipmap(&zm, |k, v| {
            got.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .expect("valid");
        assert_eq!(
            got,
            vec![
                (b"k".to_vec(), b"v1".to_vec()),
                (b"k2".to_vec(), b"x".to_vec())
            ]
        );
        assert!(for_each_zipmap(&zm[..zm.len() - 1], |_, _| Ok(())).is_err());
    }
}
