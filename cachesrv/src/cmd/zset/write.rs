//! ZADD, ZINCRBY, ZREM, ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN, ZPOPMAX and ZMPOP.

use bytes::BytesMut;
use protocol::{Protocol, RespWrite};

use super::super::hash::{finish, Fail};
use super::super::notify::ZSET;
use super::super::util::{eq, int, NOT_INTEGER};
use super::super::Ctx;
use super::{limits, parse_score, write_score, LexRange, ScoreRange, LEX_INVALID, RANGE_NOT_FLOAT};
use crate::engine::{Access, EngineError, ZLimits, ZSetValue};

/// ZADD's flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one element whose current score is `cur` does (Redis's `zsetAdd`): the new
/// score, or `None` for a no-op; `Err` when an increment makes NaN.
fn plan(cur: Option<f64>, f: AddFlags, score: f64) -> Result<Option<f64>, ()> {
    match cur {
        Some(cur) => {
            if f.nx {
                return Ok(None);
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(());
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(None);
            }
            Ok(Some(new))
        }
        None if f.xx => Ok(None),
        None => Ok(Some(score)),
    }
}

const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";

/// ZADD and ZINCRBY (`incr_only`): options from `a[2]`, then score/member pairs.
fn zadd_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], incr_only: bool) {
    let mut f = AddFlags {
        incr: incr_only,
        ..AddFlags::default()
    };
    let mut i = 2;
    if !incr_only {
        while i < a.len() {
            let o = a[i];
            if eq(o, "nx") {
                f.nx = true;
            } else if eq(o, "xx") {
                f.xx = true;
            } else if eq(o, "ch") {
                f.ch = true;
            } else if eq(o, "incr") {
                f.incr = true;
            } else if eq(o, "gt") {
                f.gt = true;
            } else if eq(o, "lt") {
                f.lt = true;
            } else {
                break;
            }
            i += 1;
        }
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return ctx.syntax_error();
    }
    if f.nx && f.xx {
        return ctx.err("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return ctx.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && pairs.len() > 2 {
        return ctx.err("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = [0f64; 8];
    let mut heap: Vec<f64> = Vec::new();
    let n = pairs.len() / 2;
    if n > scores.len() {
        heap = vec![0.0; n];
    }
    let scores: &mut [f64] = if n > 8 { &mut heap } else { &mut scores[..n] };
    for (j, s) in scores.iter_mut().enumerate() {
        match parse_score(pairs[j * 2]) {
            Some(v) => *s = v,
            None => return ctx.err("ERR value is not a valid float"),
        }
    }
    let lim = limits(ctx);
    let max_len = (0..n).map(|j| pairs[j * 2 + 1].len()).max().unwrap_or(0);
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
        // A first pass finds the first element that changes something (none: the key is
        // not touched); elements before it are no-ops, so the writes start there.
        let z = k.as_zset()?;
        let mut first = None;
        for j in 0..n {
            let cur = z.and_then(|z| z.score(pairs[j * 2 + 1]));
            match plan(cur, f, scores[j]) {
                Err(()) => return Err(Fail::Msg(NAN_SCORE)),
                Ok(Some(new)) if cur != Some(new) => {
                    first = Some((j, cur));
                    break;
                }
                Ok(_) => {}
            }
        }
        let Some((first, first_cur)) = first else {
            if f.incr {
                let cur = z.and_then(|z| z.score(pairs[1]));
                match plan(cur, f, scores[0]) {
                    Ok(Some(s)) => write_score(out, proto, s),
                    _ => out.write_null(proto),
                }
            } else {
                out.write_integer(0);
            }
            return Ok(false);
        };
        let (mut added, mut updated, mut last) = (0i64, 0i64, None);
        k.update_zset(true, |z| {
            if z.is_empty() {
                *z = ZSetValue::with_hint(n, max_len, lim);
            }
            for j in first..n {
                let m = pairs[j * 2 + 1];
                let cur = if j == first { first_cur } else { z.score(m) };
                if let Ok(Some(new)) = plan(cur, f, scores[j]) {
                    last = Some(new);
                    match cur {
                        None => {
                            z.insert_absent(m, new, lim);
                            added += 1;
                        }
                        Some(old) if old != new => {
                            z.update_score(m, old, new);
                            updated += 1;
                        }
                        Some(_) => {}
                    }
                }
            }
        })?;
        if f.incr {
            match last {
                Some(s) => write_score(out, proto, s),
                None => out.write_null(proto),
            }
        } else {
            out.write_integer(if f.ch { added + updated } else { added });
        }
        Ok(added + updated > 0)
    });
    if let Ok(true) = r {
        ctx.notify(ZSET, if f.incr { "zincr" } else { "zadd" }, a[1]);
    }
    finish(ctx, r.map(drop));
}

pub(in crate::cmd) fn zadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    zadd_generic(ctx, a, false);
}

