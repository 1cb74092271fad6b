//! ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE and ZINTERCARD, as Redis 7.0's
//! `zunionInterDiffGenericCommand`: numkeys, then every source's type (sorted sets and sets,
//! whose members score 1), then WEIGHTS, AGGREGATE SUM|MIN|MAX, WITHSCORES or LIMIT. Weighted
//! scores that come out NaN (`0 * inf`) count as 0, and so does a SUM of `inf` and `-inf`.
//! Results are ordered by (score, member); a stored result is sized as Redis sizes it
//! (listpack when it fits).

use std::collections::HashMap;

use super::super::notify::ZSET;
use super::super::util::{eq, int, NOT_INTEGER};
use super::super::Ctx;
use super::write::build;
use super::{limits, parse_score, write_elem, write_elems_len};
use crate::engine::{Access, EngineError, KeyRef, MultiGuard, Ttl, Value, ValueRef};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if v < *target {
                *target = v;
            }
        }
        Agg::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// Why the command stops: an engine error or an error text.
enum Stop {
    Engine(EngineError),
    Msg(&'static str),
    Text(String),
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Stop::Engine(e)
    }
}

/// The cardinality of a source (sorted set or set), or WRONGTYPE.
fn card(k: &KeyRef<'_>) -> Result<usize, EngineError> {
    match k.value() {
        None => Ok(0),
        Some(ValueRef::ZSet(z)) => Ok(z.len()),
        Some(ValueRef::Set(s)) => Ok(s.len()),
        Some(_) => Err(EngineError::WrongType),
    }
}

/// Calls `f` with every (member, score) of a source.
fn each(k: &KeyRef<'_>, mut f: impl FnMut(&[u8], f64)) {
    match k.value() {
        Some(ValueRef::ZSet(z)) => z.iter().for_each(|(m, s)| f(m, s)),
        Some(ValueRef::Set(s)) => s.iter().for_each(|m| f(m, 1.0)),
        _ => {}
    }
}

/// A member's score in a source.
fn find(k: &KeyRef<'_>, m: &[u8]) -> Option<f64> {
    match k.value() {
        Some(ValueRef::ZSet(z)) => z.score(m),
        Some(ValueRef::Set(s)) => s.contains(m).then_some(1.0),
        _ => None,
    }
}

fn weigh(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The parsed request.
struct Req {
    weights: Vec<f64>,
    agg: Agg,
    scores: bool,
    limit: usize,
}

/// Computes the operation over the `n` locked sources (key indices `0..n`); with `limit`
/// (ZINTERCARD) stops once that many members are found.
fn compute(
    g: &mut MultiGuard<'_, '_>,
    n: usize,
    op: Op,
    req: &Req,
    access: Access,
    cards: &[usize],
) -> Vec<(Vec<u8>, f64)> {
    let mut order: Vec<usize> = (0..n).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| cards[i]);
    }
    let mut acc: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        Op::Inter => {
            if cards[order[0]] == 0 {
                return acc;
            }
            let w0 = req.weights[order[0]];
            if let Some(k) = g.key(order[0], access) {
                each(&k, |m, s| acc.push((m.to_vec(), weigh(w0, s))));
            }
            for &i in &order[1..] {
                let Some(k) = g.key(i, access) else { break };
                let w = req.weights[i];
                acc.retain_mut(|(m, s)| match find(&k, m) {
                    Some(v) => {
                        aggregate(s, weigh(w, v), req.agg);
                        true
                    }
                    None => false,
                });
                if acc.is_empty() {
                    break;
                }
            }
        }
        Op::Union => {
            let mut pos: HashMap<Vec<u8>, usize> = HashMap::new();
            for &i in &order {
                let Some(k) = g.key(i, access) else { continue };
                let w = req.weights[i];
                each(&k, |m, s| {
                    let v = weigh(w, s);
                    match pos.get(m) {
                        Some(&p) => aggregate(&mut acc[p].1, v, req.agg),
                        None => {
                            pos.insert(m.to_vec(), acc.len());
                            acc.push((m.to_vec(), v));
                        }
                    }
                });
            }
        }
        Op::Diff => {
            if let Some(k) = g.key(0, access) {
                each(&k, |m, s| acc.push((m.to_vec(), s)));
            }
            for (i, &c) in cards.iter().enumerate().take(n).skip(1) {
                if acc.is_empty() {
                    break;
                }
                if c == 0 {
                    continue;
                }
                if let Some(k) = g.key(i, access) {
                    acc.retain(|(m, _)| find(&k, m).is_none());
                }
            }
        }
    }
    acc.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    acc
}

