//! String commands: GET, SET and its variants, MGET/MSET, counters, ranges, LCS.

use super::flags::*;
use super::notify::{GENERIC, STRING};
use super::util::{eq, float, int, NOT_FLOAT, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::{Access, EngineError, Ttl, MAX_STRING};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("get", 2, READONLY | FAST, (1, 1, 1), get);
    add("set", -3, WRITE | DENYOOM, (1, 1, 1), set);
    add("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), setnx);
    add("setex", 4, WRITE | DENYOOM, (1, 1, 1), setex);
    add("psetex", 4, WRITE | DENYOOM, (1, 1, 1), psetex);
    add("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), getset);
    add("getdel", 2, WRITE | FAST, (1, 1, 1), getdel);
    add("getex", -2, WRITE | FAST, (1, 1, 1), getex);
    add("mget", -2, READONLY | FAST, (1, -1, 1), mget);
    add("mset", -3, WRITE | DENYOOM, (1, -1, 2), mset);
    add("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), msetnx);
    add("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), incr);
    add("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), decr);
    add("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrby);
    add("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), decrby);
    add(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incrbyfloat,
    );
    add("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), append);
    add("strlen", 2, READONLY | FAST, (1, 1, 1), strlen);
    add("getrange", 4, READONLY, (1, 1, 1), getrange);
    add("substr", 4, READONLY, (1, 1, 1), getrange);
    add("setrange", 4, WRITE | DENYOOM, (1, 1, 1), setrange);
    add("lcs", -3, READONLY, (1, 2, 1), lcs);
}

/// Writes a string value, or a null when there is none; true when there was one.
fn write_opt(out: &mut bytes::BytesMut, v: Option<&[u8]>, proto: protocol::Protocol) -> bool {
    match v {
        Some(v) => protocol::RespWrite::write_bulk(out, v),
        None => protocol::RespWrite::write_null(out, proto),
    }
    v.is_some()
}

fn get(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let proto = ctx.sess.proto;
    let r = db.with_key(a[1], access, |k| {
        k.as_str().map(|v| {
            write_opt(out, v, proto);
        })
    });
    if let Err(e) = r {
        ctx.engine_err(e);
    }
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exp {
    None,
    Keep,
    Persist,
    At(u64),
}

/// Parses `EX|PX|EXAT|PXAT value` into an absolute time, with Redis's checks.
fn expire_arg(ctx: &mut Ctx<'_>, unit: &str, v: &[u8], cmd: &str, now: u64) -> Option<u64> {
    let Some(n) = int(v) else {
        ctx.err(NOT_INTEGER);
        return None;
    };
    let seconds = unit == "ex" || unit == "exat";
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        ctx.err(&format!("ERR invalid expire time in '{cmd}' command"));
        return None;
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if unit == "ex" || unit == "px" {
        ms = match ms.checked_add(now as i64) {
            Some(v) => v,
            None => {
                ctx.err(&format!("ERR invalid expire time in '{cmd}' command"));
                return None;
            }
        };
    }
    Some(ms as u64)
}

fn set(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut exp = Exp::None;
    let mut unit_set: Option<&str> = None;
    let now = ctx.shared.engine.now_ms();
    let mut j = 3;
    while j < a.len() {
        let opt = a[j];
        let next = a.get(j + 1);
        let timed = unit_set.is_some();
        if eq(opt, "nx") && !xx {
            nx = true;
        } else if eq(opt, "xx") && !nx {
            xx = true;
        } else if eq(opt, "get") {
            get = true;
        } else if eq(opt, "keepttl") && !timed {
            exp = Exp::Keep;
        } else if let Some(unit) = ["ex", "px", "exat", "pxat"]
            .into_iter()
            .find(|u| eq(opt, u))
        {
            if exp == Exp::Keep || unit_set.is_some_and(|u| u != unit) || next.is_none() {
                return ctx.syntax_error();
            }
            let Some(at) = expire_arg(ctx, unit, next.copied().unwrap_or_default(), "set", now)
            else {
                return;
            };
            exp = Exp::At(at);
            unit_set = Some(unit);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let ttl = match exp {
        Exp::At(at) => Ttl::At(at),
        Exp::Keep => Ttl::Keep,
        _ => Ttl::Clear,
    };
    let db = ctx.db();
    let proto = ctx.sess.proto;
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<bool, EngineError> {
        if get {
            write_opt(out, k.as_str()?, proto);
        }
        let found = k.exists();
        if (nx && found) || (xx && !found) {
            if !get {
                protocol::RespWrite::write_null(out, proto);
            }
            return Ok(false);
        }
        k.put_str(a[2], ttl)?;
        if !get {
            protocol::RespWrite::write_ok(out);
        }
        Ok(true)
    });
    match r {
        Ok(true) => notify_set(ctx, a[1], matches!(exp, Exp::At(_))),
        Ok(false) => {}
        Err(e) => ctx.engine_err(e),
    }
}

/// `set`, then `expire` when the write set a TTL (as Redis's SET family).
fn notify_set(ctx: &Ctx<'_>, key: &[u8], expire: bool) {
    ctx.notify(STRING, "set", key);
    if expire {
        ctx.notify(GENERIC, "expire", key);
    }
}

fn setnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let r = ctx.db().with_key(a[1], Access::WRITE, |k| {
        if k.exists() {
            return Ok(0);
        }
        k.put_str(a[2], Ttl::Clear).map(|_| 1)
    });
    match r {
        Ok(n) => {
            if n == 1 {
                notify_set(ctx, a[1], false);
            }
            ctx.int(n)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn setex_common(ctx: &mut Ctx<'_>, a: &[&[u8]], unit: &str, cmd: &str) {
    let now = ctx.shared.engine.now_ms();
    let Some(at) = expire_arg(ctx, unit, a[2], cmd, now) else {
        return;
    };
    match ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| k.put_str(a[3], Ttl::At(at)))
    {
        Ok(()) => {
            notify_set(ctx, a[1], true);
            ctx.ok()
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn setex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    setex_common(ctx, a, "ex", "setex");
}

fn psetex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    setex_common(ctx, a, "px", "psetex");
}

fn getset(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let proto = ctx.sess.proto;
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], Access::WRITE, |k| -> Result<(), EngineError> {
        write_opt(out, k.as_str()?, proto);
        k.put_str(a[2], Ttl::Clear)
    });
    match r {
        Ok(()) => notify_set(ctx, a[1], false),
        Err(e) => ctx.engine_err(e),
    }
}

fn getdel(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let proto = ctx.sess.proto;
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<bool, EngineError> {
        if !write_opt(out, k.as_str()?, proto) {
            return Ok(false);
        }
        k.delete();
        Ok(true)
    });
    match r {
        Ok(true) => ctx.notify(GENERIC, "del", a[1]),
        Ok(false) => {}
        Err(e) => ctx.engine_err(e),
    }
}

fn getex(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let now = ctx.shared.engine.now_ms();
    let mut exp = Exp::None;
    let mut j = 2;
    while j < a.len() {
        let opt = a[j];
        let next = a.get(j + 1);
        if eq(opt, "persist") && exp == Exp::None {
            exp = Exp::Persist;
        } else if let Some(unit) = ["ex", "px", "exat", "pxat"]
            .into_iter()
            .find(|u| eq(opt, u))
        {
            if exp != Exp::None || next.is_none() {
                return ctx.syntax_error();
            }
            let Some(at) = expire_arg(ctx, unit, next.copied().unwrap_or_default(), "getex", now)
            else {
                return;
            };
            exp = Exp::At(at);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let proto = ctx.sess.proto;
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<Option<&str>, EngineError> {
        if !write_opt(out, k.as_str()?, proto) {
            return Ok(None);
        }
        Ok(match exp {
            Exp::At(at) if at <= k.now_ms() => {
                k.delete();
                Some("del")
            }
            Exp::At(at) => {
                k.set_expire_at(Some(at));
                Some("expire")
            }
            Exp::Persist if k.expire_at().is_some() => {
                k.set_expire_at(None);
                Some("persist")
            }
            _ => None,
        })
    });
    match r {
        Ok(Some(event)) => ctx.notify(GENERIC, event, a[1]),
        Ok(None) => {}
        Err(e) => ctx.engine_err(e),
    }
}

fn mget(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let proto = ctx.sess.proto;
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    protocol::RespWrite::write_array_len(out, a.len() - 1);
    for key in &a[1..] {
        db.with_key(key, access, |k| match k.as_str() {
            Ok(Some(v)) => protocol::RespWrite::write_bulk(out, v),
            // MGET answers nil for a key of another type.
            _ => protocol::RespWrite::write_null(out, proto),
        });
    }
}

fn mset_common(ctx: &mut Ctx<'_>, a: &[&[u8]], nx: bool) {
    if a.len().is_multiple_of(2) {
        return ctx.arity_error(if nx { "msetnx" } else { "mset" });
    }
    let db_idx = ctx.sess.db;
    let keys: Vec<(usize, &[u8])> = a[1..].iter().step_by(2).map(|k| (db_idx, *k)).collect();
    let r = (|| -> Result<bool, EngineError> {
        let mut g = ctx.shared.engine.lock_keys(&keys)?;
        if nx {
            for i in 0..g.len() {
                if g.key(i, Access::WRITE).is_some_and(|k| k.exists()) {
                    return Ok(false);
                }
            }
        }
        for i in 0..g.len() {
            if let Some(mut k) = g.key(i, Access::WRITE) {
                k.put_str(a[2 + 2 * i], Ttl::Clear)?;
            }
        }
        Ok(true)
    })();
    if let Ok(true) = r {
        for key in a[1..].iter().step_by(2) {
            ctx.notify(STRING, "set", key);
        }
    }
    match (r, nx) {
        (Ok(set), true) => ctx.int(set as i64),
        (Ok(_), false) => ctx.ok(),
        (Err(e), _) => ctx.engine_err(e),
    }
}

fn mset(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    mset_common(ctx, a, false);
}

fn msetnx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    mset_common(ctx, a, true);
}

fn incr_common(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) {
    match ctx.db().with_key(key, Access::WRITE, |k| k.incr_by(delta)) {
        Ok(n) => {
            ctx.notify(STRING, "incrby", key);
            ctx.int(n)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn incr(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    incr_common(ctx, a[1], 1);
}

fn decr(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    incr_common(ctx, a[1], -1);
}

fn incrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    match int(a[2]) {
        Some(d) => incr_common(ctx, a[1], d),
        None => ctx.err(NOT_INTEGER),
    }
}

fn decrby(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    match int(a[2]) {
        Some(i64::MIN) => ctx.err("ERR decrement would overflow"),
        Some(d) => incr_common(ctx, a[1], -d),
        None => ctx.err(NOT_INTEGER),
    }
}

fn incrbyfloat(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(by) = float(a[2]) else {
        return ctx.err(NOT_FLOAT);
    };
    let r = ctx.db().with_key(
        a[1],
        Access::WRITE,
        |k| -> Result<Result<String, &'static str>, EngineError> {
            let cur = match k.as_str()? {
                None => 0.0,
                Some(s) => match float(s) {
                    Some(v) => v,
                    None => return Ok(Err(NOT_FLOAT)),
                },
            };
            let Some(text) = super::util::add_floats(k.as_str()?.unwrap_or(b"0"), a[2], cur, by)
            else {
                return Ok(Err("ERR increment would produce NaN or Infinity"));
            };
            k.put_str(text.as_bytes(), Ttl::Keep)?;
            Ok(Ok(text))
        },
    );
    match r {
        Ok(Ok(text)) => {
            ctx.notify(STRING, "incrbyfloat", a[1]);
            // Logged as the value set, keeping the TTL, as Redis does.
            super::aof::log_as(ctx, || {
                vec![
                    b"SET".to_vec(),
                    a[1].to_vec(),
                    text.as_bytes().to_vec(),
                    b"KEEPTTL".to_vec(),
                ]
            });
            ctx.bulk(text.as_bytes())
        }
        Ok(Err(msg)) => ctx.err(msg),
        Err(e) => ctx.engine_err(e),
    }
}

fn append(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    match ctx.db().with_key(a[1], Access::WRITE, |k| k.append(a[2])) {
        Ok(n) => {
            ctx.notify(STRING, "append", a[1]);
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

fn strlen(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    match ctx.db().with_key(a[1], access, |k| {
        k.as_str().map(|s| s.map_or(0, <[u8]>::len))
    }) {
        Ok(n) => ctx.int(n as i64),
        Err(e) => ctx.engine_err(e),
    }
}

fn getrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let (Some(mut start), Some(mut end)) = (int(a[2]), int(a[3])) else {
        return ctx.err(NOT_INTEGER);
    };
    let access = ctx.read_access();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), EngineError> {
        let s = k.as_str()?.unwrap_or_default();
        let len = s.len() as i64;
        if start < 0 && end < 0 && start > end {
            protocol::RespWrite::write_bulk(out, b"");
            return Ok(());
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            protocol::RespWrite::write_bulk(out, b"");
        } else {
            protocol::RespWrite::write_bulk(out, &s[start as usize..=end as usize]);
        }
        Ok(())
    });
    if let Err(e) = r {
        ctx.engine_err(e);
    }
}

fn setrange(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(offset) = int(a[2]) else {
        return ctx.err(NOT_INTEGER);
    };
    if offset < 0 {
        return ctx.err("ERR offset is out of range");
    }
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<usize, EngineError> {
            // Type and size checks come before anything is created, as in Redis.
            let cur = k.as_str()?.map_or(0, <[u8]>::len);
            if a[3].is_empty() {
                return Ok(cur);
            }
            if offset as u64 + a[3].len() as u64 > MAX_STRING as u64 {
                return Err(EngineError::TooLarge);
            }
            k.set_range(offset as usize, a[3])
        });
    match r {
        Ok(n) => {
            if !a[3].is_empty() {
                ctx.notify(STRING, "setrange", a[1]);
            }
            ctx.int(n as i64)
        }
        Err(e) => ctx.engine_err(e),
    }
}

/// One common run of LCS IDX: start and end (inclusive) in each string.
type Run = ((usize, usize), (usize, usize));

/// The longest common subsequence of `a` and `b` (Redis's dynamic programming, with its
/// backtracking: on a tie it moves in `b`), and, if `runs`, its contiguous runs from the end
/// of the strings backwards, as LCS IDX lists them.
fn lcs_of(a: &[u8], b: &[u8], runs: bool) -> (Vec<u8>, Vec<Run>) {
    let w = b.len() + 1;
    let mut t = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let mut seq = Vec::with_capacity(t[a.len() * w + b.len()] as usize);
    let mut found = Vec::new();
    let mut cur: Option<Run> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            seq.push(a[i - 1]);
            cur = Some(match cur {
                // Contiguous with the run so far: extend it backwards.
                Some(((_, ae), (_, be))) => ((i - 1, ae), (j - 1, be)),
                None => ((i - 1, i - 1), (j - 1, j - 1)),
            });
            i -= 1;
            j -= 1;
            if i == 0 || j == 0 {
                found.extend(cur.take());
            }
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            found.extend(cur.take());
        }
    }
    seq.reverse();
    if !runs {
        found.clear();
    }
    (seq, found)
}

/// The two strings LCS compares.
type Pair = (Vec<u8>, Vec<u8>);

fn lcs(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let db = ctx.sess.db;
    let access = ctx.read_access();
    let r = (|| -> Result<Option<Pair>, EngineError> {
        let mut g = ctx.shared.engine.lock_keys(&[(db, a[1]), (db, a[2])])?;
        // Both keys are looked up (and counted) before either type is checked.
        let mut vals = Vec::with_capacity(2);
        for i in 0..2 {
            vals.push(match g.key(i, access) {
                Some(k) => k.as_str().map(|v| v.unwrap_or_default().to_vec()),
                None => Ok(Vec::new()),
            });
        }
        match (vals.remove(0), vals.remove(0)) {
            (Ok(a), Ok(b)) => Ok(Some((a, b))),
            _ => Ok(None),
        }
    })();
    let (sa, sb) = match r {
        Ok(Some(v)) => v,
        Ok(None) => return ctx.err("ERR The specified keys must contain string values"),
        Err(e) => return ctx.engine_err(e),
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen = 0usize;
    let mut j = 3;
    while j < a.len() {
        if eq(a[j], "idx") {
            getidx = true;
        } else if eq(a[j], "len") {
            getlen = true;
        } else if eq(a[j], "withmatchlen") {
            withmatchlen = true;
        } else if eq(a[j], "minmatchlen") && j + 1 < a.len() {
            j += 1;
            let Some(n) = int(a[j]) else {
                return ctx.err(NOT_INTEGER);
            };
            minmatchlen = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    if getidx && getlen {
        return ctx.err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let cells = (sa.len() as u64 + 1).saturating_mul(sb.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.shared.parser_limits().max_bulk as u64 {
        return ctx
            .err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let (seq, runs) = lcs_of(&sa, &sb, getidx);
    if getidx {
        let runs: Vec<&Run> = runs
            .iter()
            .filter(|((s, e), _)| e - s + 1 >= minmatchlen)
            .collect();
        ctx.map(2);
        ctx.bulk(b"matches");
        ctx.array(runs.len());
        for &&((a0, a1), (b0, b1)) in &runs {
            ctx.array(2 + usize::from(withmatchlen));
            ctx.array(2);
            ctx.int(a0 as i64);
            ctx.int(a1 as i64);
            ctx.array(2);
            ctx.int(b0 as i64);
            ctx.int(b1 as i64);
            if withmatchlen {
                ctx.int((a1 - a0 + 1) as i64);
            }
        }
        ctx.bulk(b"len");
        ctx.int(seq.len() as i64);
    } else if getlen {
        ctx.int(seq.len() as i64);
    } else {
        ctx.bulk(&seq);
    }
}

#[cfg(test)]
mod lcs_tests {
    use super::lcs_of;

    #[test]
    fn lcs_runs_follow_redis() {
        let (seq, runs) = lcs_of(b"ohmytext", b"mynewtext", true);
        assert_eq!(seq, b"mytext");
        assert_eq!(runs, vec![((4, 7), (5, 8)), ((2, 3), (0, 1))]);
        assert_eq!(lcs_of(b"", b"abc", true), (vec![], vec![]));
    }
}
