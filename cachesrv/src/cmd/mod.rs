//! The command layer: a table of Redis commands and the dispatcher that runs them.
//!
//! Each entry has Redis's name, arity (negative: at least), flags and handler; handlers live in
//! one file per family (`string`, `bitmap`, `keys`, `expire`, `hash`, `set`, `list`, `zset`, `geo`, `pubsub`, `tx`,
//! `connection`, `server`). [`execute`] checks, in Redis 7's order: the command exists, its
//! arity, authentication, memory (eviction before `denyoom` commands), the RESP2 subscriber
//! context, and MULTI queueing; then runs the handler and records stats, SLOWLOG and MONITOR.
//! Replies and errors are byte-identical to Redis 7 for what is supported. [`Runner`] runs
//! commands in process, with no socket or runtime.
//!
//! The engine's gate is part of the handlers' types (module `ctx`): a [`Handler`] runs under
//! the gate (the caller's hold, or the shared gate the dispatcher takes) and its [`Ctx`]
//! carries the guard's proof, which `ctx.db()` needs; an [`OwnGateHandler`] (EXEC, the
//! scripts, SCRIPT, FUNCTION) gets an [`OuterCtx`], without keyspace access, and takes the gate
//! itself. Which kind a command is decides its [`flags::OWN_GATE`].

pub mod acl;
mod aof;
pub mod aof_load;
mod bitmap;
pub mod blocking;
pub mod client_ext;
mod client_tracking;
mod command;
mod connection;
mod ctx;
mod debug;
mod expire;
mod geo;
mod hash;
mod hll;
mod info;
mod keys;
mod latency;
mod list;
mod list_block;
pub mod meta;
mod notify;
mod persist;
mod pubsub;
mod runner;
mod script;
mod server;
mod set;
mod standalone;
mod string;
pub mod timing;
mod tx;
pub mod util;
mod zset;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use protocol::{Args, Protocol, RespWrite};

use crate::config::Config;
pub use crate::state::NO_COMMAND;
use crate::state::{Push, Session, Shared, SlowEntry};
pub use aof::AofLog;
pub use ctx::{Ctx, Holding, OuterCtx};
pub use info::info_text;
pub use runner::{decode_all, Runner};
pub use util::Fnv;

/// Command flags.
pub mod flags {
    /// Modifies the keyspace.
    pub const WRITE: u32 = 1;
    /// Reads only.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory: refused with OOM when eviction cannot make room.
    pub const DENYOOM: u32 = 1 << 2;
    /// Allowed before authentication.
    pub const NOAUTH: u32 = 1 << 3;
    /// Allowed in RESP2 subscriber mode.
    pub const PUBSUB_OK: u32 = 1 << 4;
    /// Runs immediately inside MULTI instead of being queued.
    pub const NO_QUEUE: u32 = 1 << 5;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 6;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 7;
    /// Takes the engine's gate itself or needs none (EXEC, scripts, SCRIPT, FUNCTION and their
    /// subcommands): set by the table for a [`super::Handle::OwnGate`] handler.
    pub const OWN_GATE: u32 = 1 << 9;
}

