//! The Rust half of the `redis` Lua library: the engine of `redis.call`/`redis.pcall` (through
//! the command table, as a client's command), `sha1hex`, `log`, `setresp`, `set_repl`,
//! `acl_check_cmd`, and `math.random` on Redis's `rand48` generator.
//!
//! `redis.call`/`redis.pcall` themselves are Lua C functions ([`super::rawcall`]). A script's
//! commands run as the script client: a session of its own (database taken from
//! the caller, RESP2 unless `redis.setresp(3)`), under the engine gate the script holds. The
//! state of the running script is in a thread-local [`CallState`], set by [`enter`] for the
//! duration of one script.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use mlua::{Lua, MultiValue, Value};
use protocol::Protocol;
use sha1::{Digest, Sha1};

use super::super::{call, flags, resolve, Holding, LocalStats, OuterCtx};
use crate::state::clients::Clients;
use crate::state::scripts::ScriptKind;
use crate::state::{Mailbox, NoWake, Session, Shared};

/// How many command spellings [`CallState`] remembers.
const RECENT: usize = 8;

/// The script client's state while a script runs on this thread.
pub(super) struct CallState {
    shared: *const Shared,
    sess: Session,
    stats: LocalStats,
    /// The last command's reply.
    pub(super) out: BytesMut,
    /// The command's arguments, concatenated, and where each ends.
    pub(super) args: Vec<u8>,
    pub(super) bounds: Vec<(usize, usize)>,
    /// Write commands are refused (EVAL_RO, FCALL_RO, `no-writes` functions).
    pub(super) read_only: bool,
    /// EVAL or FCALL.
    pub(super) kind: ScriptKind,
    /// The last commands called, as spelled, most recent last (scripts repeat a few).
    recent: Vec<(Vec<u8>, &'static super::super::Command)>,
    /// Loading a library: `redis.register_function` collects here.
    pub(super) registering: Option<Vec<super::function::Registered>>,
    /// The error replies of the commands this script called (already in errorstats).
    inner_errors: Vec<Vec<u8>>,
}

thread_local! {
    static CALL: RefCell<Option<CallState>> = const { RefCell::new(None) };
}

/// Clears the thread's script state when a script ends.
pub(super) struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        CALL.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                if let Some(st) = c.as_mut() {
                    // SAFETY: `shared` outlives the script (the handler that set it is still
                    // on the stack below this guard).
                    let shared = unsafe { &*st.shared };
                    st.stats.flush(shared);
                    st.shared = std::ptr::null();
                    st.registering = None;
                }
            }
        });
    }
}

/// Sets up the script client for a script started by a client in database `db`.
pub(super) fn enter(shared: &Shared, db: usize, kind: ScriptKind, read_only: bool) -> Entered {
    CALL.with(|c| {
        let mut c = c.borrow_mut();
        let st = c.get_or_insert_with(|| {
            let addr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
            let waker = Arc::new(NoWake);
            let info = Clients::detached(addr, waker.clone());
            let (mailbox, _, _) = Mailbox::new(waker);
            CallState {
                shared: std::ptr::null(),
                sess: Session::new(info, mailbox, true),
                stats: LocalStats::default(),
                out: BytesMut::new(),
                args: Vec::new(),
                bounds: Vec::new(),
                read_only,
                kind,
                recent: Vec::new(),
                registering: None,
                inner_errors: Vec::new(),
            }
        });
        st.shared = shared;
        st.sess.select(db);
        st.sess.proto = Protocol::Resp2;
        st.read_only = read_only;
        st.kind = kind;
        st.registering = None;
        st.inner_errors.clear();
        st.stats.start_batch(shared);
    });
    Entered
}

/// Makes the script client act as the ACL user of the client that runs the script.
pub(super) fn set_user(name: Option<bytes::Bytes>) {
    with_state(|st| {
        if st.sess.acl.name != name {
            st.sess.acl = crate::state::acl::AclSession {
                name,
                ..Default::default()
            };
        }
    });
}

