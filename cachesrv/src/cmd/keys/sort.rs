//! SORT and SORT_RO, as Redis 7.0's `sort.c` (lists, sets and sorted sets).

use crate::cmd::flags::*;
use crate::cmd::util::{eq, int, NOT_INTEGER};
use crate::cmd::{Ctx, Handler};
use crate::engine::{parse_i64_strict, Access, EngineError, ListValue, Ttl, Value, ValueRef};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("sort", -2, WRITE | DENYOOM, (1, 1, 1), sort);
    add("sort_ro", -2, READONLY, (1, 1, 1), sort_ro);
}

/// SORT's numeric value of an element, as C's `strtod` reads it with Redis's checks: leading
/// spaces allowed, nothing after the number, no NaN, no overflow or underflow; an empty string
/// is 0. (Hexadecimal forms, which `strtod` also reads, are refused here.)
fn sort_score(e: &[u8]) -> Option<f64> {
    if e.is_empty() {
        return Some(0.0);
    }
    let t = e.trim_ascii_start();
    let v = crate::cmd::util::float(t)?;
    let lower = t.to_ascii_lowercase();
    if v.is_infinite() && !lower.windows(3).any(|w| w == b"inf") {
        return None;
    }
    let mantissa = lower.split(|&c| c == b'e').next().unwrap_or_default();
    let nonzero = mantissa.iter().any(|c| (b'1'..=b'9').contains(c));
    if (v == 0.0 && nonzero) || (v != 0.0 && v.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

/// The elements to sort and whether they come from a set (an intset: `Some(true)`).
type Sortable = (Vec<Box<[u8]>>, Option<bool>);

fn sort(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    sort_generic(ctx, a, false);
}

fn sort_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    sort_generic(ctx, a, true);
}

/// SORT's options.
#[derive(Default)]
struct SortOpts<'a> {
    desc: bool,
    alpha: bool,
    /// A BY without `*` was given: no sorting.
    dontsort: bool,
    /// The last BY pattern.
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
    limit: (i64, i64),
    store: Option<&'a [u8]>,
}

