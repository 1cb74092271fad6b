//! Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, and the
//! subscribing side of shard channels (SSUBSCRIBE, SUNSUBSCRIBE) for `standalone`.
//!
//! Confirmations are pushes (`>` in RESP3, arrays in RESP2) with the connection's total
//! subscription count, one per channel, as Redis sends them.

use std::collections::HashSet;

use bytes::Bytes;
use protocol::RespWrite;

use super::flags::*;
use super::keys::help;
use super::util::eq;
use super::{unknown_subcommand, Ctx, Handler};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("subscribe", -2, PUBSUB_OK | NO_QUEUE, (0, 0, 0), subscribe);
    add(
        "unsubscribe",
        -1,
        PUBSUB_OK | NO_QUEUE,
        (0, 0, 0),
        unsubscribe,
    );
    add(
        "psubscribe",
        -2,
        PUBSUB_OK | NO_QUEUE,
        (0, 0, 0),
        psubscribe,
    );
    add(
        "punsubscribe",
        -1,
        PUBSUB_OK | NO_QUEUE,
        (0, 0, 0),
        punsubscribe,
    );
    add("publish", 3, FAST, (0, 0, 0), publish);
    add("pubsub", -2, 0, (0, 0, 0), pubsub);
    for (name, arity) in [
        ("pubsub|channels", -2),
        ("pubsub|numsub", -2),
        ("pubsub|numpat", 2),
        ("pubsub|shardchannels", -2),
        ("pubsub|shardnumsub", -2),
        ("pubsub|help", 2),
    ] {
        add(name, arity, 0, (0, 0, 0), pubsub);
    }
}

/// The three kinds of subscription a connection holds.
#[derive(Clone, Copy)]
enum Sub {
    Channel,
    Pattern,
    Shard,
}

impl Sub {
    /// The connection's names of this kind.
    fn names<'s>(self, ctx: &'s mut Ctx<'_>) -> &'s mut HashSet<Bytes> {
        match self {
            Sub::Channel => &mut ctx.sess.channels,
            Sub::Pattern => &mut ctx.sess.patterns,
            Sub::Shard => &mut ctx.sess.shard_channels,
        }
    }

    fn join(self, ctx: &Ctx<'_>, name: &Bytes) {
        let (id, mb) = (ctx.sess.info.id, &ctx.sess.mailbox);
        match self {
            Sub::Channel => ctx.shared.pubsub.subscribe(name, id, mb),
            Sub::Pattern => ctx.shared.pubsub.psubscribe(name, id, mb),
            Sub::Shard => ctx.shared.shard_pubsub.subscribe(name, id, mb),
        };
    }

    fn leave(self, ctx: &Ctx<'_>, name: &[u8]) {
        let id = ctx.sess.info.id;
        match self {
            Sub::Channel => ctx.shared.pubsub.unsubscribe(name, id),
            Sub::Pattern => ctx.shared.pubsub.punsubscribe(name, id),
            Sub::Shard => ctx.shared.shard_pubsub.unsubscribe(name, id),
        };
    }

    /// The count a confirmation carries: shard channels are counted apart, as in Redis.
    fn total(self, ctx: &Ctx<'_>) -> usize {
        match self {
            Sub::Shard => ctx.sess.shard_channels.len(),
            _ => ctx.sess.channels.len() + ctx.sess.patterns.len(),
        }
    }

    /// Publishes the connection's counts for `CLIENT LIST`.
    fn publish_counts(self, ctx: &Ctx<'_>) {
        match self {
            Sub::Shard => ctx.sess.info.ssubs.store(
                ctx.sess.shard_channels.len(),
                std::sync::atomic::Ordering::Relaxed,
            ),
            _ => ctx.sess.publish_sub_counts(),
        }
    }
}

fn confirm(ctx: &mut Ctx<'_>, sub: Sub, kind: &[u8], name: Option<&[u8]>) {
    let total = sub.total(ctx);
    let p = ctx.proto();
    ctx.out.write_push_len(3, p);
    ctx.out.write_bulk(kind);
    match name {
        Some(n) => ctx.out.write_bulk(n),
        None => ctx.out.write_null(p),
    }
    ctx.out.write_integer(total as i64);
}

/// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE: one confirmation per name.
fn join(ctx: &mut Ctx<'_>, a: &[&[u8]], sub: Sub, kind: &[u8]) {
    for name in &a[1..] {
        let name = Bytes::copy_from_slice(name);
        if sub.names(ctx).insert(name.clone()) {
            sub.join(ctx, &name);
        }
        confirm(ctx, sub, kind, Some(&name));
    }
    sub.publish_counts(ctx);
}

/// UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE: the names given, or all of that kind; one
/// confirmation per name (a null one when there was none).
fn leave(ctx: &mut Ctx<'_>, a: &[&[u8]], sub: Sub, kind: &[u8]) {
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].iter().map(|c| Bytes::copy_from_slice(c)).collect()
    } else {
        sub.names(ctx).iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(ctx, sub, kind, None);
    }
    for name in names {
        if sub.names(ctx).remove(&name) {
            sub.leave(ctx, &name);
        }
        confirm(ctx, sub, kind, Some(&name));
    }
    sub.publish_counts(ctx);
}

fn subscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    join(ctx, a, Sub::Channel, b"subscribe");
}

fn psubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    join(ctx, a, Sub::Pattern, b"psubscribe");
}

fn unsubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    leave(ctx, a, Sub::Channel, b"unsubscribe");
}

fn punsubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    leave(ctx, a, Sub::Pattern, b"punsubscribe");
}

/// SSUBSCRIBE (shard channels: a namespace of their own, as Redis with cluster mode off).
pub(super) fn ssubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    join(ctx, a, Sub::Shard, b"ssubscribe");
}

/// SUNSUBSCRIBE.
pub(super) fn sunsubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    leave(ctx, a, Sub::Shard, b"sunsubscribe");
}

fn publish(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let n = ctx
        .shared
        .pubsub
        .publish(&Bytes::copy_from_slice(a[1]), &Bytes::copy_from_slice(a[2]));
    ctx.int(n);
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

fn pubsub(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = a[1];
    if eq(sub, "help") && a.len() == 2 {
        help(ctx, PUBSUB_HELP);
    } else if eq(sub, "channels") && a.len() <= 3 {
        let list = ctx.shared.pubsub.channels(a.get(2).copied());
        ctx.array(list.len());
        for c in list {
            ctx.bulk(&c);
        }
    } else if eq(sub, "numsub") {
        // A flat array in RESP3 too, as Redis 7.0 answers.
        ctx.array(2 * (a.len() - 2));
        for ch in &a[2..] {
            ctx.bulk(ch);
            let n = ctx.shared.pubsub.numsub(ch);
            ctx.int(n as i64);
        }
    } else if eq(sub, "numpat") && a.len() == 2 {
        let n = ctx.shared.pubsub.numpat();
        ctx.int(n as i64);
    } else if eq(sub, "shardchannels") && a.len() <= 3 {
        let list = ctx.shared.shard_pubsub.channels(a.get(2).copied());
        ctx.array(list.len());
        for c in list {
            ctx.bulk(&c);
        }
    } else if eq(sub, "shardnumsub") {
        ctx.array(2 * (a.len() - 2));
        for ch in &a[2..] {
            ctx.bulk(ch);
            let n = ctx.shared.shard_pubsub.numsub(ch);
            ctx.int(n as i64);
        }
    } else if ["channels", "numpat"].iter().any(|s| eq(sub, s)) {
        ctx.arity_error(&format!(
            "pubsub|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ));
    } else {
        unknown_subcommand(ctx, "pubsub", sub);
    }
}