/// Runs `f` on the running script's state (None outside a script).
pub(super) fn with_state<R>(f: impl FnOnce(&mut CallState) -> R) -> Option<R> {
    CALL.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        let st = c.as_mut()?;
        if st.shared.is_null() {
            return None;
        }
        Some(f(st))
    })
}

/// Starts collecting `redis.register_function` calls (a script state must be entered).
pub(super) fn begin_registering() {
    with_state(|st| st.registering = Some(Vec::new()));
}

/// The functions registered since [`begin_registering`].
pub(super) fn end_registering() -> Vec<super::function::Registered> {
    with_state(|st| st.registering.take())
        .flatten()
        .unwrap_or_default()
}

/// Whether the running script was asked to stop (for the instruction hook).
pub(super) fn kill_requested() -> Option<ScriptKind> {
    with_state(|st| {
        // SAFETY: non-null while a script runs (see `Entered`).
        let shared = unsafe { &*st.shared };
        shared.scripts.running.kill_requested().then_some(st.kind)
    })
    .flatten()
}

/// Lua's `tostring` of a number (`%.14g`).
pub(super) fn number_text(n: f64) -> String {
    format_g(n, 14)
}

/// C's `%.<precision>g`.
pub(super) fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = precision.max(1);
    let sci = format!("{n:.prec$e}", prec = p - 1);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Commands a script may not run (Redis's `noscript` flag).
fn noscript(name: &str) -> bool {
    let base = name.split('|').next().unwrap_or(name);
    matches!(
        base,
        "multi"
            | "exec"
            | "discard"
            | "watch"
            | "unwatch"
            | "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "fcall"
            | "fcall_ro"
            | "script"
            | "function"
            | "blpop"
            | "brpop"
            | "blmove"
            | "brpoplpush"
            | "blmpop"
            | "bzpopmin"
            | "bzpopmax"
            | "bzmpop"
            | "client"
            | "auth"
            | "hello"
            | "config"
            | "monitor"
            | "shutdown"
            | "quit"
            | "reset"
            | "debug"
            | "save"
            | "bgsave"
            | "bgrewriteaof"
            | "wait"
            | "sync"
            | "psync"
            | "acl"
            | "role"
            | "failover"
            | "replicaof"
            | "slaveof"
            | "latency"
    )
}

/// Runs the command in the script state's argument buffer; its reply is left in `st.out`.
pub(super) fn execute(st: &mut CallState) -> Result<(), &'static str> {
    let argv: Vec<&[u8]> = st.bounds.iter().map(|&(a, b)| &st.args[a..b]).collect();
    // SAFETY: set by `enter` for the duration of the script.
    let shared = unsafe { &*st.shared };
    let cmd = match st.recent.iter().find(|(n, _)| n[..] == *argv[0]) {
        Some(&(_, c)) => c,
        None => {
            let c = resolve(&argv).map_err(|_| "ERR Unknown Redis command called from script")?;
            // Commands without subcommands are found again by their spelling.
            if c.subs.is_empty() && !c.is_sub() {
                if st.recent.len() >= RECENT {
                    st.recent.remove(0);
                }
                st.recent.push((argv[0].to_vec(), c));
            }
            c
        }
    };
    if !super::super::arity_ok(cmd.arity, argv.len()) {
        return Err("ERR Wrong number of args calling Redis command from script");
    }
    if noscript(cmd.name) {
        return Err("ERR This Redis command is not allowed from script");
    }
    let writes = cmd.flags & flags::WRITE != 0;
    if writes && st.read_only {
        return Err("ERR Write commands are not allowed from read-only scripts.");
    }
    if cmd.flags & flags::DENYOOM != 0
        && shared.engine.maxmemory() > 0
        && shared.engine.ensure_memory().is_err()
    {
        return Err("OOM command not allowed when used memory > 'maxmemory'.");
    }
    // The script holds the gate exclusively, but its guard cannot be named from this Lua
    // callback: the proof is checked at run time (the one place that does).
    let failed = crate::engine::with_exclusive(|gate| {
        let mut ctx = OuterCtx::new(shared, &mut st.sess, &mut st.out, Holding::Exclusive(gate));
        if let Err(reason) = crate::cmd::acl::check::check(&mut ctx, cmd, &argv, "lua") {
            return Err(crate::cmd::acl::check::script_noperm(reason));
        }
        if writes {
            shared.scripts.running.set_wrote();
        }
        call(&mut ctx, cmd, &argv, &mut st.stats);
        Ok(ctx.failed)
    })
    .ok_or("ERR command called from a script that does not hold the gate")??;
    if failed {
        let line = st.out.get(1..).unwrap_or_default();
        let end = line.iter().position(|&c| c == b'\r').unwrap_or(line.len());
        st.inner_errors.push(line[..end].to_vec());
    }
    Ok(())
}

