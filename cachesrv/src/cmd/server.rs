//! Server commands: INFO ([`super::info`]), CONFIG, TIME, MEMORY, SLOWLOG, MONITOR,
//! SHUTDOWN, FUNCTION/SCRIPT FLUSH (DEBUG: [`super::debug`]).

use std::sync::atomic::Ordering;

use super::flags::*;
use super::keys::help;
use super::util::{eq, int, NOT_INTEGER};
use super::{unknown_subcommand, Ctx, Handler};
use crate::engine::glob_match;
use crate::state::Mailbox;

/// The Redis version whose behaviour is mirrored (reported as `redis_version`).
pub const REDIS_VERSION: &str = "7.0.15";

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("info", -1, 0, (0, 0, 0), super::info::info);
    add("config", -2, ADMIN, (0, 0, 0), config);
    add("time", 1, FAST, (0, 0, 0), time);
    add("memory", -2, READONLY, (0, 0, 0), memory);
    add("slowlog", -2, ADMIN, (0, 0, 0), slowlog);
    add("monitor", 1, ADMIN | NO_QUEUE, (0, 0, 0), monitor);
    add(
        "shutdown",
        -1,
        ADMIN | NOAUTH | NO_QUEUE,
        (0, 0, 0),
        shutdown,
    );
    // Subcommands with Redis 7's arities; each runs its container's handler.
    let none = (0, 0, 0);
    for (name, arity) in [
        ("config|get", -3),
        ("config|set", -4),
        ("config|resetstat", 2),
        ("config|rewrite", 2),
        ("config|help", 2),
    ] {
        add(name, arity, ADMIN, none, config);
    }
    for (name, arity, keys) in [
        ("memory|usage", -3, (2, 2, 1)),
        ("memory|stats", 2, none),
        ("memory|doctor", 2, none),
        ("memory|malloc-stats", 2, none),
        ("memory|purge", 2, none),
        ("memory|help", 2, none),
    ] {
        add(name, arity, READONLY, keys, memory);
    }
    for (name, arity) in [
        ("slowlog|get", -2),
        ("slowlog|len", 2),
        ("slowlog|reset", 2),
        ("slowlog|help", 2),
    ] {
        add(name, arity, ADMIN, none, slowlog);
    }
}

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

fn config(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" if a.len() == 2 => help(ctx, CONFIG_HELP),
        "get" if a.len() >= 3 => {
            let pats: Vec<String> = a[2..]
                .iter()
                .map(|p| String::from_utf8_lossy(p).to_string())
                .collect();
            let pairs = ctx.shared.config.read().matching(|name| {
                pats.iter()
                    .any(|p| glob_match(p.as_bytes(), name.as_bytes(), true))
            });
            ctx.map(pairs.len());
            for (k, v) in pairs {
                ctx.bulk(k.as_bytes());
                ctx.bulk(v.as_bytes());
            }
        }
        "set" if a.len() >= 4 && !a.len().is_multiple_of(2) => ctx.syntax_error(),
        "set" if a.len() >= 4 => {
            let pairs: Vec<(String, String)> = a[2..]
                .chunks(2)
                .map(|p| {
                    (
                        String::from_utf8_lossy(p[0]).into_owned(),
                        String::from_utf8_lossy(p[1]).into_owned(),
                    )
                })
                .collect();
            let old = ctx.shared.config.read().clone();
            let was_aof = old.appendonly();
            let r = ctx.shared.config.write().set_many(&pairs);
            match r {
                Ok(()) => {
                    ctx.shared.apply_config();
                    let aof = ctx.shared.config.read().appendonly();
                    if aof && !was_aof && ctx.shared.aof_enable().is_err() {
                        // As Redis 7: every parameter of the call is rolled back.
                        *ctx.shared.config.write() = old;
                        ctx.shared.apply_config();
                        return ctx.err("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.");
                    }
                    if !aof && was_aof {
                        ctx.shared.aof_disable();
                    }
                    ctx.ok();
                }
                Err(e) => ctx.err(&e.reply()),
            }
        }
        "resetstat" if a.len() == 2 => {
            ctx.shared.engine.reset_stats();
            ctx.shared.command_stats.reset();
            ctx.shared.errorstats.reset();
            ctx.shared.latency.reset_histograms();
            let st = &ctx.shared.stats;
            for c in [
                &st.total_connections,
                &st.rejected_connections,
                &st.net_input_bytes,
                &st.net_output_bytes,
                &st.total_commands,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            ctx.shared.slowlog.lock().entries.clear();
            ctx.ok();
        }
        "rewrite" if a.len() == 2 => {
            let cfg = ctx.shared.config.read();
            let Some(path) = cfg.file() else {
                drop(cfg);
                return ctx.err("ERR The server is running without a config file");
            };
            let text = cfg.to_conf_text();
            drop(cfg);
            match std::fs::write(&path, text) {
                Ok(()) => ctx.ok(),
                Err(e) => ctx.err(&format!("ERR Rewriting config file: {e}")),
            }
        }
        "get" | "set" | "resetstat" | "rewrite" | "help" => {
            ctx.arity_error(&format!("config|{sub}"))
        }
        _ => unknown_subcommand(ctx, "config", a[1]),
    }
}

