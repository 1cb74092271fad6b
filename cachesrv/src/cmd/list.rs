//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LRANGE, LLEN, LINDEX, LSET, LREM,
//! LTRIM, LINSERT, LPOS, LMOVE, RPOPLPUSH and LMPOP.
//!
//! Mirrors Redis 7.0's `t_list.c`: arguments checked in Redis's order (LRANGE, LTRIM and LREM
//! parse their numbers before looking the key up, LINDEX and LSET after), its error texts, its
//! index arithmetic (negative indices count from the tail, out-of-range ranges are clamped or
//! empty) and its null forms: LPOP/RPOP with a count on a missing key reply a null array, and
//! with count 0 on an existing key an empty array. A write that changes nothing (LREM without a
//! match, LINSERT without the pivot) leaves the key untouched, so WATCH is not triggered.

use protocol::RespWrite;

use super::flags::*;
use super::hash::{finish, Fail};
use super::notify::LIST;
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::{Access, EngineError, ListValue};
use crate::state::BlockOn;

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpush);
    add("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpush);
    add("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpushx);
    add("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpushx);
    add("lpop", -2, WRITE | FAST, (1, 1, 1), lpop);
    add("rpop", -2, WRITE | FAST, (1, 1, 1), rpop);
    add("lrange", 4, READONLY, (1, 1, 1), lrange);
    add("llen", 2, READONLY | FAST, (1, 1, 1), llen);
    add("lindex", 3, READONLY, (1, 1, 1), lindex);
    add("lset", 4, WRITE | DENYOOM, (1, 1, 1), lset);
    add("lrem", 4, WRITE, (1, 1, 1), lrem);
    add("ltrim", 4, WRITE, (1, 1, 1), ltrim);
    add("linsert", 5, WRITE | DENYOOM, (1, 1, 1), linsert);
    add("lpos", -3, READONLY, (1, 1, 1), lpos);
    add("lmove", 5, WRITE | DENYOOM, (1, 2, 1), lmove);
    add("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), rpoplpush);
    // Keys are found through numkeys (COMMAND INFO shows 0 0 0 and `movablekeys`).
    add("lmpop", -4, WRITE, (0, 0, 0), lmpop);
}

/// LPUSH/RPUSH (`create`) and LPUSHX/RPUSHX: pushes every element in turn, replies the length.
fn push(ctx: &mut Ctx<'_>, a: &[&[u8]], front: bool, create: bool) {
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        k.update_list(create, |l| {
            for e in &a[2..] {
                if front {
                    l.push_front(e);
                } else {
                    l.push_back(e);
                }
            }
            l.len()
        })
    });
    match r {
        Ok(Some(n)) => {
            ctx.notify(LIST, if front { "lpush" } else { "rpush" }, a[1]);
            ctx.int(n as i64)
        }
        Ok(None) => ctx.int(0),
        Err(e) => ctx.engine_err(e),
    }
}

fn lpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    push(ctx, a, true, true);
}

fn rpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    push(ctx, a, false, true);
}

fn lpushx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    push(ctx, a, true, false);
}

fn rpushx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    push(ctx, a, false, false);
}

/// LPOP/RPOP with an optional count.
fn pop(ctx: &mut Ctx<'_>, a: &[&[u8]], front: bool, name: &str) {
    if a.len() > 3 {
        return ctx.arity_error(name);
    }
    let count = match a.get(2).map(|c| int(c)) {
        None => None,
        Some(Some(c)) if c >= 0 => Some(c as u64),
        Some(_) => return ctx.err("ERR value is out of range, must be positive"),
    };
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
        let Some(len) = k.as_list()?.map(ListValue::len) else {
            match count {
                Some(_) => out.write_null_array(proto),
                None => out.write_null(proto),
            }
            return Ok(false);
        };
        let take = |l: &mut ListValue| {
            if front {
                l.pop_front()
            } else {
                l.pop_back()
            }
        };
        match count {
            None => {
                if let Some(e) = k.update_list(false, take)?.flatten() {
                    out.write_bulk(&e);
                }
            }
            Some(0) => out.write_array_len(0),
            Some(c) => {
                let n = len.min(usize::try_from(c).unwrap_or(usize::MAX));
                out.write_array_len(n);
                k.update_list(false, |l| {
                    for _ in 0..n {
                        if let Some(e) = take(l) {
                            out.write_bulk(&e);
                        }
                    }
                })?;
            }
        }
        Ok(count != Some(0))
    });
    if let Ok(true) = r {
        ctx.notify_then_del(LIST, if front { "lpop" } else { "rpop" }, a[1]);
    }
    finish(ctx, r.map(drop));
}

