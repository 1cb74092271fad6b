//! Propagation of write commands to the append-only file, as Redis 7.0 propagates them.
//!
//! A write command runs under the AOF's ordering lock and is logged only if it changed the
//! keyspace (the engine's change counter moved). Records are rewritten the way Redis 7.0
//! writes them: relative expiries become absolute (`EXPIRE`/`PEXPIRE`/`EXPIREAT`/`GETEX` ->
//! `PEXPIREAT`, or `DEL` when the key went, `PERSIST` for `GETEX PERSIST`; `SET ... EX`,
//! `SETEX`, `PSETEX` -> `SET key value PXAT ms`; `RESTORE` with a relative TTL -> `ABSTTL`), and
//! commands whose effect is random, float-formatted or blocking are logged as their effects,
//! as their handlers report them through [`log_as`] (`SPOP` -> `SREM` of each popped member,
//! or `DEL`; `INCRBYFLOAT` -> `SET ... KEEPTTL`; `HINCRBYFLOAT` -> `HSET`; a served `BLPOP` ->
//! `LPOP key`, `BLMOVE` -> `LMOVE`, `BZPOPMIN` -> `ZPOPMIN key`, `[B]LMPOP`/`[B]ZMPOP` -> `LPOP
//! key count`/`ZPOPMIN key count`...). `SET ... GET` is logged without `GET`. The commands of
//! a transaction, and the writes of a script or function, are logged between `MULTI` and
//! `EXEC` (a single one alone), as is a command logged as several. Keys the engine expired or
//! evicted are logged as `DEL` first (see [`crate::state::aof`]); those a command found
//! expired go with its records, in its block. `GETDEL` is logged as `DEL`. While a rewrite
//! copies the keys, every write is logged as its keys' resulting states (see
//! [`crate::state::aof_ops`]), but for a plain `SET key value`, whose effect does not depend on
//! the key's earlier state.

use std::cell::RefCell;

use super::util::eq;
use super::{flags, Command, Ctx, Handler, OuterCtx, OwnGateHandler};
use crate::engine::{Access, Held};
use crate::persist::rdb::encode::Encoder;
use crate::state::aof::{LogBuf, RemovedRecord, WriteScope};

/// One record to log.
enum Rec {
    /// Runs in a database.
    Db(usize, Vec<Vec<u8>>),
    /// Runs in none.
    Global(Vec<Vec<u8>>),
}

/// One write command of a transaction, collected by EXEC.
struct TxEntry {
    /// Its records, as computed right after it ran.
    recs: Vec<Rec>,
    /// They are key states already.
    state: bool,
    /// The keys it names, with their databases (none for `FLUSHALL`-like commands).
    keys: Vec<(usize, Vec<u8>)>,
}

thread_local! {
    /// The commands of the transaction EXEC is running on this thread.
    static TX: RefCell<Option<Vec<TxEntry>>> = const { RefCell::new(None) };
    static ENCODER: RefCell<Encoder> = RefCell::new(Encoder::new(true));
    /// Marks this thread as in a write while EXEC or a script runs.
    static TX_SCOPE: RefCell<Option<WriteScope>> = const { RefCell::new(None) };
    /// What the running command reported to be logged as, instead of itself ([`log_as`]).
    static EFFECTS: RefCell<Vec<Vec<Vec<u8>>>> = const { RefCell::new(Vec::new()) };
}

/// Logs the running write command as `argv` instead of itself (each call adds one record;
/// several are logged between `MULTI` and `EXEC`). `argv` is only built while the AOF is on.
pub(super) fn log_as(ctx: &Ctx<'_>, argv: impl FnOnce() -> Vec<Vec<u8>>) {
    if ctx.shared.aof.is_on() {
        let a = argv();
        EFFECTS.with(|e| e.borrow_mut().push(a));
    }
}

/// Logs a command that changed no key but must be replayed (`FUNCTION LOAD`, `DELETE`,
/// `FLUSH`, `RESTORE`), as sent, in the client's database.
pub(super) fn log_now<G>(ctx: &Ctx<'_, G>, argv: &[&[u8]]) {
    if let Some(mut log) = ctx.shared.aof.order() {
        if in_tx() {
            // Inside EXEC: with the transaction's records.
            let entry = TxEntry {
                recs: vec![Rec::Db(ctx.sess.db, owned(argv))],
                state: false,
                keys: Vec::new(),
            };
            TX.with(|t| {
                if let Some(v) = t.borrow_mut().as_mut() {
                    v.push(entry);
                }
            });
        } else {
            log.command(ctx.sess.db, argv);
        }
    }
}