fn time(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.array(2);
    ctx.bulk(now.as_secs().to_string().as_bytes());
    ctx.bulk(now.subsec_micros().to_string().as_bytes());
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

fn memory(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" if a.len() == 2 => help(ctx, MEMORY_HELP),
        "usage" if a.len() >= 3 => {
            if a.len() != 3 && !(a.len() == 5 && eq(a[3], "samples")) {
                return ctx.syntax_error();
            }
            if a.len() == 5 && int(a[4]).is_none_or(|n| n < 0) {
                return ctx.err(NOT_INTEGER);
            }
            match ctx.db().memory_usage(a[2]) {
                Some(n) => ctx.int(n as i64),
                None => ctx.null(),
            }
        }
        "stats" if a.len() == 2 => {
            let used = ctx.shared.engine.used_memory();
            let peak = ctx
                .shared
                .peak_memory
                .fetch_max(used, Ordering::Relaxed)
                .max(used);
            let keys: usize = (0..ctx.shared.engine.databases())
                .filter_map(|i| ctx.shared.engine.db(i, ctx.gate).ok())
                .map(|d| d.dbsize())
                .sum();
            let rss = super::info::rss_bytes();
            let fields: Vec<(&str, i64)> = vec![
                ("peak.allocated", peak as i64),
                ("total.allocated", used as i64),
                ("startup.allocated", 0),
                ("replication.backlog", 0),
                ("clients.slaves", 0),
                ("clients.normal", 0),
                ("cluster.links", 0),
                ("aof.buffer", 0),
                ("lua.caches", 0),
                ("functions.caches", 0),
                ("overhead.total", 0),
                ("keys.count", keys as i64),
                (
                    "keys.bytes-per-key",
                    if keys > 0 {
                        (used / keys as u64) as i64
                    } else {
                        0
                    },
                ),
                ("dataset.bytes", used as i64),
                ("rss-bytes", rss as i64),
            ];
            ctx.map(fields.len());
            for (k, v) in fields {
                ctx.bulk(k.as_bytes());
                ctx.int(v);
            }
        }
        "doctor" if a.len() == 2 => {
            let used = ctx.shared.engine.used_memory();
            let max = ctx.shared.engine.maxmemory();
            let text = if max > 0 && used > max {
                "Sam, I detected a few issues in this cachesrv instance memory implants:\n\n * used memory is above maxmemory: eviction is not keeping up or the policy is noeviction.\n".to_string()
            } else if used < 5 * 1024 * 1024 {
                "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".to_string()
            } else {
                "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".to_string()
            };
            ctx.verbatim(&text);
        }
        "malloc-stats" if a.len() == 2 => {
            ctx.verbatim("Stats not supported for the current allocator")
        }
        "purge" if a.len() == 2 => ctx.ok(),
        "usage" | "stats" | "doctor" | "malloc-stats" | "purge" | "help" => {
            ctx.arity_error(&format!("memory|{sub}"))
        }
        _ => unknown_subcommand(ctx, "memory", a[1]),
    }
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

fn slowlog(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" if a.len() == 2 => help(ctx, SLOWLOG_HELP),
        "len" if a.len() == 2 => {
            let n = ctx.shared.slowlog.lock().entries.len();
            ctx.int(n as i64);
        }
        "reset" if a.len() == 2 => {
            ctx.shared.slowlog.lock().entries.clear();
            ctx.ok();
        }
        "get" if a.len() <= 3 => {
            let count = match a.get(2) {
                None => 10,
                Some(v) => match int(v) {
                    Some(-1) => usize::MAX,
                    Some(n) if n >= 0 => n as usize,
                    _ => return ctx.err("ERR count should be greater than or equal to -1"),
                },
            };
            let entries: Vec<_> = ctx
                .shared
                .slowlog
                .lock()
                .entries
                .iter()
                .take(count)
                .cloned()
                .collect();
            ctx.array(entries.len());
            for e in entries {
                ctx.array(6);
                ctx.int(e.id as i64);
                ctx.int(e.time as i64);
                ctx.int(e.micros as i64);
                ctx.array(e.args.len());
                for arg in &e.args {
                    ctx.bulk(arg);
                }
                ctx.bulk(e.addr.as_bytes());
                ctx.bulk(&e.name);
            }
        }
        "get" | "len" | "reset" | "help" => ctx.arity_error(&format!("slowlog|{sub}")),
        _ => unknown_subcommand(ctx, "slowlog", a[1]),
    }
}

fn monitor(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    if !ctx.sess.info.monitor.swap(true, Ordering::Relaxed) {
        let mb: Mailbox = ctx.sess.mailbox.clone();
        let mut m = ctx.shared.monitors.write();
        m.push((ctx.sess.info.id, mb));
        ctx.shared.monitoring.store(true, Ordering::Relaxed);
    }
    ctx.ok();
}

fn shutdown(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    for opt in &a[1..] {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|o| eq(opt, o))
        {
            return ctx.syntax_error();
        }
    }
    if a[1..].iter().any(|o| eq(o, "abort")) {
        return ctx.err("ERR No shutdown in progress.");
    }
    if !ctx.sess.authenticated {
        return ctx.err("NOAUTH Authentication required.");
    }
    crate::log::log(crate::log::Level::Warning, "User requested shutdown...");
    let has = |o: &str| a[1..].iter().any(|x| eq(x, o));
    ctx.shared.set_shutdown_mode(has("save"), has("nosave"));
    if ctx.shared.shutdown_save().is_err() && !has("force") {
        crate::log::log(
            crate::log::Level::Warning,
            "Error trying to save the DB, can't exit.",
        );
        ctx.shared.set_shutdown_mode(false, false);
        return ctx.err("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    ctx.shared.aof_shutdown();
    ctx.shared.request_shutdown();
    ctx.sess.close = true;
}