fn lpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    pop(ctx, a, true, "lpop");
}

fn rpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    pop(ctx, a, false, "rpop");
}

/// Redis's range arithmetic (LRANGE): the positions `start..end` to return, empty if none.
fn range_of(start: i64, end: i64, len: usize) -> (usize, usize) {
    let llen = len as i64;
    let start = if start < 0 { start + llen } else { start }.max(0);
    let end = if end < 0 { end + llen } else { end };
    if start > end || start >= llen {
        return (0, 0);
    }
    let end = end.min(llen - 1);
    (start as usize, end as usize + 1)
}

fn lrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(start), Some(end)) = (int(a[2]), int(a[3])) else {
        return ctx.err(NOT_INTEGER);
    };
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(l) = k.as_list()? else {
            out.write_array_len(0);
            return Ok(());
        };
        let (from, to) = range_of(start, end, l.len());
        out.write_array_len(to - from);
        for e in l.range(from, to) {
            out.write_bulk(e);
        }
        Ok(())
    });
    finish(ctx, r);
}

fn llen(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_list().map(|l| l.map_or(0, ListValue::len))
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

/// A possibly negative index into a list of `len` elements, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index + len as i64 } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

fn lindex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let index = int(a[2]);
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(l) = k.as_list()? else {
            out.write_null(proto);
            return Ok(());
        };
        let index = index.ok_or(Fail::Msg(NOT_INTEGER))?;
        match position(index, l.len()).and_then(|i| l.get(i)) {
            Some(e) => out.write_bulk(e),
            None => out.write_null(proto),
        }
        Ok(())
    });
    finish(ctx, r);
}

fn lset(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let index = int(a[2]);
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<(), Fail> {
            let Some(l) = k.as_list()? else {
                return Err(Fail::Msg("ERR no such key"));
            };
            let index = index.ok_or(Fail::Msg(NOT_INTEGER))?;
            let i = position(index, l.len()).ok_or(Fail::Msg("ERR index out of range"))?;
            k.update_list(false, |l| l.set(i, a[3]))?;
            Ok(())
        });
    match r {
        Ok(()) => {
            ctx.notify(LIST, "lset", a[1]);
            ctx.ok()
        }
        Err(e) => finish(ctx, Err(e)),
    }
}

