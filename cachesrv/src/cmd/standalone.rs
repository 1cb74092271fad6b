//! Commands whose answers come from being a single master with no replicas and no cluster,
//! as Redis 7.0 gives them in that setup: ROLE, WAIT, READONLY, READWRITE, FAILOVER,
//! REPLICAOF/SLAVEOF NO ONE, LOLWUT; and the shard channels (SSUBSCRIBE, SUNSUBSCRIBE,
//! SPUBLISH), which with cluster mode disabled are channels of a namespace of their own.

use bytes::Bytes;

use super::flags::*;
use super::pubsub::{ssubscribe, sunsubscribe};
use super::util::{eq, int, NOT_INTEGER};
use super::{Ctx, Handler};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("role", 1, FAST, (0, 0, 0), role);
    add("wait", 3, 0, (0, 0, 0), wait);
    add("readonly", 1, FAST, (0, 0, 0), cluster_disabled);
    add("readwrite", 1, FAST, (0, 0, 0), cluster_disabled);
    add("failover", -1, ADMIN, (0, 0, 0), failover);
    add("replicaof", 3, ADMIN | NO_QUEUE, (0, 0, 0), replicaof);
    add("slaveof", 3, ADMIN | NO_QUEUE, (0, 0, 0), replicaof);
    add("lolwut", -1, READONLY | FAST, (0, 0, 0), lolwut);
    add(
        "ssubscribe",
        -2,
        PUBSUB_OK | NO_QUEUE,
        (1, -1, 1),
        ssubscribe,
    );
    add(
        "sunsubscribe",
        -1,
        PUBSUB_OK | NO_QUEUE,
        (1, -1, 1),
        sunsubscribe,
    );
    add("spublish", 3, FAST, (1, 1, 1), spublish);
}

fn role(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    ctx.array(3);
    ctx.bulk(b"master");
    ctx.int(0);
    ctx.array(0);
}

fn wait(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if int(a[1]).is_none() {
        return ctx.err(NOT_INTEGER);
    }
    match int(a[2]) {
        None => ctx.err("ERR timeout is not an integer or out of range"),
        Some(t) if t < 0 => ctx.err("ERR timeout is negative"),
        // No replicas: none acknowledges, and there is none to wait for.
        Some(_) => ctx.int(0),
    }
}

fn cluster_disabled(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    ctx.err("ERR This instance has cluster support disabled");
}

fn failover(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut i = 1;
    let mut abort = false;
    while i < a.len() {
        if eq(a[i], "to") && i + 2 < a.len() {
            if int(a[i + 2]).is_none() {
                return ctx.err(NOT_INTEGER);
            }
            i += 3;
        } else if eq(a[i], "timeout") && i + 1 < a.len() {
            match int(a[i + 1]) {
                Some(t) if t > 0 => {}
                Some(_) => return ctx.err("ERR FAILOVER timeout must be greater than 0"),
                None => return ctx.err(NOT_INTEGER),
            }
            i += 2;
        } else if eq(a[i], "force") || eq(a[i], "abort") {
            abort |= eq(a[i], "abort");
            i += 1;
        } else {
            return ctx.syntax_error();
        }
    }
    if abort {
        if a.len() > 2 {
            return ctx.syntax_error();
        }
        return ctx.err("ERR No failover in progress.");
    }
    ctx.err("ERR FAILOVER requires connected replicas.");
}

fn replicaof(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if eq(a[1], "no") && eq(a[2], "one") {
        // Already a master: nothing changes.
        return ctx.ok();
    }
    ctx.err("ERR cachesrv does not replicate: only REPLICAOF NO ONE is supported");
}

fn lolwut(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() >= 3 && eq(a[1], "version") && int(a[2]).is_none() {
        return ctx.err(NOT_INTEGER);
    }
    let text = format!("Redis ver. {}\n", super::server::REDIS_VERSION);
    ctx.verbatim(&text);
}

fn spublish(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let n = ctx
        .shared
        .shard_pubsub
        .spublish(&Bytes::copy_from_slice(a[1]), &Bytes::copy_from_slice(a[2]));
    ctx.int(n);
}
