//! BITFIELD and BITFIELD_RO: integer fields (signed up to 64 bits wide, unsigned up to 63) at
//! any bit offset of a string, read, set or incremented with Redis 7.0's overflow modes (WRAP,
//! SAT, FAIL).

use super::{bit_offset_in, get_bit, set_bit};
use crate::cmd::util::{eq, int, NOT_INTEGER};
use crate::cmd::Ctx;
use crate::engine::Access;

/// `u1`..`u63`, `i1`..`i64`: (signed, width).
fn field_type(a: &[u8]) -> Option<(bool, u32)> {
    let (signed, max) = match a.first() {
        Some(b'i') => (true, 64),
        Some(b'u') => (false, 63),
        _ => return None,
    };
    match int(&a[1..]) {
        Some(n) if (1..=max).contains(&n) => Some((signed, n as u32)),
        _ => None,
    }
}

/// The unsigned `width`-bit field at bit `offset` of `s` (zeros past the end).
pub(crate) fn get_field(s: &[u8], offset: u64, width: u32) -> u64 {
    (0..u64::from(width)).fold(0, |v, j| (v << 1) | u64::from(get_bit(s, offset + j)))
}

/// The signed `width`-bit field at bit `offset` of `s`.
pub(crate) fn get_signed_field(s: &[u8], offset: u64, width: u32) -> i64 {
    let v = get_field(s, offset, width);
    if width < 64 && v & (1 << (width - 1)) != 0 {
        (v | (u64::MAX << width)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `width` bits of `v` at bit `offset` of `s` (which must hold them).
pub(crate) fn set_field(s: &mut [u8], offset: u64, width: u32, v: u64) {
    for j in 0..u64::from(width) {
        set_bit(s, offset + j, (v >> (u64::from(width) - 1 - j)) & 1 != 0);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Redis's `checkUnsignedBitfieldOverflow`: `Some(replacement)` when `value + incr`
/// overflows `width` bits (`None` as replacement for FAIL), `None` when it does not.
fn unsigned_overflow(value: u64, incr: i64, width: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << width) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let limit = if value > max || (incr > 0 && incr > maxincr) {
        max
    } else if incr < 0 && incr < minincr {
        0
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & !(u64::MAX << width)),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

/// Redis's `checkSignedBitfieldOverflow`, as [`unsigned_overflow`].
fn signed_overflow(value: i64, incr: i64, width: u32, ow: Overflow) -> Option<Option<i64>> {
    let max: i64 = if width == 64 {
        i64::MAX
    } else {
        (1i64 << (width - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let limit = if value > max
        || (width != 64 && incr > maxincr)
        || (value >= 0 && incr > 0 && incr > maxincr)
    {
        max
    } else if value < min
        || (width != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        min
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => {
            let mut c = (value as u64).wrapping_add(incr as u64);
            if width < 64 {
                let mask = u64::MAX << width;
                if c & (1 << (width - 1)) != 0 {
                    c |= mask;
                } else {
                    c &= !mask;
                }
            }
            Some(c as i64)
        }
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    width: u32,
    offset: u64,
    overflow: Overflow,
}

/// Runs one operation on `s` (already long enough for writes); `None`: FAIL overflow.
fn run_field(s: &mut [u8], f: &Field) -> Option<i64> {
    let (delta, is_set) = match f.op {
        FieldOp::Get if f.signed => return Some(get_signed_field(s, f.offset, f.width)),
        FieldOp::Get => return Some(get_field(s, f.offset, f.width) as i64),
        FieldOp::Set(v) => (v, true),
        FieldOp::Incr(d) => (d, false),
    };
    let (new, reply) = if f.signed {
        let old = get_signed_field(s, f.offset, f.width);
        let (value, incr) = if is_set { (delta, 0) } else { (old, delta) };
        let new = match signed_overflow(value, incr, f.width, f.overflow) {
            Some(None) => return None,
            Some(Some(v)) => v,
            None => value.wrapping_add(incr),
        };
        (new as u64, if is_set { old } else { new })
    } else {
        let old = get_field(s, f.offset, f.width);
        let (value, incr) = if is_set {
            (delta as u64, 0)
        } else {
            (old, delta)
        };
        let new = match unsigned_overflow(value, incr, f.width, f.overflow) {
            Some(None) => return None,
            Some(Some(v)) => v,
            None => value.wrapping_add(incr as u64),
        };
        (new, if is_set { old as i64 } else { new as i64 })
    };
    set_field(s, f.offset, f.width, new);
    Some(reply)
}

pub(super) fn bitfield(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bitfield_common(ctx, a, false);
}

pub(super) fn bitfield_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bitfield_common(ctx, a, true);
}

fn bitfield_common(ctx: &mut Ctx<'_>, a: &[&[u8]], ro: bool) {
    const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let mut ops: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let op = if eq(a[j], "get") && rem >= 2 {
            FieldOp::Get
        } else if eq(a[j], "set") && rem >= 3 {
            FieldOp::Set(0)
        } else if eq(a[j], "incrby") && rem >= 3 {
            FieldOp::Incr(0)
        } else if eq(a[j], "overflow") && rem >= 1 {
            overflow = if eq(a[j + 1], "wrap") {
                Overflow::Wrap
            } else if eq(a[j + 1], "sat") {
                Overflow::Sat
            } else if eq(a[j + 1], "fail") {
                Overflow::Fail
            } else {
                return ctx.err("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return ctx.syntax_error();
        };
        let Some((signed, width)) = field_type(a[j + 1]) else {
            return ctx.err(BAD_TYPE);
        };
        let Some(offset) = bit_offset_in(ctx, a[j + 2], width) else {
            return;
        };
        let op = match op {
            FieldOp::Get => op,
            _ => {
                let Some(v) = int(a[j + 3]) else {
                    return ctx.err(NOT_INTEGER);
                };
                let last = offset + u64::from(width) - 1;
                highest = Some(highest.map_or(last, |h| h.max(last)));
                if matches!(op, FieldOp::Set(_)) {
                    FieldOp::Set(v)
                } else {
                    FieldOp::Incr(v)
                }
            }
        };
        ops.push(Field {
            op,
            signed,
            width,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let r = match highest {
        None => {
            let access = ctx.read_access();
            ctx.db().with_key(a[1], access, |k| {
                k.as_str().map(|s| {
                    let s = s.unwrap_or_default();
                    // GETs only: run on a copy of the bytes they read.
                    ops.iter()
                        .map(|f| {
                            let from = ((f.offset >> 3) as usize).min(s.len());
                            let to = ((f.offset + 63) as usize >> 3).min(s.len().saturating_sub(1));
                            let mut buf = [0u8; 9];
                            if from < s.len() {
                                buf[..=to - from].copy_from_slice(&s[from..=to]);
                            }
                            let f = Field {
                                offset: f.offset & 7,
                                ..*f
                            };
                            run_field(&mut buf, &f)
                        })
                        .collect::<Vec<_>>()
                })
            })
        }
        Some(_) if ro => return ctx.err("ERR BITFIELD_RO only supports the GET subcommand"),
        Some(h) => {
            let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
                k.modify_str((h >> 3) as usize + 1, |s| {
                    ops.iter().map(|f| run_field(s, f)).collect::<Vec<_>>()
                })
            });
            if r.is_ok() {
                ctx.notify(crate::cmd::notify::STRING, "setbit", a[1]);
            }
            r
        }
    };
    match r {
        Ok(replies) => {
            ctx.array(replies.len());
            for v in replies {
                match v {
                    Some(n) => ctx.int(n),
                    None => ctx.null(),
                }
            }
        }
        Err(e) => ctx.engine_err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut s = [0u8; 9];
        set_field(&mut s, 4, 8, 0xAB);
        assert_eq!(s[..2], [0x0A, 0xB0]);
        assert_eq!(get_field(&s, 4, 8), 0xAB);
        assert_eq!(get_signed_field(&s, 4, 8), 0xABu8 as i8 as i64);
        assert_eq!(get_signed_field(&s, 4, 4), -6);
        set_field(&mut s, 0, 64, u64::MAX);
        assert_eq!(get_signed_field(&s, 0, 64), -1);
        assert_eq!(get_field(&s, 1, 63), u64::MAX >> 1);
        assert_eq!(get_field(&s, 70, 10), 0, "zeros past the end");
        assert_eq!(field_type(b"u63"), Some((false, 63)));
        assert_eq!(field_type(b"i64"), Some((true, 64)));
        assert_eq!(field_type(b"u64"), None);
        assert_eq!(field_type(b"i0"), None);
        assert_eq!(field_type(b"I8"), None);
    }

    #[test]
    fn overflow_wraps_saturates_or_fails_as_redis() {
        use Overflow::*;
        assert_eq!(unsigned_overflow(250, 10, 8, Wrap), Some(Some(4)));
        assert_eq!(unsigned_overflow(250, 10, 8, Sat), Some(Some(255)));
        assert_eq!(unsigned_overflow(250, 10, 8, Fail), Some(None));
        assert_eq!(unsigned_overflow(250, 5, 8, Wrap), None);
        assert_eq!(unsigned_overflow(3, -4, 8, Sat), Some(Some(0)));
        assert_eq!(unsigned_overflow(3, -4, 8, Wrap), Some(Some(255)));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Sat), Some(Some(255)));
        assert_eq!(signed_overflow(120, 10, 8, Wrap), Some(Some(-126)));
        assert_eq!(signed_overflow(120, 10, 8, Sat), Some(Some(127)));
        assert_eq!(signed_overflow(-120, -10, 8, Sat), Some(Some(-128)));
        assert_eq!(signed_overflow(-120, -10, 8, Wrap), Some(Some(126)));
        assert_eq!(signed_overflow(200, 0, 8, Fail), Some(None));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(Some(i64::MIN)));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Sat), Some(Some(i64::MAX)));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(Some(i64::MIN)));
        assert_eq!(signed_overflow(5, -10, 64, Sat), None);
    }
}
