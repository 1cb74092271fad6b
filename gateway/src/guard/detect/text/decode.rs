//! One-level decoding of encoded runs (base64, hex, `%XX`, `\xNN`/`\uNNNN`/`&#NN;`
//! escapes, Unicode tag characters): decoded text is re-checked by the detectors, and is
//! never decoded again.

use base64::Engine as _;

use super::*;

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` once into `out` (invalid escapes are kept as they are).
pub(crate) fn percent_decode_into(s: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

/// Counts `%XX` escapes in `s`; returns (count, whether one encodes a control char or a
/// shell metacharacter, first index, end of last escape).
fn percent_escapes(s: &[u8]) -> (usize, bool, usize, usize) {
    let mut n = 0;
    let mut critical = false;
    let mut first = 0;
    let mut last = 0;
    for i in memchr::memchr_iter(b'%', s) {
        if i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                if n == 0 {
                    first = i;
                }
                n += 1;
                last = i + 3;
                critical |= matches!(
                    h * 16 + l,
                    0..=0x1f | b';' | b'|' | b'&' | b'`' | b'$' | b'<' | b'>'
                );
            }
        }
    }
    (n, critical, first, last)
}

/// Whether decoded bytes look like text worth re-checking: valid UTF-8, mostly
/// printable, and not trivially short.
fn looks_textual(b: &[u8]) -> bool {
    if b.len() < 6 {
        return false;
    }
    let Ok(s) = std::str::from_utf8(b) else {
        return false;
    };
    let mut printable = 0usize;
    let mut total = 0usize;
    for c in s.chars() {
        total += 1;
        if !c.is_control() || c == '\n' || c == '\r' || c == '\t' {
            printable += 1;
        }
    }
    printable * 10 >= total * 9
}

const fn build_b64_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'-' || b == b'_';
        i += 1;
    }
    t
}

static B64_TABLE: [bool; 256] = build_b64_table();

#[inline]
fn is_b64_byte(b: u8) -> bool {
    B64_TABLE[b as usize]
}

/// Minimum length of a base64 or hex run worth decoding.
pub(crate) const MIN_ENCODED_RUN: usize = 16;
/// Decoding stops after this many bytes of one run (longer runs are data, not commands).
const MAX_DECODE: usize = 64 * 1024;

