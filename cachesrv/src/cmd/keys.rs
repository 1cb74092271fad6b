//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME(NX), COPY, MOVE,
//! DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TOUCH, OBJECT; SORT and SORT_RO in [`sort`].

mod sort;

use bytes::BytesMut;
use protocol::RespWrite;

use super::flags::*;
use super::notify::GENERIC;
use super::util::scan_cursor;
use super::util::{eq, int, NOT_INTEGER};
use super::{unknown_subcommand, Ctx, Handler};
use crate::engine::{glob_match, Access, EngineError, EvictionPolicy, Ttl, ValueRef};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("del", -2, WRITE, (1, -1, 1), del);
    add("unlink", -2, WRITE | FAST, (1, -1, 1), del);
    add("exists", -2, READONLY | FAST, (1, -1, 1), exists);
    add("type", 2, READONLY | FAST, (1, 1, 1), type_cmd);
    add("keys", 2, READONLY, (0, 0, 0), keys);
    add("scan", -2, READONLY, (0, 0, 0), scan);
    add("randomkey", 1, READONLY, (0, 0, 0), randomkey);
    add("rename", 3, WRITE, (1, 2, 1), rename);
    add("renamenx", 3, WRITE | FAST, (1, 2, 1), renamenx);
    add("copy", -3, WRITE | DENYOOM, (1, 2, 1), copy);
    add("move", 3, WRITE | FAST, (1, 1, 1), move_cmd);
    add("dbsize", 1, READONLY | FAST, (0, 0, 0), dbsize);
    add("flushdb", -1, WRITE, (0, 0, 0), flushdb);
    add("flushall", -1, WRITE, (0, 0, 0), flushall);
    add("swapdb", 3, WRITE | FAST, (0, 0, 0), swapdb);
    add("touch", -2, READONLY | FAST, (1, -1, 1), touch);
    add("object", -2, READONLY, (2, 2, 1), object);
    for name in [
        "object|encoding",
        "object|idletime",
        "object|freq",
        "object|refcount",
    ] {
        add(name, 3, READONLY, (2, 2, 1), object);
    }
    add("object|help", 2, READONLY, (0, 0, 0), object);
    sort::register(add);
}

fn del(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let db = ctx.db();
    let mut n = 0;
    for key in &a[1..] {
        if db.with_key(key, Access::WRITE.no_touch(), |k| k.delete()) {
            ctx.notify(GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.int(n);
}

fn exists(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let db = ctx.db();
    let access = ctx.read_access();
    let n: i64 = a[1..]
        .iter()
        .map(|k| db.with_key(k, access, |k| k.exists()) as i64)
        .sum();
    ctx.int(n);
}

fn touch(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let db = ctx.db();
    let n: i64 = a[1..]
        .iter()
        .map(|k| db.with_key(k, Access::READ.no_stats(), |k| k.exists()) as i64)
        .sum();
    ctx.int(n);
}

fn type_cmd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let name = ctx.db().with_key(a[1], Access::READ.no_touch(), |k| {
        k.kind().map(|t| t.type_name())
    });
    ctx.simple(name.unwrap_or("none"));
}

/// A glob that matches everything need not be applied (Redis skips `*` too).
fn pattern_of(p: &[u8]) -> Option<&[u8]> {
    (p != b"*").then_some(p)
}

fn keys(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let pattern = pattern_of(a[1]);
    let mut body = BytesMut::new();
    let mut n = 0;
    ctx.db().keys(pattern.unwrap_or(b"*"), |k, _| {
        if pattern.is_none_or(|p| glob_match(p, k, false)) {
            body.write_bulk(k);
            n += 1;
        }
    });
    ctx.array(n);
    ctx.out.extend_from_slice(&body);
}

fn scan(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    // Redis reads the cursor with strtoul, as HSCAN and SSCAN do: "" and "+0" are 0, and "-1"
    // is a (huge, finished) cursor.
    let Some(cursor) = scan_cursor(a[1]) else {
        return ctx.err("ERR invalid cursor");
    };
    let negative = a[1].first() == Some(&b'-') && cursor != 0;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<&[u8]> = None;
    let mut j = 2;
    while j < a.len() {
        let Some(v) = a.get(j + 1) else {
            return ctx.syntax_error();
        };
        if eq(a[j], "count") {
            match int(v) {
                Some(c) if c >= 1 => count = c as usize,
                Some(_) => return ctx.syntax_error(),
                None => return ctx.err(NOT_INTEGER),
            }
        } else if eq(a[j], "match") {
            pattern = pattern_of(v);
        } else if eq(a[j], "type") {
            type_filter = Some(v);
        } else {
            return ctx.syntax_error();
        }
        j += 2;
    }
    let mut body = BytesMut::new();
    let mut n = 0;
    if negative {
        ctx.array(2);
        ctx.bulk(b"0");
        return ctx.array(0);
    }
    let next = ctx.db().scan(cursor, count, |k, v: ValueRef<'_>| {
        if pattern.is_some_and(|p| !glob_match(p, k, false)) {
            return;
        }
        if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(v.type_name().as_bytes())) {
            return;
        }
        body.write_bulk(k);
        n += 1;
    });
    ctx.array(2);
    let mut c = itoa::Buffer::new();
    ctx.bulk(c.format(next).as_bytes());
    ctx.array(n);
    ctx.out.extend_from_slice(&body);
}

