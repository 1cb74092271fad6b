//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Commands after MULTI are queued by the dispatcher (`+QUEUED`); a command refused while
//! queueing (unknown, wrong arity, OOM...) makes EXEC answer EXECABORT. EXEC takes the engine's
//! gate exclusively, so the queued commands run with no other command interleaved on any
//! thread; a WATCHed key modified since WATCH (or expired) aborts it with a null array.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::flags::*;
use super::{call, resolve, Ctx, Handler, Holding, LocalStats, OuterCtx, OwnGateHandler};

pub(super) fn register(
    add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler),
    own: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), OwnGateHandler),
) {
    add("multi", 1, NO_QUEUE | FAST, (0, 0, 0), multi);
    own("exec", 1, NO_QUEUE, (0, 0, 0), exec);
    add("discard", 1, NO_QUEUE | FAST, (0, 0, 0), discard);
    add("watch", -2, NO_QUEUE | FAST, (1, -1, 1), watch);
    add("unwatch", 1, NO_QUEUE | FAST, (0, 0, 0), unwatch);
}

fn set_multi<G>(ctx: &mut Ctx<'_, G>, queue: Option<Vec<Vec<Bytes>>>) {
    let n = queue.as_ref().map_or(usize::MAX, Vec::len);
    ctx.sess.multi = queue;
    ctx.sess.info.multi.store(n, Ordering::Relaxed);
}

fn multi(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    if ctx.sess.multi.is_some() {
        return ctx.err("ERR MULTI calls can not be nested");
    }
    set_multi(ctx, Some(Vec::new()));
    ctx.sess.multi_error = false;
    ctx.ok();
}

fn discard(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    if ctx.sess.multi.is_none() {
        return ctx.err("ERR DISCARD without MULTI");
    }
    set_multi(ctx, None);
    ctx.sess.multi_error = false;
    ctx.sess.watches.clear();
    ctx.ok();
}

fn exec(ctx: &mut OuterCtx<'_>, _a: &[&[u8]]) {
    let Some(queue) = ctx.sess.multi.take() else {
        return ctx.err("ERR EXEC without MULTI");
    };
    set_multi(ctx, None);
    let watches = std::mem::take(&mut ctx.sess.watches);
    if std::mem::take(&mut ctx.sess.multi_error) {
        return ctx.err("EXECABORT Transaction discarded because of previous errors.");
    }
    let shared = ctx.shared;
    let guard = shared.engine.exclusive();
    let gate = guard.exclusive();
    if watches.iter().any(|w| shared.engine.is_dirty(w)) {
        return ctx.null_array();
    }
    drop(watches);
    ctx.array(queue.len());
    let mut stats = LocalStats::default();
    stats.start_batch(shared);
    // Blocking commands act as their non-blocking forms inside a transaction.
    let can_block = std::mem::replace(&mut ctx.sess.can_block, false);
    super::aof::begin_tx();
    for argv in &queue {
        let args: Vec<&[u8]> = argv.iter().map(|b| &b[..]).collect();
        // Queued only after the checks of `dispatch`: it resolves.
        match resolve(&args) {
            Ok(cmd) => match super::acl::check::check(ctx, cmd, &args, "multi") {
                Ok(()) => ctx.outer(Holding::Exclusive(gate), |ctx| {
                    call(ctx, cmd, &args, &mut stats);
                }),
                Err(reason) => ctx.err(&super::acl::check::exec_noperm(reason)),
            },
            Err(_) => ctx.err("ERR unknown command"),
        }
    }
    super::aof::end_tx(shared, gate.held());
    // An error of a queued command is that command's, not EXEC's (`failed_calls`).
    ctx.failed = false;
    ctx.sess.can_block = can_block;
    stats.flush(shared);
}

fn watch(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if ctx.sess.multi.is_some() {
        return ctx.err("ERR WATCH inside MULTI is not allowed");
    }
    for key in &a[1..] {
        if ctx
            .sess
            .watches
            .iter()
            .any(|w| w.db() == ctx.sess.db && w.key() == *key)
        {
            continue;
        }
        match ctx.shared.engine.watch(ctx.sess.db, key) {
            Ok(t) => ctx.sess.watches.push(t),
            Err(e) => return ctx.engine_err(e),
        }
    }
    ctx.ok();
}

fn unwatch(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    ctx.sess.watches.clear();
    ctx.ok();
}
