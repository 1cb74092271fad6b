//! LZF, the compression of RDB strings (`rdbcompression yes`).
//!
//! The format (as liblzf defines it, which Redis embeds): a sequence of chunks, each starting
//! with a control byte `c`:
//!
//! - `c < 32`: a literal run of `c + 1` bytes follows;
//! - otherwise a back reference: length `c >> 5` (7 means "7 plus the next byte"), then the low
//!   byte of the offset; the match copies `length + 2` bytes starting `((c & 31) << 8 | low) + 1`
//!   bytes back in the output (it may overlap what it produces).
//!
//! `compress` finds matches through a hash table of 3-byte prefixes; its output is valid LZF
//! but not necessarily the same bytes liblzf would choose. [`decompress`] checks every bound
//! and fails on any inconsistency.

const HASH_BITS: u32 = 14;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// A reusable compressor (its hash table, allocated on first use, survives between calls).
#[derive(Debug)]
pub struct Compressor {
    table: Box<[u32]>,
    /// Added to positions stored in `table`, so entries from earlier inputs are recognisably
    /// stale without clearing the table.
    base: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Self {
            table: Box::default(),
            base: 1,
        }
    }
}

#[inline]
fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

impl Compressor {
    /// Compresses `input`, appending to `out`; returns the compressed length, or `None` (and
    /// `out` as it was) if the result would exceed `limit` bytes.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Option<usize> {
        let n = input.len();
        if n == 0 {
            return None;
        }
        if self.table.is_empty() {
            self.table = vec![0; 1 << HASH_BITS].into_boxed_slice();
        }
        if (self.base as usize).saturating_add(n) >= (u32::MAX as usize) / 2 {
            self.table.fill(0);
            self.base = 1;
        }
        let base = self.base;
        self.base = base + n as u32 + 1;
        let start = out.len();
        let mut lit = 0usize; // pending literals end at `ip`
        let mut ip = 0usize;
        while ip + 2 < n {
            let h = hash3(input[ip], input[ip + 1], input[ip + 2]);
            let stored = self.table[h];
            self.table[h] = base + ip as u32;
            let cand = stored.checked_sub(base).map(|r| r as usize);
            if let Some(r) = cand.filter(|&r| r < ip && ip - r <= MAX_OFF) {
                if input[r..r + 3] == input[ip..ip + 3] {
                    let max = MAX_REF.min(n - ip);
                    let mut len = 3;
                    while len < max && input[r + len] == input[ip + len] {
                        len += 1;
                    }
                    flush_literals(out, &input[ip - lit..ip]);
                    lit = 0;
                    let off = ip - r - 1;
                    let l = len - 2;
                    if l < 7 {
                        out.push(((l as u8) << 5) | (off >> 8) as u8);
                    } else {
                        out.push((7 << 5) | (off >> 8) as u8);
                        out.push((l - 7) as u8);
                    }
                    out.push((off & 0xff) as u8);
                    // Index the positions inside the match so later data can refer to them.
                    let end = ip + len;
                    let mut p = ip + 1;
                    while p < end && p + 2 < n {
                        self.table[hash3(input[p], input[p + 1], input[p + 2])] = base + p as u32;
                        p += 1;
                    }
                    ip = end;
                    if out.len() - start > limit {
                        out.truncate(start);
                        return None;
                    }
                    continue;
                }
            }
            ip += 1;
            lit += 1;
        }
        lit += n - ip;
        flush_literals(out, &input[n - lit..]);
        let written = out.len() - start;
        if written > limit {
            out.truncate(start);
            return None;
        }
        Some(written)
    }
}

fn flush_literals(out: &mut Vec<u8>, mut lits: &[u8]) {
    while !lits.is_empty() {
        let run = lits.len().min(MAX_LIT);
        out.push((run - 1) as u8);
        out.extend_from_slice(&lits[..run]);
        lits = &lits[run..];
    }
}

/// Why LZF data could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LzfError;

/// Decompresses `input`, which must produce exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out = Vec::new();
    decompress_into(input, out_len, &mut out)?;
    Ok(out)
}

