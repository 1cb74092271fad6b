//! The normalised copy of a text that the phrase-based detectors match against: lower
//! case, look-alikes folded, invisible chars removed, spelled-out words joined, with a map
//! from every byte back to a char boundary of the original.

use super::*;

/// What the normaliser does with one non-ASCII char.
enum Fold {
    Keep,
    Drop,
    To(char),
}

/// Invisible or formatting code points that carry no visible text: zero-width chars,
/// bidi controls, soft hyphen, variation selectors, tag characters and the like.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0x3164
        | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0x1D173..=0x1D17A | 0xE0000..=0xE007F
        | 0xE0100..=0xE01EF)
}

fn fold_char(c: char) -> Fold {
    let u = c as u32;
    if is_invisible(c) {
        return Fold::Drop;
    }
    let to = match u {
        0x00A0 | 0x1680 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 | 0x0085 => ' ',
        0x2028 | 0x2029 => '\n',
        0x2018 | 0x2019 | 0x201B | 0x2032 | 0xFF07 => '\'',
        0x201C | 0x201D | 0x201F | 0x2033 => '"',
        0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63 => '-',
        0x2024 | 0xFE52 => '.',
        0x2044 | 0x2215 => '/',
        0xFF01..=0xFF5E => return Fold::To(char::from_u32(u - 0xFEE0).unwrap_or(c)),
        0x1D400..=0x1D6A3 => {
            let idx = (u - 0x1D400) % 52;
            let base = if idx < 26 { idx } else { idx - 26 };
            return Fold::To(char::from(b'a' + base as u8));
        }
        0x1D7CE..=0x1D7FF => {
            return Fold::To(char::from(b'0' + ((u - 0x1D7CE) % 10) as u8));
        }
        0x24B6..=0x24CF => return Fold::To(char::from(b'a' + (u - 0x24B6) as u8)),
        0x24D0..=0x24E9 => return Fold::To(char::from(b'a' + (u - 0x24D0) as u8)),
        // Latin look-alikes from Cyrillic and Greek (lower case; upper case is lowered
        // first by the caller).
        0x0430 => 'a',
        0x0435 => 'e',
        0x043E => 'o',
        0x0440 => 'p',
        0x0441 => 'c',
        0x0443 => 'y',
        0x0445 => 'x',
        0x0455 => 's',
        0x0456 => 'i',
        0x0458 => 'j',
        0x04BB => 'h',
        0x0501 => 'd',
        0x051B => 'q',
        0x051D => 'w',
        0x03B1 => 'a',
        0x03BF => 'o',
        0x03B9 => 'i',
        0x03BA => 'k',
        0x03BD => 'v',
        0x03C1 => 'p',
        0x03C5 => 'u',
        0x03C7 => 'x',
        0x0261 => 'g',
        0x026A => 'i',
        0x1D00 => 'a',
        0x0131 => 'i',
        _ => return Fold::Keep,
    };
    Fold::To(to)
}

/// Folds one char the way [`Norm`] does, appending the result to `out`.
fn push_folded(c: char, out: &mut String) -> bool {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return true;
    }
    // Lower first so upper-case look-alikes fold too.
    let mut any = false;
    for l in c.to_lowercase() {
        match fold_char(l) {
            Fold::Drop => {}
            Fold::Keep => {
                out.push(l);
                any = true;
            }
            Fold::To(t) => {
                out.push(t.to_ascii_lowercase());
                any = true;
            }
        }
    }
    any
}

/// The index of the first non-ASCII byte of `b` at or after `from` (`b.len()` if none):
/// eight bytes at a time.
fn next_non_ascii(b: &[u8], mut from: usize) -> usize {
    while let Some(chunk) = b.get(from..from + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let high = u64::from_le_bytes(w) & 0x8080_8080_8080_8080;
        if high != 0 {
            return from + (high.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    b.get(from..)
        .and_then(|rest| rest.iter().position(|x| !x.is_ascii()))
        .map_or(b.len(), |k| from + k)
}

/// Whether every non-ASCII char of `text` normalises to itself: not invisible, already
/// lower case, nothing to fold.
fn all_non_ascii_fixed(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    loop {
        i = next_non_ascii(bytes, i);
        if i >= bytes.len() {
            break;
        }
        let Some(ch) = text.get(i..).and_then(|t| t.chars().next()) else {
            return false;
        };
        let cjk = matches!(ch as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3);
        if !cjk {
            let mut lower = ch.to_lowercase();
            let unchanged = lower.next() == Some(ch) && lower.next().is_none();
            if !unchanged || !matches!(fold_char(ch), Fold::Keep) {
                return false;
            }
        }
        i += ch.len_utf8();
    }
    true
}

/// Folds a pattern literal (non-ASCII chars only, so regex syntax is untouched) the same
/// way [`Norm`] folds text: patterns written in Cyrillic keep matching after the
/// look-alike folding.
pub(crate) fn fold_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            push_folded(c, &mut out);
        }
    }
    out
}