fn randomkey(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    match ctx.db().random_key() {
        Some(k) => ctx.bulk(&k),
        None => ctx.null(),
    }
}

enum Moved {
    NoSource,
    DestExists,
    Done,
}

/// Moves `src` (in `sdb`) to `dst` (in `ddb`), keeping its expiry.
fn transfer(
    ctx: &Ctx<'_>,
    sdb: usize,
    src: &[u8],
    ddb: usize,
    dst: &[u8],
    replace: bool,
    keep_source: bool,
) -> Result<Moved, EngineError> {
    let mut g = ctx.shared.engine.lock_keys(&[(sdb, src), (ddb, dst)])?;
    let (value, expire) = {
        let Some(k) = g.key(0, Access::WRITE.no_touch()) else {
            return Ok(Moved::NoSource);
        };
        match k.value() {
            None => return Ok(Moved::NoSource),
            Some(v) => (v.to_value(), k.expire_at()),
        }
    };
    if sdb == ddb && src == dst {
        return Ok(Moved::Done);
    }
    {
        let Some(mut d) = g.key(1, Access::WRITE.no_touch()) else {
            return Ok(Moved::NoSource);
        };
        if d.exists() && !replace {
            return Ok(Moved::DestExists);
        }
        let ttl = expire.map_or(Ttl::Clear, Ttl::At);
        d.put(value, ttl)?;
    }
    if !keep_source {
        if let Some(mut k) = g.key(0, Access::WRITE.no_touch()) {
            k.delete();
        }
    }
    Ok(Moved::Done)
}

fn rename_common(ctx: &mut Ctx<'_>, a: &[&[u8]], nx: bool) {
    let db = ctx.sess.db;
    let r = transfer(ctx, db, a[1], db, a[2], !nx, false);
    if let Ok(Moved::Done) = r {
        if a[1] != a[2] {
            ctx.notify(GENERIC, "rename_from", a[1]);
            ctx.notify(GENERIC, "rename_to", a[2]);
        }
    }
    match r {
        Ok(Moved::NoSource) => ctx.err("ERR no such key"),
        Ok(Moved::DestExists) => ctx.int(0),
        Ok(Moved::Done) if nx => ctx.int((a[1] != a[2]) as i64),
        Ok(Moved::Done) => ctx.ok(),
        Err(e) => ctx.engine_err(e),
    }
}

fn rename(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    rename_common(ctx, a, false);
}

fn renamenx(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    rename_common(ctx, a, true);
}

fn db_index(ctx: &mut Ctx<'_>, b: &[u8]) -> Option<usize> {
    match int(b) {
        None => {
            ctx.err(NOT_INTEGER);
            None
        }
        Some(i) if i < 0 || i as usize >= ctx.shared.engine.databases() || i > i32::MAX as i64 => {
            ctx.err("ERR DB index is out of range");
            None
        }
        Some(i) => Some(i as usize),
    }
}

