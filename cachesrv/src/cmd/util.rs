//! Argument parsing shared by the command families, with Redis's error texts.

use crate::engine::value::parse_i64_strict;

/// `ERR value is not an integer or out of range`.
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// `ERR value is not a valid float`.
pub const NOT_FLOAT: &str = "ERR value is not a valid float";

/// Case-insensitive ASCII comparison.
#[inline]
pub fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// An integer argument (Redis's `string2ll`).
#[inline]
pub fn int(a: &[u8]) -> Option<i64> {
    parse_i64_strict(a)
}

/// A float argument as Redis's `strtold`-based parsing accepts it: decimal or exponent forms,
/// `inf`/`-inf`; no NaN, no spaces.
pub fn float(a: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(a).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            s.parse::<f64>().ok()?
        }
    };
    Some(v)
}

/// Formats a float as Redis's `INCRBYFLOAT`/`HINCRBYFLOAT` do (`%.17Lg`, then trailing zeros
/// removed): shortest round-trip digits, no exponent for ordinary magnitudes.
pub fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    // Rust's Display gives the shortest digits that round-trip, never an exponent.
    let s = format!("{v}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A plain decimal `[-]digits[.digits]` as (mantissa, decimal places), up to 30 digits.
fn decimal(t: &[u8]) -> Option<(i128, u32)> {
    let (neg, body) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.len() > 31 {
        return None;
    }
    let mut m: i128 = 0;
    let mut scale = 0u32;
    let mut dot = false;
    let mut digits = 0;
    for &c in body {
        match c {
            b'.' if !dot => dot = true,
            b'0'..=b'9' => {
                m = m * 10 + i128::from(c - b'0');
                digits += 1;
                if dot {
                    scale += 1;
                }
            }
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    Some((if neg { -m } else { m }, scale))
}

/// Formats `m / 10^scale` as Redis's `ld2string(LD_STR_HUMAN)`: 17 decimal places (rounded half
/// away from zero), trailing zeros and a trailing dot removed, `-0` as `0`.
fn human(m: i128, scale: u32) -> String {
    const PLACES: u32 = 17;
    let m = if scale > PLACES {
        let d = 10i128.pow(scale - PLACES);
        let q = m / d;
        let r = (m % d).abs();
        if r * 2 >= d {
            q + m.signum()
        } else {
            q
        }
    } else {
        m * 10i128.pow(PLACES - scale)
    };
    let neg = m < 0;
    let digits = m.unsigned_abs().to_string();
    let digits = format!("{digits:0>18}");
    let (int_part, frac) = digits.split_at(digits.len() - PLACES as usize);
    let frac = frac.trim_end_matches('0');
    let mut s = String::new();
    if neg && (int_part != "0" || !frac.is_empty()) {
        s.push('-');
    }
    s.push_str(int_part);
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    s
}

/// `INCRBYFLOAT`/`HINCRBYFLOAT`: the new value's text, or `None` for NaN or infinity. Plain
/// decimals are added exactly (Redis adds in `long double`, whose 17-place rendering matches
/// exact decimal addition for ordinary magnitudes); other forms fall back to `f64`.
pub fn add_floats(cur_text: &[u8], by_text: &[u8], cur: f64, by: f64) -> Option<String> {
    let sum = cur + by;
    if !sum.is_finite() {
        return None;
    }
    if let (Some((ma, sa)), Some((mb, sb))) = (decimal(cur_text), decimal(by_text)) {
        let scale = sa.max(sb);
        let a = ma.checked_mul(10i128.checked_pow(scale - sa)?)?;
        let b = mb.checked_mul(10i128.checked_pow(scale - sb)?)?;
        if let Some(m) = a.checked_add(b) {
            if scale <= 17 || m.unsigned_abs() < 10u128.pow(37) {
                return Some(human(m, scale));
            }
        }
    }
    let s = format!("{sum:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Some(if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    })
}

/// A SCAN-family cursor as Redis reads it, with `strtoul(.., 10)`: no leading space, an
/// optional sign (a negative cursor wraps around), digits up to the end (a NUL ends the
/// string, as in C); an empty string is cursor 0.
pub(crate) fn scan_cursor(a: &[u8]) -> Option<u64> {
    let a = a.split(|&c| c == 0).next().unwrap_or_default();
    let (neg, digits) = match a.first() {
        None => return Some(0),
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        Some(_) => (false, a),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A hexadecimal float as C's `strtod` reads it (`0x10`, `-0x1.8p3`), which Redis accepts for
/// timeouts and scores; an exponent out of range saturates (to 0 or infinity), as `strtod` does.
pub fn hex_float(s: &str) -> Option<f64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?;
    let (mant, exp) = match rest.find(['p', 'P']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let e: i32 = e.parse().unwrap_or(if e.starts_with('-') {
            i32::MIN
        } else {
            i32::MAX
        });
        v *= 2f64.powi(e);
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(scan_cursor(b""), Some(0));
        assert_eq!(scan_cursor(b"00"), Some(0));
        assert_eq!(scan_cursor(b"+7"), Some(7));
        assert_eq!(scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(scan_cursor(b"18446744073709551616"), None);
        assert_eq!(scan_cursor(b"5\0x"), Some(5));
        for bad in [&b" 0"[..], b"0 ", b"+", b"-", b"0x1", b"abc"] {
            assert_eq!(scan_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(float(b"1.5"), Some(1.5));
        assert_eq!(float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(float(b"nan"), None);
        assert_eq!(float(b" 1"), None);
        assert_eq!(format_float(10.5), "10.5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(5.0e3), "5000");
        let add = |a: &str, b: &str| {
            add_floats(
                a.as_bytes(),
                b.as_bytes(),
                float(a.as_bytes()).unwrap(),
                float(b.as_bytes()).unwrap(),
            )
        };
        assert_eq!(add("10.50", "0.1").as_deref(), Some("10.6"));
        assert_eq!(add("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(add("5.0e3", "2.0e2").as_deref(), Some("5200"));
        assert_eq!(add("1", "-1").as_deref(), Some("0"));
        assert_eq!(add("-0.5", "0.25").as_deref(), Some("-0.25"));
        assert_eq!(add("3", "1.5").as_deref(), Some("4.5"));
    }
}

/// FNV-1a: command names are short, and SipHash's setup dominates for them.
#[derive(Default)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}
