//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX, XX, GT, LT), TTL, PTTL, PERSIST,
//! EXPIRETIME, PEXPIRETIME — Redis 7's `expireGenericCommand` and `ttlGenericCommand`.

use super::flags::*;
use super::notify::GENERIC;
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::Access;

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("expire", -3, WRITE | FAST, (1, 1, 1), expire);
    add("pexpire", -3, WRITE | FAST, (1, 1, 1), pexpire);
    add("expireat", -3, WRITE | FAST, (1, 1, 1), expireat);
    add("pexpireat", -3, WRITE | FAST, (1, 1, 1), pexpireat);
    add("ttl", 2, READONLY | FAST, (1, 1, 1), ttl);
    add("pttl", 2, READONLY | FAST, (1, 1, 1), pttl);
    add("expiretime", 2, READONLY | FAST, (1, 1, 1), expiretime);
    add("pexpiretime", 2, READONLY | FAST, (1, 1, 1), pexpiretime);
    add("persist", 2, WRITE | FAST, (1, 1, 1), persist);
}

fn generic(ctx: &mut Ctx<'_>, a: &[&[u8]], seconds: bool, relative: bool) {
    let cmd = String::from_utf8_lossy(a[0]).to_ascii_lowercase();
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[3..] {
        if eq(opt, "nx") {
            nx = true;
        } else if eq(opt, "xx") {
            xx = true;
        } else if eq(opt, "gt") {
            gt = true;
        } else if eq(opt, "lt") {
            lt = true;
        } else {
            return ctx.err(&format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return ctx.err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return ctx.err("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = int(a[2]) else {
        return ctx.err(NOT_INTEGER);
    };
    let bad_time = format!("ERR invalid expire time in '{cmd}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return ctx.err(&bad_time);
        }
        when *= 1000;
    }
    let now = ctx.shared.engine.now_ms() as i64;
    let base = if relative { now } else { 0 };
    if when > i64::MAX - base {
        return ctx.err(&bad_time);
    }
    when += base;
    let r = ctx.db().with_key(a[1], Access::WRITE.no_touch(), |k| {
        if !k.exists() {
            return None;
        }
        let current = k.expire_at().map(|e| e as i64);
        if (nx && current.is_some())
            || (xx && current.is_none())
            || (gt && current.is_none_or(|c| when <= c))
            || (lt && current.is_some_and(|c| when >= c))
        {
            return Some(None);
        }
        if when <= k.now_ms() as i64 {
            k.delete();
            Some(Some("del"))
        } else {
            k.set_expire_at(Some(when as u64));
            Some(Some("expire"))
        }
    });
    if let Some(Some(event)) = r {
        ctx.notify(GENERIC, event, a[1]);
    }
    ctx.int(i64::from(r.flatten().is_some()));
}

fn expire(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, true, true);
}

fn pexpire(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, false, true);
}

fn expireat(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, true, false);
}

fn pexpireat(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, false, false);
}

fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], ms: bool, absolute: bool) {
    let r = ctx.db().with_key(key, Access::READ.no_touch(), |k| {
        if !k.exists() {
            return -2;
        }
        match k.expire_at() {
            None => -1,
            Some(e) => {
                let t = if absolute {
                    e as i64
                } else {
                    (e as i64 - k.now_ms() as i64).max(0)
                };
                if ms {
                    t
                } else {
                    (t + 500) / 1000
                }
            }
        }
    });
    ctx.int(r);
}

fn ttl(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    ttl_generic(ctx, a[1], false, false);
}

fn pttl(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    ttl_generic(ctx, a[1], true, false);
}

fn expiretime(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    ttl_generic(ctx, a[1], false, true);
}

fn pexpiretime(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    ttl_generic(ctx, a[1], true, true);
}

fn persist(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let r = ctx.db().with_key(a[1], Access::WRITE.no_touch(), |k| {
        if k.exists() && k.expire_at().is_some() {
            k.set_expire_at(None);
            1
        } else {
            0
        }
    });
    if r == 1 {
        ctx.notify(GENERIC, "persist", a[1]);
    }
    ctx.int(r);
}
