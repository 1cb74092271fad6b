//! CLIENT subcommands of connection control: REPLY, PAUSE and UNPAUSE; and the check that
//! holds commands back while a pause lasts ([`held_by_pause`]).

use super::flags::*;
use super::util::{eq, int};
use super::{lookup, Ctx, Handler};
use crate::state::pause::PauseKind;
use crate::state::{Session, Shared};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("client|reply", 3, ADMIN, (0, 0, 0), reply);
    add("client|pause", -3, ADMIN, (0, 0, 0), pause);
    add("client|unpause", 2, ADMIN, (0, 0, 0), unpause);
}

/// CLIENT REPLY ON|OFF|SKIP: ON answers OK; OFF and SKIP answer nothing.
fn reply(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if eq(a[2], "on") {
        ctx.sess.reply_off = false;
        ctx.sess.reply_skip = false;
        ctx.sess.reply_skip_next = false;
        ctx.ok();
    } else if eq(a[2], "off") {
        ctx.sess.reply_off = true;
        ctx.sess.after_command = true;
    } else if eq(a[2], "skip") {
        if !ctx.sess.reply_off {
            ctx.sess.reply_skip_next = true;
            ctx.sess.after_command = true;
        }
    } else {
        ctx.syntax_error();
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
fn pause(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 4 {
        return ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(a[1])
        ));
    }
    let Some(ms) = int(a[2]) else {
        return ctx.err("ERR timeout is not an integer or out of range");
    };
    if ms < 0 {
        return ctx.err("ERR timeout is negative");
    }
    let kind = match a.get(3) {
        None => PauseKind::All,
        Some(m) if eq(m, "all") => PauseKind::All,
        Some(m) if eq(m, "write") => PauseKind::Write,
        Some(_) => return ctx.err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let now = ctx.shared.engine.now_ms();
    ctx.shared.pause.pause(kind, now.saturating_add(ms as u64));
    ctx.ok();
}

/// CLIENT UNPAUSE
fn unpause(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    ctx.shared.pause.unpause();
    ctx.ok();
}

/// Commands a WRITE pause holds back besides writes: those Redis marks `may-replicate`.
fn may_replicate(argv: &[&[u8]]) -> bool {
    let name = argv[0];
    ["eval", "evalsha", "fcall", "publish", "spublish", "pfcount"]
        .iter()
        .any(|n| eq(name, n))
        || (["script", "function"].iter().any(|n| eq(name, n))
            && argv.get(1).is_some_and(|s| {
                ["load", "flush", "delete", "restore"]
                    .iter()
                    .any(|n| eq(s, n))
            }))
}

fn held_back(argv: &[&[u8]]) -> bool {
    lookup(argv[0]).is_some_and(|c| c.flags & WRITE != 0) || may_replicate(argv)
}

/// Whether `CLIENT PAUSE` holds expiry and eviction back.
#[inline]
pub fn paused(shared: &Shared) -> bool {
    shared.pause.any() && shared.pause.current(shared.engine.now_ms()) != PauseKind::Off
}

/// After a command while [`Session::after_command`] is set: CLIENT REPLY OFF|SKIP drop the
/// reply (written from `start` on); CLIENT CACHING applies to the next command only (or
/// transaction).
#[cold]
pub(super) fn after_command(
    sess: &mut Session,
    out: &mut bytes::BytesMut,
    start: usize,
    argv: &[&[u8]],
) {
    if sess.reply_off || sess.reply_skip {
        out.truncate(start);
    }
    sess.reply_skip = std::mem::take(&mut sess.reply_skip_next);
    if sess.multi.is_none() && !argv.first().is_some_and(|c| eq(c, "client")) {
        sess.track_caching = false;
    }
    sess.after_command =
        sess.reply_off || sess.reply_skip || sess.reply_skip_next || sess.track_caching;
}

/// [`held_by_pause`] for a parsed request.
#[inline]
pub fn held(shared: &Shared, sess: &Session, args: &protocol::Args<'_>) -> bool {
    if !shared.pause.any() || shared.pause.current(shared.engine.now_ms()) == PauseKind::Off {
        return false;
    }
    let argv: Vec<&[u8]> = args.iter().collect();
    held_by_pause(shared, sess, &argv)
}

/// Whether a pause holds this request back (one relaxed load when there is no pause).
/// Inside MULTI commands are queued; EXEC waits under a WRITE pause if it would write.
#[inline]
pub fn held_by_pause(shared: &Shared, sess: &Session, argv: &[&[u8]]) -> bool {
    match shared.pause.current(shared.engine.now_ms()) {
        PauseKind::Off => false,
        PauseKind::All => true,
        PauseKind::Write => held_by_write_pause(sess, argv),
    }
}

#[cold]
fn held_by_write_pause(sess: &Session, argv: &[&[u8]]) -> bool {
    if argv.is_empty() {
        return false;
    }
    match &sess.multi {
        Some(queue) if eq(argv[0], "exec") => queue.iter().any(|c| {
            let v: Vec<&[u8]> = c.iter().map(|b| &b[..]).collect();
            !v.is_empty() && held_back(&v)
        }),
        Some(_) => false,
        None => held_back(argv),
    }
}
