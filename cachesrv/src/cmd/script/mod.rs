//! Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT here; FUNCTION, FCALL and
//! FCALL_RO in [`function`].
//!
//! A script runs atomically: it takes the engine's gate exclusively (as EXEC does; inside
//! EXEC it already holds it), so no command of another client runs on any thread until it
//! ends. Its `redis.call`s go through the command table as the script client's commands
//! ([`api`]), under that exclusive hold (whose proof the Lua callback checks at run time).
//! Clients that wait for the gate longer than `busy-reply-threshold` while a script runs are
//! answered `-BUSY` ([`wait_gate`]); SCRIPT KILL and FUNCTION KILL need no gate and stop a
//! script that has not written, through the Lua instruction hook ([`vm`]).
//! Errors are formatted as Redis 7.0 does: `<err> script: <sha or function>, on
//! @user_script:<line>.`.

mod api;
mod bit;
mod cjson;
mod cmsgpack;
mod conv;
mod dump;
mod function;
mod rawcall;
mod structlib;
#[cfg(test)]
mod tests;
mod vm;

use std::time::Duration;

use bytes::Bytes;

use super::flags::*;
use super::keys::help;
use super::util::eq;
use super::{unknown_subcommand, OuterCtx, OwnGateHandler};
use crate::state::scripts::ScriptKind;
use crate::state::Shared;
pub(crate) use api::sha1_hex;

/// How the event loop holds the engine's gate for a command, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateUse {
    /// Shared, across the batch (every keyspace command).
    Shared,
    /// Exclusively, across a run of them: EVAL, EVALSHA, FCALL and their `_RO` forms.
    Script,
    /// Not at all: EXEC, SCRIPT and FUNCTION take it themselves or need none.
    Own,
}

/// The [`GateUse`] of the command named `name` (any case). Names are told apart by length and
/// first letter before any is compared, so a keyspace command costs two tests.
#[inline]
pub(crate) fn gate_use(name: &[u8]) -> GateUse {
    use GateUse::{Own, Script, Shared};
    let Some(first) = name.first() else {
        return Shared;
    };
    let candidates: &[(&[u8], GateUse)] = match (first.to_ascii_lowercase(), name.len()) {
        (b'e', 4) => &[(b"exec", Own), (b"eval", Script)],
        (b'e', 7) => &[(b"evalsha", Script), (b"eval_ro", Script)],
        (b'e', 10) => &[(b"evalsha_ro", Script)],
        (b'f', 5) => &[(b"fcall", Script)],
        (b'f', 8) => &[(b"fcall_ro", Script), (b"function", Own)],
        (b's', 6) => &[(b"script", Own)],
        _ => return Shared,
    };
    candidates
        .iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map_or(Shared, |&(_, g)| g)
}

/// `-BUSY` for a client that waited too long for a script.
fn busy_error(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Eval => {
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        }
        ScriptKind::Function => {
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        }
    }
}

/// Waits for the shared gate; `Err(busy reply)` once a script has run for longer than
/// `busy-reply-threshold`.
pub(crate) fn wait_gate(shared: &Shared) -> Result<crate::engine::SharedGuard<'_>, &'static str> {
    loop {
        if let Some(g) = shared.engine.try_shared_for(Duration::from_millis(2)) {
            return Ok(g);
        }
        let running = &shared.scripts.running;
        if let Some(kind) = running.kind() {
            let threshold = shared
                .scripts
                .busy_threshold_ms
                .load(std::sync::atomic::Ordering::Relaxed);
            if running.elapsed_ms() >= threshold {
                return Err(busy_error(kind));
            }
        }
    }
}

pub(super) fn register(
    own: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), OwnGateHandler),
) {
    own("eval", -3, 0, (0, 0, 0), eval);
    own("evalsha", -3, 0, (0, 0, 0), evalsha);
    own("eval_ro", -3, READONLY, (0, 0, 0), eval_ro);
    own("evalsha_ro", -3, READONLY, (0, 0, 0), evalsha_ro);
    own("script", -2, 0, (0, 0, 0), script);
    for (name, arity) in [
        ("script|load", 3),
        ("script|exists", -3),
        ("script|flush", -2),
        ("script|kill", 2),
        ("script|help", 2),
        ("script|debug", 3),
    ] {
        own(name, arity, 0, (0, 0, 0), script);
    }
    function::register(own);
}