fn take_effects() -> Vec<Vec<Vec<u8>>> {
    EFFECTS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// True while EXEC or a script collects its commands' records.
pub(super) fn in_tx() -> bool {
    TX.with(|t| t.borrow().is_some())
}

/// How the append-only file logs a command that changed the keyspace: set once per command
/// of the table, from its name (`class`), so that no name is compared per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofLog {
    /// Not logged: a read (inside a transaction or a script, the keys it finds expired are).
    No,
    /// As sent.
    AsIs,
    /// `SET`: as sent, unless it has an expiry option (`SET ... PXAT`) or `GET` (dropped).
    Set,
    /// Rewritten from its arguments or its keys' states once it ran (see the module's doc).
    Rewritten,
    /// As its handler reports (`log_as`).
    Effects,
}

/// The [`AofLog`] of a command of the table.
pub(super) fn class(name: &str, bits: u32) -> AofLog {
    // PFCOUNT is a read that may store the cardinality it computed: logged when it does.
    if bits & flags::WRITE == 0 && name != "pfcount" {
        return AofLog::No;
    }
    match name {
        "set" => AofLog::Set,
        "flushall" | "swapdb" | "expire" | "pexpire" | "expireat" | "pexpireat" | "getex"
        | "getdel" | "setex" | "psetex" | "restore" => AofLog::Rewritten,
        "spop" | "incrbyfloat" | "hincrbyfloat" | "blpop" | "brpop" | "blmove" | "brpoplpush"
        | "blmpop" | "lmpop" | "bzpopmin" | "bzpopmax" | "bzmpop" | "zmpop" => AofLog::Effects,
        _ => AofLog::AsIs,
    }
}

/// Runs the handler `h` of a command of [`flags::OWN_GATE`] (EXEC, a script, SCRIPT,
/// FUNCTION: none is a write; what they change is logged by the commands they run, or by
/// [`log_now`]). Inside a transaction, keys it found expired are collected first.
pub(super) fn handle_outer(ctx: &mut OuterCtx<'_>, h: OwnGateHandler, argv: &[&[u8]]) {
    let collect = ctx.shared.aof.is_on() && in_tx();
    h(ctx, argv);
    if collect {
        collect_own_removals(ctx.shared);
    }
}

/// Adds the keys this thread found expired to the transaction's records.
fn collect_own_removals(shared: &crate::state::Shared) {
    let expired: Vec<TxEntry> = shared
        .aof
        .take_own_removals()
        .into_iter()
        .map(|(d, a)| TxEntry {
            keys: vec![(d, a[1].clone())],
            recs: vec![Rec::Db(d, a)],
            state: true,
        })
        .collect();
    if !expired.is_empty() {
        TX.with(|t| {
            if let Some(v) = t.borrow_mut().as_mut() {
                v.extend(expired);
            }
        });
    }
}

/// Runs `cmd`'s handler `h`, logging it to the AOF when it is a write that changed something.
pub(super) fn handle(ctx: &mut Ctx<'_>, cmd: &'static Command, h: Handler, argv: &[&[u8]]) {
    if !ctx.shared.aof.is_on() {
        return h(ctx, argv);
    }
    let write = cmd.aof != AofLog::No;
    if in_tx() {
        // A read matters too, for the keys it finds expired.
        return handle_in_tx(ctx, cmd, h, argv, write);
    }
    if !write {
        // The lock a batch keeps is for its write commands only.
        ctx.shared.aof.release_kept();
        return h(ctx, argv);
    }
    let Some(mut log) = ctx.shared.aof.order_kept() else {
        return h(ctx, argv);
    };
    let d0 = crate::engine::dirtied_here();
    {
        let _scope = WriteScope::enter();
        h(ctx, argv);
    }
    let changed = crate::engine::dirtied_here() != d0;
    if ctx.shared.aof.removals_pending() {
        // Keys expired or evicted meanwhile by other threads (or evicted before this
        // command) are logged first; those this command found expired, with it in one block
        // (Redis 7.0).
        let own = ctx.shared.aof.log_removals(&mut log, true);
        return log_records(ctx, cmd, argv, &mut log, own, changed);
    }
    if !changed {
        take_effects();
        return;
    }
    if logged_as_is(cmd, argv) && (!log.state_mode() || absolute(cmd, argv)) {
        // The common case: the command itself, copied from the request (or encoded from
        // the arguments) in place.
        return log.command_as_sent(ctx.sess.db, argv, ctx.request);
    }
    log_records(ctx, cmd, argv, &mut log, Vec::new(), true)
}

