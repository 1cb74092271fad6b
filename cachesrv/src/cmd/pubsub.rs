//! Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.
//!
//! Confirmations are pushes (`>` in RESP3, arrays in RESP2) with the connection's total
//! subscription count, one per channel, as Redis sends them.

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

fn confirm(ctx: &mut Ctx<'_>, kind: &[u8], name: Option<&[u8]>) {
    let total = ctx.sess.channels.len() + ctx.sess.patterns.len();
    let p = ctx.proto();
    ctx.out.write_push_len(3, p);
    ctx.out.write_bulk(kind);
    match name {
        Some(n) => ctx.out.write_bulk(n),
        None => ctx.out.write_null(p),
    }
    ctx.out.write_integer(total as i64);
}

fn subscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    for ch in &a[1..] {
        let ch = Bytes::copy_from_slice(ch);
        if ctx.sess.channels.insert(ch.clone()) {
            ctx.shared
                .pubsub
                .subscribe(&ch, ctx.sess.info.id, &ctx.sess.mailbox);
        }
        confirm(ctx, b"subscribe", Some(&ch));
    }
    ctx.sess.publish_sub_counts();
}

fn psubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    for pat in &a[1..] {
        let pat = Bytes::copy_from_slice(pat);
        if ctx.sess.patterns.insert(pat.clone()) {
            ctx.shared
                .pubsub
                .psubscribe(&pat, ctx.sess.info.id, &ctx.sess.mailbox);
        }
        confirm(ctx, b"psubscribe", Some(&pat));
    }
    ctx.sess.publish_sub_counts();
}

fn unsubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].iter().map(|c| Bytes::copy_from_slice(c)).collect()
    } else {
        ctx.sess.channels.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(ctx, b"unsubscribe", None);
    }
    for ch in names {
        if ctx.sess.channels.remove(&ch) {
            ctx.shared.pubsub.unsubscribe(&ch, ctx.sess.info.id);
        }
        confirm(ctx, b"unsubscribe", Some(&ch));
    }
    ctx.sess.publish_sub_counts();
}

fn punsubscribe(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let names: Vec<Bytes> = if a.len() > 1 {
        a[1..].iter().map(|c| Bytes::copy_from_slice(c)).collect()
    } else {
        ctx.sess.patterns.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(ctx, b"punsubscribe", None);
    }
    for pat in names {
        if ctx.sess.patterns.remove(&pat) {
            ctx.shared.pubsub.punsubscribe(&pat, ctx.sess.info.id);
        }
        confirm(ctx, b"punsubscribe", Some(&pat));
    }
    ctx.sess.publish_sub_counts();
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