/// What runs: an EVAL body or a FCALL function.
pub(super) enum Target<'a> {
    /// An EVAL script: its SHA-1 and body.
    Eval(&'a str, &'a [u8]),
    /// A function of the libraries.
    Function(&'a str),
}

/// Arguments as the handler received them.
type Argv<'a> = &'a [&'a [u8]];

/// Parses `numkeys` and splits the keys from the arguments (`a[2]` onwards).
fn split_keys<'a>(ctx: &mut OuterCtx<'_>, a: Argv<'a>, bad: &str) -> Option<(Argv<'a>, Argv<'a>)> {
    let Some(n) = super::util::int(a[2]) else {
        ctx.err(bad);
        return None;
    };
    if n < 0 {
        ctx.err("ERR Number of keys can't be negative");
        return None;
    }
    let rest = &a[3..];
    if n as usize > rest.len() {
        ctx.err("ERR Number of keys can't be greater than number of args");
        return None;
    }
    Some(rest.split_at(n as usize))
}

/// The body without a `#!lua` first line (kept as an empty line so that line numbers hold),
/// and whether its flags say `no-writes`. Err: Redis's error.
fn shebang(body: &[u8]) -> Result<(std::borrow::Cow<'_, [u8]>, bool), String> {
    if !body.starts_with(b"#!") {
        return Ok((body.into(), false));
    }
    let end = body.iter().position(|&c| c == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).to_string();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: #!{engine}"
        ));
    }
    let mut no_writes = false;
    for p in parts {
        let Some(flags) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        for f in flags.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut rest = body[end..].to_vec();
    rest.shrink_to_fit();
    Ok((rest.into(), no_writes))
}

fn eval_generic(ctx: &mut OuterCtx<'_>, a: &[&[u8]], by_sha: bool, ro: bool) {
    let Some((keys, args)) = split_keys(ctx, a, "ERR value is not an integer or out of range")
    else {
        return;
    };
    let scripts = &ctx.shared.scripts;
    let (sha, body) = if by_sha {
        let sha = match std::str::from_utf8(a[1]) {
            Ok(s) => s.to_ascii_lowercase(),
            Err(_) => return ctx.err("NOSCRIPT No matching script. Please use EVAL."),
        };
        match (sha.len() == 40).then(|| scripts.get(&sha)).flatten() {
            Some(body) => (sha, body),
            None => return ctx.err("NOSCRIPT No matching script. Please use EVAL."),
        }
    } else {
        let sha = sha1_hex(a[1]);
        (sha, Bytes::copy_from_slice(a[1]))
    };
    let (code, no_writes) = match shebang(&body) {
        Ok(s) => s,
        Err(e) => return ctx.err(&e),
    };
    if !by_sha && !scripts.contains(&sha) {
        // Compile first: a script that does not compile is not cached.
        let compiled = vm::with_vm(scripts, |vm| vm.script(&sha, &code).map(|_| ()));
        match compiled {
            Ok(Ok(())) => scripts.insert(sha.clone(), body.clone()),
            Ok(Err(e)) | Err(e) => return ctx.err(&e),
        }
    }
    run(ctx, Target::Eval(&sha, &code), keys, args, ro || no_writes);
}

fn eval(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    eval_generic(ctx, a, false, false);
}

fn evalsha(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    eval_generic(ctx, a, true, false);
}

fn eval_ro(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    eval_generic(ctx, a, false, true);
}

fn evalsha_ro(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    eval_generic(ctx, a, true, true);
}

