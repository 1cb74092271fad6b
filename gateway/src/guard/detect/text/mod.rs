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
        t[i] = c;
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
    /// Regex families that the combined gate proved cannot match this text (bits of
    /// [`super::gate`]); 0 from [`Class::of`], so a family scans unless told otherwise.
    pub quiet: u8,
}

/// How many long base64-alphabet runs [`Class`] records.
const LONG_RUN_SLOTS: usize = 8;

impl Class {
    pub fn of(text: &str) -> Class {
        let mut bits = 0u32;
        let mut digits = 0u32;
        let mut upper = 0u32;
        let mut run = 0u32;
        let mut long_runs = [0usize; LONG_RUN_SLOTS];
        let mut long_runs_n = 0usize;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            let c = CLASS_TABLE[b as usize];
            bits |= c;
            digits += c & cls::DIGIT;
            upper += (c & cls::UPPER) >> 1;
            run = (run + 1) * u32::from(c & cls::B64 != 0);
            if run == MIN_ENCODED_RUN as u32 {
                if let Some(slot) = long_runs.get_mut(long_runs_n) {
                    *slot = i + 1 - MIN_ENCODED_RUN;
                }
                long_runs_n += 1;
            }
        }
        Class {
            bits,
            digits,
            upper,
            long_runs,
            long_runs_n,
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