/// The shared body: `nk` is the index of numkeys; `store` the destination, if any; `card`
/// for ZINTERCARD.
fn generic(ctx: &mut Ctx<'_>, a: &[&[u8]], nk: usize, store: bool, op: Op, card_only: bool) {
    match run(ctx, a, nk, store, op, card_only) {
        Ok(()) => {}
        Err(Stop::Engine(e)) => ctx.engine_err(e),
        Err(Stop::Msg(m)) => ctx.err(m),
        Err(Stop::Text(t)) => ctx.err(&t),
    }
}

fn run(
    ctx: &mut Ctx<'_>,
    a: &[&[u8]],
    nk: usize,
    store: bool,
    op: Op,
    card_only: bool,
) -> Result<(), Stop> {
    let numkeys = int(a[nk]).ok_or(Stop::Msg(NOT_INTEGER))?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(a[0]).to_ascii_lowercase();
        return Err(Stop::Text(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys > (a.len() - nk - 1) as i64 {
        return Err(Stop::Msg("ERR syntax error"));
    }
    let n = numkeys as usize;
    let db = ctx.sess.db;
    let keys = &a[nk + 1..nk + 1 + n];
    let mut placed: Vec<(usize, &[u8])> = keys.iter().map(|k| (db, *k)).collect();
    if store {
        placed.push((db, a[1]));
    }
    let access = if store {
        Access::WRITE
    } else {
        ctx.read_access()
    };
    let lim = limits(ctx);
    let proto = ctx.proto();
    let mut g = ctx.shared.engine.lock_keys(&placed)?;
    let mut cards = Vec::with_capacity(n);
    for i in 0..n {
        cards.push(match g.key(i, access) {
            Some(k) => card(&k)?,
            None => 0,
        });
    }
    let mut req = Req {
        weights: vec![1.0; n],
        agg: Agg::Sum,
        scores: false,
        limit: 0,
    };
    let mut j = nk + 1 + n;
    while j < a.len() {
        let left = a.len() - j;
        if op != Op::Diff && !card_only && left > n && eq(a[j], "weights") {
            for i in 0..n {
                req.weights[i] = parse_score(a[j + 1 + i])
                    .ok_or(Stop::Msg("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != Op::Diff && !card_only && left >= 2 && eq(a[j], "aggregate") {
            req.agg = if eq(a[j + 1], "sum") {
                Agg::Sum
            } else if eq(a[j + 1], "min") {
                Agg::Min
            } else if eq(a[j + 1], "max") {
                Agg::Max
            } else {
                return Err(Stop::Msg("ERR syntax error"));
            };
            j += 2;
        } else if !store && !card_only && eq(a[j], "withscores") {
            req.scores = true;
            j += 1;
        } else if card_only && left >= 2 && eq(a[j], "limit") {
            req.limit = match int(a[j + 1]) {
                Some(l) if l >= 0 => usize::try_from(l).unwrap_or(usize::MAX),
                _ => return Err(Stop::Msg("ERR LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(Stop::Msg("ERR syntax error"));
        }
    }
    let again = access.no_stats();
    let res = compute(&mut g, n, op, &req, again, &cards);
    if card_only {
        let c = if req.limit > 0 {
            res.len().min(req.limit)
        } else {
            res.len()
        };
        drop(g);
        ctx.int(c as i64);
        return Ok(());
    }
    if store {
        let mut deleted = false;
        if let Some(mut k) = g.key(n, Access::WRITE) {
            if res.is_empty() {
                deleted = k.delete();
            } else {
                k.put(Value::ZSet(build(&res, lim)), Ttl::Clear)?;
            }
        }
        drop(g);
        let event = match op {
            Op::Union => "zunionstore",
            Op::Inter => "zinterstore",
            Op::Diff => "zdiffstore",
        };
        ctx.notify_store(ZSET, event, a[1], !res.is_empty(), deleted);
        ctx.int(res.len() as i64);
        return Ok(());
    }
    drop(g);
    write_elems_len(ctx.out, proto, req.scores, res.len());
    for (m, s) in &res {
        write_elem(ctx.out, proto, req.scores, m, *s);
    }
    Ok(())
}

pub(super) fn zunion(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 1, false, Op::Union, false);
}

pub(super) fn zinter(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 1, false, Op::Inter, false);
}

pub(super) fn zdiff(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 1, false, Op::Diff, false);
}

pub(super) fn zunionstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 2, true, Op::Union, false);
}

pub(super) fn zinterstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 2, true, Op::Inter, false);
}

pub(super) fn zdiffstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 2, true, Op::Diff, false);
}

pub(super) fn zintercard(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, 1, false, Op::Inter, true);
}
