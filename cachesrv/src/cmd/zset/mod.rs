//! Sorted-set commands (Redis 7.0's `t_zset.c`), split by concern:
//!
//! - here: the table, score parsing and formatting, range specifications, and the simple reads
//!   (ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT);
//! - `write`: ZADD, ZINCRBY, ZREM, ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN, ZPOPMAX, ZMPOP;
//! - `range`: ZRANGE and its older forms, ZRANGESTORE, ZRANDMEMBER, ZSCAN;
//! - `ops`: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.
//!
//! Scores are written as Redis 7.0 writes doubles (`%.17g`, `inf`, `-inf`): a bulk string in
//! RESP2, a double in RESP3. Arguments are checked in Redis's order (ranges are parsed before
//! the key is looked up, so a bad range wins over WRONGTYPE). A write that changes nothing
//! leaves the key untouched, so WATCH is not triggered.

mod block;
mod ops;
mod range;
mod write;

pub(super) use write::{build, zadd};

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use protocol::{Protocol, RespWrite};

use super::flags::*;
use super::hash::{finish, Fail};
use super::{Ctx, Handler};
use crate::engine::{ZLimits, ZSetValue};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), write::zadd);
    add(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        write::zincrby,
    );
    add("zrem", -3, WRITE | FAST, (1, 1, 1), write::zrem);
    add(
        "zremrangebyrank",
        4,
        WRITE,
        (1, 1, 1),
        write::zremrangebyrank,
    );
    add(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        write::zremrangebyscore,
    );
    add("zremrangebylex", 4, WRITE, (1, 1, 1), write::zremrangebylex);
    add("zpopmin", -2, WRITE | FAST, (1, 1, 1), write::zpopmin);
    add("zpopmax", -2, WRITE | FAST, (1, 1, 1), write::zpopmax);
    add("zmpop", -4, WRITE, (0, 0, 0), write::zmpop);
    add("bzpopmin", -3, WRITE | FAST, (1, -2, 1), block::bzpopmin);
    add("bzpopmax", -3, WRITE | FAST, (1, -2, 1), block::bzpopmax);
    add("bzmpop", -5, WRITE, (0, 0, 0), block::bzmpop);
    add("zcard", 2, READONLY | FAST, (1, 1, 1), zcard);
    add("zscore", 3, READONLY | FAST, (1, 1, 1), zscore);
    add("zmscore", -3, READONLY | FAST, (1, 1, 1), zmscore);
    add("zrank", 3, READONLY | FAST, (1, 1, 1), zrank);
    add("zrevrank", 3, READONLY | FAST, (1, 1, 1), zrevrank);
    add("zcount", 4, READONLY | FAST, (1, 1, 1), zcount);
    add("zlexcount", 4, READONLY | FAST, (1, 1, 1), zlexcount);
    add("zrange", -4, READONLY, (1, 1, 1), range::zrange);
    add(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        range::zrangestore,
    );
    add(
        "zrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        range::zrangebyscore,
    );
    add(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        range::zrevrangebyscore,
    );
    add("zrangebylex", -4, READONLY, (1, 1, 1), range::zrangebylex);
    add(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        range::zrevrangebylex,
    );
    add("zrevrange", -4, READONLY, (1, 1, 1), range::zrevrange);
    add("zrandmember", -2, READONLY, (1, 1, 1), range::zrandmember);
    add("zscan", -3, READONLY, (1, 1, 1), range::zscan);
    add("zunion", -3, READONLY, (0, 0, 0), ops::zunion);
    add("zinter", -3, READONLY, (0, 0, 0), ops::zinter);
    add("zdiff", -3, READONLY, (0, 0, 0), ops::zdiff);
    add(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        ops::zunionstore,
    );
    add(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        ops::zinterstore,
    );
    add(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        ops::zdiffstore,
    );
    add("zintercard", -3, READONLY, (0, 0, 0), ops::zintercard);
}

/// `ERR min or max is not a float`.
const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
/// `ERR min or max not valid string range item`.
const LEX_INVALID: &str = "ERR min or max not valid string range item";

/// The listpack limits currently configured.
pub(super) fn limits(ctx: &Ctx<'_>) -> ZLimits {
    ZLimits {
        entries: ctx.shared.zset_max_entries.load(Ordering::Relaxed),
        value: ctx.shared.zset_max_value.load(Ordering::Relaxed),
    }
}

pub(crate) use crate::engine::zset::fmt_score;

