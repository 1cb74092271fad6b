//! BZPOPMIN, BZPOPMAX and BZMPOP: the sorted-set pops that block, through the same life cycle
//! as the blocking list commands (`cmd/blocking.rs`): take from the first non-empty sorted set
//! whose turn it is, else leave a block request (or, inside MULTI/EXEC and scripts, reply the
//! timeout's null array at once).

use bytes::Bytes;
use protocol::RespWrite;

use super::super::list_block::parse_timeout;
use super::super::Ctx;
use super::write::{mpop_args, pop_into};
use crate::engine::{Access, EngineError};
use crate::state::blocking::BlockRequest;
use crate::state::BlockOn;

/// Which end, how many, and how to write the popped members.
#[derive(Clone, Copy)]
struct Pop {
    max: bool,
    count: usize,
    /// BZMPOP's `[key, [[member, score], ...]]` instead of BZPOPMIN's `[key, member, score]`.
    nested: bool,
}

/// Pops from the first non-empty sorted set of `keys` (locked together, so the choice is
/// atomic) and writes the reply; the index of the key popped from, `None` when every one is
/// empty. While the client is blocked
/// (`me`), a set is taken only in its turn and keys of another type are skipped.
fn pop_first(ctx: &mut Ctx<'_>, keys: &[&[u8]], pop: Pop) -> Result<Option<usize>, EngineError> {
    let me = ctx.sess.blocked.as_ref().map(|b| b.waiter.client);
    let db = ctx.sess.db;
    let proto = ctx.proto();
    let shared = ctx.shared;
    let placed: Vec<(usize, &[u8])> = keys.iter().map(|k| (db, *k)).collect();
    let mut g = shared.engine.lock_keys(&placed)?;
    for (i, key) in keys.iter().enumerate() {
        let Some(mut k) = g.key(i, Access::WRITE) else {
            continue;
        };
        let len = match k.as_zset() {
            Err(_) if me.is_some() => continue,
            Err(e) => return Err(e),
            Ok(z) => z.map_or(0, |z| z.len()),
        };
        if len == 0 || !shared.blocking.may_serve(db, key, me, BlockOn::SortedSet) {
            continue;
        }
        let n = pop.count.min(len);
        // Logged as ZPOPMIN/ZPOPMAX key (BZMPOP: with the count popped), as Redis does.
        super::super::aof::log_as(ctx, || {
            let mut v = vec![zpop_name(pop.max), key.to_vec()];
            if pop.nested {
                v.push(n.to_string().into_bytes());
            }
            v
        });
        let out = &mut *ctx.out;
        if pop.nested {
            out.write_array_len(2);
            out.write_bulk(key);
            out.write_array_len(n);
        } else {
            out.write_array_len(3);
            out.write_bulk(key);
        }
        k.update_zset(false, |z| pop_into(z, pop.max, n, out, proto, pop.nested))?;
        return Ok(Some(i));
    }
    Ok(None)
}

/// `ZPOPMIN` or `ZPOPMAX`: the non-blocking form a served pop is logged as.
pub(super) fn zpop_name(max: bool) -> Vec<u8> {
    if max { b"ZPOPMAX" } else { b"ZPOPMIN" }.to_vec()
}

fn run(ctx: &mut Ctx<'_>, keys: &[&[u8]], timeout: &[u8], pop: Pop) {
    let Ok(deadline) = parse_timeout(ctx, timeout) else {
        return;
    };
    match pop_first(ctx, keys, pop) {
        Ok(Some(i)) => super::write::notify_pop(ctx, keys[i], pop.max),
        Ok(None) if ctx.sess.can_block => {
            ctx.sess.block_request = Some(BlockRequest {
                on: BlockOn::SortedSet,
                keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
                deadline,
                null_array: true,
            });
        }
        Ok(None) => ctx.null_array(),
        Err(e) => ctx.engine_err(e),
    }
}

fn bzpop(ctx: &mut Ctx<'_>, a: &[&[u8]], max: bool) {
    let keys = &a[1..a.len() - 1];
    let pop = Pop {
        max,
        count: 1,
        nested: false,
    };
    run(ctx, keys, a[a.len() - 1], pop);
}

/// BZPOPMIN key [key ...] timeout
pub(super) fn bzpopmin(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bzpop(ctx, a, false);
}

/// BZPOPMAX key [key ...] timeout
pub(super) fn bzpopmax(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    bzpop(ctx, a, true);
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn bzmpop(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some((where_idx, max, count)) = mpop_args(ctx, a, 2) else {
        return;
    };
    let pop = Pop {
        max,
        count,
        nested: true,
    };
    run(ctx, &a[3..where_idx], a[1], pop);
}
