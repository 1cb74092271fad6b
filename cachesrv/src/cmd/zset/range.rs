//! ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES) and its older forms (ZREVRANGE,
//! ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX), ZRANGESTORE, ZRANDMEMBER and
//! ZSCAN, as Redis 7.0's `zrangeGenericCommand` and friends: options first, then the range,
//! then the key.

use protocol::RespWrite;

use super::super::hash::{
    distinct_indices, finish, scan_opts, write_empty_scan, write_scan_head, Fail, COUNT_RANGE,
};
use super::super::notify::ZSET;
use super::super::util::{eq, int, scan_cursor, NOT_INTEGER};
use super::super::Ctx;
use super::write::{build, rank_window};
use super::{
    fmt_score, limits, write_elem, write_elems_len, LexRange, ScoreRange, LEX_INVALID,
    RANGE_NOT_FLOAT,
};
use crate::engine::{Access, EngineError, Ttl, Value, ZSetValue};

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The range a request names.
enum Range<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed ZRANGE-family request.
struct Spec<'a> {
    range: Range<'a>,
    rev: bool,
    scores: bool,
    offset: i64,
    limit: i64,
}

/// Parses from `a[start]` (the source key): `min max` then options. `dir`: `Some(rev)` for the
/// fixed-direction forms; `by`: `By::Auto` for ZRANGE/ZRANGESTORE.
fn parse<'a>(
    a: &[&'a [u8]],
    start: usize,
    store: bool,
    mut by: By,
    dir: Option<bool>,
) -> Result<Spec<'a>, &'static str> {
    let (mut scores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut rev = dir;
    let mut j = start + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        if !store && eq(a[j], "withscores") {
            scores = true;
        } else if eq(a[j], "limit") && left >= 2 {
            match (int(a[j + 1]), int(a[j + 2])) {
                (Some(o), Some(l)) => (offset, limit) = (o, l),
                _ => return Err(NOT_INTEGER),
            }
            j += 2;
        } else if rev.is_none() && eq(a[j], "rev") {
            rev = Some(true);
        } else if by == By::Auto && eq(a[j], "bylex") {
            by = By::Lex;
        } else if by == By::Auto && eq(a[j], "byscore") {
            by = By::Score;
        } else {
            return Err("ERR syntax error");
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if scores && by == By::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut lo, mut hi) = (a[start + 1], a[start + 2]);
    if rev && by != By::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let range = match by {
        By::Score => Range::Score(ScoreRange::parse(lo, hi).ok_or(RANGE_NOT_FLOAT)?),
        By::Lex => Range::Lex(LexRange::parse(lo, hi).ok_or(LEX_INVALID)?),
        _ => match (int(lo), int(hi)) {
            (Some(s), Some(e)) => Range::Rank(s, e),
            _ => return Err(NOT_INTEGER),
        },
    };
    Ok(Spec {
        range,
        rev,
        scores: scores || store,
        offset,
        limit,
    })
}

/// The ascending rank window `lo..hi` a request selects (emitted descending when `rev`).
fn window(z: &ZSetValue, spec: &Spec<'_>) -> (usize, usize) {
    let len = z.len();
    let (lo, hi) = match &spec.range {
        Range::Rank(s, e) => {
            return match rank_window(*s, *e, len) {
                None => (0, 0),
                Some((s, e)) if spec.rev => (len - e, len - s),
                Some(w) => w,
            };
        }
        Range::Score(r) => r.ranks(z),
        Range::Lex(r) => r.ranks(z),
    };
    if spec.offset < 0 {
        return (0, 0);
    }
    let skip = usize::try_from(spec.offset).unwrap_or(usize::MAX);
    let avail = (hi - lo).saturating_sub(skip);
    let take = if spec.limit < 0 {
        avail
    } else {
        avail.min(usize::try_from(spec.limit).unwrap_or(usize::MAX))
    };
    if spec.rev {
        (hi - skip.min(hi - lo) - take, hi - skip.min(hi - lo))
    } else {
        (lo + skip.min(hi - lo), lo + skip.min(hi - lo) + take)
    }
}

/// ZRANGE and the older forms: `by`/`dir` fixed by the command, or `Auto`/`None` for ZRANGE.
fn range_cmd(ctx: &mut Ctx<'_>, a: &[&[u8]], by: By, dir: Option<bool>) {
    let spec = match parse(a, 1, false, by, dir) {
        Ok(s) => s,
        Err(e) => return ctx.err(e),
    };
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(z) = k.as_zset()? else {
            out.write_array_len(0);
            return Ok(());
        };
        let (lo, hi) = window(z, &spec);
        write_elems_len(out, proto, spec.scores, hi - lo);
        if spec.rev {
            for (m, s) in z.range(lo, hi).rev() {
                write_elem(out, proto, spec.scores, m, s);
            }
        } else {
            for (m, s) in z.range(lo, hi) {
                write_elem(out, proto, spec.scores, m, s);
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

pub(super) fn zrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Auto, None);
}

pub(super) fn zrevrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Rank, Some(true));
}

pub(super) fn zrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Score, Some(false));
}

pub(super) fn zrevrangebyscore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Score, Some(true));
}

pub(super) fn zrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Lex, Some(false));
}

