//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SSCAN, SPOP, SRANDMEMBER,
//! SMOVE, SINTER, SUNION, SDIFF, SINTERCARD, SINTERSTORE, SUNIONSTORE and SDIFFSTORE.
//!
//! Mirrors Redis 7.0's `t_set.c`: argument checks in Redis's order, its error texts, RESP3
//! forms (SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count reply sets; SRANDMEMBER with a
//! count an array) and its orders where they are defined: an all-integer set of at most 512
//! members is an intset, which Redis keeps sorted, so such sets and results are written in
//! numeric order; other orders are Redis's hashtable order, i.e. undefined.
//!
//! Multi-key commands lock all their keys with `lock_keys` and open them one at a time, so the
//! members they need across keys are copied once into a single scratch buffer.

use bytes::BytesMut;
use protocol::RespWrite;

use super::flags::*;
use super::hash::{
    distinct_indices, finish, scan_opts, scan_window, write_empty_scan, write_scan_head, Fail,
    COUNT_RANGE,
};
use super::notify::{GENERIC, SET};
use super::util::scan_cursor;
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::value::INTSET_MAX_ENTRIES;
use crate::engine::{parse_i64_strict, Access, EngineError, KeyRef, SetValue, Ttl, Value};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd);
    add("srem", -3, WRITE | FAST, (1, 1, 1), srem);
    add("smembers", 2, READONLY, (1, 1, 1), smembers);
    add("sismember", 3, READONLY | FAST, (1, 1, 1), sismember);
    add("smismember", -3, READONLY | FAST, (1, 1, 1), smismember);
    add("scard", 2, READONLY | FAST, (1, 1, 1), scard);
    add("sscan", -3, READONLY, (1, 1, 1), sscan);
    add("spop", -2, WRITE | FAST, (1, 1, 1), spop);
    add("srandmember", -2, READONLY, (1, 1, 1), srandmember);
    add("smove", 4, WRITE | FAST, (1, 2, 1), smove);
    add("sinter", -2, READONLY, (1, -1, 1), sinter);
    add("sunion", -2, READONLY, (1, -1, 1), sunion);
    add("sdiff", -2, READONLY, (1, -1, 1), sdiff);
    // Keys are found through numkeys (COMMAND INFO shows 0 0 0 and `movablekeys`).
    add("sintercard", -3, READONLY, (0, 0, 0), sintercard);
    add("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), sinterstore);
    add("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), sunionstore);
    add("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), sdiffstore);
}

/// True if Redis 7.0 would hold these members as an intset (and so iterate them sorted).
fn intset_like<'m>(len: usize, mut members: impl Iterator<Item = &'m [u8]>) -> bool {
    len <= INTSET_MAX_ENTRIES && members.all(|m| parse_i64_strict(m).is_some())
}

/// Writes `members` as bulks, in numeric order if `sorted` (they are then all integers).
fn write_members<'m>(out: &mut BytesMut, sorted: bool, members: impl Iterator<Item = &'m [u8]>) {
    if sorted {
        let mut v: Vec<(i64, &[u8])> = members
            .map(|m| (parse_i64_strict(m).unwrap_or_default(), m))
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        for (_, m) in v {
            out.write_bulk(m);
        }
    } else {
        for m in members {
            out.write_bulk(m);
        }
    }
}

/// Writes a whole stored set in Redis's iteration order.
fn write_set_members(out: &mut BytesMut, s: &SetValue) {
    write_members(out, s.encoding() == "intset", s.iter());
}

