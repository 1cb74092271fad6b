//! Connection commands: PING, ECHO, AUTH, HELLO, SELECT, QUIT, RESET, CLIENT.
//!
//! AUTH and HELLO authenticate against the ACL users ([`crate::state::acl`]): passwords are
//! compared as SHA-256 hashes, in constant time.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::flags::*;
use super::keys::help;
use super::util::{eq, int, NOT_INTEGER};
use super::{unknown_subcommand, Ctx, Handler};
use crate::engine::Clock;
use crate::state::{ClientInfo, Unblock};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("ping", -1, FAST | PUBSUB_OK, (0, 0, 0), ping);
    add("echo", 2, FAST, (0, 0, 0), echo);
    add("auth", -2, NOAUTH | FAST, (0, 0, 0), auth);
    add("hello", -1, NOAUTH | FAST, (0, 0, 0), hello);
    add("select", 2, FAST, (0, 0, 0), select);
    add(
        "quit",
        -1,
        NOAUTH | FAST | PUBSUB_OK | NO_QUEUE,
        (0, 0, 0),
        quit,
    );
    add(
        "reset",
        1,
        NOAUTH | FAST | PUBSUB_OK | NO_QUEUE,
        (0, 0, 0),
        reset,
    );
    add("client", -2, ADMIN, (0, 0, 0), client);
    for (name, arity) in [
        ("client|id", 2),
        ("client|getname", 2),
        ("client|setname", 3),
        ("client|setinfo", 4),
        ("client|info", 2),
        ("client|list", -2),
        ("client|kill", -3),
        ("client|no-evict", 3),
        ("client|no-touch", 3),
        ("client|help", 2),
        ("client|unblock", -3),
    ] {
        add(name, arity, ADMIN, (0, 0, 0), client);
    }
}

fn ping(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 2 {
        return ctx.arity_error("ping");
    }
    if ctx.sess.subscribed() && ctx.proto() == protocol::Protocol::Resp2 {
        ctx.array(2);
        ctx.bulk(b"pong");
        ctx.bulk(a.get(1).copied().unwrap_or(b""));
    } else if let Some(msg) = a.get(1) {
        ctx.bulk(msg);
    } else {
        ctx.simple("PONG");
    }
}

fn echo(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    ctx.bulk(a[1]);
}

/// Authenticates the connection as `user` (default: `default`); `Err` is the error reply
/// (the failure is in ACL LOG, as Redis logs it).
fn check_auth(
    ctx: &mut Ctx<'_>,
    verb: &[u8],
    user: Option<&[u8]>,
    pass: &[u8],
) -> Result<(), &'static str> {
    const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    let name = user.unwrap_or(b"default");
    match ctx.shared.acl.get(name) {
        Some(u) if u.password_ok(pass) => {
            let name = (name != b"default").then(|| Bytes::copy_from_slice(name));
            *ctx.sess.info.user.lock() = name.clone();
            ctx.sess.acl = crate::state::acl::AclSession {
                name,
                ..Default::default()
            };
            ctx.sess.authenticated = true;
            Ok(())
        }
        _ => {
            let context = if ctx.sess.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            super::acl::check::log(ctx, crate::state::acl::Denied::Auth, context, verb, name);
            Err(WRONGPASS)
        }
    }
}