/// Runs a script or function atomically and writes its reply.
pub(super) fn run(
    ctx: &mut OuterCtx<'_>,
    target: Target<'_>,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) {
    let shared = ctx.shared;
    // Exclusively, unless the caller holds the gate so (EXEC, a run of scripts).
    let taken;
    let gate = match ctx.gate.exclusive() {
        Some(held) => held,
        None => {
            taken = shared.engine.exclusive();
            taken.exclusive()
        }
    };
    let (kind, name) = match &target {
        Target::Eval(sha, _) => (ScriptKind::Eval, *sha),
        Target::Function(f) => (ScriptKind::Function, *f),
    };
    let running = &shared.scripts.running;
    running.start(kind, name);
    // Its writes are logged to the AOF as one MULTI/EXEC block (within EXEC, in EXEC's).
    let collect = !super::aof::in_tx();
    if collect {
        super::aof::begin_tx();
    }
    let entered = api::enter(shared, ctx.sess.db, kind, read_only);
    api::set_user(ctx.sess.acl.name.clone());
    let proto = ctx.sess.proto;
    let start = ctx.out.len();
    let out: &mut bytes::BytesMut = ctx.out;
    let outcome = vm::with_vm(
        &shared.scripts,
        |vm| -> Result<Result<(), String>, String> {
            let f = match &target {
                Target::Eval(sha, code) => vm.script(sha, code)?,
                Target::Function(name) => function::lookup(vm, shared, name)?,
            };
            let call = vm::Call {
                keys,
                args,
                globals: kind == ScriptKind::Eval,
                name: Some(name),
                proto,
            };
            let r = vm.run(&f, &call, out).map_err(|e| format!("ERR {e}"))?;
            shared
                .scripts
                .vm_memory
                .store(vm.memory() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(r)
        },
    );
    // As Redis: an error reply counts in errorstats unless it is the error of a command the
    // script called (counted then); the script's call fails either way.
    match outcome {
        Ok(Ok(Ok(()))) => {
            if ctx.out.get(start) == Some(&b'-') {
                let line = &ctx.out[start + 1..];
                let end = line.iter().position(|&c| c == b'\r').unwrap_or(line.len());
                if !api::from_inner_error(&line[..end]) {
                    shared.errorstats.record(&line[..end]);
                }
                ctx.failed = true;
            }
        }
        Ok(Ok(Err(e))) | Ok(Err(e)) | Err(e) => {
            if api::from_inner_error(e.as_bytes()) {
                ctx.failed = true;
                protocol::RespWrite::write_error(ctx.out, e.as_bytes());
            } else {
                ctx.err(&e);
            }
        }
    }
    drop(entered);
    if collect {
        super::aof::end_tx(shared, gate.held());
    }
    running.finish();
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

fn script(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    let scripts = &ctx.shared.scripts;
    let sub = a[1];
    if eq(sub, "load") {
        let sha = sha1_hex(a[2]);
        if !scripts.contains(&sha) {
            let compiled = match shebang(a[2]) {
                Ok((code, _)) => vm::with_vm(scripts, |vm| vm.script(&sha, &code).map(|_| ())),
                Err(e) => Ok(Err(e)),
            };
            match compiled {
                Ok(Ok(())) => scripts.insert(sha.clone(), Bytes::copy_from_slice(a[2])),
                Ok(Err(e)) | Err(e) => return ctx.err(&e),
            }
        }
        ctx.bulk(sha.as_bytes());
    } else if eq(sub, "exists") {
        ctx.array(a.len() - 2);
        for s in &a[2..] {
            let sha = String::from_utf8_lossy(s).to_ascii_lowercase();
            ctx.int(i64::from(scripts.contains(&sha)));
        }
    } else if eq(sub, "flush") {
        if a.len() > 3 || (a.len() == 3 && !eq(a[2], "sync") && !eq(a[2], "async")) {
            return ctx.err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        }
        scripts.flush();
        ctx.ok();
    } else if eq(sub, "kill") {
        kill(ctx, ScriptKind::Eval);
    } else if eq(sub, "help") {
        help(ctx, SCRIPT_HELP);
    } else if eq(sub, "debug") {
        ctx.err("ERR SCRIPT DEBUG is not supported");
    } else {
        unknown_subcommand(ctx, "script", sub);
    }
}

/// SCRIPT KILL (`by` Eval) and FUNCTION KILL (`by` Function), in Redis's order of checks.
pub(super) fn kill(ctx: &mut OuterCtx<'_>, by: ScriptKind) {
    let running = &ctx.shared.scripts.running;
    let Some(kind) = running.kind() else {
        return ctx.err("NOTBUSY No scripts in execution right now.");
    };
    if running.wrote() {
        return ctx.err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if kind != by {
        return ctx.err(busy_error(kind));
    }
    running.request_kill();
    ctx.ok();
}
