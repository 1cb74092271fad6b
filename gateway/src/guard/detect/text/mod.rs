//! Shared text helpers for the local detectors: a one-pass byte classification used as a
//! cheap prefilter and small byte helpers (here); walking a JSON value ([`walk`]); the
//! normalised copy that the phrase-based detectors match against ([`norm`]); the one-level
//! decoding of encoded runs: base64, hex, `%XX`, `\xNN`/`\uNNNN`/`&#NN;` escapes, Unicode
//! tag characters ([`decode`]).
//!
//! Invariants:
//! - Nothing here panics on any input; indices are only taken at char boundaries or on
//!   byte positions proven in range.
//! - The walker uses an explicit stack, so arbitrarily deep JSON cannot overflow the
//!   thread's stack.
//! - [`Norm`] maps every byte of the normalised text back to a char boundary of the
//!   original text, so spans found in the normalised copy translate to valid spans of the
//!   original.
//! - Decoding is done once: decoded text is never decoded again.

/// Byte-class bits computed by [`Class::of`].
pub(crate) mod cls {
    pub const DIGIT: u32 = 1 << 0;
    pub const UPPER: u32 = 1 << 1;
    pub const LOWER: u32 = 1 << 2;
    pub const AT: u32 = 1 << 3;
    pub const PERCENT: u32 = 1 << 4;
    pub const BACKSLASH: u32 = 1 << 5;
    pub const SLASH: u32 = 1 << 6;
    pub const COLON: u32 = 1 << 7;
    pub const DOT: u32 = 1 << 8;
    pub const PLUS: u32 = 1 << 9;
    pub const PAREN: u32 = 1 << 10;
    pub const DASH: u32 = 1 << 11;
    pub const SEMI: u32 = 1 << 12;
    pub const PIPE: u32 = 1 << 13;
    pub const AMP: u32 = 1 << 14;
    pub const BACKTICK: u32 = 1 << 15;
    pub const DOLLAR: u32 = 1 << 16;
    pub const GT: u32 = 1 << 17;
    pub const LT: u32 = 1 << 18;
    pub const NEWLINE: u32 = 1 << 19;
    pub const HASH: u32 = 1 << 20;
    pub const BANG: u32 = 1 << 21;
    pub const BRACKET: u32 = 1 << 22;
    pub const TILDE: u32 = 1 << 23;
    pub const EQ: u32 = 1 << 24;
    pub const UNDERSCORE: u32 = 1 << 25;
    pub const BRACE: u32 = 1 << 26;
    pub const NONASCII: u32 = 1 << 27;
    pub const SPACE: u32 = 1 << 28;
    pub const QUOTE: u32 = 1 << 29;
    /// Set on every byte of [`B64`] as well as its own class bit: the bytes of a block are
    /// all base64-alphabet bytes when the AND of their entries keeps it.
    pub const IN_B64: u32 = 1 << 30;
    /// Bytes of the base64 alphabets (standard and URL-safe).
    pub const B64: u32 = DIGIT | UPPER | LOWER | PLUS | SLASH | DASH | UNDERSCORE;
}

const fn build_class_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let c = match b {
            b'0'..=b'9' => cls::DIGIT,
            b'A'..=b'Z' => cls::UPPER,
            b'a'..=b'z' => cls::LOWER,
            b'@' => cls::AT,
            b'%' => cls::PERCENT,
            b'\\' => cls::BACKSLASH,
            b'/' => cls::SLASH,
            b':' => cls::COLON,
            b'.' => cls::DOT,
            b'+' => cls::PLUS,
            b'(' | b')' => cls::PAREN,
            b'-' => cls::DASH,
            b';' => cls::SEMI,
            b'|' => cls::PIPE,
            b'&' => cls::AMP,
            b'`' => cls::BACKTICK,
            b'$' => cls::DOLLAR,
            b'>' => cls::GT,
            b'<' => cls::LT,
            b'\n' | b'\r' => cls::NEWLINE,
            b'#' => cls::HASH,
            b'!' => cls::BANG,
            b'[' | b']' => cls::BRACKET,
            b'~' => cls::TILDE,
            b'=' => cls::EQ,
            b'_' => cls::UNDERSCORE,
            b'{' | b'}' => cls::BRACE,
            b' ' | b'\t' => cls::SPACE,
            b'"' | b'\'' => cls::QUOTE,
            0x80..=0xff => cls::NONASCII,
            _ => 0,
        };
        t[i] = if c & cls::B64 != 0 {
            c | cls::IN_B64
        } else {
            c
        };
        i += 1;
    }
    t
}

static CLASS_TABLE: [u32; 256] = build_class_table();

/// What kinds of bytes a text holds: one pass, used by every detector to skip work.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Class {
    pub bits: u32,
    pub digits: u32,
    pub upper: u32,
    /// Start offsets of the first [`LONG_RUN_SLOTS`] runs of at least
    /// [`MIN_ENCODED_RUN`] base64-alphabet bytes.
    long_runs: [usize; LONG_RUN_SLOTS],
    /// How many such runs the text has (may exceed [`LONG_RUN_SLOTS`]).
    long_runs_n: usize,
    /// Every run's start is listed in the [`DecodeBufs`] given to
    /// [`Class::of_listing_runs`].
    runs_listed: bool,
    /// Regex families that the combined gate proved cannot match this text (bits of
    /// [`super::gate`]); 0 from [`Class::of`], so a family scans unless told otherwise.
    pub quiet: u8,
}