/// Whether a script's error reply is one of the errors of the commands it called (Redis
/// counts those once, for the command).
pub(super) fn from_inner_error(msg: &[u8]) -> bool {
    with_state(|st| st.inner_errors.iter().any(|e| msg.starts_with(e))).unwrap_or(false)
}

fn one_text(args: &MultiValue) -> Option<Vec<u8>> {
    match args.front()? {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(number_text(*n).into_bytes()),
        _ => None,
    }
}

/// `redis.sha1hex(s)`.
pub(super) fn sha1hex(_: &Lua, args: MultiValue) -> mlua::Result<String> {
    if args.len() != 1 {
        return Err(mlua::Error::runtime("wrong number of arguments"));
    }
    Ok(sha1_hex(&one_text(&args).unwrap_or_default()))
}

/// The lower-case hex SHA-1 of `data`.
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    s
}

/// `redis.log(level, message...)`.
pub(super) fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(mlua::Error::runtime(
            "redis.log() requires two arguments or more.",
        ));
    }
    let level = match args.front() {
        Some(Value::Integer(i)) => *i,
        Some(Value::Number(n)) => *n as i64,
        _ => -1,
    };
    use crate::log::Level;
    let level = match level {
        0 => Level::Debug,
        1 => Level::Verbose,
        2 => Level::Notice,
        3 => Level::Warning,
        _ => return Err(mlua::Error::runtime("Invalid debug level.")),
    };
    let mut msg = String::new();
    for (i, a) in args.iter().skip(1).enumerate() {
        if i > 0 {
            msg.push(' ');
        }
        match a {
            Value::String(s) => msg.push_str(&String::from_utf8_lossy(&s.as_bytes())),
            Value::Integer(n) => msg.push_str(&n.to_string()),
            Value::Number(n) => msg.push_str(&number_text(*n)),
            _ => {}
        }
    }
    crate::log::log(level, &msg);
    Ok(())
}

/// `redis.setresp(2|3)`: the protocol of the script client's replies.
pub(super) fn setresp(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(mlua::Error::runtime(
            "redis.setresp() requires one argument.",
        ));
    }
    let proto = match args.front() {
        Some(Value::Integer(2)) => Protocol::Resp2,
        Some(Value::Integer(3)) => Protocol::Resp3,
        Some(Value::Number(n)) if *n == 2.0 => Protocol::Resp2,
        Some(Value::Number(n)) if *n == 3.0 => Protocol::Resp3,
        _ => return Err(mlua::Error::runtime("RESP version must be 2 or 3.")),
    };
    with_state(|st| st.sess.proto = proto);
    Ok(())
}