fn lrem(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(count) = int(a[2]) else {
        return ctx.err(NOT_INTEGER);
    };
    let elem = a[3];
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        let Some(l) = k.as_list()? else {
            return Ok(0);
        };
        let matches = l.iter().filter(|e| *e == elem).count();
        if matches == 0 {
            return Ok(0);
        }
        // Removing the last |count| matches = keeping the first (matches - |count|).
        let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        let remove = if count == 0 {
            matches
        } else {
            limit.min(matches)
        };
        let skip = if count < 0 { matches - remove } else { 0 };
        k.update_list(false, |l| {
            l.modify(|items| {
                let mut seen = 0;
                items.retain(|e| {
                    if &**e != elem {
                        return true;
                    }
                    seen += 1;
                    seen <= skip || seen > skip + remove
                });
            });
        })?;
        Ok(remove)
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_then_del(LIST, "lrem", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn ltrim(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(start), Some(end)) = (int(a[2]), int(a[3])) else {
        return ctx.err(NOT_INTEGER);
    };
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        let Some(len) = k.as_list()?.map(ListValue::len) else {
            return Ok(false);
        };
        let (from, to) = range_of(start, end, len);
        k.update_list(false, |l| l.retain_range(from, to))
            .map(|_| true)
    });
    match r {
        Ok(found) => {
            if found {
                ctx.notify_then_del(LIST, "ltrim", a[1]);
            }
            ctx.ok()
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn linsert(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let after = if eq(a[2], "after") {
        true
    } else if eq(a[2], "before") {
        false
    } else {
        return ctx.syntax_error();
    };
    let (pivot, elem) = (a[3], a[4]);
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        let Some(l) = k.as_list()? else {
            return Ok(0);
        };
        let Some(p) = l.iter().position(|e| e == pivot) else {
            return Ok(-1);
        };
        let at = if after { p + 1 } else { p };
        k.update_list(false, |l| {
            l.insert(at, elem);
            l.len() as i64
        })
        .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify(LIST, "linsert", a[1]);
            }
            ctx.int(n)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn lpos(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if eq(a[j], "rank") && more {
            j += 1;
            match int(a[j]) {
                None => return ctx.err(NOT_INTEGER),
                Some(0) => {
                    return ctx.err(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    )
                }
                Some(r) => rank = r,
            }
        } else if eq(a[j], "count") && more {
            j += 1;
            match int(a[j]) {
                Some(c) if c >= 0 => count = Some(c as u64),
                _ => return ctx.err("ERR COUNT can't be negative"),
            }
        } else if eq(a[j], "maxlen") && more {
            j += 1;
            match int(a[j]) {
                Some(m) if m >= 0 => maxlen = m as u64,
                _ => return ctx.err("ERR MAXLEN can't be negative"),
            }
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let from_tail = rank < 0;
    // Redis 7.0 negates RANK in a C `long`: -LONG_MIN stays LONG_MIN, so every match
    // qualifies and a COUNT never ends the search.
    let (skip, limit) = if rank == i64::MIN {
        (0, 0)
    } else {
        (rank.unsigned_abs() - 1, count.unwrap_or(1))
    };
    let elem = a[2];
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(l) = k.as_list()? else {
            match count {
                Some(_) => out.write_array_len(0),
                None => out.write_null(proto),
            }
            return Ok(());
        };
        let len = l.len();
        let scan = if maxlen == 0 {
            len
        } else {
            len.min(usize::try_from(maxlen).unwrap_or(usize::MAX))
        };
        let hits = |it: &mut dyn Iterator<Item = &[u8]>| -> Vec<i64> {
            let mut found = Vec::new();
            let mut matched = 0u64;
            for (idx, e) in it.take(scan).enumerate() {
                if e != elem {
                    continue;
                }
                matched += 1;
                if matched <= skip {
                    continue;
                }
                let pos = if from_tail { len - 1 - idx } else { idx };
                found.push(pos as i64);
                if limit != 0 && found.len() as u64 >= limit {
                    break;
                }
            }
            found
        };
        let found = if from_tail {
            hits(&mut l.iter().rev())
        } else {
            hits(&mut l.iter())
        };
        match count {
            Some(_) => {
                out.write_array_len(found.len());
                for p in found {
                    out.write_integer(p);
                }
            }
            None => match found.first() {
                Some(&p) => out.write_integer(p),
                None => out.write_null(proto),
            },
        }
        Ok(())
    });
    finish(ctx, r);
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

/// LMOVE/RPOPLPUSH: pops from `src`'s `from_left` end, pushes onto `dst`'s `to_left` end and
/// replies the element. As Redis: a missing source replies null without looking at the
/// destination; a destination of another type fails before anything moves; with one key the
/// list rotates in place (never emptied, so its expiry stays).
fn move_elem(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from_left: bool, to_left: bool) {
    match move_checked(ctx, src, dst, from_left, to_left, None) {
        Ok(Some(e)) => {
            notify_move(ctx, src, dst, from_left, to_left);
            ctx.bulk(&e)
        }
        Ok(None) => ctx.null(),
        Err(e) => ctx.engine_err(e),
    }
}

/// The events of a move: the push onto `dst`, then the pop from `src` (and `del` if that
/// emptied it), in Redis's order.
pub(super) fn notify_move(ctx: &Ctx<'_>, src: &[u8], dst: &[u8], from_left: bool, to_left: bool) {
    ctx.notify(LIST, if to_left { "lpush" } else { "rpush" }, dst);
    ctx.notify_then_del(LIST, if from_left { "lpop" } else { "rpop" }, src);
}

/// The events of LMPOP and BLMPOP's pop from `key`.
pub(super) fn notify_pop(ctx: &Ctx<'_>, key: &[u8], front: bool) {
    ctx.notify_then_del(LIST, if front { "lpop" } else { "rpop" }, key);
}

/// The move of LMOVE and BLMOVE. `blocking`: for BLMOVE, the blocked client's id if it is
/// blocked: the source is taken only in its turn ([`crate::state::Blocking::may_serve`]), and a
/// blocked client treats a source or destination of another type as not ready (it stays
/// blocked, as in Redis).
pub(super) fn move_checked(
    ctx: &Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    blocking: Option<Option<u64>>,
) -> Result<Option<Box<[u8]>>, EngineError> {
    let db = ctx.sess.db;
    let retry = blocking.is_some_and(|b| b.is_some());
    let mut g = ctx.shared.engine.lock_keys(&[(db, src), (db, dst)])?;
    let pop = |l: &mut ListValue| {
        if from_left {
            l.pop_front()
        } else {
            l.pop_back()
        }
    };
    let push = |l: &mut ListValue, e: &[u8]| {
        if to_left {
            l.push_front(e);
        } else {
            l.push_back(e);
        }
    };
    let Some(mut k) = g.key(0, Access::WRITE) else {
        return Ok(None);
    };
    match k.as_list() {
        Err(_) if retry => return Ok(None),
        Err(e) => return Err(e),
        Ok(l) if l.is_none_or(ListValue::is_empty) => return Ok(None),
        Ok(_) => {}
    }
    if let Some(me) = blocking {
        if !ctx.shared.blocking.may_serve(db, src, me, BlockOn::List) {
            return Ok(None);
        }
    }
    if src == dst {
        return Ok(k
            .update_list(false, |l| {
                let e = pop(l)?;
                push(l, &e);
                Some(e)
            })?
            .flatten());
    }
    drop(k);
    if let Some(k) = g.key(1, Access::WRITE) {
        match k.as_list() {
            Err(_) if retry => return Ok(None),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    let Some(e) = g
        .key(0, Access::WRITE)
        .map(|mut k| k.update_list(false, pop))
        .transpose()?
        .flatten()
        .flatten()
    else {
        return Ok(None);
    };
    if let Some(mut k) = g.key(1, Access::WRITE) {
        k.update_list(true, |l| push(l, &e))?;
    }
    Ok(Some(e))
}

fn lmove(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(from_left), Some(to_left)) = (side(a[3]), side(a[4])) else {
        return ctx.syntax_error();
    };
    move_elem(ctx, a[1], a[2], from_left, to_left);
}

fn rpoplpush(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    move_elem(ctx, a[1], a[2], false, true);
}

/// A count or numkeys argument of LMPOP: at least 1.
fn positive(arg: &[u8]) -> Option<usize> {
    int(arg)
        .filter(|&n| n >= 1)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The index of the list LMPOP popped from, and its elements.
pub(super) type Popped = (usize, Vec<Box<[u8]>>);

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops up to `count` elements from the
/// first non-empty list, replying `[key, [elements]]`, or a null array if every list is
/// missing. A key of another type before that list fails the command.
fn lmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some((keys, front, count)) = mpop_args(ctx, a, 1) else {
        return;
    };
    match mpop(ctx, &keys, front, count, None) {
        Ok(Some((i, v))) => {
            notify_pop(ctx, keys[i], front);
            super::aof::log_as(ctx, || {
                super::list_block::pop_count(front, keys[i], v.len())
            });
            ctx.array(2);
            ctx.bulk(keys[i]);
            ctx.array(v.len());
            for e in &v {
                ctx.bulk(e);
            }
        }
        Ok(None) => ctx.null_array(),
        Err(e) => ctx.engine_err(e),
    }
}

/// The arguments of LMPOP (numkeys at `a[n]`) and BLMPOP (at `a[2]`): the keys, the end
/// (true: LEFT) and the count; `None` once an error is replied, in Redis's order of checks.
pub(super) fn mpop_args<'a>(
    ctx: &mut Ctx<'_>,
    a: &[&'a [u8]],
    n: usize,
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    let Some(numkeys) = positive(a[n]) else {
        ctx.err("ERR numkeys should be greater than 0");
        return None;
    };
    let where_idx = numkeys.saturating_add(n + 1);
    let Some(front) = a.get(where_idx).and_then(|w| side(w)) else {
        ctx.syntax_error();
        return None;
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && eq(a[j], "count") && j + 1 < a.len() {
            j += 1;
            match positive(a[j]) {
                Some(c) => count = Some(c),
                None => {
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
    Some((a[n + 1..where_idx].to_vec(), front, count.unwrap_or(1)))
}

/// Pops up to `count` elements from the first non-empty list of `keys` (all locked together,
/// so the choice is atomic). `blocking` as for [`move_checked`]: a list is taken only in the
/// client's turn, and a blocked client skips keys of another type.
pub(super) fn mpop(
    ctx: &Ctx<'_>,
    keys: &[&[u8]],
    front: bool,
    count: usize,
    blocking: Option<Option<u64>>,
) -> Result<Option<Popped>, EngineError> {
    let db = ctx.sess.db;
    let retry = blocking.is_some_and(|b| b.is_some());
    let placed: Vec<(usize, &[u8])> = keys.iter().map(|k| (db, *k)).collect();
    let mut g = ctx.shared.engine.lock_keys(&placed)?;
    for (i, key) in keys.iter().enumerate() {
        let Some(mut k) = g.key(i, Access::WRITE) else {
            continue;
        };
        match k.as_list() {
            Err(_) if retry => continue,
            Err(e) => return Err(e),
            Ok(l) if l.is_none_or(ListValue::is_empty) => continue,
            Ok(_) => {}
        }
        if let Some(me) = blocking {
            if !ctx.shared.blocking.may_serve(db, key, me, BlockOn::List) {
                continue;
            }
        }
        let popped = k.update_list(false, |l| {
            let n = count.min(l.len());
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.extend(if front { l.pop_front() } else { l.pop_back() });
            }
            v
        })?;
        return Ok(Some((i, popped.unwrap_or_default())));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(range_of(0, -1, 5), (0, 5));
        assert_eq!(range_of(-100, 100, 5), (0, 5));
        assert_eq!(range_of(3, 1, 5), (0, 0));
        assert_eq!(range_of(5, 10, 5), (0, 0));
        assert_eq!(range_of(-2, -1, 5), (3, 5));
        assert_eq!(range_of(i64::MIN, i64::MIN, 5), (0, 0));
        assert_eq!(range_of(0, i64::MAX, 5), (0, 5));
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(3, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
    }

    use crate::cmd::runner::testing::runner;

    #[test]
    fn moved_lists_report_their_encoding() {
        // Redis 7.2 encodings (7.0 says quicklist for every list): not in the diff scripts.
        let mut r = runner(&[]);
        r.run(&["RPUSH", "src", "a", "b"]);
        assert_eq!(
            r.run(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
            "$1\r\na\r\n"
        );
        assert_eq!(r.run(&["OBJECT", "ENCODING", "dst"]), "$8\r\nlistpack\r\n");
        let long = "x".repeat(100);
        r.run(&["RPUSH", "src", &long]);
        r.run(&["LMOVE", "src", "dst", "RIGHT", "LEFT"]);
        assert_eq!(r.run(&["OBJECT", "ENCODING", "dst"]), "$9\r\nquicklist\r\n");
        assert_eq!(r.run(&["OBJECT", "ENCODING", "src"]), "$8\r\nlistpack\r\n");
    }

    #[test]
    fn lmove_is_refused_when_out_of_memory_and_lmpop_is_not() {
        let mut r = runner(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
        r.run(&["RPUSH", "l", "a", "b"]);
        crate::cmd::runner::testing::fill_until_oom(&mut r);
        let oom = crate::cmd::runner::testing::OOM;
        assert_eq!(r.run(&["LMOVE", "l", "m", "LEFT", "RIGHT"]), oom);
        assert_eq!(r.run(&["RPOPLPUSH", "l", "m"]), oom);
        assert_eq!(
            r.run(&["LMPOP", "1", "l", "LEFT"]),
            "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"
        );
    }
}