fn auth(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 3 {
        return ctx.syntax_error();
    }
    let (user, pass) = if a.len() == 3 {
        (Some(a[1]), a[2])
    } else {
        (None, a[1])
    };
    let default_nopass = ctx.shared.acl.get(b"default").is_none_or(|u| u.nopass);
    if user.is_none() && default_nopass {
        return ctx.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    match check_auth(ctx, a[0], user, pass) {
        Ok(()) => ctx.ok(),
        Err(e) => ctx.err(e),
    }
}

fn hello(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut proto = None;
    if a.len() >= 2 {
        match int(a[1]) {
            Some(v) if v == 2 || v == 3 => proto = Some(v),
            Some(_) => return ctx.err("NOPROTO unsupported protocol version"),
            None => return ctx.err("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut name: Option<&[u8]> = None;
    let mut creds: Option<(&[u8], &[u8])> = None;
    let mut j = 2;
    while j < a.len() {
        let more = a.len() - j - 1;
        if eq(a[j], "auth") && more >= 2 {
            creds = Some((a[j + 1], a[j + 2]));
            j += 3;
        } else if eq(a[j], "setname") && more >= 1 {
            name = Some(a[j + 1]);
            j += 2;
        } else {
            return ctx.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(a[j])
            ));
        }
    }
    if let Some((user, pass)) = creds {
        if let Err(e) = check_auth(ctx, a[0], Some(user), pass) {
            return ctx.err(e);
        }
    }
    if !ctx.sess.authenticated {
        return ctx.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        if !valid_name(n) {
            return ctx.err(BAD_NAME);
        }
        *ctx.sess.info.name.lock() = (!n.is_empty()).then(|| Bytes::copy_from_slice(n));
    }
    if let Some(p) = proto {
        ctx.sess.proto = if p == 3 {
            protocol::Protocol::Resp3
        } else {
            protocol::Protocol::Resp2
        };
        ctx.sess.info.resp.store(p as usize, Ordering::Relaxed);
    }
    let id = ctx.sess.info.id as i64;
    let p = if ctx.sess.proto == protocol::Protocol::Resp3 {
        3
    } else {
        2
    };
    ctx.map(7);
    ctx.bulk(b"server");
    ctx.bulk(b"redis");
    ctx.bulk(b"version");
    ctx.bulk(super::server::REDIS_VERSION.as_bytes());
    ctx.bulk(b"proto");
    ctx.int(p);
    ctx.bulk(b"id");
    ctx.int(id);
    ctx.bulk(b"mode");
    ctx.bulk(b"standalone");
    ctx.bulk(b"role");
    ctx.bulk(b"master");
    ctx.bulk(b"modules");
    ctx.array(0);
}

fn select(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    match int(a[1]) {
        None => ctx.err(NOT_INTEGER),
        Some(i) if i < 0 || i as usize >= ctx.shared.engine.databases() || i > i32::MAX as i64 => {
            ctx.err("ERR DB index is out of range")
        }
        Some(i) => {
            ctx.sess.select(i as usize);
            ctx.ok();
        }
    }
}

fn quit(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    ctx.sess.close = true;
    ctx.ok();
}

fn reset(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let shared = ctx.shared;
    super::disconnect(shared, ctx.sess);
    ctx.sess.info.monitor.store(false, Ordering::Relaxed);
    ctx.sess.publish_sub_counts();
    ctx.sess.multi = None;
    ctx.sess.multi_error = false;
    ctx.sess.info.multi.store(usize::MAX, Ordering::Relaxed);
    ctx.sess.select(0);
    ctx.sess.proto = protocol::Protocol::Resp2;
    ctx.sess.info.resp.store(2, Ordering::Relaxed);
    ctx.sess.no_evict = false;
    ctx.sess.info.no_evict.store(false, Ordering::Relaxed);
    ctx.sess.no_touch = false;
    ctx.sess.reply_off = false;
    ctx.sess.reply_skip_next = false;
    ctx.sess.authenticated = shared.acl.default_nopass();
    ctx.sess.acl = Default::default();
    *ctx.sess.info.user.lock() = None;
    *ctx.sess.info.name.lock() = None;
    ctx.simple("RESET");
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
];

/// A client's `CLIENT LIST` line, naming its last command from the table.
fn list_line(c: &ClientInfo, now_ms: u64) -> String {
    let cmd = super::commands()
        .get(c.last_cmd.load(Ordering::Relaxed))
        .map_or("NULL", |c| c.name);
    c.list_line(now_ms, cmd)
}

fn client_type_matches(c: &ClientInfo, t: &[u8]) -> Option<bool> {
    let pubsub = c.subs.load(Ordering::Relaxed) + c.psubs.load(Ordering::Relaxed) > 0;
    if eq(t, "normal") {
        Some(!pubsub)
    } else if eq(t, "pubsub") {
        Some(pubsub)
    } else if eq(t, "master") || eq(t, "replica") || eq(t, "slave") {
        Some(false)
    } else {
        None
    }
}

fn client(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = a[1];
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let arity = |n: usize| a.len() == n;
    let now = ctx.shared.clock.now_ms();
    match lower.as_str() {
        "help" if arity(2) => help(ctx, CLIENT_HELP),
        "id" if arity(2) => {
            let id = ctx.sess.info.id as i64;
            ctx.int(id)
        }
        "getname" if arity(2) => {
            let name = ctx.sess.info.name.lock().clone();
            match name {
                Some(n) => ctx.bulk(&n),
                None => ctx.null(),
            }
        }
        "setname" if arity(3) => {
            if !valid_name(a[2]) {
                return ctx.err(BAD_NAME);
            }
            *ctx.sess.info.name.lock() = (!a[2].is_empty()).then(|| Bytes::copy_from_slice(a[2]));
            ctx.ok();
        }
        "setinfo" if arity(4) => {
            let v = Bytes::copy_from_slice(a[3]);
            if !valid_name(a[3]) {
                return ctx.err(&format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(a[2])
                ));
            }
            let mut lib = ctx.sess.info.lib.lock();
            if eq(a[2], "lib-name") {
                lib.0 = Some(v);
            } else if eq(a[2], "lib-ver") {
                lib.1 = Some(v);
            } else {
                drop(lib);
                return ctx.err(&format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(a[2])
                ));
            }
            drop(lib);
            ctx.ok();
        }
        "info" if arity(2) => {
            let line = list_line(&ctx.sess.info, now) + "\n";
            ctx.verbatim(&line);
        }
        "list" => {
            let mut type_filter: Option<&[u8]> = None;
            let mut ids: Option<Vec<u64>> = None;
            let mut j = 2;
            while j < a.len() {
                if eq(a[j], "type") && j + 1 < a.len() {
                    if client_type_matches(&ctx.sess.info, a[j + 1]).is_none() {
                        return ctx.err(&format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(a[j + 1])
                        ));
                    }
                    type_filter = Some(a[j + 1]);
                    j += 2;
                } else if eq(a[j], "id") && j + 1 < a.len() {
                    let mut v = vec![];
                    for x in &a[j + 1..] {
                        match int(x) {
                            Some(i) if i > 0 => v.push(i as u64),
                            _ => return ctx.err("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(v);
                    j = a.len();
                } else {
                    return ctx.syntax_error();
                }
            }
            let mut text = String::new();
            for c in ctx.shared.clients.all() {
                if type_filter.is_some_and(|t| client_type_matches(&c, t) != Some(true)) {
                    continue;
                }
                if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                    continue;
                }
                text.push_str(&list_line(&c, now));
                text.push('\n');
            }
            ctx.verbatim(&text);
        }
        "kill" if a.len() >= 3 => client_kill(ctx, a),
        "unblock" if a.len() == 3 || a.len() == 4 => {
            let how = match a.get(3) {
                None => Unblock::Timeout,
                Some(r) if eq(r, "timeout") => Unblock::Timeout,
                Some(r) if eq(r, "error") => Unblock::Error,
                Some(_) => return ctx.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
            };
            let Some(id) = int(a[2]) else {
                return ctx.err(NOT_INTEGER);
            };
            let done = u64::try_from(id).is_ok_and(|id| ctx.shared.blocking.unblock(id, how));
            ctx.int(i64::from(done));
        }
        "unblock" => ctx.err(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(sub)
        )),
        "no-evict" | "no-touch" if arity(3) => {
            let on = if eq(a[2], "on") {
                true
            } else if eq(a[2], "off") {
                false
            } else {
                return ctx.syntax_error();
            };
            if lower == "no-evict" {
                ctx.sess.no_evict = on;
                ctx.sess.info.no_evict.store(on, Ordering::Relaxed);
            } else {
                ctx.sess.no_touch = on;
            }
            ctx.ok();
        }
        "id" | "getname" | "setname" | "setinfo" | "info" | "kill" | "no-evict" | "no-touch"
        | "help" => ctx.arity_error(&format!("client|{lower}")),
        _ => unknown_subcommand(ctx, "client", sub),
    }
}