/// Writes a score: a bulk string in RESP2, a double in RESP3.
pub(crate) fn write_score(out: &mut BytesMut, proto: Protocol, d: f64) {
    let mut buf = [0u8; 32];
    let s = fmt_score(d, &mut buf);
    match proto {
        Protocol::Resp2 => out.write_bulk(s),
        Protocol::Resp3 => {
            out.reserve(s.len() + 3);
            out.extend_from_slice(b",");
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes a member, with its score if asked (a pair array in RESP3).
fn write_elem(out: &mut BytesMut, proto: Protocol, scores: bool, m: &[u8], s: f64) {
    if scores && proto == Protocol::Resp3 {
        out.write_array_len(2);
    }
    out.write_bulk(m);
    if scores {
        write_score(out, proto, s);
    }
}

/// The array header for `n` elements, with scores flattened in RESP2.
fn write_elems_len(out: &mut BytesMut, proto: Protocol, scores: bool, n: usize) {
    if scores && proto == Protocol::Resp2 {
        out.write_array_len(n * 2);
    } else {
        out.write_array_len(n);
    }
}

/// A score argument as `getDoubleFromObject` reads it: the whole string, no leading space,
/// no NaN, no overflow or underflow.
pub(super) fn parse_score(a: &[u8]) -> Option<f64> {
    let v = match super::util::float(a) {
        Some(v) => v,
        None => {
            let s = std::str::from_utf8(a).ok()?;
            if s.starts_with(char::is_whitespace) {
                return None;
            }
            let v = crate::cmd::util::hex_float(s)?;
            return v.is_finite().then_some(v);
        }
    };
    let text = std::str::from_utf8(a).ok()?;
    let lower = text.to_ascii_lowercase();
    if v.is_infinite() && !lower.contains("inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    Some(v)
}

/// A bound as `strtod` reads it in `zslParseRange`: leading spaces skipped, the rest must be
/// a number (an empty string is 0), NaN refused.
fn parse_bound(a: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(a).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if s.is_empty() {
        return Some(0.0);
    }
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned.starts_with("nan") || lower.len() - unsigned.len() > 1 {
        return None;
    }
    let v: f64 = match lower.parse() {
        Ok(v) => v,
        Err(_) => crate::cmd::util::hex_float(&lower)?,
    };
    (!v.is_nan()).then_some(v)
}

/// A score range (`min`/`max` with `(` for exclusive bounds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    /// Parses `min max`; `None` is `ERR min or max is not a float`.
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Option<Self> {
        let one = |a: &[u8]| match a.strip_prefix(b"(") {
            Some(rest) => parse_bound(rest).map(|v| (v, true)),
            None => parse_bound(a).map(|v| (v, false)),
        };
        let (min, minex) = one(min)?;
        let (max, maxex) = one(max)?;
        Some(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    fn below_min(&self, s: f64) -> bool {
        if self.minex {
            s <= self.min
        } else {
            s < self.min
        }
    }

    fn within_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// The ranks `lo..hi` of the members in range.
    pub(crate) fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = z.partition_point(|_, s| self.below_min(s));
        let hi = z.partition_point(|_, s| self.within_max(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lexicographic range.
#[derive(Debug, Clone, Copy)]
enum LexBound<'a> {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x`
    Incl(&'a [u8]),
    /// `(x`
    Excl(&'a [u8]),
}

/// A lexicographic range (`[a`, `(a`, `-`, `+`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    /// Parses `min max`; `None` is `ERR min or max not valid string range item`.
    pub(crate) fn parse(min: &'a [u8], max: &'a [u8]) -> Option<Self> {
        let one = |a: &'a [u8]| match a.first() {
            Some(b'+') if a.len() == 1 => Some(LexBound::Max),
            Some(b'-') if a.len() == 1 => Some(LexBound::Min),
            Some(b'(') => Some(LexBound::Excl(&a[1..])),
            Some(b'[') => Some(LexBound::Incl(&a[1..])),
            _ => None,
        };
        Some(LexRange {
            min: one(min)?,
            max: one(max)?,
        })
    }

    fn below_min(&self, m: &[u8]) -> bool {
        match self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m < x,
            LexBound::Excl(x) => m <= x,
        }
    }

    fn within_max(&self, m: &[u8]) -> bool {
        match self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Incl(x) => m <= x,
            LexBound::Excl(x) => m < x,
        }
    }

    /// The ranks `lo..hi` of the members in range.
    pub(crate) fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = z.partition_point(|m, _| self.below_min(m));
        let hi = z.partition_point(|m, _| self.within_max(m));
        (lo, hi.max(lo))
    }
}

fn zcard(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_zset().map(|z| z.map_or(0, ZSetValue::len))
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn zscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        match k.as_zset()?.and_then(|z| z.score(a[2])) {
            Some(s) => write_score(out, proto, s),
            None => out.write_null(proto),
        }
        Ok(())
    });
    finish(ctx, r);
}

fn zmscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let z = k.as_zset()?;
        out.write_array_len(a.len() - 2);
        for m in &a[2..] {
            match z.and_then(|z| z.score(m)) {
                Some(s) => write_score(out, proto, s),
                None => out.write_null(proto),
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

fn rank(ctx: &mut Ctx<'_>, a: &[&[u8]], rev: bool) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(z) = k.as_zset()? else {
            out.write_null(proto);
            return Ok(());
        };
        match z.rank(a[2]) {
            Some(r) if rev => out.write_integer((z.len() - 1 - r) as i64),
            Some(r) => out.write_integer(r as i64),
            None => out.write_null(proto),
        }
        Ok(())
    });
    finish(ctx, r);
}

fn zrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    rank(ctx, a, false);
}

fn zrevrank(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    rank(ctx, a, true);
}

fn zcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(range) = ScoreRange::parse(a[2], a[3]) else {
        return ctx.err(RANGE_NOT_FLOAT);
    };
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_zset().map(|z| {
            z.map_or(0, |z| {
                let (lo, hi) = range.ranks(z);
                hi - lo
            })
        })
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn zlexcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(range) = LexRange::parse(a[2], a[3]) else {
        return ctx.err(LEX_INVALID);
    };
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_zset().map(|z| {
            z.map_or(0, |z| {
                let (lo, hi) = range.ranks(z);
                hi - lo
            })
        })
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

#[cfg(test)]
mod tests;