/// SORT's `lookupKeyByPattern`, the key part: the key a BY or GET pattern names for an element
/// (the first `*` replaced by it), and the hash field after `->` if any; `None` for a pattern
/// without `*` (`#` among them).
fn pattern_key<'p>(pattern: &'p [u8], elem: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    let star = pattern.iter().position(|&c| c == b'*')?;
    let rest = &pattern[star + 1..];
    let (postfix, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < rest.len() => (&rest[..f], Some(&rest[f + 2..])),
        _ => (rest, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    Some((key, field))
}

/// The string, or with a field the hash field, a pattern's key holds.
fn pattern_value(k: &mut crate::engine::KeyRef<'_>, field: Option<&[u8]>) -> Option<Vec<u8>> {
    match field {
        Some(f) => k.as_hash().ok()??.get(f).map(<[u8]>::to_vec),
        None => k.as_str().ok()?.map(<[u8]>::to_vec),
    }
}

/// SORT with BY/GET key patterns, atomic as in Redis: every shard of the database is locked
/// for the command (the keys the patterns name are known only as the elements are read), and
/// the source, the pattern keys and the destination are read and written under those locks.
fn sort_with_patterns(
    ctx: &Ctx<'_>,
    o: &SortOpts<'_>,
    src: &[u8],
) -> Result<Option<SortOut>, EngineError> {
    let db = ctx.sess.db;
    let access = ctx.read_access();
    let g = std::cell::RefCell::new(ctx.shared.engine.lock_db(db)?);
    let (v, set) = sortable(g.borrow_mut().open(db, src, access).as_mut())?;
    let lookup = |p: &[u8], e: &[u8]| -> Option<Vec<u8>> {
        if p == b"#" {
            return Some(e.to_vec());
        }
        let (key, field) = pattern_key(p, e)?;
        let mut g = g.borrow_mut();
        let mut k = g.open(db, &key, access)?;
        pattern_value(&mut k, field)
    };
    let Some(items) = sort_elements(o, v, set, &lookup) else {
        return Ok(None);
    };
    if let Some(dst) = o.store {
        sort_store(g.borrow_mut().open(db, dst, Access::WRITE).as_mut(), &items)?;
    }
    Ok(Some(items))
}

/// SORT's output: elements or GET values (`None`: a missing one).
type SortOut = Vec<Option<Box<[u8]>>>;

/// Resolves a BY or GET pattern for an element.
type Lookup<'a> = dyn Fn(&[u8], &[u8]) -> Option<Vec<u8>> + 'a;

/// One element of the sorting vector: the element, its score and its BY value for ALPHA.
struct SortItem {
    elem: Box<[u8]>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

/// Sorts `v` (a list's or, `set`, a set's elements; `Some(true)`: an intset) as Redis 7.0's
/// `sortCommandGeneric`, and returns the output for the LIMIT range (GET values, `None` for
/// missing ones); `None` if a score is not a number. `lookup` resolves BY and GET patterns.
fn sort_elements(
    o: &SortOpts<'_>,
    mut v: Vec<Box<[u8]>>,
    set: Option<bool>,
    lookup: &Lookup<'_>,
) -> Option<SortOut> {
    let (mut dontsort, mut alpha, mut by) = (o.dontsort, o.alpha, o.by);
    if dontsort && set.is_some() && o.store.is_some() {
        // A stored result must not depend on a set's order.
        (dontsort, alpha, by) = (false, true, None);
    }
    if dontsort && set == Some(true) {
        // An intset iterates in numeric order.
        v.sort_by_key(|e| parse_i64_strict(e).unwrap_or_default());
    }
    if dontsort && set.is_none() && o.desc {
        // An unsorted list is still read from its tail for DESC.
        v.reverse();
    }
    if !dontsort {
        let mut items = Vec::with_capacity(v.len());
        for elem in v {
            let mut item = SortItem {
                elem,
                score: 0.0,
                cmp: None,
            };
            let byval = match by {
                Some(p) => lookup(p, &item.elem),
                None => Some(item.elem.to_vec()),
            };
            if let Some(b) = byval {
                if alpha {
                    item.cmp = by.map(|_| b);
                } else {
                    item.score = sort_score(&b)?;
                }
            }
            items.push(item);
        }
        let cmp = |x: &SortItem, y: &SortItem| {
            if !alpha {
                // As C's comparisons: -0 equals 0 (NaN cannot occur).
                x.score
                    .partial_cmp(&y.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| x.elem.cmp(&y.elem))
            } else if by.is_some() {
                x.cmp.cmp(&y.cmp)
            } else {
                x.elem.cmp(&y.elem)
            }
        };
        items.sort_by(|x, y| if o.desc { cmp(y, x) } else { cmp(x, y) });
        v = items.into_iter().map(|i| i.elem).collect();
    }
    let len = v.len() as i64;
    let (limit_start, limit_count) = o.limit;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let from = start.max(0) as usize;
    let to = (end + 1).max(start).max(0) as usize;
    let picked = v.drain(..).skip(from).take(to - from);
    if o.gets.is_empty() {
        return Some(picked.map(Some).collect());
    }
    let mut out = Vec::new();
    for e in picked {
        for g in &o.gets {
            out.push(lookup(g, &e).map(Box::from));
        }
    }
    Some(out)
}

/// The elements of a list, set or sorted set, and whether they come from a set (an intset:
/// `Some(true)`).
fn sortable(k: Option<&mut crate::engine::KeyRef<'_>>) -> Result<Sortable, EngineError> {
    Ok(match k.and_then(|k| k.value()) {
        None => (Vec::new(), None),
        Some(ValueRef::List(l)) => (l.iter().map(Box::from).collect(), None),
        // A sorted set is read in order, as a list is (BY nosort keeps it).
        Some(ValueRef::ZSet(z)) => (z.iter().map(|(m, _)| Box::from(m)).collect(), None),
        Some(ValueRef::Set(s)) => (
            s.iter().map(Box::from).collect(),
            Some(s.encoding() == "intset"),
        ),
        Some(_) => return Err(EngineError::WrongType),
    })
}

/// Replaces `dst` by a list of `items` (missing GET values as empty strings) without expiry,
/// or deletes it if there are none.
fn sort_store(
    k: Option<&mut crate::engine::KeyRef<'_>>,
    items: &[Option<Box<[u8]>>],
) -> Result<(), EngineError> {
    let mut l = ListValue::new();
    for e in items {
        l.push_back(e.as_deref().unwrap_or_default());
    }
    match k {
        Some(k) => k.put(Value::List(l), Ttl::Clear),
        None => Ok(()),
    }
}

/// SORT / SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE dst], as Redis 7.0's `sortCommandGeneric`: options parsed first, then the key (a
/// list or a set; missing: empty). Numeric sorting breaks ties by the elements' bytes. Without
/// BY/GET patterns the source and destination are locked together; with them, the whole
/// database is ([`sort_with_patterns`]).
///
/// Redis 7.0 does not clear `errno` before its `strtod`, so after one SORT met an overflowing
/// number it refuses every numeric SORT of non-integer strings until `errno` changes; that
/// bug is not reproduced (and the diff scripts avoid overflowing numbers).
fn sort_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], readonly: bool) {
    let mut o = SortOpts {
        limit: (0, -1),
        ..SortOpts::default()
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        if eq(a[j], "asc") {
            o.desc = false;
        } else if eq(a[j], "desc") {
            o.desc = true;
        } else if eq(a[j], "alpha") {
            o.alpha = true;
        } else if eq(a[j], "limit") && left >= 2 {
            let (Some(s), Some(c)) = (int(a[j + 1]), int(a[j + 2])) else {
                return ctx.err(NOT_INTEGER);
            };
            o.limit = (s, c);
            j += 2;
        } else if !readonly && eq(a[j], "store") && left >= 1 {
            o.store = Some(a[j + 1]);
            j += 1;
        } else if eq(a[j], "by") && left >= 1 {
            o.by = Some(a[j + 1]);
            // BY without `*` names no key: it means "do not sort".
            o.dontsort |= !a[j + 1].contains(&b'*');
            j += 1;
        } else if eq(a[j], "get") && left >= 1 {
            o.gets.push(a[j + 1]);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let db = ctx.sess.db;
    let access = ctx.read_access();
    let src = a[1];
    let existed = o
        .store
        .is_some_and(|d| ctx.notifying(super::super::notify::GENERIC) && ctx.key_exists(d));
    let patterns = !o.gets.is_empty() || o.by.is_some_and(|b| b.contains(&b'*'));
    let r = if patterns {
        sort_with_patterns(ctx, &o, src)
    } else {
        (|| -> Result<Option<SortOut>, EngineError> {
            let mut placed = vec![(db, src)];
            placed.extend(o.store.map(|d| (db, d)));
            let mut g = ctx.shared.engine.lock_keys(&placed)?;
            let (v, set) = sortable(g.key(0, access).as_mut())?;
            let Some(items) = sort_elements(&o, v, set, &|_, _| None) else {
                return Ok(None);
            };
            if o.store.is_some() {
                sort_store(g.key(1, Access::WRITE).as_mut(), &items)?;
            }
            Ok(Some(items))
        })()
    };
    match r {
        Ok(Some(items)) if o.store.is_some() => {
            if let Some(dst) = o.store {
                let class = super::super::notify::LIST;
                ctx.notify_store(class, "sortstore", dst, !items.is_empty(), existed);
            }
            ctx.int(items.len() as i64)
        }
        Ok(Some(items)) => {
            ctx.array(items.len());
            for e in &items {
                match e {
                    Some(e) => ctx.bulk(e),
                    None => ctx.null(),
                }
            }
        }
        Ok(None) => ctx.err("ERR One or more scores can't be converted into double"),
        Err(e) => ctx.engine_err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::sort_score;

    #[test]
    fn sort_scores_as_strtod_reads_them() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  7"), Some(7.0));
        assert_eq!(sort_score(b"7 "), None);
        assert_eq!(sort_score(b" "), None);
        assert_eq!(sort_score(b"5."), Some(5.0));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"1e-400"), None);
        assert_eq!(sort_score(b"0e-400"), Some(0.0));
        assert_eq!(sort_score(b"1e308"), Some(1e308));
    }

    #[test]
    fn sort_store_is_a_write_refused_when_out_of_memory() {
        let config = crate::config::Config::from_args(&[
            "--maxmemory",
            "1mb",
            "--maxmemory-policy",
            "noeviction",
        ])
        .expect("config");
        let mut r = crate::cmd::Runner::with_config(config);
        r.run(&["RPUSH", "l", "2", "1"]);
        assert_eq!(r.run(&["SORT", "l", "STORE", "d"]), ":2\r\n");
        assert_eq!(r.run(&["OBJECT", "ENCODING", "d"]), "$8\r\nlistpack\r\n");
        crate::cmd::runner::testing::fill_until_oom(&mut r);
        let oom = crate::cmd::runner::testing::OOM;
        assert_eq!(r.run(&["SORT", "l"]), oom);
        assert_eq!(r.run(&["SORT_RO", "l"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    }
}
