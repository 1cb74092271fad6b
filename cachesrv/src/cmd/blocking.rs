//! Blocking commands' life cycle, for every value type: blocking, trying again when woken,
//! timing out, `CLIENT UNBLOCK`, disconnecting.
//!
//! A blocking handler that finds nothing to take (and whose client may block: a network
//! connection outside MULTI/EXEC) writes no reply and leaves a
//! [`crate::state::blocking::BlockRequest`] in the session. `begin` then queues the client in
//! the registry ([`crate::state::Blocking`]), registers it with the engine for the keys where
//! it is first in line, and runs the handler once more, so a write made meanwhile is not
//! missed. A client still blocked keeps its command in [`Session::blocked`]; its connection
//! stops running requests until [`wake`] (a key it waits on was written, it became first in
//! line, or `CLIENT UNBLOCK`) or [`timeout`] writes the command's reply.
//!
//! A new blocking family (BZPOPMIN, BZPOPMAX, BZMPOP) plugs in through its handlers alone:
//! take from the first ready key whose turn it is (`shared.blocking.may_serve(db, key, me,
//! BlockOn::SortedSet)`, `me` being the blocked client's id while it tries again, and keys of
//! another type skipped while blocked), else, when `sess.can_block`, leave a `BlockRequest`
//! with `on: BlockOn::SortedSet` and write nothing, or reply the non-blocking null. Waking,
//! timeouts, `CLIENT UNBLOCK` and cleanup are all here.
//!
//! A blocked command counts once in `INFO commandstats` and MONITOR, as in Redis: tries after
//! the first run the handler alone.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{resolve, Ctx, Handle, Holding, OuterCtx};
use crate::engine::KeySignal;
use crate::state::blocking::Blocked;
use crate::state::{Session, Shared, Unblock};

/// Blocks the client if its command asked to (called after each command, under its gate).
pub(super) fn begin(ctx: &mut Ctx<'_>, argv: &[&[u8]]) {
    let Some(req) = ctx.sess.block_request.take() else {
        return;
    };
    let info = &ctx.sess.info;
    let waiter = ctx.shared.blocking.block(
        info.id,
        req.on,
        ctx.sess.db,
        req.keys,
        req.deadline.is_some(),
        info.waker.clone(),
    );
    info.blocked.store(true, Ordering::Relaxed);
    ctx.sess.blocked = Some(Blocked {
        waiter,
        argv: argv.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
        deadline: req.deadline,
        null_array: req.null_array,
    });
    try_again(ctx);
}

/// Registers the blocked client with the engine for the keys where it is first in line, then
/// runs its command again (under the gate `ctx` proves held): on success the reply is written
/// and the client unblocked.
fn try_again(ctx: &mut Ctx<'_>) {
    let Some(b) = ctx.sess.blocked.as_ref() else {
        return;
    };
    let shared = ctx.shared;
    let w = b.waiter.clone();
    let signal: Weak<dyn KeySignal> = Arc::downgrade(&(w.clone() as Arc<dyn KeySignal>));
    for k in shared.blocking.heads(&w) {
        // The database exists: the client selected it.
        let _ = shared.engine.notify_on_write(w.db, &k, signal.clone());
    }
    let argv = b.argv.clone();
    let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
    // Blocking commands are keyspace commands.
    let Ok((cmd, Handle::Keyspace(h))) = resolve(&args).map(|c| (c, c.handler)) else {
        return finish(shared, ctx.sess);
    };
    super::aof::handle(ctx, cmd, h, &args);
    if ctx.sess.block_request.take().is_none() {
        // Served, or an error: the reply is written.
        finish(shared, ctx.sess);
    }
}

/// Leaves the registry: the client is no longer blocked.
fn finish(shared: &Shared, sess: &mut Session) {
    if let Some(b) = sess.blocked.take() {
        shared.blocking.leave(&b.waiter);
        sess.info.blocked.store(false, Ordering::Relaxed);
    }
}

fn ctx<'a>(shared: &'a Shared, sess: &'a mut Session, out: &'a mut BytesMut) -> OuterCtx<'a> {
    OuterCtx::new(shared, sess, out, Holding::Nothing)
}

/// The timeout reply of the blocked command, then unblocks.
fn time_out(ctx: &mut OuterCtx<'_>) {
    if ctx.sess.blocked.as_ref().is_some_and(|b| b.null_array) {
        ctx.null_array();
    } else {
        ctx.null();
    }
    finish(ctx.shared, ctx.sess);
}

/// A blocked client was woken: `CLIENT UNBLOCK`, or a key it waits on may be ready. Writes
/// the reply into `out` if that ends the wait; true if the client is no longer blocked.
pub fn wake(shared: &Shared, sess: &mut Session, out: &mut BytesMut) -> bool {
    let Some(how) = sess.blocked.as_ref().map(|b| b.waiter.unblock_request()) else {
        return true;
    };
    let mut ctx = ctx(shared, sess, out);
    match how {
        Unblock::Timeout => time_out(&mut ctx),
        Unblock::Error => {
            ctx.err("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            finish(shared, ctx.sess);
        }
        Unblock::No => {
            let gate = shared.engine.shared();
            ctx.with_gate(gate.held(), try_again);
        }
    }
    ctx.sess.blocked.is_none()
}

/// When the blocked client times out, if it does.
pub fn deadline(sess: &Session) -> Option<Instant> {
    sess.blocked.as_ref().and_then(|b| b.deadline)
}

/// Ends the wait with the timeout reply if its deadline has passed at `now`; true if the
/// client is no longer blocked.
pub fn timeout(shared: &Shared, sess: &mut Session, out: &mut BytesMut, now: Instant) -> bool {
    match deadline(sess) {
        Some(d) if d <= now => {
            time_out(&mut ctx(shared, sess, out));
            true
        }
        _ => sess.blocked.is_none(),
    }
}

/// Cleans up a blocked client that disconnects.
pub(super) fn disconnect(shared: &Shared, sess: &mut Session) {
    finish(shared, sess);
}