pub(super) fn zrevrangebylex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    range_cmd(ctx, a, By::Lex, Some(true));
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub(super) fn zrangestore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let spec = match parse(a, 2, true, By::Auto, None) {
        Ok(s) => s,
        Err(e) => return ctx.err(e),
    };
    let lim = limits(ctx);
    let access = ctx.read_access();
    let db = ctx.sess.db;
    let mut deleted = false;
    let r = (|| -> Result<usize, EngineError> {
        let mut g = ctx.shared.engine.lock_keys(&[(db, a[2]), (db, a[1])])?;
        let mut items: Vec<(Vec<u8>, f64)> = Vec::new();
        if let Some(k) = g.key(0, access) {
            if let Some(z) = k.as_zset()? {
                let (lo, hi) = window(z, &spec);
                items.reserve(hi - lo);
                if spec.rev {
                    items.extend(z.range(lo, hi).rev().map(|(m, s)| (m.to_vec(), s)));
                } else {
                    items.extend(z.range(lo, hi).map(|(m, s)| (m.to_vec(), s)));
                }
            }
        }
        let n = items.len();
        if let Some(mut k) = g.key(1, Access::WRITE) {
            if n == 0 {
                deleted = k.delete();
            } else {
                k.put(Value::ZSet(build(&items, lim)), Ttl::Clear)?;
            }
        }
        Ok(n)
    })();
    match r {
        Ok(n) => {
            ctx.notify_store(ZSET, "zrangestore", a[1], n > 0, deleted);
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub(super) fn zrandmember(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    if a.len() == 2 {
        let out = &mut *ctx.out;
        let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
            match k.as_zset()?.and_then(ZSetValue::random) {
                Some((m, _)) => out.write_bulk(m),
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
    if a.len() > 4 || (a.len() == 4 && !eq(a[3], "withscores")) {
        return ctx.syntax_error();
    }
    let scores = a.len() == 4;
    if scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return ctx.err("ERR value is out of range");
    }
    let count = l.unsigned_abs() as usize;
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let z = match k.as_zset()? {
            Some(z) if count > 0 => z,
            _ => {
                out.write_array_len(0);
                return Ok(());
            }
        };
        if l < 0 || count == 1 {
            write_elems_len(out, proto, scores, count);
            for _ in 0..count {
                if let Some((m, s)) = z.random() {
                    write_elem(out, proto, scores, m, s);
                }
            }
        } else if count >= z.len() {
            // The whole set, from the highest score down (as Redis 7.0 walks it).
            write_elems_len(out, proto, scores, z.len());
            for (m, s) in z.iter().rev() {
                write_elem(out, proto, scores, m, s);
            }
        } else {
            write_elems_len(out, proto, scores, count);
            for i in distinct_indices(count, z.len()) {
                if let Some((m, s)) = z.get(i) {
                    write_elem(out, proto, scores, m, s);
                }
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: members and scores (as bulk strings). A
/// listpack set comes whole with cursor 0, as in Redis; a skiplist set is visited in score
/// order, the cursor naming the next score (cursors differ from Redis's).
pub(super) fn zscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(cursor) = scan_cursor(a[2]) else {
        return ctx.err("ERR invalid cursor");
    };
    let opts = scan_opts(&a[3..]);
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(z) = k.as_zset()? else {
            write_empty_scan(out);
            return Ok(());
        };
        let opts = opts.map_err(Fail::Msg)?;
        let mut buf = [0u8; 32];
        let (window, next) = if z.encoding() == "listpack" {
            (0..z.len(), 0)
        } else {
            scan_by_score(z, cursor, opts.count)
        };
        let picked = || {
            z.range(window.start, window.end)
                .filter(|(m, _)| opts.matches(m))
        };
        write_scan_head(out, next, picked().count() * 2);
        for (m, s) in picked() {
            out.write_bulk(m);
            out.write_bulk(fmt_score(s, &mut buf));
        }
        Ok(())
    });
    finish(ctx, r);
}

/// A score as an order-preserving cursor (never 0: 0 is the start and the end of a scan).
fn score_cursor(s: f64) -> u64 {
    let b = s.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn cursor_score(c: u64) -> f64 {
    if c >> 63 == 1 {
        f64::from_bits(c & !(1 << 63))
    } else {
        f64::from_bits(!c)
    }
}

/// The ranks a skiplist set's scan visits from `cursor` (a score, see [`score_cursor`]):
/// `count` members, extended to every member sharing the last one's score, so that members
/// present for the whole scan are returned exactly once, and the next cursor.
fn scan_by_score(z: &ZSetValue, cursor: u64, count: usize) -> (std::ops::Range<usize>, u64) {
    let lo = if cursor == 0 {
        0
    } else {
        let c = cursor_score(cursor);
        z.partition_point(|_, s| s < c)
    };
    let mut end = lo.saturating_add(count).min(z.len());
    if let Some((_, last)) = end.checked_sub(1).and_then(|i| z.get(i)) {
        end += z.range(end, usize::MAX).take_while(|e| e.1 == last).count();
    }
    let next = z.get(end).map_or(0, |(_, s)| score_cursor(s));
    (lo..end.max(lo), next)
}