/// A handler: arguments (command name first), writing its reply into `ctx.out`; it runs
/// under the engine's gate and reaches the keyspace through `ctx.db()`.
pub type Handler = fn(&mut Ctx<'_>, &[&[u8]]);

/// The handler of a command that takes the engine's gate itself or needs none (EXEC, the
/// scripts, SCRIPT, FUNCTION): its context has no keyspace access.
pub type OwnGateHandler = fn(&mut OuterCtx<'_>, &[&[u8]]);

/// A command's handler, of one of the two kinds.
#[derive(Clone, Copy)]
pub enum Handle {
    /// Runs under the gate the dispatcher holds for it.
    Keyspace(Handler),
    /// Takes the gate itself ([`flags::OWN_GATE`]).
    OwnGate(OwnGateHandler),
}

/// One command of the table.
pub struct Command {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis's arity: exact when positive, at least `-arity` when negative.
    pub arity: i32,
    /// [`flags`].
    pub flags: u32,
    /// First key position (0: none), last key position (-1: last argument), step.
    pub keys: (i32, i32, i32),
    /// The handler.
    pub handler: Handle,
    /// Index in the table (for per-command stats).
    pub id: usize,
    /// How the append-only file logs it (from the name, once).
    pub aof: AofLog,
    /// A container's subcommands (ids), such as `config|get` for CONFIG: as in Redis 7, each
    /// has its own arity, statistics and name in `CLIENT LIST`.
    pub subs: Vec<usize>,
}

impl Command {
    /// A subcommand (`container|sub`).
    pub fn is_sub(&self) -> bool {
        self.name.contains('|')
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

type NameMap = HashMap<&'static str, usize, std::hash::BuildHasherDefault<Fnv>>;

fn table() -> &'static (Vec<Command>, NameMap) {
    static TABLE: OnceLock<(Vec<Command>, NameMap)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let v: RefCell<Vec<Command>> = RefCell::new(Vec::new());
        let push = |name: &'static str, arity: i32, flags: u32, keys, handler: Handle| {
            let mut v = v.borrow_mut();
            let own = match handler {
                Handle::OwnGate(_) => flags::OWN_GATE,
                Handle::Keyspace(_) => 0,
            };
            let id = v.len();
            v.push(Command {
                name,
                arity,
                flags: flags | own,
                keys,
                handler,
                id,
                aof: aof::class(name, flags),
                subs: Vec::new(),
            });
        };
        let mut add = |name, arity, flags, keys, h: Handler| {
            push(name, arity, flags, keys, Handle::Keyspace(h));
        };
        let mut own = |name, arity, flags, keys, h: OwnGateHandler| {
            push(name, arity, flags, keys, Handle::OwnGate(h));
        };
        string::register(&mut add);
        bitmap::register(&mut add);
        keys::register(&mut add);
        expire::register(&mut add);
        hash::register(&mut add);
        hll::register(&mut add);
        set::register(&mut add);
        list::register(&mut add);
        list_block::register(&mut add);
        zset::register(&mut add);
        geo::register(&mut add);
        pubsub::register(&mut add);
        tx::register(&mut add, &mut own);
        connection::register(&mut add);
        client_ext::register(&mut add);
        client_tracking::register(&mut add);
        server::register(&mut add);
        debug::register(&mut add);
        command::register(&mut add);
        acl::register(&mut add);
        latency::register(&mut add);
        standalone::register(&mut add);
        persist::register(&mut add);
        script::register(&mut own);
        let mut v = v.into_inner();
        for i in 0..v.len() {
            if let Some((container, _)) = v[i].name.split_once('|') {
                let parent = v.iter().position(|c| c.name == container);
                if let Some(p) = parent {
                    v[p].subs.push(i);
                }
            }
        }
        let map = v.iter().map(|c| (c.name, c.id)).collect();
        (v, map)
    })
}

/// Every command and subcommand, in table order.
pub fn commands() -> &'static [Command] {
    &table().0
}

/// A subcommand of `container` by name (`argv[1]`), case-insensitively.
pub fn subcommand(container: &Command, sub: &[u8]) -> Option<&'static Command> {
    let mut buf = [0u8; 32];
    let n = container.name.len();
    if n + 1 + sub.len() > buf.len() {
        return None;
    }
    buf[..n].copy_from_slice(container.name.as_bytes());
    buf[n] = b'|';
    buf[n + 1..n + 1 + sub.len()].copy_from_slice(sub);
    lookup_full(&buf[..n + 1 + sub.len()])
}

/// The command a request names: for a container with arguments (`CONFIG GET ...`), its
/// subcommand. `Err(Some(container))`: the container has no such subcommand.
pub fn resolve(argv: &[&[u8]]) -> Result<&'static Command, Option<&'static Command>> {
    let cmd = lookup(argv[0]).ok_or(None)?;
    resolve_sub(cmd, argv)
}

fn resolve_sub(
    cmd: &'static Command,
    argv: &[&[u8]],
) -> Result<&'static Command, Option<&'static Command>> {
    match argv.get(1) {
        Some(sub) if !cmd.subs.is_empty() => subcommand(cmd, sub).ok_or(Some(cmd)),
        _ => Ok(cmd),
    }
}

/// Finds a command by name, case-insensitively (subcommands are not commands of their own:
/// `config|get` is not found).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    lookup_full(name).filter(|c| !c.is_sub())
}

/// Finds a command or a subcommand (`config|get`) by name, case-insensitively, as
/// `COMMAND INFO` does.
pub fn lookup_full(name: &[u8]) -> Option<&'static Command> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    let (v, map) = table();
    map.get(lower).map(|&i| &v[i])
}