/// `redis.set_repl(flags)`: accepted (there is no replication to steer).
pub(super) fn set_repl(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(mlua::Error::runtime(
            "redis.set_repl() requires one argument.",
        ));
    }
    let flags = match args.front() {
        Some(Value::Integer(i)) => *i,
        Some(Value::Number(n)) => *n as i64,
        _ => -1,
    };
    if !(0..=3).contains(&flags) {
        return Err(mlua::Error::runtime(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    Ok(())
}

/// `redis.acl_check_cmd(name, ...)`: every user may run every command.
pub(super) fn acl_check_cmd(_: &Lua, args: MultiValue) -> mlua::Result<bool> {
    let name = one_text(&args).unwrap_or_default();
    if super::super::lookup_full(&name).is_none() {
        return Err(mlua::Error::runtime(
            "Invalid command passed to redis.acl_check_cmd()",
        ));
    }
    Ok(true)
}

/// The message of an error raised by Rust code (for the error handler).
pub(super) fn errmsg(_: &Lua, v: Value) -> mlua::Result<String> {
    fn root(e: &mlua::Error) -> String {
        match e {
            mlua::Error::CallbackError { cause, .. } => root(cause),
            mlua::Error::RuntimeError(m) => m.clone(),
            mlua::Error::MemoryError(m) => m.clone(),
            other => other.to_string(),
        }
    }
    Ok(match v {
        Value::Error(e) => root(&e),
        other => other.to_string().unwrap_or_default(),
    })
}

const RAND48_A: u64 = 0x5_DEEC_E66D;
const RAND48_MASK: u64 = (1 << 48) - 1;
const LRAND48_MAX: i64 = i32::MAX as i64;

/// The state `redisSrand48(seed)` sets.
pub(crate) fn rand48_seed(seed: i32) -> u64 {
    // SEED(X0, LOW(seed), HIGH(seed))
    0x330E | (u64::from(seed as u32) << 16)
}

fn lrand48(shared: &Shared) -> i64 {
    let x = shared.scripts.rand48.load(Ordering::Relaxed);
    let next = (x.wrapping_mul(RAND48_A).wrapping_add(0xB)) & RAND48_MASK;
    shared.scripts.rand48.store(next, Ordering::Relaxed);
    (next >> 17) as i64
}

fn int_arg(v: Option<&Value>, n: usize) -> mlua::Result<i64> {
    match v {
        Some(Value::Integer(i)) => Ok(*i),
        Some(Value::Number(f)) => Ok(*f as i64),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|f| f as i64)
            .ok_or_else(|| mlua::Error::runtime(format!("bad argument #{n} (number expected)"))),
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #{n} (number expected, got no value)"
        ))),
    }
}

/// `math.random([m [, n]])` on Redis's generator (the same sequence as Redis).
pub(super) fn random(_: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let r = with_state(|st| {
        // SAFETY: set while the script runs.
        let shared = unsafe { &*st.shared };
        lrand48(shared)
    })
    .unwrap_or(0);
    let r = (r % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int_arg(args.front(), 1)?;
            if u < 1 {
                return Err(mlua::Error::runtime(
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let l = int_arg(args.front(), 1)?;
            let u = int_arg(args.get(1), 2)?;
            if l > u {
                return Err(mlua::Error::runtime(
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (u - l + 1) as f64).floor() + l as f64)
        }
        _ => Err(mlua::Error::runtime("wrong number of arguments")),
    }
}

/// `math.randomseed(n)`.
pub(super) fn randomseed(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let seed = int_arg(args.front(), 1)?;
    with_state(|st| {
        // SAFETY: set while the script runs.
        let shared = unsafe { &*st.shared };
        shared
            .scripts
            .rand48
            .store(rand48_seed(seed as i32), Ordering::Relaxed);
    });
    Ok(())
}

/// The script client's protocol (what `redis.setresp` chose), while a script runs.
pub(super) fn script_proto() -> Protocol {
    with_state(|st| st.sess.proto).unwrap_or(Protocol::Resp2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_c_printf_g() {
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(1.0 / 3.0), "0.33333333333333");
        assert_eq!(number_text(123456789012345678.0), "1.2345678901235e+17");
        assert_eq!(number_text(-1.5e-7), "-1.5e-07");
        assert_eq!(number_text(100.0), "100");
        assert_eq!(number_text(2f64.powi(53)), "9.007199254741e+15");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1e15, 17), "1000000000000000");
        assert_eq!(format_g(1.5, 17), "1.5");
    }

    #[test]
    fn rand48_follows_redis_s_sequence() {
        let shared =
            crate::cmd::shared(crate::config::Config::from_args::<&str>(&[]).expect("config"));
        let draws: Vec<i64> = (0..3)
            .map(|_| {
                let r = (lrand48(&shared) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
                (r * 100.0).floor() as i64 + 1
            })
            .collect();
        assert_eq!(draws, vec![40, 85, 36]);
    }
}
