//! Scores as text, as Redis 7.0 writes them in replies and in listpacks (`%.17g`; integral
//! values as integers; `inf`, `-inf`, `nan`).

use std::io::Write;

/// Formats a double as Redis 7.0 replies it (`%.17g`; `inf`, `-inf`, `nan`).
pub fn fmt_score(d: f64, buf: &mut [u8; 32]) -> &[u8] {
    if d.is_nan() {
        return b"nan";
    }
    if d.is_infinite() {
        return if d > 0.0 { b"inf" } else { b"-inf" };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { b"-0" } else { b"0" };
    }
    if d.fract() == 0.0 && d.abs() < 1e17 {
        let mut b = itoa::Buffer::new();
        let s = b.format(d as i64).as_bytes();
        buf[..s.len()].copy_from_slice(s);
        return &buf[..s.len()];
    }
    // 17 significant digits, then %g's choice of fixed or exponent form.
    let mut sci = [0u8; 40];
    let n = {
        let mut w = &mut sci[..];
        let _ = write!(w, "{d:.16e}");
        40 - w.len()
    };
    let sci = &sci[..n];
    let neg = sci.first() == Some(&b'-');
    let body = if neg { &sci[1..] } else { sci };
    let epos = body.iter().position(|&c| c == b'e').unwrap_or(body.len());
    let exp: i32 = std::str::from_utf8(&body[epos + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 17];
    let mut nd = 0;
    for &c in &body[..epos] {
        if c.is_ascii_digit() && nd < 17 {
            digits[nd] = c;
            nd += 1;
        }
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let digits = &digits[..nd];
    let mut o = 0;
    let mut put = |buf: &mut [u8; 32], c: u8| {
        if o < buf.len() {
            buf[o] = c;
            o += 1;
        }
    };
    if neg {
        put(buf, b'-');
    }
    if (-4..17).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            for i in 0..int_len {
                put(buf, digits.get(i).copied().unwrap_or(b'0'));
            }
            if digits.len() > int_len {
                put(buf, b'.');
                for &c in &digits[int_len..] {
                    put(buf, c);
                }
            }
        } else {
            put(buf, b'0');
            put(buf, b'.');
            for _ in 0..(-exp - 1) {
                put(buf, b'0');
            }
            for &c in digits {
                put(buf, c);
            }
        }
    } else {
        put(buf, digits[0]);
        if digits.len() > 1 {
            put(buf, b'.');
            for &c in &digits[1..] {
                put(buf, c);
            }
        }
        put(buf, b'e');
        put(buf, if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            put(buf, b'0');
        }
        let mut eb = itoa::Buffer::new();
        for &c in eb.format(e).as_bytes() {
            put(buf, c);
        }
    }
    &buf[..o]
}