/// A lower-cased, look-alike-folded copy of a text with invisible chars removed, runs
/// of spaces and tabs collapsed to one space (when asked, or for non-ASCII text) and
/// letters spelled out with separators joined (`i-g-n-o-r-e` → `ignore`), with a map
/// back to the original's byte offsets. Reused across
/// leaves (no per-leaf allocation once warm).
#[derive(Default)]
pub(crate) struct Norm {
    pub buf: String,
    map: Vec<u32>,
    identity: bool,
    case_only: bool,
    orig_len: usize,
    tmp_buf: String,
    tmp_map: Vec<u32>,
}

impl Norm {
    /// Builds the normalised copy of `text`. Runs of spaces and tabs are collapsed only
    /// when `collapse` is set or the text is not ASCII (ASCII text otherwise keeps its
    /// offsets, which is the fast path; the phrase patterns accept any whitespace run).
    pub fn build(&mut self, text: &str, c: &Class, collapse: bool) {
        self.buf.clear();
        self.map.clear();
        self.orig_len = text.len();
        let bytes = text.as_bytes();
        let no_runs = || {
            memchr::memchr(b'\t', bytes).is_none() && memchr::memmem::find(bytes, b"  ").is_none()
        };
        // Lower-casing the ASCII letters is all there is to do: ASCII text (with no space
        // runs to collapse, when asked), or text whose every non-ASCII char normalises to
        // itself and with no space runs (Chinese, lower-case accented letters...).
        let simple = if c.non_ascii() {
            no_runs() && all_non_ascii_fixed(text)
        } else {
            !collapse || no_runs()
        };
        if simple {
            self.buf.push_str(text);
            self.buf.make_ascii_lowercase();
            self.identity = true;
            self.case_only = true;
            if has_spelled_run(self.buf.as_bytes()) {
                self.join_spelled();
            }
            return;
        } else if !c.non_ascii() {
            // ASCII with tabs or space runs: a byte loop.
            self.identity = false;
            self.case_only = false;
            let mut v = std::mem::take(&mut self.buf).into_bytes();
            v.clear();
            v.reserve(bytes.len());
            self.map.reserve(bytes.len() + 1);
            let mut prev_space = false;
            for (i, &b) in bytes.iter().enumerate() {
                let b = if b == b'\t' {
                    b' '
                } else {
                    b.to_ascii_lowercase()
                };
                if b == b' ' && prev_space {
                    continue;
                }
                prev_space = b == b' ';
                v.push(b);
                self.map.push(i as u32);
            }
            self.map.push(text.len() as u32);
            self.buf = String::from_utf8(v).unwrap_or_default();
            if has_spelled_run(self.buf.as_bytes()) {
                self.join_spelled();
            }
            return;
        } else {
            self.build_general(text);
        }
        if has_spelled_run(self.buf.as_bytes()) {
            self.join_spelled();
        }
    }

    /// [`Norm::build`] forced onto the general path (tests compare the two).
    #[cfg(test)]
    pub fn build_slow(&mut self, text: &str) {
        self.buf.clear();
        self.map.clear();
        self.orig_len = text.len();
        self.build_general(text);
        if has_spelled_run(self.buf.as_bytes()) {
            self.join_spelled();
        }
    }

    /// The general path for non-ASCII text: char by char, folding, dropping invisible
    /// chars and collapsing space runs (no spelled-run joining: the caller does it).
    fn build_general(&mut self, text: &str) {
        let bytes = text.as_bytes();
        self.identity = false;
        // Cleared below by anything but ASCII lower-casing.
        self.case_only = true;
        self.buf.reserve(bytes.len());
        self.map.reserve(bytes.len() + 1);
        let mut i = 0;
        while i < bytes.len() {
            let z = bytes[i..]
                .iter()
                .position(|&b| !b.is_ascii())
                .map_or(bytes.len(), |k| i + k);
            if z > i {
                self.case_only &= self.push_ascii(text, i, z);
                i = z;
                continue;
            }
            let Some(ch) = text[i..].chars().next() else {
                break;
            };
            let before = self.buf.len();
            if matches!(ch as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3) {
                // CJK ideographs and Hangul syllables: no case, nothing to fold.
                self.buf.push(ch);
            } else {
                push_folded(ch, &mut self.buf);
                self.case_only &= self.buf.get(before..) == text.get(i..i + ch.len_utf8());
            }
            // Collapse runs of spaces (including folded exotic spaces).
            if self.buf.len() == before + 1
                && self.buf.as_bytes()[before] == b' '
                && before > 0
                && self.buf.as_bytes()[before - 1] == b' '
            {
                self.buf.truncate(before);
                self.case_only = false;
            }
            for _ in before..self.buf.len() {
                self.map.push(i as u32);
            }
            i += ch.len_utf8();
        }
        self.map.push(text.len() as u32);
    }