fn client_kill(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let me = ctx.sess.info.id;
    let all = ctx.shared.clients.all();
    if a.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(a[2]);
        return match all.iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                if c.id == me {
                    ctx.sess.close = true;
                } else {
                    c.kill();
                }
                ctx.ok()
            }
            None => ctx.err("ERR No such client"),
        };
    }
    if !(a.len() - 2).is_multiple_of(2) {
        return ctx.syntax_error();
    }
    let mut skipme = true;
    let mut filters: Vec<(&[u8], &[u8])> = vec![];
    for pair in a[2..].chunks(2) {
        let (k, v) = (pair[0], pair[1]);
        if eq(k, "skipme") {
            if eq(v, "yes") {
                skipme = true;
            } else if eq(v, "no") {
                skipme = false;
            } else {
                return ctx.syntax_error();
            }
        } else if eq(k, "id") {
            if int(v).is_none_or(|i| i <= 0) {
                return ctx.err("ERR client-id should be greater than 0");
            }
            filters.push((k, v));
        } else if eq(k, "type") {
            if client_type_matches(&ctx.sess.info, v).is_none() {
                return ctx.err(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                ));
            }
            filters.push((k, v));
        } else if eq(k, "user") {
            if ctx.shared.acl.get(v).is_none() {
                return ctx.err(&format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(v)
                ));
            }
            filters.push((k, v));
        } else if eq(k, "addr") || eq(k, "laddr") {
            filters.push((k, v));
        } else {
            return ctx.syntax_error();
        }
    }
    let mut killed = 0;
    for c in all {
        let matches = filters.iter().all(|(k, v)| {
            if eq(k, "id") {
                int(v) == Some(c.id as i64)
            } else if eq(k, "type") {
                client_type_matches(&c, v) == Some(true)
            } else if eq(k, "addr") {
                c.addr.to_string().as_bytes() == *v
            } else if eq(k, "laddr") {
                c.laddr.to_string().as_bytes() == *v
            } else {
                c.user.lock().as_deref().unwrap_or(b"default") == *v
            }
        });
        if !matches || (skipme && c.id == me) {
            continue;
        }
        if c.id == me {
            ctx.sess.close = true;
        } else {
            c.kill();
        }
        killed += 1;
    }
    ctx.int(killed);
}