fn sadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let members = &a[2..];
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        // Adding nothing new changes nothing (and signals no watcher).
        if k.as_set()?
            .is_some_and(|s| members.iter().all(|m| s.contains(m)))
        {
            return Ok(0);
        }
        k.update_set(true, |s| members.iter().filter(|m| s.insert(m)).count())
            .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify(SET, "sadd", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// Removes `members`, keeping a listpack set's order (Redis 7.2 sets); returns how many existed.
fn remove_members(s: &mut SetValue, members: &[&[u8]]) -> usize {
    if s.encoding() == "listpack" {
        s.modify(|m| members.iter().filter(|x| m.shift_remove(**x)).count())
    } else {
        members.iter().filter(|x| s.remove(x)).count()
    }
}

fn srem(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let members = &a[2..];
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        match k.as_set()? {
            Some(s) if members.iter().any(|m| s.contains(m)) => {}
            _ => return Ok(0),
        }
        k.update_set(false, |s| remove_members(s, members))
            .map(|n| n.unwrap_or(0))
    });
    match r {
        Ok(n) => {
            if n > 0 {
                ctx.notify_then_del(SET, "srem", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn smembers(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        match k.as_set()? {
            None => out.write_set_len(0, proto),
            Some(s) => {
                out.write_set_len(s.len(), proto);
                write_set_members(out, s);
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

fn sismember(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_set().map(|s| s.is_some_and(|s| s.contains(a[2])))
    }) {
        Ok(b) => ctx.int(i64::from(b)),
        Err(e) => ctx.engine_err(e),
    }
}

fn smismember(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let s = k.as_set()?;
        out.write_array_len(a.len() - 2);
        for m in &a[2..] {
            out.write_integer(i64::from(s.is_some_and(|s| s.contains(m))));
        }
        Ok(())
    });
    finish(ctx, r);
}

fn scard(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_set().map(|s| s.map_or(0, SetValue::len))
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn sscan(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(cursor) = scan_cursor(a[2]) else {
        return ctx.err("ERR invalid cursor");
    };
    let opts = scan_opts(&a[3..]);
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let Some(s) = k.as_set()? else {
            write_empty_scan(out);
            return Ok(());
        };
        let opts = opts.map_err(Fail::Msg)?;
        if s.encoding() != "hashtable" {
            // Redis returns an intset (or listpack) set whole, with cursor 0.
            let n = s.iter().filter(|m| opts.matches(m)).count();
            write_scan_head(out, 0, n);
            let sorted = s.encoding() == "intset";
            write_members(out, sorted, s.iter().filter(|m| opts.matches(m)));
            return Ok(());
        }
        let (window, next) = scan_window(s.len(), cursor, opts.count);
        let picked = || {
            window
                .clone()
                .rev()
                .filter_map(|i| s.get_index(i))
                .filter(|m| opts.matches(m))
        };
        write_scan_head(out, next, picked().count());
        for m in picked() {
            out.write_bulk(m);
        }
        Ok(())
    });
    finish(ctx, r);
}

fn spop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 3 {
        return ctx.syntax_error();
    }
    let proto = ctx.proto();
    if a.len() == 2 {
        let db = ctx.db();
        let out = &mut *ctx.out;
        let mut popped = None;
        let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
            match k.update_set(false, SetValue::pop_random)?.flatten() {
                Some(m) => {
                    out.write_bulk(&m);
                    popped = Some(m);
                }
                None => {
                    out.write_null(proto);
                    return Ok(false);
                }
            }
            Ok(true)
        });
        if let Ok(true) = r {
            ctx.notify_then_del(SET, "spop", a[1]);
        }
        if let Some(m) = popped {
            // Logged as SREM of the member, as Redis does.
            super::aof::log_as(ctx, || vec![b"SREM".to_vec(), a[1].to_vec(), m.to_vec()]);
        }
        return finish(ctx, r.map(drop));
    }
    let count = match int(a[2]) {
        Some(c) if c >= 0 => c as u64,
        _ => return ctx.err("ERR value is out of range, must be positive"),
    };
    let db = ctx.db();
    let out = &mut *ctx.out;
    // What to log (Redis: DEL when the whole set goes, else SREM of each popped member).
    let mut whole = false;
    let mut popped = Vec::new();
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
        let size = match k.as_set()? {
            None => 0,
            Some(s) => s.len(),
        };
        if size == 0 || count == 0 {
            out.write_set_len(0, proto);
            return Ok(false);
        } else if count >= size as u64 {
            // The whole set, in its order; the key goes.
            if let Some(crate::engine::Value::Set(s)) = k.take() {
                out.write_set_len(s.len(), proto);
                write_set_members(out, &s);
                whole = true;
            }
        } else {
            out.write_set_len(count as usize, proto);
            k.update_set(false, |s| {
                for _ in 0..count {
                    if let Some(m) = s.pop_random() {
                        out.write_bulk(&m);
                        popped.push(m);
                    }
                }
            })?;
        }
        Ok(true)
    });
    if let Ok(true) = r {
        ctx.notify_then_del(SET, "spop", a[1]);
    }
    if whole {
        super::aof::log_as(ctx, || vec![b"DEL".to_vec(), a[1].to_vec()]);
    }
    for m in popped {
        super::aof::log_as(ctx, || vec![b"SREM".to_vec(), a[1].to_vec(), m.to_vec()]);
    }
    finish(ctx, r.map(drop));
}