/// Logs a write command's records (`changed`: it changed the keyspace) after the `DEL`s of
/// the keys it found expired (`own`), in one block.
fn log_records(
    ctx: &Ctx<'_>,
    cmd: &'static Command,
    argv: &[&[u8]],
    log: &mut LogBuf,
    own: Vec<RemovedRecord>,
    changed: bool,
) {
    let mut recs: Vec<Rec> = own.into_iter().map(|(d, a)| Rec::Db(d, a)).collect();
    if !changed {
        take_effects();
    } else if recs.is_empty()
        && logged_as_is(cmd, argv)
        && (!log.state_mode() || absolute(cmd, argv))
    {
        return log.command_as_sent(ctx.sess.db, argv, ctx.request);
    } else {
        let state = log.state_mode();
        recs.extend(records(ctx, cmd, argv, state, Some(log)));
    }
    write_atomic(log, recs);
}

/// [`handle`] inside EXEC or a script (the engine's gate is held exclusively): the command's
/// records are collected, to be logged at its end; keys it found expired first.
fn handle_in_tx(ctx: &mut Ctx<'_>, cmd: &'static Command, h: Handler, argv: &[&[u8]], write: bool) {
    let d0 = crate::engine::dirtied_here();
    h(ctx, argv);
    collect_own_removals(ctx.shared);
    if !write {
        return;
    }
    if crate::engine::dirtied_here() == d0 {
        take_effects();
        return;
    }
    let state = ctx.shared.aof.log_lock().state_mode();
    let recs = records(ctx, cmd, argv, state, None);
    let db = ctx.sess.db;
    let mut keys: Vec<(usize, Vec<u8>)> = match cmd.name {
        "flushall" | "flushdb" | "swapdb" => Vec::new(),
        _ => keys(cmd, argv).iter().map(|k| (db, k.to_vec())).collect(),
    };
    if let (Some(other), Some(last)) = (other_db(cmd, argv), keys.last().cloned()) {
        let k = if cmd.name == "move" {
            keys[0].1.clone()
        } else {
            last.1
        };
        keys.push((other, k));
    }
    let entry = TxEntry { recs, state, keys };
    TX.with(|t| {
        if let Some(v) = t.borrow_mut().as_mut() {
            v.push(entry);
        }
    });
}

/// Writes a command's or a transaction's records: one alone, several between `MULTI` and
/// `EXEC` (so a reload applies all of them or none).
fn write_atomic(log: &mut LogBuf, recs: Vec<Rec>) {
    if recs.len() > 1 {
        let first_db = recs.iter().find_map(|r| match r {
            Rec::Db(d, _) => Some(*d),
            Rec::Global(_) => None,
        });
        match first_db {
            Some(d) => log.command(d, &[b"MULTI".to_vec()]),
            None => log.global(&[b"MULTI".to_vec()]),
        }
        for r in recs {
            write(log, r);
        }
        log.global(&[b"EXEC".to_vec()]);
    } else {
        for r in recs {
            write(log, r);
        }
    }
}

/// True when a command is logged as it was sent (outside a rewrite).
#[inline(always)]
fn logged_as_is(cmd: &Command, argv: &[&[u8]]) -> bool {
    match cmd.aof {
        AofLog::AsIs => true,
        AofLog::Set => argv.len() == 3 || set_as_is(argv),
        AofLog::No | AofLog::Rewritten | AofLog::Effects => false,
    }
}

/// True for `SET key value`: the key's state after it does not depend on its state before, so
/// it can be logged as sent during a rewrite too (replayed on top of whatever state of the
/// key the base holds, it leaves the same state; see [`crate::state::aof_ops`]).
#[inline(always)]
fn absolute(cmd: &Command, argv: &[&[u8]]) -> bool {
    cmd.aof == AofLog::Set && argv.len() == 3
}

/// `SET key value <options>` is logged as sent unless an option is rewritten.
fn set_as_is(argv: &[&[u8]]) -> bool {
    !(has_expire_option(argv) || has_get_option(argv))
}

fn write(log: &mut LogBuf, r: Rec) {
    match r {
        Rec::Db(db, argv) => log.command(db, &argv),
        Rec::Global(argv) => log.global(&argv),
    }
}

