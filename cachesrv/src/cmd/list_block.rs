//! Blocking list commands: BLPOP, BRPOP, BLMOVE, BLMPOP and BRPOPLPUSH.
//!
//! Mirrors Redis 7.0's `t_list.c` and `blocked.c`: the timeout is seconds as a double (`0`:
//! forever; Redis's errors for a negative or invalid one), keys are tried in order, and a
//! client that finds every list empty blocks (see [`super::blocking`]) and is served in
//! arrival order per key. Inside MULTI/EXEC, and for an in-process [`super::Runner`], a
//! blocking command acts as its non-blocking form and replies its null at once when nothing
//! is there (a null for BLMOVE and BRPOPLPUSH; on timeout all of them reply a null array, as
//! Redis 7.0 does).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::flags::*;
use super::list::{move_checked, mpop, mpop_args, notify_move, notify_pop};
use super::util::eq;
use super::{Ctx, Handler};
use crate::state::blocking::BlockRequest;
use crate::state::BlockOn;

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("blpop", -3, WRITE, (1, -2, 1), blpop);
    add("brpop", -3, WRITE, (1, -2, 1), brpop);
    add("brpoplpush", 4, WRITE | DENYOOM, (1, 2, 1), brpoplpush);
    add("blmove", 6, WRITE | DENYOOM, (1, 2, 1), blmove);
    // Keys are found through numkeys (COMMAND INFO shows 0 0 0 and `movablekeys`).
    add("blmpop", -5, WRITE, (0, 0, 0), blmpop);
}

/// A blocking command's timeout (seconds, as a double): its deadline (`None`: forever), or
/// `Err` once Redis's error is replied.
pub(super) fn parse_timeout(ctx: &mut Ctx<'_>, arg: &[u8]) -> Result<Option<Instant>, ()> {
    let secs = std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.starts_with(|c: char| c.is_ascii_whitespace()))
        .and_then(|s| s.parse::<f64>().ok().or_else(|| super::util::hex_float(s)))
        .filter(|v| !v.is_nan());
    let Some(secs) = secs else {
        ctx.err("ERR timeout is not a float or out of range");
        return Err(());
    };
    // Redis converts to a C `long long`: out of range (x86) comes out negative.
    let ms = secs * 1000.0;
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) || ms <= -1.0 {
        ctx.err("ERR timeout is negative");
        return Err(());
    }
    let ms = ms as i64;
    if ms <= 0 {
        return Ok(None);
    }
    Ok(Instant::now().checked_add(Duration::from_millis(ms as u64)))
}

/// The blocked client's id (`Some` while it tries again), for its turn on a key.
fn me(ctx: &Ctx<'_>) -> Option<u64> {
    ctx.sess.blocked.as_ref().map(|b| b.waiter.client)
}

/// Blocks if the client may, else replies the timeout null now.
fn block_or_null(ctx: &mut Ctx<'_>, keys: &[&[u8]], deadline: Option<Instant>, array: bool) {
    if ctx.sess.can_block {
        ctx.sess.block_request = Some(BlockRequest {
            on: BlockOn::List,
            keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
            deadline,
            // Redis 7.0 times every list command out with a null array, BLMOVE included.
            null_array: true,
        });
    } else if array {
        ctx.null_array();
    } else {
        ctx.null();
    }
}

/// BLPOP/BRPOP key [key ...] timeout: `[key, element]` from the first non-empty list.
fn bpop(ctx: &mut Ctx<'_>, a: &[&[u8]], front: bool) {
    let Ok(deadline) = parse_timeout(ctx, a[a.len() - 1]) else {
        return;
    };
    let keys = &a[1..a.len() - 1];
    let me = me(ctx);
    match mpop(ctx, keys, front, 1, Some(me)) {
        Ok(Some((i, v))) => {
            notify_pop(ctx, keys[i], front);
            super::aof::log_as(ctx, || vec![pop_name(front), keys[i].to_vec()]);
            ctx.array(2);
            ctx.bulk(keys[i]);
            if let Some(e) = v.first() {
                ctx.bulk(e);
            }
        }
        Ok(None) => block_or_null(ctx, keys, deadline, true),
        Err(e) => ctx.engine_err(e),
    }
}

fn blpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bpop(ctx, a, true);
}