/// A connection's counters, flushed into [`crate::state::CommandStats`] once per batch so that threads do
/// not contend on shared counters per command.
#[derive(Debug, Default)]
pub struct LocalStats {
    /// (command id, calls, ticks of [`timing`], rejected, failed)
    entries: Vec<(usize, u64, u64, u64, u64)>,
    total: u64,
    /// End of the previous command (or start of the batch): each command's duration runs from
    /// here to its own end, so one clock read per command suffices.
    mark: Option<timing::Mark>,
    /// Commands shorter than this many ticks are not slow (half the slow log threshold, so
    /// the rounding of the conversion cannot hide one); 0: check every command.
    slow_ticks: u64,
    /// The threshold (microseconds) `slow_ticks` was computed from.
    slow_micros: u64,
    /// The last command looked up, and its name as the client spelled it (at most 16
    /// bytes): pipelines repeat the same command in the same case, so an exact comparison
    /// finds it without a case-insensitive one.
    last: Option<&'static Command>,
    last_spelling: ([u8; 16], usize),
    /// This batch's (command id, duration, is fast): ticks until [`LocalStats::flush`] turns
    /// them into nanoseconds for the latency histograms and monitor.
    samples: Vec<(usize, u64, bool)>,
}

impl LocalStats {
    /// Marks the start of a batch of commands.
    pub fn start_batch(&mut self, shared: &Shared) {
        self.mark = Some(timing::start());
        self.slow_threshold(shared);
    }

    /// The slow log threshold in ticks, recomputed when `CONFIG SET` changed it.
    #[inline]
    fn slow_threshold(&mut self, shared: &Shared) -> u64 {
        let micros = shared.slowlog_threshold.load(Ordering::Relaxed);
        if micros != self.slow_micros {
            self.slow_micros = micros;
            self.slow_ticks = timing::micros_to_ticks(micros) / 2;
        }
        self.slow_ticks
    }

