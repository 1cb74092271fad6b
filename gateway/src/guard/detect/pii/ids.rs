//! Upper-case identifiers: IBAN (with its country lengths and mod-97 check), UK National
//! Insurance numbers, Indian PAN, Spanish DNI/NIE (with their check letters).

use super::*;

/// Every upper-case identifier has an upper-case letter next to a digit (possibly with
/// one space or dash between): a branch-free pre-check for the regex.
pub(super) fn upper_next_to_digit(b: &[u8]) -> bool {
    if b.len() < 3 {
        return true;
    }
    let mut hint = false;
    for w in b.windows(3) {
        let u0 = w[0].is_ascii_uppercase();
        let d0 = w[0].is_ascii_digit();
        let u1 = w[1].is_ascii_uppercase();
        let d1 = w[1].is_ascii_digit();
        let gap = w[1] == b' ' || w[1] == b'-';
        let u2 = w[2].is_ascii_uppercase();
        let d2 = w[2].is_ascii_digit();
        hint |= (u0 & d1) | (d0 & u1) | (u1 & d2) | (d1 & u2) | (gap & ((u0 & d2) | (d0 & u2)));
    }
    hint
}

/// National identifiers with a check (IBAN, UK NINO, Indian PAN, Spanish DNI/NIE), one
/// capture group each.
pub(in crate::guard::detect) const IDS: &str = r"(?-u:\b)(?:([A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,8}(?:[ ]?[A-Z0-9]{1,3})?)|([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-D])|([A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z])|([0-9]{8}[ \-]?[A-Z]|[XYZ][ \-]?[0-9]{7}[ \-]?[A-Z]))(?-u:\b)";

pub(super) fn ids_regex() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(IDS).ok()).as_ref()
}

pub(super) fn iban_length(cc: &[u8]) -> Option<usize> {
    const T: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    T.iter().find(|(c, _)| &c[..] == cc).map(|&(_, l)| l)
}

/// mod-97 of an IBAN (given without spaces, any length); valid when it is 1.
pub(crate) fn iban_mod97(iban: &[u8]) -> Option<u32> {
    if iban.len() < 5 {
        return None;
    }
    let mut r = 0u32;
    for &ch in iban[4..].iter().chain(&iban[..4]) {
        match ch {
            b'0'..=b'9' => r = (r * 10 + u32::from(ch - b'0')) % 97,
            b'A'..=b'Z' => r = (r * 100 + u32::from(ch - b'A') + 10) % 97,
            _ => return None,
        }
    }
    Some(r)
}

/// Validates an IBAN candidate starting at `s`; returns the end of the IBAN in `text`.
pub(super) fn iban_at(text: &str, s: usize, e: usize) -> Option<usize> {
    let b = text.as_bytes();
    let len = iban_length(&b[s..s + 2])?;
    let mut compact = [0u8; 40];
    let mut n = 0;
    let mut end = s;
    for (i, &ch) in b[s..e].iter().enumerate() {
        if ch == b' ' {
            continue;
        }
        if n == len {
            break;
        }
        compact[n] = ch;
        n += 1;
        end = s + i + 1;
    }
    if n != len {
        return None;
    }
    // Cut inside a group: the next byte must not continue the token.
    if end < b.len() && b[end].is_ascii_alphanumeric() {
        return None;
    }
    (iban_mod97(&compact[..n]) == Some(1)).then_some(end)
}

pub(super) fn nino_ok(m: &[u8]) -> bool {
    let p = &m[..2];
    !matches!(p, b"BG" | b"GB" | b"NK" | b"KN" | b"TN" | b"NT" | b"ZZ")
}

pub(super) fn dni_ok(m: &[u8]) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let mut n = 0u32;
    let mut letter = 0u8;
    for (i, &ch) in m.iter().enumerate() {
        match ch {
            b'0'..=b'9' => n = n * 10 + u32::from(ch - b'0'),
            b'X' if i == 0 => n = 0,
            b'Y' if i == 0 => n = 1,
            b'Z' if i == 0 => n = 2,
            b'A'..=b'Z' => letter = ch,
            _ => {}
        }
    }
    letter != 0 && LETTERS[(n % 23) as usize] == letter
}

pub(super) fn scan_ids(text: &str, hit: Hit<'_>) {
    let Some(re) = ids_regex() else { return };
    let b = text.as_bytes();
    for found in re.find_iter(text) {
        let Some(caps) = re.captures_at(text, found.start()) else {
            continue;
        };
        if let Some(m) = caps.get(1) {
            if let Some(end) = iban_at(text, m.start(), m.end()) {
                hit("iban", m.start(), end);
            }
        } else if let Some(m) = caps.get(2) {
            if nino_ok(&b[m.start()..m.end()]) {
                hit("uk_nino", m.start(), m.end());
            }
        } else if let Some(m) = caps.get(3) {
            hit("in_pan", m.start(), m.end());
        } else if let Some(m) = caps.get(4) {
            if dni_ok(&b[m.start()..m.end()]) {
                hit("es_dni", m.start(), m.end());
            }
        }
    }
}