fn srandmember(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 3 {
        return ctx.syntax_error();
    }
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    if a.len() == 2 {
        let out = &mut *ctx.out;
        let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
            match k.as_set()?.and_then(SetValue::random) {
                Some(m) => out.write_bulk(m),
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
    let count = l.unsigned_abs() as usize;
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let s = match k.as_set()? {
            Some(s) if count > 0 => s,
            _ => {
                out.write_array_len(0);
                return Ok(());
            }
        };
        if l < 0 || count == 1 {
            // Repetitions allowed.
            out.write_array_len(count);
            for _ in 0..count {
                if let Some(m) = s.random() {
                    out.write_bulk(m);
                }
            }
        } else if count >= s.len() {
            out.write_array_len(s.len());
            write_set_members(out, s);
        } else {
            out.write_array_len(count);
            for i in distinct_indices(count, s.len()) {
                if let Some(m) = s.get_index(i) {
                    out.write_bulk(m);
                }
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

fn smove(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (src, dst, member) = (a[1], a[2], a[3]);
    let db = ctx.sess.db;
    let mut added = false;
    let r = (|| -> Result<i64, EngineError> {
        let mut g = ctx.shared.engine.lock_keys(&[(db, src), (db, dst)])?;
        // A missing source answers 0 whatever the destination holds.
        let in_src = match g.key(0, Access::WRITE) {
            Some(k) => match k.as_set()? {
                Some(s) => s.contains(member),
                None => return Ok(0),
            },
            None => return Ok(0),
        };
        if let Some(k) = g.key(1, Access::WRITE) {
            k.as_set()?;
        }
        if src == dst || !in_src {
            return Ok(i64::from(in_src));
        }
        if let Some(mut k) = g.key(0, Access::WRITE) {
            k.update_set(false, |s| s.remove(member))?;
        }
        if let Some(mut k) = g.key(1, Access::WRITE) {
            added = k.update_set(true, |s| s.insert(member))? == Some(true);
        }
        Ok(1)
    })();
    match r {
        Ok(n) => {
            if n == 1 && src != dst {
                ctx.notify_then_del(SET, "srem", src);
                if added {
                    ctx.notify(SET, "sadd", dst);
                }
            }
            ctx.int(n)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// Members copied out of locked sets into one buffer (no allocation per member).
#[derive(Default)]
struct Scratch {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Scratch {
    fn push(&mut self, m: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(m);
        self.spans.push((start, self.buf.len()));
    }

    fn copy(&mut self, s: &SetValue) {
        self.spans.reserve(s.len());
        for m in s.iter() {
            self.push(m);
        }
    }

    fn get(&self, span: (usize, usize)) -> &[u8] {
        self.buf.get(span.0..span.1).unwrap_or_default()
    }

    /// Keeps the members for which `keep` holds.
    fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let buf = &self.buf;
        self.spans
            .retain(|&(s, e)| keep(buf.get(s..e).unwrap_or_default()));
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        self.spans.iter().map(|&s| self.get(s))
    }
}

/// The sets under `keys`, locked together (with a destination for the `*STORE` forms): checks
/// every source key's type first (a missing key is an empty set), as Redis does before
/// computing anything.
struct Sets<'e, 'k> {
    g: crate::engine::MultiGuard<'e, 'k>,
    /// Cardinality of each key's set (0 when missing).
    lens: Vec<usize>,
    /// Access for reopening keys (already counted as hits or misses).
    again: Access,
}

impl<'e, 'k> Sets<'e, 'k> {
    fn open(ctx: &Ctx<'e>, keys: &[&'k [u8]]) -> Result<Self, EngineError> {
        Self::open_with(ctx, keys, None)
    }

    /// As [`Sets::open`], also locking `dst` (key index `keys.len()`); the sources are then
    /// looked up as a write command does (not counted as keyspace hits or misses).
    fn open_with(
        ctx: &Ctx<'e>,
        keys: &[&'k [u8]],
        dst: Option<&'k [u8]>,
    ) -> Result<Self, EngineError> {
        let db = ctx.sess.db;
        let placed: Vec<(usize, &[u8])> = keys.iter().chain(&dst).map(|k| (db, *k)).collect();
        let access = if dst.is_some() {
            Access::WRITE
        } else {
            ctx.read_access()
        };
        let mut g = ctx.shared.engine.lock_keys(&placed)?;
        let mut lens = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let n = match g.key(i, access) {
                Some(k) => k.as_set()?.map_or(0, SetValue::len),
                None => 0,
            };
            lens.push(n);
        }
        Ok(Sets {
            g,
            lens,
            again: access.no_stats(),
        })
    }

    /// Replaces the destination (see [`Sets::open_with`]) with `members` as a new set without
    /// expiry, or deletes it if there are none; returns the set's size.
    fn store(&mut self, members: &Scratch) -> Result<usize, EngineError> {
        let mut set = SetValue::new();
        for m in members.iter() {
            set.insert(m);
        }
        let n = set.len();
        if let Some(mut k) = self.g.key(self.lens.len(), Access::WRITE) {
            k.put(Value::Set(set), Ttl::Clear)?;
        }
        Ok(n)
    }

    /// Runs `f` on the `i`-th key's set (if it exists).
    fn with<R>(&mut self, i: usize, f: impl FnOnce(&SetValue) -> R) -> Option<R> {
        let k: KeyRef<'_> = self.g.key(i, self.again)?;
        k.as_set().ok().flatten().map(f)
    }

    /// The intersection: the smallest set filtered by the others.
    fn inter(&mut self) -> Scratch {
        let mut out = Scratch::default();
        if self.lens.contains(&0) {
            return out;
        }
        let mut order: Vec<usize> = (0..self.lens.len()).collect();
        order.sort_by_key(|&i| self.lens[i]);
        self.with(order[0], |s| out.copy(s));
        for &i in &order[1..] {
            if out.spans.is_empty() {
                break;
            }
            self.with(i, |s| out.retain(|m| s.contains(m)));
        }
        out
    }

    /// The union, without duplicates, in first-seen order.
    fn union(&mut self) -> Scratch {
        let mut all = Scratch::default();
        for i in 0..self.lens.len() {
            self.with(i, |s| all.copy(s));
        }
        let mut seen = indexmap::IndexSet::with_capacity(all.spans.len());
        for m in all.iter() {
            seen.insert(m);
        }
        let mut out = Scratch::default();
        out.buf.reserve(seen.iter().map(|m| m.len()).sum());
        out.spans.reserve(seen.len());
        for m in seen {
            out.push(m);
        }
        out
    }

    /// The first set without the members of the others.
    fn diff(&mut self) -> Scratch {
        let mut out = Scratch::default();
        self.with(0, |s| out.copy(s));
        for i in 1..self.lens.len() {
            if out.spans.is_empty() {
                break;
            }
            if self.lens[i] > 0 {
                self.with(i, |s| out.retain(|m| !s.contains(m)));
            }
        }
        out
    }
}

/// A multi-set operation.
#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// SINTER, SUNION or SDIFF: a set reply, in intset order when Redis would build an intset.
fn set_op(ctx: &mut Ctx<'_>, keys: &[&[u8]], op: Op) {
    let r = Sets::open(ctx, keys).map(|mut sets| match op {
        Op::Inter => sets.inter(),
        Op::Union => sets.union(),
        Op::Diff => sets.diff(),
    });
    match r {
        Ok(res) => {
            let n = res.spans.len();
            ctx.set(n);
            write_members(ctx.out, intset_like(n, res.iter()), res.iter());
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// SINTERSTORE, SUNIONSTORE or SDIFFSTORE: `a[1]` replaced by the result (deleted if empty),
/// whatever it held; replies the result's size.
fn set_op_store(ctx: &mut Ctx<'_>, a: &[&[u8]], op: Op) {
    let existed = ctx.notifying(GENERIC) && ctx.key_exists(a[1]);
    let r = Sets::open_with(ctx, &a[2..], Some(a[1])).and_then(|mut sets| {
        let res = match op {
            Op::Inter => sets.inter(),
            Op::Union => sets.union(),
            Op::Diff => sets.diff(),
        };
        sets.store(&res)
    });
    match r {
        Ok(n) => {
            let event = match op {
                Op::Inter => "sinterstore",
                Op::Union => "sunionstore",
                Op::Diff => "sdiffstore",
            };
            ctx.notify_store(SET, event, a[1], n > 0, existed);
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn sinterstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op_store(ctx, a, Op::Inter);
}

fn sunionstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op_store(ctx, a, Op::Union);
}

fn sdiffstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op_store(ctx, a, Op::Diff);
}

fn sinter(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op(ctx, &a[1..], Op::Inter);
}

fn sunion(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op(ctx, &a[1..], Op::Union);
}

fn sdiff(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    set_op(ctx, &a[1..], Op::Diff);
}

fn sintercard(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let numkeys = match int(a[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return ctx.err("ERR numkeys should be greater than 0"),
    };
    if numkeys > (a.len() - 2) as u64 {
        return ctx.err("ERR Number of keys can't be greater than number of args");
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut j = end;
    while j < a.len() {
        if eq(a[j], "limit") && j + 1 < a.len() {
            j += 1;
            match int(a[j]) {
                Some(l) if l >= 0 => limit = usize::try_from(l).unwrap_or(usize::MAX),
                _ => return ctx.err("ERR LIMIT can't be negative"),
            }
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    match Sets::open(ctx, &a[2..end]).map(|mut sets| sets.inter().spans.len()) {
        Ok(n) if limit > 0 => ctx.int(n.min(limit) as i64),
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::runner::testing::runner;

    #[test]
    fn stored_sets_report_their_encoding() {
        // Small sets of strings are listpacks as in Redis 7.2 (7.0: hashtable), so these
        // are not in the diff scripts.
        let mut r = runner(&[]);
        r.run(&["SADD", "a", "x", "y", "1"]);
        r.run(&["SADD", "b", "y", "1", "2"]);
        let listpack = "$8\r\nlistpack\r\n";
        let intset = "$6\r\nintset\r\n";
        assert_eq!(r.run(&["SUNIONSTORE", "u", "a", "b"]), ":4\r\n");
        assert_eq!(r.run(&["OBJECT", "ENCODING", "u"]), listpack);
        assert_eq!(r.run(&["SINTERSTORE", "i", "a", "b"]), ":2\r\n");
        assert_eq!(r.run(&["OBJECT", "ENCODING", "i"]), listpack);
        assert_eq!(r.run(&["SDIFFSTORE", "d", "b", "a"]), ":1\r\n");
        assert_eq!(r.run(&["OBJECT", "ENCODING", "d"]), intset);
        let long = "z".repeat(100);
        r.run(&["SADD", "c", &long]);
        r.run(&["SUNIONSTORE", "u", "a", "c"]);
        assert_eq!(r.run(&["OBJECT", "ENCODING", "u"]), "$9\r\nhashtable\r\n");
    }

    #[test]
    fn stores_are_refused_when_out_of_memory() {
        let mut r = runner(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
        r.run(&["SADD", "s", "a", "b"]);
        crate::cmd::runner::testing::fill_until_oom(&mut r);
        let oom = crate::cmd::runner::testing::OOM;
        for cmd in ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"] {
            assert_eq!(r.run(&[cmd, "d", "s"]), oom);
        }
        assert_eq!(r.run(&["EXISTS", "d"]), ":0\r\n");
    }
}