    /// Looks a command up, trying the previous one first.
    fn lookup(&mut self, name: &[u8]) -> Option<&'static Command> {
        let (spelling, len) = &self.last_spelling;
        if let Some(c) = self.last {
            if *len == name.len() && spelling[..*len] == *name {
                return Some(c);
            }
        }
        let c = lookup(name)?;
        self.last = Some(c);
        if name.len() <= 16 {
            self.last_spelling.0[..name.len()].copy_from_slice(name);
            self.last_spelling.1 = name.len();
        } else {
            self.last_spelling.1 = usize::MAX;
        }
        Some(c)
    }

    fn entry(&mut self, id: usize) -> &mut (usize, u64, u64, u64, u64) {
        let i = match self.entries.iter().position(|e| e.0 == id) {
            Some(i) => i,
            None => {
                self.entries.push((id, 0, 0, 0, 0));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    /// Adds this batch's counts to the server's.
    pub fn flush(&mut self, shared: &Shared) {
        let s = &shared.command_stats;
        for &(id, calls, ticks, rejected, failed) in &self.entries {
            s.add(id, calls, timing::ticks_to_ns(ticks), rejected, failed);
        }
        self.entries.clear();
        if !self.samples.is_empty() {
            for s in &mut self.samples {
                s.1 = timing::ticks_to_ns(s.1);
            }
            shared.latency.record(&self.samples);
            self.samples.clear();
        }
        if self.total > 0 {
            shared
                .stats
                .total_commands
                .fetch_add(self.total, Ordering::Relaxed);
            self.total = 0;
        }
    }
}

fn unknown_command<G>(ctx: &mut Ctx<'_, G>, argv: &[&[u8]]) {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let s = String::from_utf8_lossy(&a[..a.len().min(room)]);
        args.push_str(&format!("'{s}' "));
    }
    let name = String::from_utf8_lossy(&argv[0][..argv[0].len().min(128)]);
    ctx.err(&format!(
        "ERR unknown command '{name}', with args beginning with: {args}"
    ));
}

/// `ERR unknown subcommand 'x'. Try CONTAINER HELP.`
pub fn unknown_subcommand<G>(ctx: &mut Ctx<'_, G>, container: &str, sub: &[u8]) {
    let s = String::from_utf8_lossy(&sub[..sub.len().min(128)]);
    ctx.err(&format!(
        "ERR unknown subcommand '{s}'. Try {} HELP.",
        container.to_ascii_uppercase()
    ));
}

pub(crate) fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

const STACK_ARGS: usize = 16;

/// Redis's refusal of writes after a failed save (`stop-writes-on-bgsave-error yes`).
const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

pub use client_ext::paused;

/// The shared state for `config`, with statistics for every command of the table.
pub fn shared(config: Config) -> Arc<Shared> {
    timing::calibrate();
    Shared::new(config, commands().len())
}

/// Every command's `INFO commandstats` counters since the last reset: (name, calls, usec,
/// rejected, failed).
pub fn command_stats(shared: &Shared) -> Vec<(&'static str, u64, u64, u64, u64)> {
    shared.command_stats.snapshot(|id| commands()[id].name)
}

/// Runs one parsed request, writing its reply into `out`. `gate`: what the caller holds of
/// the engine's gate (the shared gate for a batch, the exclusive one for a run of scripts;
/// never the shared one for the commands [`gate_use`] says take it themselves).
pub fn execute(
    shared: &Shared,
    sess: &mut Session,
    args: Args<'_>,
    out: &mut BytesMut,
    stats: &mut LocalStats,
    gate: Holding<'_>,
) {
    let n = args.len();
    let mut stack: [&[u8]; STACK_ARGS] = [&[]; STACK_ARGS];
    let heap: Vec<&[u8]>;
    let argv: &[&[u8]] = if n <= STACK_ARGS {
        for (slot, a) in stack.iter_mut().zip(args.iter()) {
            *slot = a;
        }
        &stack[..n]
    } else {
        heap = args.iter().collect();
        &heap
    };
    let start = out.len();
    let mut ctx = OuterCtx::new(shared, sess, out, gate);
    ctx.request = args.raw();
    dispatch(&mut ctx, argv, stats);
    if sess.after_command {
        client_ext::after_command(sess, out, start, argv);
    }
}

fn dispatch(ctx: &mut OuterCtx<'_>, argv: &[&[u8]], stats: &mut LocalStats) {
    let cmd = match stats
        .lookup(argv[0])
        .ok_or(None)
        .and_then(|c| resolve_sub(c, argv))
    {
        Ok(cmd) => cmd,
        Err(container) => {
            ctx.sess.info.last_cmd.store(NO_COMMAND, Ordering::Relaxed);
            match container {
                Some(c) => unknown_subcommand(ctx, c.name, argv[1]),
                None => unknown_command(ctx, argv),
            }
            ctx.sess.multi_error |= ctx.sess.multi.is_some();
            return;
        }
    };
    ctx.sess.info.last_cmd.store(cmd.id, Ordering::Relaxed);
    if !arity_ok(cmd.arity, argv.len()) {
        ctx.arity_error(cmd.name);
        ctx.sess.multi_error |= ctx.sess.multi.is_some();
        stats.entry(cmd.id).3 += 1;
        return;
    }
    if !ctx.sess.authenticated && cmd.flags & flags::NOAUTH == 0 {
        ctx.err("NOAUTH Authentication required.");
        ctx.sess.multi_error |= ctx.sess.multi.is_some();
        stats.entry(cmd.id).3 += 1;
        return;
    }
    if !ctx.sess.acl.fast_path(&ctx.shared.acl) && !acl::check::admit(ctx, cmd, argv) {
        stats.entry(cmd.id).3 += 1;
        return;
    }
    if ctx.shared.engine.maxmemory() > 0 && !paused(ctx.shared) {
        // As Redis: evict before every command (not while clients are paused); refuse the
        // ones that may grow memory.
        let out_of_memory = ctx.shared.engine.ensure_memory().is_err();
        let denyoom = cmd.flags & flags::DENYOOM != 0
            || (cmd.name == "exec"
                && ctx.sess.multi.as_ref().is_some_and(|q| {
                    q.iter()
                        .any(|c| lookup(&c[0]).is_some_and(|k| k.flags & flags::DENYOOM != 0))
                }))
            || (ctx.sess.multi.is_some()
                && !matches!(cmd.name, "exec" | "discard" | "quit" | "reset"));
        if out_of_memory && denyoom {
            ctx.err("OOM command not allowed when used memory > 'maxmemory'.");
            ctx.sess.multi_error |= ctx.sess.multi.is_some() && cmd.name != "exec";
            stats.entry(cmd.id).3 += 1;
            return;
        }
    }
    if ctx.shared.writes_denied() && (cmd.flags & flags::WRITE != 0 || cmd.name == "ping") {
        ctx.err(MISCONF);
        ctx.sess.multi_error |= ctx.sess.multi.is_some();
        stats.entry(cmd.id).3 += 1;
        return;
    }
    if ctx.sess.proto == Protocol::Resp2
        && ctx.sess.subscribed()
        && cmd.flags & flags::PUBSUB_OK == 0
    {
        ctx.err(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        ));
        stats.entry(cmd.id).3 += 1;
        return;
    }
    if let Some(queue) = ctx.sess.multi.as_mut() {
        if cmd.flags & flags::NO_QUEUE == 0 {
            queue.push(argv.iter().map(|a| Bytes::copy_from_slice(a)).collect());
            ctx.sess
                .info
                .multi
                .store(queue.len(), std::sync::atomic::Ordering::Relaxed);
            ctx.out.write_simple(b"QUEUED");
            return;
        }
    }
    call(ctx, cmd, argv, stats);
}