/// As [`decompress`], into `out` (cleared first; its allocation is reused).
pub fn decompress_into(input: &[u8], out_len: usize, out: &mut Vec<u8>) -> Result<(), LzfError> {
    // A chunk of 3 input bytes yields at most 264 output bytes: a larger claim is corrupt (and
    // must not make us allocate it).
    if out_len > input.len().saturating_mul(MAX_REF) {
        return Err(LzfError);
    }
    out.clear();
    out.reserve(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let c = input[ip] as usize;
        ip += 1;
        if c < 32 {
            let run = c + 1;
            let lits = input.get(ip..ip + run).ok_or(LzfError)?;
            if out.len() + run > out_len {
                return Err(LzfError);
            }
            out.extend_from_slice(lits);
            ip += run;
        } else {
            let mut len = c >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(LzfError)? as usize;
                ip += 1;
            }
            let low = *input.get(ip).ok_or(LzfError)? as usize;
            ip += 1;
            let back = ((c & 0x1f) << 8 | low) + 1;
            let len = len + 2;
            if back > out.len() || out.len() + len > out_len {
                return Err(LzfError);
            }
            // Each output byte repeats the one `back` before it: from `from` on the output
            // is periodic with period `back`, so it can be copied in chunks that double.
            let from = out.len() - back;
            let mut done = 0;
            while done < len {
                let n = (len - done).min(out.len() - from);
                out.extend_from_within(from..from + n);
                done += n;
            }
        }
    }
    if out.len() == out_len {
        Ok(())
    } else {
        Err(LzfError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let mut c = Compressor::default();
        let mut out = Vec::new();
        if let Some(n) = c.compress(data, &mut out, data.len() + data.len() / 16 + 64) {
            assert_eq!(n, out.len());
            assert_eq!(decompress(&out, data.len()).expect("valid"), data);
        } else {
            panic!("within the generous limit");
        }
    }

    #[test]
    fn roundtrips() {
        roundtrip(b"a");
        roundtrip(b"abcabcabcabcabcabcabcabcabcabc");
        roundtrip(&[b'x'; 10_000]);
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        roundtrip(&noise);
        let text = "the quick brown fox jumps over the lazy dog ".repeat(300);
        roundtrip(text.as_bytes());
    }

    #[test]
    fn repetitive_input_shrinks_and_limit_is_honoured() {
        let mut c = Compressor::default();
        let mut out = vec![9];
        let n = c.compress(&[b'a'; 1000], &mut out, 100).expect("fits");
        assert!(n < 30, "{n}");
        assert_eq!(out[0], 9);
        let mut out2 = Vec::new();
        assert_eq!(
            c.compress(b"abcdefghijklmnopqrstuvwxyz", &mut out2, 10),
            None
        );
        assert!(out2.is_empty());
    }

    #[test]
    fn decodes_a_known_stream() {
        // literal "ab", then a back reference of 4 bytes at distance 2: "ababab".
        let stream = [1, b'a', b'b', (2 << 5), 1];
        assert_eq!(decompress(&stream, 6).expect("valid"), b"ababab");
    }

    #[test]
    fn long_overlapping_references_repeat_their_period() {
        // literal "abc", then a back reference of 7 + 20 + 2 = 29 bytes at distance 3.
        let stream = [2, b'a', b'b', b'c', (7 << 5), 20, 2];
        let want: Vec<u8> = b"abc".iter().copied().cycle().take(32).collect();
        assert_eq!(decompress(&stream, 32).expect("valid"), want);
        // Into a buffer holding an earlier value: it is replaced.
        let mut out = b"left over from before".to_vec();
        decompress_into(&stream, 32, &mut out).expect("valid");
        assert_eq!(out, want);
        decompress_into(&[1, b'x', b'y'], 2, &mut out).expect("valid");
        assert_eq!(out, b"xy");
    }

    #[test]
    fn corrupt_streams_fail() {
        assert_eq!(decompress(&[5, b'a'], 6), Err(LzfError));
        assert_eq!(decompress(&[0, b'a', (1 << 5), 9], 4), Err(LzfError));
        assert_eq!(decompress(&[0, b'a'], 2), Err(LzfError));
        assert_eq!(decompress(&[0, b'a'], 1_000_000), Err(LzfError));
        assert_eq!(decompress(&[0xe0], 10), Err(LzfError));
    }
}