/// Starts collecting a transaction's records (EXEC, before running its commands).
pub(super) fn begin_tx() {
    TX.with(|t| *t.borrow_mut() = Some(Vec::new()));
    TX_SCOPE.with(|s| *s.borrow_mut() = Some(WriteScope::enter()));
}

/// Logs the transaction's records: `MULTI`, the records, `EXEC` (one record alone).
///
/// A rewrite may have started while the transaction ran (the automatic one does not wait for
/// the engine's gate): its records then go to the new incremental file although their effects
/// may be in the base, so commands collected before it are logged as their keys' states, as
/// they stand after the transaction. `gate`: the transaction's (or script's) exclusive hold.
pub(super) fn end_tx(shared: &crate::state::Shared, gate: Held<'_>) {
    let Some(entries) = TX.with(|t| t.borrow_mut().take()) else {
        return;
    };
    TX_SCOPE.with(|s| s.borrow_mut().take());
    if entries.is_empty() {
        return;
    }
    let Some(mut log) = shared.aof.order() else {
        return;
    };
    // Keys others expired or evicted meanwhile go before the block.
    shared.aof.log_removals(&mut log, false);
    let state_now = log.state_mode();
    let mut recs = Vec::new();
    for e in entries {
        if state_now && !e.state && !e.keys.is_empty() {
            recs.extend(
                e.keys
                    .iter()
                    .map(|(d, k)| Rec::Db(*d, state_of(shared, gate, *d, k))),
            );
        } else {
            recs.extend(e.recs);
        }
    }
    write_atomic(&mut log, recs);
}

fn owned(argv: &[&[u8]]) -> Vec<Vec<u8>> {
    argv.iter().map(|a| a.to_vec()).collect()
}

/// The keys a command names (its table key positions, plus the `numkeys` forms and
/// `SORT ... STORE`).
fn keys<'a>(cmd: &Command, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let n = argv.len();
    let numkeys_at = match cmd.name {
        "lmpop" => Some(1),
        "blmpop" => Some(2),
        _ => None,
    };
    if let Some(at) = numkeys_at {
        let k = argv
            .get(at)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        return argv.iter().skip(at + 1).take(k).copied().collect();
    }
    let (first, last, step) = cmd.keys;
    let mut out = Vec::new();
    if first > 0 {
        let last = if last < 0 {
            n as i64 + last as i64
        } else {
            last as i64
        };
        let mut i = first as i64;
        while i <= last && (i as usize) < n {
            out.push(argv[i as usize]);
            i += step.max(1) as i64;
        }
    }
    if cmd.name == "sort" {
        if let Some(p) = argv.iter().position(|a| eq(a, "store")) {
            if let Some(d) = argv.get(p + 1) {
                out.push(d);
            }
        }
    }
    out
}

/// The state of `key` in database `db`: `RESTORE key <abs ms|0> <payload> REPLACE ABSTTL`,
/// or `DEL key`.
fn state_of(shared: &crate::state::Shared, gate: Held<'_>, db: usize, key: &[u8]) -> Vec<Vec<u8>> {
    let compress = shared.config.read().rdbcompression();
    let Ok(handle) = shared.engine.db(db, gate) else {
        return vec![b"DEL".to_vec(), key.to_vec()];
    };
    let state = handle.with_key(key, Access::READ.no_touch().no_stats(), |k| {
        k.value().map(|v| {
            let payload = ENCODER.with(|e| {
                let mut e = e.borrow_mut();
                e.set_compression(compress);
                e.dump_payload(v)
            });
            (payload, k.expire_at().unwrap_or(0))
        })
    });
    match state {
        Some((payload, at)) => vec![
            b"RESTORE".to_vec(),
            key.to_vec(),
            at.to_string().into_bytes(),
            payload,
            b"REPLACE".to_vec(),
            b"ABSTTL".to_vec(),
        ],
        None => vec![b"DEL".to_vec(), key.to_vec()],
    }
}

/// (exists, expire_at, string value) of a key after the command.
fn key_now(ctx: &Ctx<'_>, key: &[u8]) -> (bool, Option<u64>, Option<Vec<u8>>) {
    ctx.db()
        .with_key(key, Access::READ.no_touch().no_stats(), |k| {
            (
                k.exists(),
                k.expire_at(),
                k.as_str().ok().flatten().map(<[u8]>::to_vec),
            )
        })
}