pub(super) fn zincrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    zadd_generic(ctx, a, true);
}

pub(super) fn zrem(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let members = &a[2..];
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        match k.as_zset()? {
            Some(z) if members.iter().any(|m| z.score(m).is_some()) => {}
            _ => return Ok(0),
        }
        k.update_zset(false, |z| {
            members.iter().filter(|m| z.remove(m).is_some()).count()
        })
        .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_then_del(ZSET, "zrem", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// The events of a pop from `key` (ZPOPMIN/MAX, ZMPOP and the blocking forms).
pub(super) fn notify_pop(ctx: &Ctx<'_>, key: &[u8], max: bool) {
    ctx.notify_then_del(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
}

/// Removes the ranks `rank(z)` gives (a `lo..hi` window) from the set at `a[1]`.
fn remove_window(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    event: &str,
    window: impl Fn(&ZSetValue) -> (usize, usize),
) {
    let r = ctx.db().with_key(key, Access::WRITE, |k| {
        let (lo, hi) = match k.as_zset()? {
            Some(z) => window(z),
            None => return Ok(0),
        };
        if lo >= hi {
            return Ok(0);
        }
        k.update_zset(false, |z| z.remove_range(lo, hi))
            .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_then_del(ZSET, event, key);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// Redis's rank sanitizing: negative ranks count from the end; `None` when empty.
pub(super) fn rank_window(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    let end = end.min(llen - 1);
    Some((start as usize, end as usize + 1))
}

pub(super) fn zremrangebyrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(start), Some(end)) = (int(a[2]), int(a[3])) else {
        return ctx.err(NOT_INTEGER);
    };
    remove_window(ctx, a[1], "zremrangebyrank", |z| {
        rank_window(start, end, z.len()).unwrap_or((0, 0))
    });
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(range) = ScoreRange::parse(a[2], a[3]) else {
        return ctx.err(RANGE_NOT_FLOAT);
    };
    remove_window(ctx, a[1], "zremrangebyscore", |z| range.ranks(z));
}

pub(super) fn zremrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(range) = LexRange::parse(a[2], a[3]) else {
        return ctx.err(LEX_INVALID);
    };
    remove_window(ctx, a[1], "zremrangebylex", |z| range.ranks(z));
}

/// Pops up to `count` members from the min (`max` false) or max end, writing each.
pub(super) fn pop_into(
    z: &mut ZSetValue,
    max: bool,
    count: usize,
    out: &mut BytesMut,
    proto: Protocol,
    nested: bool,
) {
    let n = count.min(z.len());
    let (lo, hi) = if max { (z.len() - n, z.len()) } else { (0, n) };
    {
        let mut write = |(m, s): (&[u8], f64)| {
            if nested {
                out.write_array_len(2);
            }
            out.write_bulk(m);
            write_score(out, proto, s);
        };
        if max {
            z.range(lo, hi).rev().for_each(&mut write);
        } else {
            z.range(lo, hi).for_each(&mut write);
        }
    }
    z.remove_range(lo, hi);
}

fn zpop(ctx: &mut Ctx<'_>, a: &[&[u8]], max: bool) {
    if a.len() > 3 {
        return ctx.syntax_error();
    }
    let count = match a.get(2) {
        None => None,
        Some(c) => match int(c) {
            Some(c) if c >= 0 => Some(c as usize),
            _ => return ctx.err("ERR value is out of range, must be positive"),
        },
    };
    let proto = ctx.proto();
    let nested = proto == Protocol::Resp3 && count.is_some();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
        let len = match k.as_zset()? {
            None => 0,
            Some(z) => z.len(),
        };
        let want = count.unwrap_or(1);
        if len == 0 || want == 0 {
            out.write_array_len(0);
            return Ok(false);
        }
        let n = want.min(len);
        out.write_array_len(if nested { n } else { n * 2 });
        k.update_zset(false, |z| pop_into(z, max, n, out, proto, nested))?;
        Ok(true)
    });
    if let Ok(true) = r {
        notify_pop(ctx, a[1], max);
    }
    finish(ctx, r.map(drop));
}

pub(super) fn zpopmin(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    zpop(ctx, a, false);
}

pub(super) fn zpopmax(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    zpop(ctx, a, true);
}

/// The arguments `numkeys key [key ...] MIN|MAX [COUNT count]` from `a[at]` on (ZMPOP, and
/// BZMPOP after its timeout): the index past the keys, MAX, and the count (1 when not given).
/// `None` once the error is answered.
pub(super) fn mpop_args(ctx: &mut Ctx<'_>, a: &[&[u8]], at: usize) -> Option<(usize, bool, usize)> {
    let numkeys = match int(a[at]) {
        Some(n) if n >= 1 => n as u64,
        _ => {
            ctx.err("ERR numkeys should be greater than 0");
            return None;
        }
    };
    let where_idx = (at as u64 + 1).saturating_add(numkeys);
    if where_idx >= a.len() as u64 {
        ctx.syntax_error();
        return None;
    }
    let where_idx = where_idx as usize;
    let max = if eq(a[where_idx], "min") {
        false
    } else if eq(a[where_idx], "max") {
        true
    } else {
        ctx.syntax_error();
        return None;
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && eq(a[j], "count") && j + 1 < a.len() {
            j += 1;
            match int(a[j]) {
                Some(c) if c >= 1 => count = Some(usize::try_from(c).unwrap_or(usize::MAX)),
                _ => {
                    ctx.err("ERR count should be greater than 0");
                    return None;
                }
            }
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some((where_idx, max, count.unwrap_or(1)))
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn zmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some((where_idx, max, count)) = mpop_args(ctx, a, 1) else {
        return;
    };
    let proto = ctx.proto();
    let keys = &a[2..where_idx];
    let db = ctx.db();
    for key in keys {
        let out = &mut *ctx.out;
        let r = db.with_key(
            key,
            Access::WRITE,
            |k| -> Result<Option<usize>, EngineError> {
                let Some(z) = k.as_zset()? else {
                    return Ok(None);
                };
                let n = count.min(z.len());
                out.write_array_len(2);
                out.write_bulk(key);
                out.write_array_len(n);
                k.update_zset(false, |z| pop_into(z, max, n, out, proto, true))?;
                Ok(Some(n))
            },
        );
        match r {
            Ok(Some(n)) => {
                notify_pop(ctx, key, max);
                // Logged as ZPOPMIN/ZPOPMAX key count, as Redis does.
                let name = super::block::zpop_name(max);
                return super::super::aof::log_as(ctx, || {
                    vec![name, key.to_vec(), n.to_string().into_bytes()]
                });
            }
            Ok(None) => {}
            Err(e) => return ctx.engine_err(e),
        }
    }
    ctx.null_array();
}

/// Fills a fresh set for a store from owned pairs (sized as Redis sizes its destination).
pub(in crate::cmd) fn build(items: &[(Vec<u8>, f64)], lim: ZLimits) -> ZSetValue {
    let max_len = items.iter().map(|e| e.0.len()).max().unwrap_or(0);
    let mut z = ZSetValue::with_hint(items.len(), max_len, lim);
    for (m, s) in items {
        z.insert(m, *s, lim);
    }
    z
}
