//! Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HEXISTS, HLEN, HSTRLEN, HGETALL,
//! HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HSCAN and HRANDFIELD.
//!
//! Mirrors Redis 7.0's `t_hash.c`: argument checks in Redis's order (a bad increment or count
//! is reported before the key is looked up, a bad `HSCAN` option only after it), its error
//! texts, RESP3 forms (HGETALL is a map, HRANDFIELD WITHVALUES gives pairs) and the order of a
//! small (listpack) hash, which is insertion order even across HDEL. Also home of the helpers
//! the set commands share with HSCAN: SCAN cursor and option parsing, and [`Fail`].

use bytes::BytesMut;
use protocol::{Protocol, RespWrite};
use rand::Rng;

use super::flags::*;
use super::notify::HASH;
use super::util::{add_floats, eq, float, int, scan_cursor, NOT_FLOAT, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::{glob_match, parse_i64_strict, Access, EngineError, HashValue};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hset);
    add("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hmset);
    add("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hsetnx);
    add("hget", 3, READONLY | FAST, (1, 1, 1), hget);
    add("hmget", -3, READONLY | FAST, (1, 1, 1), hmget);
    add("hdel", -3, WRITE | FAST, (1, 1, 1), hdel);
    add("hexists", 3, READONLY | FAST, (1, 1, 1), hexists);
    add("hlen", 2, READONLY | FAST, (1, 1, 1), hlen);
    add("hstrlen", 3, READONLY | FAST, (1, 1, 1), hstrlen);
    add("hgetall", 2, READONLY, (1, 1, 1), hgetall);
    add("hkeys", 2, READONLY, (1, 1, 1), hkeys);
    add("hvals", 2, READONLY, (1, 1, 1), hvals);
    add("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hincrby);
    add(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hincrbyfloat,
    );
    add("hscan", -3, READONLY, (1, 1, 1), hscan);
    add("hrandfield", -2, READONLY, (1, 1, 1), hrandfield);
}

/// Why a command failed inside a key closure: an engine error (WRONGTYPE, ...) or one of
/// Redis's fixed error texts. Shared with the set and list commands.
pub(super) enum Fail {
    /// An engine error, replied with its own text.
    Engine(EngineError),
    /// A complete error reply text (`ERR ...`).
    Msg(&'static str),
}

impl From<EngineError> for Fail {
    fn from(e: EngineError) -> Self {
        Fail::Engine(e)
    }
}

/// Replies with the error of a failed closure, if any.
pub(super) fn finish(ctx: &mut Ctx<'_>, r: Result<(), Fail>) {
    match r {
        Ok(()) => {}
        Err(Fail::Engine(e)) => ctx.engine_err(e),
        Err(Fail::Msg(m)) => ctx.err(m),
    }
}

/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)` of Redis 7.0 (HRANDFIELD, SRANDMEMBER).
pub(super) const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// `ERR invalid cursor`.
const INVALID_CURSOR: &str = "ERR invalid cursor";

/// The options of HSCAN/SSCAN: `MATCH pattern` (`*` means no filter) and `COUNT n` (n >= 1).
pub(super) struct ScanOpts<'a> {
    /// How many positions to visit in a large (hashtable) collection.
    pub count: usize,
    /// The glob to filter with, if any.
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    /// True if `m` passes the MATCH filter.
    pub fn matches(&self, m: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, m, false))
    }
}

/// Parses the options after the cursor; the error is replied only once the key has been found
/// to be of the right type, as Redis does.
pub(super) fn scan_opts<'a>(a: &[&'a [u8]]) -> Result<ScanOpts<'a>, &'static str> {
    let mut opts = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut j = 0;
    while j < a.len() {
        let Some(&v) = a.get(j + 1) else {
            return Err("ERR syntax error");
        };
        if eq(a[j], "count") {
            match int(v) {
                Some(c) if c >= 1 => opts.count = usize::try_from(c).unwrap_or(usize::MAX),
                Some(_) => return Err("ERR syntax error"),
                None => return Err(NOT_INTEGER),
            }
        } else if eq(a[j], "match") {
            opts.pattern = (v != b"*").then_some(v);
        } else {
            return Err("ERR syntax error");
        }
        j += 2;
    }
    Ok(opts)
}

/// The reply of a SCAN-family command on a missing key.
pub(super) fn write_empty_scan(out: &mut BytesMut) {
    out.write_array_len(2);
    out.write_bulk(b"0");
    out.write_array_len(0);
}

/// The head of a SCAN-family reply: the next cursor and the length of the element array.
pub(super) fn write_scan_head(out: &mut BytesMut, cursor: u64, n: usize) {
    out.write_array_len(2);
    out.write_bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.write_array_len(n);
}

/// Positions a hashtable-encoded collection's scan visits from `cursor`, highest first, and the
/// next cursor. The cursor counts the positions still to visit (0: start, or done). Removal moves
/// the last element into the hole and insertion appends, so an element present for the whole
/// scan is never skipped (it may be returned twice), as SCAN guarantees.
pub(super) fn scan_window(len: usize, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
    let top = if cursor == 0 {
        len
    } else {
        usize::try_from(cursor).unwrap_or(usize::MAX).min(len)
    };
    let bottom = top.saturating_sub(count);
    (bottom..top, bottom as u64)
}

fn hset_common(ctx: &mut Ctx<'_>, a: &[&[u8]], name: &str, reply_ok: bool) {
    if a.len() % 2 == 1 {
        return ctx.arity_error(name);
    }
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        k.update_hash(true, |h| {
            a[2..]
                .chunks_exact(2)
                .filter(|p| h.insert(p[0], p[1]))
                .count()
        })
    });
    if r.is_ok() {
        ctx.notify(HASH, "hset", a[1]);
    }
    match r {
        Ok(_) if reply_ok => ctx.ok(),
        Ok(n) => ctx.int(n.unwrap_or(0) as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn hset(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    hset_common(ctx, a, "hset", false);
}

fn hmset(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    hset_common(ctx, a, "hmset", true);
}

fn hsetnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        // An existing field changes nothing (and signals no watcher).
        if k.as_hash()?.is_some_and(|h| h.contains(a[2])) {
            return Ok(0);
        }
        k.update_hash(true, |h| h.insert(a[2], a[3])).map(|_| 1)
    });
    match r {
        Ok(n) => {
            if n == 1 {
                ctx.notify(HASH, "hset", a[1]);
            }
            ctx.int(n)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn hget(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        match k.as_hash()?.and_then(|h| h.get(a[2])) {
            Some(v) => out.write_bulk(v),
            None => out.write_null(proto),
        }
        Ok(())
    });
    finish(ctx, r);
}

fn hmget(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let h = k.as_hash()?;
        out.write_array_len(a.len() - 2);
        for f in &a[2..] {
            match h.and_then(|h| h.get(f)) {
                Some(v) => out.write_bulk(v),
                None => out.write_null(proto),
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

/// Removes `fields`, keeping a listpack hash's order as Redis does (a hashtable's order is
/// undefined, so the O(1) swap removal is used there); returns how many existed.
fn remove_fields(h: &mut HashValue, fields: &[&[u8]]) -> usize {
    if h.encoding() == "listpack" {
        h.modify(|m| {
            fields
                .iter()
                .filter(|f| m.shift_remove(**f).is_some())
                .count()
        })
    } else {
        fields.iter().filter(|f| h.remove(f)).count()
    }
}

fn hdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let fields = &a[2..];
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        // Nothing to delete changes nothing (and signals no watcher).
        match k.as_hash()? {
            Some(h) if fields.iter().any(|f| h.contains(f)) => {}
            _ => return Ok(0),
        }
        k.update_hash(false, |h| remove_fields(h, fields))
            .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_then_del(HASH, "hdel", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// A read of one number about the hash at `a[1]`.
fn read_num(ctx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(&HashValue) -> usize) {
    let access = ctx.read_access();
    match ctx
        .db()
        .with_key(key, access, |k| k.as_hash().map(|h| h.map_or(0, f)))
    {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn hexists(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    read_num(ctx, a[1], |h| usize::from(h.contains(a[2])));
}

fn hlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    read_num(ctx, a[1], HashValue::len);
}

fn hstrlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    read_num(ctx, a[1], |h| h.get(a[2]).map_or(0, <[u8]>::len));
}

/// HGETALL (fields and values, a map), HKEYS (fields) or HVALS (values).
fn getall(ctx: &mut Ctx<'_>, key: &[u8], fields: bool, values: bool) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(key, access, |k| -> Result<(), Fail> {
        let h = k.as_hash()?;
        let n = h.map_or(0, HashValue::len);
        if fields && values {
            out.write_map_len(n, proto);
        } else {
            out.write_array_len(n);
        }
        for (f, v) in h.into_iter().flat_map(HashValue::iter) {
            if fields {
                out.write_bulk(f);
            }
            if values {
                out.write_bulk(v);
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

fn hgetall(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    getall(ctx, a[1], true, true);
}

fn hkeys(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    getall(ctx, a[1], true, false);
}

fn hvals(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    getall(ctx, a[1], false, true);
}

fn hincrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(by) = int(a[3]) else {
        return ctx.err(NOT_INTEGER);
    };
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<i64, Fail> {
            let cur = match k.as_hash()?.and_then(|h| h.get(a[2])) {
                None => 0,
                Some(v) => {
                    parse_i64_strict(v).ok_or(Fail::Msg("ERR hash value is not an integer"))?
                }
            };
            let new = cur
                .checked_add(by)
                .ok_or(Fail::Msg("ERR increment or decrement would overflow"))?;
            let mut buf = itoa::Buffer::new();
            let text = buf.format(new).as_bytes();
            k.update_hash(true, |h| h.insert(a[2], text))?;
            Ok(new)
        });
    match r {
        Ok(n) => {
            ctx.notify(HASH, "hincrby", a[1]);
            ctx.int(n)
        }
        Err(e) => finish(ctx, Err(e)),
    }
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(by) = float(a[3]) else {
        return ctx.err(NOT_FLOAT);
    };
    if !by.is_finite() {
        return ctx.err("ERR value is NaN or Infinity");
    }
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<String, Fail> {
            let cur_text = k.as_hash()?.and_then(|h| h.get(a[2])).unwrap_or(b"0");
            let cur = float(cur_text).ok_or(Fail::Msg("ERR hash value is not a float"))?;
            let text = add_floats(cur_text, a[3], cur, by)
                .ok_or(Fail::Msg("ERR increment would produce NaN or Infinity"))?;
            k.update_hash(true, |h| h.insert(a[2], text.as_bytes()))?;
            Ok(text)
        });
    match r {
        Ok(text) => {
            ctx.notify(HASH, "hincrbyfloat", a[1]);
            // Logged as the value set, as Redis does.
            super::aof::log_as(ctx, || {
                vec![
                    b"HSET".to_vec(),
                    a[1].to_vec(),
                    a[2].to_vec(),
                    text.as_bytes().to_vec(),
                ]
            });
            ctx.bulk(text.as_bytes())
        }
        Err(e) => finish(ctx, Err(e)),
    }
}

fn hscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(cursor) = scan_cursor(a[2]) else {
        return ctx.err(INVALID_CURSOR);
    };
    let opts = scan_opts(&a[3..]);
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(h) = k.as_hash()? else {
            write_empty_scan(out);
            return Ok(());
        };
        let opts = opts.map_err(Fail::Msg)?;
        if h.encoding() == "listpack" {
            // Redis returns a listpack hash whole, with cursor 0.
            let n = h.iter().filter(|(f, _)| opts.matches(f)).count();
            write_scan_head(out, 0, 2 * n);
            for (f, v) in h.iter().filter(|(f, _)| opts.matches(f)) {
                out.write_bulk(f);
                out.write_bulk(v);
            }
            return Ok(());
        }
        let (window, next) = scan_window(h.len(), cursor, opts.count);
        let picked = || {
            window
                .clone()
                .rev()
                .filter_map(|i| h.get_index(i))
                .filter(|(f, _)| opts.matches(f))
        };
        write_scan_head(out, next, 2 * picked().count());
        for (f, v) in picked() {
            out.write_bulk(f);
            out.write_bulk(v);
        }
        Ok(())
    });
    finish(ctx, r);
}

/// `count` distinct indices below `size` (`count < size`), by Floyd's sampling.
pub(super) fn distinct_indices(count: usize, size: usize) -> indexmap::IndexSet<usize> {
    let mut rng = rand::rng();
    let mut picked = indexmap::IndexSet::with_capacity(count);
    for j in size - count..size {
        let t = rng.random_range(0..=j);
        if !picked.insert(t) {
            picked.insert(j);
        }
    }
    picked
}

/// Writes one HRANDFIELD element: the field, or (with values) the field and its value, as a
/// pair in RESP3.
fn write_field(out: &mut BytesMut, proto: Protocol, with_values: bool, f: &[u8], v: &[u8]) {
    if with_values && proto == Protocol::Resp3 {
        out.write_array_len(2);
    }
    out.write_bulk(f);
    if with_values {
        out.write_bulk(v);
    }
}

fn hrandfield(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    if a.len() == 2 {
        let db = ctx.db();
        let out = &mut *ctx.out;
        let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
            match k.as_hash()?.and_then(HashValue::random) {
                Some((f, _)) => out.write_bulk(f),
                None => out.write_null(proto),
            }
            Ok(())
        });
        return finish(ctx, r);
    }
    let Some(l) = int(a[2]) else {
        return ctx.err(NOT_INTEGER);
    };
    if l == i64::MIN {
        return ctx.err(COUNT_RANGE);
    }
    if a.len() > 4 || (a.len() == 4 && !eq(a[3], "withvalues")) {
        return ctx.syntax_error();
    }
    let with_values = a.len() == 4;
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return ctx.err("ERR value is out of range");
    }
    let count = l.unsigned_abs() as usize;
    let pairs = if with_values && proto == Protocol::Resp2 {
        2
    } else {
        1
    };
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(h) = k.as_hash()? else {
            out.write_array_len(0);
            return Ok(());
        };
        if count == 0 {
            out.write_array_len(0);
        } else if l < 0 || count == 1 {
            // Repetitions allowed.
            out.write_array_len(count * pairs);
            for _ in 0..count {
                if let Some((f, v)) = h.random() {
                    write_field(out, proto, with_values, f, v);
                }
            }
        } else if count >= h.len() {
            // The whole hash, in its order.
            out.write_array_len(h.len() * pairs);
            for (f, v) in h.iter() {
                write_field(out, proto, with_values, f, v);
            }
        } else {
            out.write_array_len(count * pairs);
            for i in distinct_indices(count, h.len()) {
                if let Some((f, v)) = h.get_index(i) {
                    write_field(out, proto, with_values, f, v);
                }
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_windows_cover_everything() {
        assert_eq!(scan_window(25, 0, 10), (15..25, 15));
        assert_eq!(scan_window(25, 15, 10), (5..15, 5));
        assert_eq!(scan_window(25, 5, 10), (0..5, 0));
        assert_eq!(scan_window(3, 99, 10), (0..3, 0));
    }

    #[test]
    fn floyd_sampling_is_distinct() {
        for size in 2..40 {
            for count in 1..size {
                let s = distinct_indices(count, size);
                assert_eq!(s.len(), count);
                assert!(s.iter().all(|&i| i < size));
            }
        }
    }
}
