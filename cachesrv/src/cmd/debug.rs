//! DEBUG: the subcommands operators and test suites use (SLEEP, SET-ACTIVE-EXPIRE, POPULATE).
//! As in Redis, what DEBUG changes is not propagated to the append-only file.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::flags::*;
use super::keys::help;
use super::util::{eq, float, int};
use super::{Ctx, Handler};
use crate::engine::{Access, Ttl};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("debug", -2, ADMIN, (0, 0, 0), debug);
}

fn debug(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if eq(a[1], "sleep") && a.len() == 3 {
        let Some(secs) = float(a[2]).filter(|s| *s >= 0.0 && s.is_finite()) else {
            return ctx.err("ERR value is not a valid float");
        };
        // As Redis: the server (here, this worker) is blocked for the duration.
        std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
        ctx.ok();
    } else if eq(a[1], "set-active-expire") && a.len() == 3 {
        // As Redis's atoi: the leading integer, 0 when there is none.
        let text = String::from_utf8_lossy(a[2]);
        let t = text.trim_start();
        let digits: String = t
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
            .map(|(_, c)| c)
            .collect();
        let on = digits.parse::<i64>().unwrap_or(0) != 0;
        ctx.shared.active_expire.store(on, Ordering::Relaxed);
        ctx.ok();
    } else if eq(a[1], "populate") && (3..=5).contains(&a.len()) {
        populate(ctx, a);
    } else if eq(a[1], "help") {
        help(
            ctx,
            &[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    the append-only file.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else {
        // Redis's DEBUG says the same for an unknown subcommand and a wrong argument count.
        let s = String::from_utf8_lossy(&a[1][..a[1].len().min(128)]);
        ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{s}'. Try DEBUG HELP."
        ));
    }
}

/// A count or size argument of POPULATE: an integer, not negative (Redis gives one error for
/// both).
fn not_negative(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<usize> {
    match int(arg).and_then(|n| usize::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            ctx.err("ERR value is out of range, must be positive");
            None
        }
    }
}

/// Bytes of memory the system can still give (`MemAvailable`), if known.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(kb.saturating_mul(1024))
}

/// The longest key Redis's POPULATE makes (its 128-byte buffer, less the terminating NUL).
const MAX_KEY: usize = 127;

/// Keys made between two checks of `maxmemory`.
const MEMORY_CHECK_EVERY: usize = 256;

/// DEBUG POPULATE count [prefix] [size]: `count` string keys `<prefix>:<n>` (prefix `key`,
/// `n` from 0), each holding `value:<n>`, or with `size`, `size` bytes: `value:<n>` cut or
/// padded with zero bytes. A key that exists is left alone. As Redis's, the key is cut at
/// 127 bytes and the prefix at its first NUL byte; no keyspace event is sent. A count the
/// database cannot hold, or that would take more memory than the system has available, is
/// refused as Redis refuses a table it cannot allocate (`OOM in dictTryExpand`), before any
/// key is made. Unlike Redis's (whose DEBUG is off by default), it keeps to `maxmemory` as a
/// run of SETs would: the policy evicts as the keys are made, and under `noeviction` (or with
/// nothing left to evict) it stops with the OOM error, the keys made so far kept.
fn populate(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(count) = not_negative(ctx, a[2]) else {
        return;
    };
    let prefix: &[u8] = match a.get(3) {
        Some(p) => p.split(|&b| b == 0).next().unwrap_or(&[]),
        None => b"key",
    };
    let too_many = count > ctx.shared.engine.max_keys_per_db();
    // Key, value and bookkeeping: what `count` keys take at the least.
    let per_key = (prefix.len() + 21).min(MAX_KEY) as u64 + 64;
    let base_need = (count as u64).saturating_mul(per_key);
    if too_many || available_memory().is_some_and(|m| base_need > m) {
        return ctx.err("ERR OOM in dictTryExpand");
    }
    let size = match a.get(4) {
        Some(s) => match not_negative(ctx, s) {
            Some(n) => n,
            None => return,
        },
        None => 0,
    };
    if size > 0 {
        let values = (count as u64).saturating_mul(size as u64);
        if available_memory().is_some_and(|m| base_need.saturating_add(values) > m) {
            return ctx.err("ERR OOM in dictTryExpand");
        }
    }
    let db = ctx.db();
    let mut key = Vec::with_capacity(MAX_KEY);
    let mut value = Vec::with_capacity(size.max(32));
    let mut digits = itoa::Buffer::new();
    let limited = ctx.shared.engine.maxmemory() > 0;
    for j in 0..count {
        if limited && j % MEMORY_CHECK_EVERY == 0 {
            if let Err(e) = ctx.shared.engine.ensure_memory() {
                return ctx.err(&e.to_string());
            }
        }
        let n = digits.format(j).as_bytes();
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(n);
        key.truncate(MAX_KEY);
        value.clear();
        value.extend_from_slice(b"value:");
        value.extend_from_slice(n);
        if size > 0 {
            value.resize(size, 0);
        }
        let r = db.with_key(&key, Access::WRITE, |k| {
            if k.exists() {
                Ok(())
            } else {
                k.put_str(&value, Ttl::Clear)
            }
        });
        if let Err(e) = r {
            return ctx.engine_err(e);
        }
    }
    ctx.ok();
}