/// How many long base64-alphabet runs [`Class`] records.
const LONG_RUN_SLOTS: usize = 8;

impl Class {
    pub fn of(text: &str) -> Class {
        let mut long_runs = [0usize; LONG_RUN_SLOTS];
        let mut c = Class::classify(text, |n, start| {
            if let Some(slot) = long_runs.get_mut(n) {
                *slot = start;
            }
        });
        c.long_runs = long_runs;
        c
    }

    /// [`Class::of`], with the start of every long base64-alphabet run listed in `runs`
    /// (cleared first), not only the first [`LONG_RUN_SLOTS`]: [`for_each_encoded`]
    /// then reads them from there (give it the same [`DecodeBufs`]).
    pub fn of_listing_runs(text: &str, bufs: &mut DecodeBufs) -> Class {
        bufs.runs.clear();
        let runs = &mut bufs.runs;
        let mut c = Class::classify(text, |_, start| runs.push(start));
        c.runs_listed = true;
        c
    }

    #[inline(always)]
    fn classify(text: &str, mut long_run: impl FnMut(usize, usize)) -> Class {
        // A run of at least 15 bytes holds a whole aligned block of 8: runs are found from
        // the blocks whose bytes are all in the alphabet, with no per-byte run counter.
        const _: () = assert!(MIN_ENCODED_RUN >= 15);
        let bytes = text.as_bytes();
        let mut bits = 0u32;
        let mut digits = 0u32;
        let mut upper = 0u32;
        let mut long_runs_n = 0usize;
        // Runs found so far end before this offset.
        let mut covered = 0usize;
        let mut blocks = bytes.chunks_exact(8);
        for (k, block) in blocks.by_ref().enumerate() {
            let mut all = u32::MAX;
            for &b in block {
                let c = CLASS_TABLE[b as usize];
                bits |= c;
                digits += c & cls::DIGIT;
                upper += (c & cls::UPPER) >> 1;
                all &= c;
            }
            let at = k * 8;
            if all & cls::IN_B64 != 0 && at >= covered {
                let in_b64 = |b: u8| CLASS_TABLE[b as usize] & cls::IN_B64 != 0;
                let start = at - bytes[..at].iter().rev().take_while(|&&b| in_b64(b)).count();
                let end = at + 8 + bytes[at + 8..].iter().take_while(|&&b| in_b64(b)).count();
                if end - start >= MIN_ENCODED_RUN {
                    long_run(long_runs_n, start);
                    long_runs_n += 1;
                }
                covered = end;
            }
        }
        for &b in blocks.remainder() {
            let c = CLASS_TABLE[b as usize];
            bits |= c;
            digits += c & cls::DIGIT;
            upper += (c & cls::UPPER) >> 1;
        }
        Class {
            bits: bits & !cls::IN_B64,
            digits,
            upper,
            long_runs: [0; LONG_RUN_SLOTS],
            long_runs_n,
            runs_listed: false,
            quiet: 0,
        }
    }

    #[inline]
    pub fn has(&self, mask: u32) -> bool {
        self.bits & mask != 0
    }

    /// Whether the combined gate proved that the regexes of `family` (a
    /// [`super::gate`] bit) cannot match this text.
    #[inline]
    pub fn quiet(&self, family: u8) -> bool {
        self.quiet & family != 0
    }

    #[inline]
    pub fn non_ascii(&self) -> bool {
        self.has(cls::NONASCII)
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers

/// Shannon entropy of a byte string in bits per byte.
pub(crate) fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    let mut h = 0.0;
    for &c in counts.iter() {
        if c > 0 {
            let p = c as f64 / n;
            h -= p * p.log2();
        }
    }
    h
}

/// Whether `hay` contains `needle` (a short needle with a rare first byte; no searcher
/// is built, unlike `memmem::find`).
pub(crate) fn contains_short(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    memchr::memchr_iter(first, hay).any(|i| hay[i + 1..].starts_with(rest))
}

/// The index of the first ASCII digit in `b` at or after `from` (`b.len()` if none):
/// 32 bytes at a time (the compiler turns the mask loop into vector compares).
pub(crate) fn next_digit(b: &[u8], mut from: usize) -> usize {
    while let Some(chunk) = b.get(from..from + 32) {
        let mut mask = 0u32;
        for (k, &x) in chunk.iter().enumerate() {
            mask |= u32::from(x.wrapping_sub(b'0') < 10) << k;
        }
        if mask != 0 {
            return from + mask.trailing_zeros() as usize;
        }
        from += 32;
    }
    b.get(from..)
        .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
        .map_or(b.len(), |k| from + k)
}

/// Moves `i` back to the previous char boundary of `s` (or keeps it).
pub(crate) fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Moves `i` forward to the next char boundary of `s` (or keeps it).
pub(crate) fn ceil_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

mod decode;
mod norm;
mod walk;

pub(crate) use decode::*;
pub(crate) use norm::*;
pub(crate) use walk::*;

#[cfg(test)]
mod tests;