fn brpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bpop(ctx, a, false);
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some((keys, front, count)) = mpop_args(ctx, a, 2) else {
        return;
    };
    let Ok(deadline) = parse_timeout(ctx, a[1]) else {
        return;
    };
    let me = me(ctx);
    match mpop(ctx, &keys, front, count, Some(me)) {
        Ok(Some((i, v))) => {
            notify_pop(ctx, keys[i], front);
            super::aof::log_as(ctx, || pop_count(front, keys[i], v.len()));
            ctx.array(2);
            ctx.bulk(keys[i]);
            ctx.array(v.len());
            for e in &v {
                ctx.bulk(e);
            }
        }
        Ok(None) => block_or_null(ctx, &keys, deadline, true),
        Err(e) => ctx.engine_err(e),
    }
}

/// BLMOVE and BRPOPLPUSH once their arguments are parsed.
fn bmove(ctx: &mut Ctx<'_>, a: &[&[u8]], from_left: bool, to_left: bool, timeout: &[u8]) {
    let Ok(deadline) = parse_timeout(ctx, timeout) else {
        return;
    };
    let me = me(ctx);
    match move_checked(ctx, a[1], a[2], from_left, to_left, Some(me)) {
        Ok(Some(e)) => {
            notify_move(ctx, a[1], a[2], from_left, to_left);
            // Logged as Redis 7.0 does: served at once, as LMOVE (BLMOVE) or RPOPLPUSH
            // (BRPOPLPUSH) with the arguments sent; served once woken, as LMOVE with its
            // own lowercase `left`/`right`.
            super::aof::log_as(ctx, || {
                let side = |l: bool| {
                    if l {
                        b"left".to_vec()
                    } else {
                        b"right".to_vec()
                    }
                };
                match me {
                    Some(_) => vec![
                        b"LMOVE".to_vec(),
                        a[1].to_vec(),
                        a[2].to_vec(),
                        side(from_left),
                        side(to_left),
                    ],
                    None => {
                        let name: &[u8] = if a.len() == 6 { b"LMOVE" } else { b"RPOPLPUSH" };
                        std::iter::once(name)
                            .chain(a[1..a.len() - 1].iter().copied())
                            .map(<[u8]>::to_vec)
                            .collect()
                    }
                }
            });
            ctx.bulk(&e)
        }
        Ok(None) => block_or_null(ctx, &a[1..2], deadline, false),
        Err(e) => ctx.engine_err(e),
    }
}

/// `LPOP` or `RPOP`: the non-blocking form a served pop is logged as.
pub(super) fn pop_name(front: bool) -> Vec<u8> {
    if front { b"LPOP" } else { b"RPOP" }.to_vec()
}

/// `LPOP|RPOP key count`: how a served `[B]LMPOP` is logged.
pub(super) fn pop_count(front: bool, key: &[u8], count: usize) -> Vec<Vec<u8>> {
    vec![
        pop_name(front),
        key.to_vec(),
        count.to_string().into_bytes(),
    ]
}

/// `LEFT` (true) or `RIGHT` (false), case-insensitively.
fn side(arg: &[u8]) -> Option<bool> {
    if eq(arg, "left") {
        Some(true)
    } else if eq(arg, "right") {
        Some(false)
    } else {
        None
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
fn blmove(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(from_left), Some(to_left)) = (side(a[3]), side(a[4])) else {
        return ctx.syntax_error();
    };
    bmove(ctx, a, from_left, to_left, a[5]);
}

/// BRPOPLPUSH source destination timeout.
fn brpoplpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bmove(ctx, a, false, true, a[3]);
}

#[cfg(test)]
mod tests {
    use crate::cmd::util::hex_float;

    #[test]
    fn hexadecimal_timeouts_read_as_strtold_reads_them() {
        assert_eq!(hex_float("0x10"), Some(16.0));
        assert_eq!(hex_float("0X.8"), Some(0.5));
        assert_eq!(hex_float("-0x1.8p1"), Some(-3.0));
        assert_eq!(hex_float("0x1p-2"), Some(0.25));
        assert_eq!(hex_float("0x"), None);
        assert_eq!(hex_float("0x1p"), None);
        assert_eq!(hex_float("0x1g"), None);
        assert_eq!(hex_float("10"), None);
    }
}