fn copy(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut dst_db = ctx.sess.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        if eq(a[j], "replace") {
            replace = true;
        } else if eq(a[j], "db") && j + 1 < a.len() {
            match int(a[j + 1]) {
                None => return ctx.err(NOT_INTEGER),
                Some(i) if i < 0 || i as usize >= ctx.shared.engine.databases() => {
                    return ctx.err("ERR DB index is out of range")
                }
                Some(i) => dst_db = i as usize,
            }
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    if dst_db == ctx.sess.db && a[1] == a[2] {
        return ctx.err("ERR source and destination objects are the same");
    }
    let src_db = ctx.sess.db;
    match transfer(ctx, src_db, a[1], dst_db, a[2], replace, true) {
        Ok(Moved::Done) => {
            ctx.shared.notify(GENERIC, "copy_to", dst_db, a[2]);
            ctx.int(1)
        }
        Ok(_) => ctx.int(0),
        Err(e) => ctx.engine_err(e),
    }
}

fn move_cmd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(dst) = db_index(ctx, a[2]) else {
        return;
    };
    if dst == ctx.sess.db {
        return ctx.err("ERR source and destination objects are the same");
    }
    let src = ctx.sess.db;
    match transfer(ctx, src, a[1], dst, a[1], false, false) {
        Ok(Moved::Done) => {
            ctx.notify(GENERIC, "move_from", a[1]);
            ctx.shared.notify(GENERIC, "move_to", dst, a[1]);
            ctx.int(1)
        }
        Ok(_) => ctx.int(0),
        Err(e) => ctx.engine_err(e),
    }
}

fn dbsize(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let n = ctx.db().dbsize();
    ctx.int(n as i64);
}

fn flush_mode_ok(a: &[&[u8]]) -> bool {
    match a.len() {
        1 => true,
        2 => eq(a[1], "async") || eq(a[1], "sync"),
        _ => false,
    }
}

fn flushdb(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if !flush_mode_ok(a) {
        return ctx.syntax_error();
    }
    ctx.db().flush();
    if ctx.shared.tracking.active() {
        ctx.shared.tracking.flush(&ctx.shared.clients, false);
    }
    ctx.ok();
}

fn flushall(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if !flush_mode_ok(a) {
        return ctx.syntax_error();
    }
    ctx.shared.engine.flush_all();
    if ctx.shared.tracking.active() {
        ctx.shared.tracking.flush(&ctx.shared.clients, true);
    }
    // As Redis: with save rules, the emptied keyspace is saved at once (a failure is logged).
    ctx.shared.save_after_flushall();
    ctx.ok();
}

fn swapdb(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(x) = int(a[1]) else {
        return ctx.err("ERR invalid first DB index");
    };
    let Some(y) = int(a[2]) else {
        return ctx.err("ERR invalid second DB index");
    };
    let n = ctx.shared.engine.databases() as i64;
    if x < 0 || y < 0 || x >= n || y >= n {
        return ctx.err("ERR DB index is out of range");
    }
    match ctx.shared.engine.swap_db(x as usize, y as usize) {
        Ok(()) => ctx.ok(),
        Err(e) => ctx.engine_err(e),
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// Writes a `HELP` reply: the lines as simple strings, then Redis's closing `HELP` entry.
pub(super) fn help<G>(ctx: &mut Ctx<'_, G>, lines: &[&str]) {
    ctx.array(lines.len() + 2);
    for l in lines {
        ctx.simple(l);
    }
    ctx.simple("HELP");
    ctx.simple("    Prints this help.");
}

fn object(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = a[1];
    if eq(sub, "help") && a.len() == 2 {
        return help(ctx, OBJECT_HELP);
    }
    let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
    if !["encoding", "idletime", "freq", "refcount"].contains(&name.as_str()) {
        return unknown_subcommand(ctx, "object", sub);
    }
    if a.len() != 3 {
        return ctx.arity_error(&format!("object|{name}"));
    }
    let policy = ctx.shared.engine.policy();
    let lfu = matches!(
        policy,
        EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
    );
    let access = Access::READ.no_touch().no_stats();
    let db = ctx.db();
    let info = db.with_key(a[2], access, |k| {
        k.value().map(|v| (v.encoding(), k.idle_ms().unwrap_or(0), k.lfu_freq().unwrap_or(0), matches!(v, ValueRef::Str(s) if super::util::int(s).is_some_and(|n| (0..10000).contains(&n)))))
    });
    let Some((encoding, idle_ms, freq, shared_int)) = info else {
        return ctx.null();
    };
    match name.as_str() {
        "encoding" => ctx.bulk(encoding.as_bytes()),
        "refcount" => ctx.int(if shared_int { i32::MAX as i64 } else { 1 }),
        "idletime" if lfu => ctx.err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "idletime" => ctx.int((idle_ms / 1000) as i64),
        "freq" if !lfu => ctx.err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        _ => ctx.int(freq as i64),
    }
}