    /// Appends the ASCII segment `text[a..z]`: lower-cased, tabs as spaces, runs of
    /// spaces collapsed (also across the segment's start). True if only lower-cased.
    fn push_ascii(&mut self, text: &str, a: usize, z: usize) -> bool {
        let seg = &text.as_bytes()[a..z];
        let glued_space = seg.first() == Some(&b' ') && self.buf.as_bytes().last() == Some(&b' ');
        let plain = !glued_space && !seg.contains(&b'\t') && !seg.windows(2).any(|w| w == b"  ");
        if plain {
            let before = self.buf.len();
            self.buf.push_str(&text[a..z]);
            self.buf[before..].make_ascii_lowercase();
            self.map.extend(a as u32..z as u32);
            return true;
        }
        for (k, &b) in seg.iter().enumerate() {
            let l = if b == b'\t' {
                b' '
            } else {
                b.to_ascii_lowercase()
            };
            if l == b' ' && self.buf.as_bytes().last() == Some(&b' ') {
                continue;
            }
            self.buf.push(char::from(l));
            self.map.push((a + k) as u32);
        }
        false
    }

    /// Joins letters spelled out with one repeated separator (`i-g-n-o-r-e`, `i g n o r
    /// e`); rebuilds the buffer and the map.
    fn join_spelled(&mut self) {
        self.case_only = false;
        if self.identity {
            self.map.clear();
            self.map.extend(0..self.buf.len() as u32);
            self.map.push(self.orig_len as u32);
            self.identity = false;
        }
        let b = self.buf.as_bytes();
        let n = b.len();
        let mut keep = vec![true; n];
        let mut i = 0;
        while i < n {
            if let Some(end) = spelled_run_at(b, i) {
                let mut k = i + 1;
                while k < end {
                    keep[k] = false;
                    k += 2;
                }
                i = end;
            } else {
                i += 1;
            }
        }
        self.tmp_buf.clear();
        self.tmp_map.clear();
        for (idx, ch) in self.buf.char_indices() {
            if keep[idx] {
                self.tmp_buf.push(ch);
                for k in 0..ch.len_utf8() {
                    self.tmp_map.push(self.map[idx + k]);
                }
            }
        }
        self.tmp_map.push(self.orig_len as u32);
        std::mem::swap(&mut self.buf, &mut self.tmp_buf);
        std::mem::swap(&mut self.map, &mut self.tmp_map);
    }

    /// Whether `buf` is the text with only its letters lower-cased (same bytes
    /// otherwise, same offsets): a case-insensitive match on the text then finds what a
    /// match on `buf` finds.
    pub fn case_only(&self) -> bool {
        self.case_only
    }

    /// The original byte offset for a byte offset of `buf` (a char boundary of the
    /// original text for any char boundary of `buf`).
    #[inline]
    pub fn orig(&self, pos: usize) -> usize {
        if self.identity {
            pos.min(self.orig_len)
        } else {
            self.map
                .get(pos)
                .map(|&p| p as usize)
                .unwrap_or(self.orig_len)
        }
    }
}

/// Separators used to spell words out letter by letter.
fn is_spell_sep(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b' ' | b'_' | b'*')
}

/// If a spelled-out run (at least four single letters with one repeated separator)
/// starts at `i`, returns its end (exclusive).
fn spelled_run_at(b: &[u8], i: usize) -> Option<usize> {
    let letter = |k: usize| b.get(k).is_some_and(u8::is_ascii_lowercase);
    if !letter(i) || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let sep = *b.get(i + 1)?;
    if !is_spell_sep(sep) {
        return None;
    }
    let mut count = 1;
    let mut k = i;
    while b.get(k + 1) == Some(&sep)
        && letter(k + 2)
        && !b.get(k + 3).is_some_and(u8::is_ascii_alphanumeric)
    {
        k += 2;
        count += 1;
    }
    (count >= 4).then_some(k + 1)
}

/// Whether `b` has a spelled-out run (at least four single lower-case letters, each
/// separated from the next by the same one separator byte).
fn has_spelled_run(b: &[u8]) -> bool {
    // A run starts with letter, separator, letter, same separator. A branch-free pass
    // over blocks of windows finds the blocks holding such a start (most texts have
    // none); only those get the exact check.
    const BLOCK: usize = 64;
    let mut start = 0;
    while start + 3 < b.len() {
        let end = (start + BLOCK).min(b.len() - 3);
        let mut hint = false;
        for w in b[start..end + 3].windows(4) {
            hint |= w[0].is_ascii_lowercase()
                & is_spell_sep(w[1])
                & w[2].is_ascii_lowercase()
                & (w[3] == w[1]);
        }
        if hint && (start..end).any(|i| spelled_run_at(b, i).is_some()) {
            return true;
        }
        start = end;
    }
    false
}