/// The destination database of `MOVE key db` and `COPY src dst DB db`.
fn other_db(cmd: &Command, argv: &[&[u8]]) -> Option<usize> {
    let text = match cmd.name {
        "move" => argv.get(2)?,
        "copy" => {
            let p = argv.iter().position(|a| eq(a, "db"))?;
            argv.get(p + 1)?
        }
        _ => return None,
    };
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn has_get_option(argv: &[&[u8]]) -> bool {
    argv.iter().skip(3).any(|a| eq(a, "get"))
}

fn has_expire_option(argv: &[&[u8]]) -> bool {
    argv.iter()
        .skip(3)
        .any(|a| eq(a, "ex") || eq(a, "px") || eq(a, "exat") || eq(a, "pxat"))
}

fn records(
    ctx: &Ctx<'_>,
    cmd: &'static Command,
    argv: &[&[u8]],
    state: bool,
    log: Option<&mut LogBuf>,
) -> Vec<Rec> {
    let db = ctx.sess.db;
    match cmd.name {
        "flushall" => return vec![Rec::Global(owned(argv))],
        "swapdb" => {
            if state {
                match log {
                    Some(l) => l.spoil(),
                    None => ctx.shared.aof.log_lock().spoil(),
                }
            }
            return vec![Rec::Global(owned(argv))];
        }
        "flushdb" => return vec![Rec::Db(db, owned(argv))],
        _ => {}
    }
    let effects = take_effects();
    if !state && !effects.is_empty() {
        return effects.into_iter().map(|a| Rec::Db(db, a)).collect();
    }
    if state {
        let ks = keys(cmd, argv);
        if ks.is_empty() {
            return vec![Rec::Db(db, owned(argv))];
        }
        let mut recs: Vec<Rec> = ks
            .iter()
            .map(|k| Rec::Db(db, state_of(ctx.shared, ctx.gate, db, k)))
            .collect();
        // A key moved or copied to another database: its state there too.
        if let Some(other) = other_db(cmd, argv) {
            let k = if cmd.name == "move" {
                ks[0]
            } else {
                ks[ks.len() - 1]
            };
            recs.push(Rec::Db(other, state_of(ctx.shared, ctx.gate, other, k)));
        }
        return recs;
    }
    let key = argv.get(1).copied().unwrap_or_default();
    let rewritten = match cmd.name {
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => {
            let (exists, at, _) = key_now(ctx, key);
            Some(match (exists, at) {
                (false, _) => vec![b"DEL".to_vec(), key.to_vec()],
                (true, Some(at)) => {
                    let mut v = vec![
                        b"PEXPIREAT".to_vec(),
                        key.to_vec(),
                        at.to_string().into_bytes(),
                    ];
                    // EXPIRE's NX|XX|GT|LT, kept as Redis keeps them.
                    if cmd.name != "getex" {
                        v.extend(argv.iter().skip(3).map(|a| a.to_vec()));
                    }
                    v
                }
                (true, None) => vec![b"PERSIST".to_vec(), key.to_vec()],
            })
        }
        "getdel" => Some(vec![b"DEL".to_vec(), key.to_vec()]),
        "setex" | "psetex" => Some(set_pxat(ctx, key)),
        "set" if has_expire_option(argv) => Some(set_pxat(ctx, key)),
        "set" => Some(
            argv.iter()
                .enumerate()
                .filter(|&(i, a)| i < 3 || !eq(a, "get"))
                .map(|(_, a)| a.to_vec())
                .collect(),
        ),
        "restore" if !argv.iter().skip(4).any(|a| eq(a, "absttl")) && argv[2] != b"0" => {
            let (exists, at, _) = key_now(ctx, key);
            Some(match (exists, at) {
                (true, Some(at)) => {
                    let mut v = owned(argv);
                    v[2] = at.to_string().into_bytes();
                    v.push(b"ABSTTL".to_vec());
                    v
                }
                _ => vec![b"DEL".to_vec(), key.to_vec()],
            })
        }
        _ => None,
    };
    vec![Rec::Db(db, rewritten.unwrap_or_else(|| owned(argv)))]
}

/// `SET key value PXAT ms` from the key as the command left it.
fn set_pxat(ctx: &Ctx<'_>, key: &[u8]) -> Vec<Vec<u8>> {
    match key_now(ctx, key) {
        (true, Some(at), Some(v)) => vec![
            b"SET".to_vec(),
            key.to_vec(),
            v,
            b"PXAT".to_vec(),
            at.to_string().into_bytes(),
        ],
        (true, None, Some(v)) => vec![b"SET".to_vec(), key.to_vec(), v],
        _ => vec![b"DEL".to_vec(), key.to_vec()],
    }
}
