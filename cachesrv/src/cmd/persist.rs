//! Persistence commands: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF, DUMP and RESTORE (the snapshot machinery is
//! in [`crate::state::persist`], the format in [`crate::persist::rdb`]).
//!
//! `DUMP` payloads are Redis 7.0's (RDB version 10, CRC64), so a value dumped by one server
//! restores on the other. `SAVE` runs on the calling thread but does not stop other clients
//! (the snapshot locks one shard at a time).

use std::cell::RefCell;

use super::flags::*;
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};
use crate::engine::{Access, Ttl};
use crate::persist::rdb::decode::restore_payload;
use crate::persist::rdb::encode::Encoder;
use crate::state::{BgsaveError, RewriteError};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("save", 1, ADMIN | NO_QUEUE, (0, 0, 0), save);
    add("bgsave", -1, ADMIN, (0, 0, 0), bgsave);
    add("lastsave", 1, FAST, (0, 0, 0), lastsave);
    add("bgrewriteaof", 1, ADMIN, (0, 0, 0), bgrewriteaof);
    add("dump", 2, READONLY, (1, 1, 1), dump);
    add("restore", -4, WRITE | DENYOOM, (1, 1, 1), restore);
}

fn save(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    if ctx.sess.multi.is_some() {
        // Redis's `no_multi` flag: refused, and the transaction is aborted.
        ctx.sess.multi_error = true;
        return ctx.err("ERR Command not allowed inside a transaction");
    }
    if ctx.shared.persist_info().bgsave_in_progress {
        return ctx.err("ERR Background save already in progress");
    }
    match ctx.shared.save_now() {
        Ok(_) => ctx.ok(),
        Err(_) => ctx.err("ERR"),
    }
}

fn bgsave(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let schedule = match a.len() {
        1 => false,
        2 if eq(a[1], "schedule") => true,
        _ => return ctx.syntax_error(),
    };
    match ctx.shared.bgsave(schedule) {
        Ok(true) => ctx.simple("Background saving started"),
        Ok(false) => ctx.simple("Background saving scheduled"),
        Err(BgsaveError::InProgress) => ctx.err("ERR Background save already in progress"),
        Err(BgsaveError::Spawn) => ctx.err("ERR"),
    }
}

fn bgrewriteaof(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    if ctx.shared.aof_info().rewriting {
        return ctx.err("ERR Background append only file rewriting already in progress");
    }
    if ctx.shared.persist_info().bgsave_in_progress {
        ctx.shared
            .aof
            .scheduled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        return ctx.simple("Background append only file rewriting scheduled");
    }
    match ctx.shared.bgrewriteaof() {
        Ok(()) => ctx.simple("Background append only file rewriting started"),
        Err(RewriteError::InProgress) => {
            ctx.err("ERR Background append only file rewriting already in progress")
        }
        Err(RewriteError::Failed) => {
            ctx.err("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.")
        }
    }
}

fn lastsave(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let t = ctx.shared.lastsave() as i64;
    ctx.int(t);
}

thread_local! {
    static ENCODER: RefCell<Encoder> = RefCell::new(Encoder::new(true));
}

fn dump(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let compress = ctx.shared.config.read().rdbcompression();
    let access = ctx.read_access();
    let payload = ctx.db().with_key(a[1], access, |k| {
        k.value().map(|v| {
            ENCODER.with(|e| {
                let mut e = e.borrow_mut();
                e.set_compression(compress);
                e.dump_payload(v)
            })
        })
    });
    match payload {
        Some(p) => ctx.bulk(&p),
        None => ctx.null(),
    }
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, checked in Redis's
/// order: options, an existing key, the TTL, the payload.
fn restore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    let mut j = 4;
    while j < a.len() {
        let more = j + 1 < a.len();
        if eq(a[j], "replace") {
            replace = true;
        } else if eq(a[j], "absttl") {
            absttl = true;
        } else if eq(a[j], "idletime") && more && freq.is_none() {
            let Some(v) = int(a[j + 1]) else {
                return ctx.err(NOT_INTEGER);
            };
            if v < 0 {
                return ctx.err("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v as u64);
            j += 1;
        } else if eq(a[j], "freq") && more && idle.is_none() {
            let Some(v) = int(a[j + 1]) else {
                return ctx.err(NOT_INTEGER);
            };
            if !(0..=255).contains(&v) {
                return ctx.err("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v as u8);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let db = ctx.db();
    if !replace && db.with_key(a[1], Access::WRITE.no_touch(), |k| k.exists()) {
        return ctx.err("BUSYKEY Target key name already exists.");
    }
    let Some(ttl) = int(a[2]) else {
        return ctx.err(NOT_INTEGER);
    };
    if ttl < 0 {
        return ctx.err("ERR Invalid TTL value, must be >= 0");
    }
    let value = match restore_payload(a[3]) {
        Ok(v) => v,
        Err(e) => return ctx.err(e.reply()),
    };
    let res = db.with_key(a[1], Access::WRITE.no_touch(), |k| {
        if !replace && k.exists() {
            return Err("BUSYKEY Target key name already exists.".to_string());
        }
        let now = k.now_ms() as i64;
        let at = match (ttl, absttl) {
            (0, _) => None,
            (t, true) => Some(t),
            (t, false) => Some(t.saturating_add(now)),
        };
        if let Some(at) = at {
            if at <= now {
                // Already expired: the key is not created (an old one is still replaced).
                return Ok(k.delete().then_some("del"));
            }
        }
        let ttl = at.map_or(Ttl::Clear, |t| Ttl::At(t as u64));
        k.put(value, ttl).map_err(|e| e.to_string())?;
        k.set_access_meta(idle, freq);
        Ok(Some("restore"))
    });
    match res {
        Ok(event) => {
            if let Some(event) = event {
                ctx.notify(super::notify::GENERIC, event, a[1]);
            }
            ctx.ok()
        }
        Err(e) => ctx.err(&e),
    }
}