/// Decodes a base64 run (standard or URL-safe alphabet, padding optional) into `out`.
fn decode_b64_run(run: &[u8], out: &mut Vec<u8>, tmp: &mut Vec<u8>) -> bool {
    out.clear();
    tmp.clear();
    let mut body = run;
    while let Some((&b'=', rest)) = body.split_last() {
        body = rest;
    }
    if body.len() > MAX_DECODE {
        body = &body[..MAX_DECODE - MAX_DECODE % 4];
    }
    let rem = body.len() % 4;
    if rem == 1 {
        body = &body[..body.len() - 1];
    }
    tmp.extend(body.iter().map(|&b| match b {
        b'-' => b'+',
        b'_' => b'/',
        x => x,
    }));
    // Cheap rejection: the first few bytes must already look like text.
    if tmp.len() >= 8 {
        let mut head = [0u8; 6];
        match base64::engine::general_purpose::STANDARD_NO_PAD.decode_slice(&tmp[..8], &mut head) {
            Ok(_) => {
                if head
                    .iter()
                    .any(|&b| b < 0x09 || (b > 0x0d && b < 0x20) || b == 0x7f)
                {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode_vec(&tmp[..], out).is_ok()
}

fn decode_hex_run(run: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let n = run.len().min(MAX_DECODE) & !1;
    let mut i = 0;
    while i + 1 < n {
        match (hex_val(run[i]), hex_val(run[i + 1])) {
            (Some(h), Some(l)) => out.push(h * 16 + l),
            _ => return false,
        }
        i += 2;
    }
    true
}

/// Counts the places an escape can start (`\x`, `\X`, `\u`, `&#`), stopping at four.
fn escape_candidates(s: &[u8]) -> usize {
    let mut n = 0;
    for i in memchr::memchr2_iter(b'\\', b'&', s) {
        let next = s.get(i + 1).copied();
        let ok = if s[i] == b'\\' {
            matches!(next, Some(b'x' | b'X' | b'u'))
        } else {
            next == Some(b'#')
        };
        if ok {
            n += 1;
            if n >= 4 {
                break;
            }
        }
    }
    n
}

/// Decodes `\xNN`, `\uNNNN`, `&#NN;` and `&#xNN;` escapes (at least four of them must be
/// present); other bytes are copied.
fn decode_escapes(s: &[u8], out: &mut Vec<u8>) -> Option<(usize, usize)> {
    out.clear();
    if escape_candidates(s) < 4 {
        return None;
    }
    let mut count = 0;
    let mut first = usize::MAX;
    let mut last = 0;
    let mut i = 0;
    let mut cbuf = [0u8; 4];
    while i < s.len() {
        let b = s[i];
        let mut consumed = 0;
        let mut value: Option<u32> = None;
        if b == b'\\' && i + 1 < s.len() {
            match s[i + 1] {
                b'x' | b'X' if i + 3 < s.len() => {
                    if let (Some(h), Some(l)) = (hex_val(s[i + 2]), hex_val(s[i + 3])) {
                        value = Some(u32::from(h) * 16 + u32::from(l));
                        consumed = 4;
                    }
                }
                b'u' if i + 5 < s.len() => {
                    let mut v = 0u32;
                    let mut ok = true;
                    for k in 0..4 {
                        match hex_val(s[i + 2 + k]) {
                            Some(d) => v = v * 16 + u32::from(d),
                            None => ok = false,
                        }
                    }
                    if ok {
                        value = Some(v);
                        consumed = 6;
                    }
                }
                _ => {}
            }
        } else if b == b'&' && i + 3 < s.len() && s[i + 1] == b'#' {
            let (hex, mut j) = if s[i + 2] == b'x' || s[i + 2] == b'X' {
                (true, i + 3)
            } else {
                (false, i + 2)
            };
            let start = j;
            let mut v = 0u32;
            while j < s.len() && j - start < 7 {
                let d = if hex {
                    hex_val(s[j]).map(u32::from)
                } else if s[j].is_ascii_digit() {
                    Some(u32::from(s[j] - b'0'))
                } else {
                    None
                };
                match d {
                    Some(d) => v = v * if hex { 16 } else { 10 } + d,
                    None => break,
                }
                j += 1;
            }
            if j > start && j < s.len() && s[j] == b';' {
                value = Some(v);
                consumed = j + 1 - i;
            }
        }
        match value.and_then(char::from_u32) {
            Some(c) if consumed > 0 => {
                count += 1;
                first = first.min(i);
                last = i + consumed;
                out.extend_from_slice(c.encode_utf8(&mut cbuf).as_bytes());
                i += consumed;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    if count >= 4 {
        Some((first, last))
    } else {
        None
    }
}

/// How a payload was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Base64,
    Hex,
    Percent,
    Escapes,
    Tags,
}

/// Scratch buffers for [`for_each_encoded`].
#[derive(Default)]
pub(crate) struct DecodeBufs {
    out: Vec<u8>,
    tmp: Vec<u8>,
    /// Long-run starts listed by [`Class::of_listing_runs`].
    pub(super) runs: Vec<usize>,
}

/// Decodes the base64 or hex run starting at `start` (a run of at least
/// [`MIN_ENCODED_RUN`] base64-alphabet bytes) and hands it to `f` if it looks like text;
/// returns the end of the run (after up to two `=` of padding).
fn decode_run(
    bytes: &[u8],
    start: usize,
    bufs: &mut DecodeBufs,
    f: &mut dyn FnMut(&str, Encoding, usize, usize),
) -> usize {
    let i = start
        + bytes[start..]
            .iter()
            .position(|&b| !is_b64_byte(b))
            .unwrap_or(bytes.len() - start);
    let mut end = i;
    while end < bytes.len() && bytes[end] == b'=' && end - i < 2 {
        end += 1;
    }
    let run = &bytes[start..end];
    let body = &bytes[start..end.min(start + 4096)];
    let has_digit = body.iter().any(u8::is_ascii_digit);
    let has_upper = body.iter().any(u8::is_ascii_uppercase);
    let has_lower = body.iter().any(u8::is_ascii_lowercase);
    let all_hex = run
        .iter()
        .take_while(|&&b| b != b'=')
        .all(u8::is_ascii_hexdigit);
    // Plain words and identifiers: base64 of text almost always mixes cases.
    if !((has_upper && has_lower) || (all_hex && has_digit)) {
        return end;
    }
    let (ok, enc) = if all_hex && run.len().is_multiple_of(2) {
        (decode_hex_run(run, &mut bufs.out), Encoding::Hex)
    } else {
        (
            decode_b64_run(run, &mut bufs.out, &mut bufs.tmp),
            Encoding::Base64,
        )
    };
    if ok && looks_textual(&bufs.out) {
        if let Ok(s) = std::str::from_utf8(&bufs.out) {
            f(s, enc, start, end);
        }
    }
    end
}

/// Finds encoded runs in `text`, decodes each once, and calls `f(decoded, encoding,
/// start, end)` for every decoded payload that looks like text; `start..end` is the
/// encoded run's span in `text` (always on char boundaries).
pub(crate) fn for_each_encoded(
    text: &str,
    c: &Class,
    bufs: &mut DecodeBufs,
    f: &mut dyn FnMut(&str, Encoding, usize, usize),
) {
    let bytes = text.as_bytes();
    // 1. base64 / hex runs: the ones [`Class`] listed or recorded, then (if it ran out of
    // slots) the rest found by a byte scan.
    if c.runs_listed {
        let runs = std::mem::take(&mut bufs.runs);
        let mut i = 0;
        for &start in &runs {
            if start >= i && start < bytes.len() {
                i = decode_run(bytes, start, bufs, f);
            }
        }
        bufs.runs = runs;
    } else if c.long_runs_n > 0 {
        let mut i = 0;
        let recorded = c.long_runs_n.min(LONG_RUN_SLOTS);
        for &start in &c.long_runs[..recorded] {
            if start >= i && start < bytes.len() {
                i = decode_run(bytes, start, bufs, f);
            }
        }
        if c.long_runs_n > LONG_RUN_SLOTS {
            let mut run = 0usize;
            while i < bytes.len() {
                run = (run + 1) * usize::from(is_b64_byte(bytes[i]));
                if run == MIN_ENCODED_RUN {
                    i = decode_run(bytes, i + 1 - MIN_ENCODED_RUN, bufs, f);
                    run = 0;
                } else {
                    i += 1;
                }
            }
        }
    }
    // 2. %XX escapes.
    if c.has(cls::PERCENT) {
        let (n, critical, first, last) = percent_escapes(bytes);
        if n >= 2 || (n == 1 && critical) {
            percent_decode_into(bytes, &mut bufs.out);
            let (a, z) = (floor_boundary(text, first), ceil_boundary(text, last));
            if let Ok(s) = std::str::from_utf8(&bufs.out) {
                f(s, Encoding::Percent, a, z);
            } else {
                let s = String::from_utf8_lossy(&bufs.out).into_owned();
                f(&s, Encoding::Percent, a, z);
            }
        }
    }
    // 3. \xNN, \uNNNN, &#NN; escapes.
    if c.has(cls::BACKSLASH) || (c.has(cls::AMP) && c.has(cls::HASH)) {
        if let Some((first, last)) = decode_escapes(bytes, &mut bufs.out) {
            let s = String::from_utf8_lossy(&bufs.out).into_owned();
            f(
                &s,
                Encoding::Escapes,
                floor_boundary(text, first),
                ceil_boundary(text, last),
            );
        }
    }
    // 4. Unicode tag characters carrying ASCII ("ASCII smuggling").
    // Tag characters (U+E0000..U+E007F) all start with the bytes F3 A0 in UTF-8.
    let tag_at = if c.non_ascii() {
        memchr::memchr_iter(0xF3, bytes).find(|&i| bytes.get(i + 1) == Some(&0xA0))
    } else {
        None
    };
    if let Some(from) = tag_at {
        let mut decoded = String::new();
        let mut first = usize::MAX;
        let mut last = 0;
        let from = floor_boundary(text, from);
        for (i, ch) in text[from..].char_indices() {
            let i = from + i;
            let u = ch as u32;
            if (0xE0020..=0xE007E).contains(&u) {
                if let Some(a) = char::from_u32(u - 0xE0000) {
                    decoded.push(a);
                }
                first = first.min(i);
                last = i + ch.len_utf8();
            }
        }
        if decoded.len() >= 4 {
            f(&decoded, Encoding::Tags, first, last);
        }
    }
}