/// Runs a command that passed every check. A keyspace command runs under the gate the caller
/// holds (`ctx.gate`), else under the shared gate taken here, its context built from the
/// guard's proof; while a script holds the gate past `busy-reply-threshold`, it is answered
/// `-BUSY` instead. A command of [`flags::OWN_GATE`] runs with what the caller holds (EXEC and
/// scripts take the gate exclusively unless the caller holds it so; SCRIPT and FUNCTION need
/// none).
#[inline]
pub(crate) fn call(
    ctx: &mut OuterCtx<'_>,
    cmd: &'static Command,
    argv: &[&[u8]],
    stats: &mut LocalStats,
) {
    // The common case first: a keyspace command under the caller's hold (a batch's).
    if let (Handle::Keyspace(h), Some(held)) = (cmd.handler, ctx.gate.held()) {
        return ctx.with_gate(held, |ctx| run(ctx, cmd, h, argv, stats));
    }
    call_else(ctx, cmd, argv, stats);
}

/// [`call`] for a command of [`flags::OWN_GATE`], or with no gate held.
#[inline(never)]
fn call_else(
    ctx: &mut OuterCtx<'_>,
    cmd: &'static Command,
    argv: &[&[u8]],
    stats: &mut LocalStats,
) {
    // Takes or waits for the gate: not while keeping the AOF's lock (taken after the gate).
    ctx.shared.aof.release_kept();
    match cmd.handler {
        Handle::OwnGate(h) => run_outer(ctx, cmd, h, argv, stats),
        Handle::Keyspace(h) => match script::wait_gate(ctx.shared) {
            Ok(gate) => ctx.with_gate(gate.held(), |ctx| run(ctx, cmd, h, argv, stats)),
            Err(busy) => {
                ctx.err(busy);
                stats.entry(cmd.id).3 += 1;
            }
        },
    }
}

pub use script::GateUse;

/// How the event loop holds the engine's gate for the command named `name`: shared, or
/// exclusively for a run of scripts (EVAL, EVALSHA, FCALL and their `_RO` forms, which then
/// run under it), or not at all (EXEC, SCRIPT and FUNCTION take it themselves or need none).
#[inline]
pub fn gate_use(name: &[u8]) -> GateUse {
    script::gate_use(name)
}

/// Runs keyspace command `cmd` (its handler `h`) under the gate `ctx` proves held.
fn run(
    ctx: &mut Ctx<'_>,
    cmd: &'static Command,
    h: Handler,
    argv: &[&[u8]],
    stats: &mut LocalStats,
) {
    measured(ctx, cmd, argv, stats, |ctx| {
        if ctx.shared.tracking.active() {
            client_tracking::handle(ctx, cmd, h, argv);
        } else {
            aof::handle(ctx, cmd, h, argv);
        }
    });
    if ctx.sess.block_request.is_some() {
        ctx.shared.aof.release_kept();
        blocking::begin(ctx, argv);
    }
}

/// Runs command `cmd` of [`flags::OWN_GATE`] (its handler `h`), with no keyspace access.
fn run_outer(
    ctx: &mut OuterCtx<'_>,
    cmd: &'static Command,
    h: OwnGateHandler,
    argv: &[&[u8]],
    stats: &mut LocalStats,
) {
    measured(ctx, cmd, argv, stats, |ctx| {
        client_tracking::as_writer(ctx, |ctx| aof::handle_outer(ctx, h, argv));
    });
}

/// Runs `body` as command `cmd`: MONITOR, timing, `INFO commandstats`, latency, SLOWLOG.
#[inline]
fn measured<'a, G>(
    ctx: &mut Ctx<'a, G>,
    cmd: &'static Command,
    argv: &[&[u8]],
    stats: &mut LocalStats,
    body: impl FnOnce(&mut Ctx<'a, G>),
) {
    // As Redis, administrative commands (CONFIG SET, ACL SETUSER...) are not shown, and
    // secrets (AUTH's, HELLO's) are shown as `(redacted)`.
    if ctx.shared.monitoring.load(Ordering::Relaxed) && cmd.flags & flags::ADMIN == 0 {
        feed_monitors(ctx, argv, acl::redacted(cmd, argv));
    }
    let start = stats.mark.unwrap_or_else(timing::start);
    ctx.failed = false;
    body(ctx);
    let end = timing::start();
    let ticks = start.ticks_to(end);
    stats.mark = Some(end);
    stats
        .samples
        .push((cmd.id, ticks, cmd.flags & flags::FAST != 0));
    let e = stats.entry(cmd.id);
    e.1 += 1;
    e.2 += ticks;
    if ctx.failed {
        e.4 += 1;
    }
    stats.total += 1;
    if ticks >= stats.slow_threshold(ctx.shared) {
        slow_check(ctx, cmd, argv, ticks);
    }
}

/// Logs the command if it took at least `slowlog-log-slower-than`.
#[cold]
fn slow_check<G>(ctx: &mut Ctx<'_, G>, cmd: &Command, argv: &[&[u8]], ticks: u64) {
    let micros = timing::ticks_to_ns(ticks) / 1000;
    let threshold = ctx.shared.slowlog_threshold.load(Ordering::Relaxed);
    if micros >= threshold {
        let entry = SlowEntry {
            id: 0,
            time: ctx.shared.start_unix + ctx.shared.uptime_ms() / 1000,
            micros,
            args: slowlog_args(argv, acl::redacted(cmd, argv)),
            addr: ctx.sess.info.addr.to_string(),
            name: ctx.sess.info.name.lock().clone().unwrap_or_default(),
        };
        ctx.shared.slowlog.lock().push(entry);
    }
}

/// The arguments as SLOWLOG keeps them; those in `redact` (secrets) as `(redacted)`.
fn slowlog_args(argv: &[&[u8]], redact: std::ops::Range<usize>) -> Vec<Bytes> {
    let mut out = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        if redact.contains(&i) && i < 31 {
            out.push(Bytes::from_static(b"(redacted)"));
            continue;
        }
        if i == 31 && argv.len() > 32 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                argv.len() - 31
            )));
            break;
        }
        if a.len() > 128 {
            let mut v = a[..128].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
            out.push(Bytes::from(v));
        } else {
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

fn feed_monitors<G>(ctx: &Ctx<'_, G>, argv: &[&[u8]], redact: std::ops::Range<usize>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        ctx.sess.db,
        ctx.sess.info.addr
    );
    for (i, a) in argv.iter().enumerate() {
        if redact.contains(&i) {
            line.push_str(" \"(redacted)\"");
            continue;
        }
        line.push_str(" \"");
        for &c in *a {
            match c {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                0x07 => line.push_str("\\a"),
                0x08 => line.push_str("\\b"),
                c if c.is_ascii_graphic() || c == b' ' => line.push(c as char),
                c => line.push_str(&format!("\\x{c:02x}")),
            }
        }
        line.push('"');
    }
    let line = Bytes::from(line);
    for (id, mb) in ctx.shared.monitors.read().iter() {
        if *id != ctx.sess.info.id {
            mb.deliver(Push::Monitor(line.clone()));
        }
    }
}

/// Cleans up after a closed connection: subscriptions, MONITOR, WATCH.
pub fn disconnect(shared: &Shared, sess: &mut Session) {
    let id = sess.info.id;
    for c in sess.channels.drain() {
        shared.pubsub.unsubscribe(&c, id);
    }
    for p in sess.patterns.drain() {
        shared.pubsub.punsubscribe(&p, id);
    }
    for c in sess.shard_channels.drain() {
        shared.shard_pubsub.unsubscribe(&c, id);
    }
    sess.info.ssubs.store(0, Ordering::Relaxed);
    if sess.info.monitor.load(Ordering::Relaxed) {
        let mut m = shared.monitors.write();
        m.retain(|(i, _)| *i != id);
        shared.monitoring.store(!m.is_empty(), Ordering::Relaxed);
    }
    sess.watches.clear();
    blocking::disconnect(shared, sess);
    client_tracking::disable(shared, sess);
}

#[cfg(test)]
mod tests;
