//! ACL: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, GENPASS, DRYRUN, SAVE,
//! LOAD, HELP, as Redis 7.0 answers them; users from `user` lines of the config file or from
//! `aclfile`. The users themselves are in [`crate::state::acl`]; the per-command check is
//! [`check::check`].

pub mod check;
pub mod rules;

use std::sync::atomic::Ordering;

use super::flags::*;
use super::keys::help;
use super::meta::{categories, category_bit, CATEGORIES};
use super::util::{eq, int, NOT_INTEGER};
use super::{commands, Ctx, Handler};
use crate::state::acl::{Denied, User};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("acl", -2, 0, (0, 0, 0), acl);
    for (name, arity, flags) in [
        ("acl|cat", -2, 0),
        ("acl|deluser", -3, ADMIN),
        ("acl|dryrun", -4, ADMIN),
        ("acl|genpass", -2, 0),
        ("acl|getuser", 3, ADMIN),
        ("acl|list", 2, ADMIN),
        ("acl|load", 2, ADMIN),
        ("acl|log", -2, ADMIN),
        ("acl|save", 2, ADMIN),
        ("acl|setuser", -3, ADMIN),
        ("acl|users", 2, ADMIN),
        ("acl|whoami", 2, 0),
        ("acl|help", 2, 0),
    ] {
        add(name, arity, flags, (0, 0, 0), acl);
    }
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `acl-pubsub-default allchannels`.
pub fn pubsub_default_all(ctx: &Ctx<'_>) -> bool {
    ctx.shared
        .config
        .read()
        .get("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels")
}

fn aclfile(ctx: &Ctx<'_>) -> Option<String> {
    ctx.shared
        .config
        .read()
        .get("aclfile")
        .filter(|f| !f.is_empty())
}

fn acl(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "setuser" => setuser(ctx, a),
        "deluser" => deluser(ctx, a),
        "getuser" => getuser(ctx, a[2]),
        "list" | "users" => {
            let users = ctx.shared.acl.users();
            ctx.array(users.len());
            for u in users {
                if sub == "users" {
                    ctx.bulk(&u.name);
                } else {
                    let line = format!(
                        "user {} {}",
                        String::from_utf8_lossy(&u.name),
                        rules::describe_user(&u)
                    );
                    ctx.bulk(line.as_bytes());
                }
            }
        }
        "whoami" => {
            let name = bytes::Bytes::copy_from_slice(ctx.sess.acl.user_name());
            ctx.bulk(&name);
        }
        "load" | "save" if aclfile(ctx).is_none() => ctx.err(NO_ACLFILE),
        "load" => match aclfile(ctx).map(|f| load_file(ctx, &f)) {
            Some(Ok(())) => ctx.ok(),
            Some(Err(e)) => ctx.err(&format!("ERR {e}")),
            None => ctx.err(NO_ACLFILE),
        },
        "save" => {
            let ok = aclfile(ctx).is_some_and(|f| save_file(ctx, &f).is_ok());
            if ok {
                ctx.ok();
            } else {
                ctx.err("ERR There was an error trying to save the ACLs. Please check the server logs for more information");
            }
        }
        "cat" if a.len() == 2 => {
            ctx.array(CATEGORIES.len());
            CATEGORIES.iter().for_each(|c| ctx.bulk(c.as_bytes()));
        }
        "cat" if a.len() == 3 => {
            let bit = category_bit(a[2]);
            if bit == 0 {
                let c = String::from_utf8_lossy(&a[2][..a[2].len().min(128)]).into_owned();
                return ctx.err(&format!("ERR Unknown category '{c}'"));
            }
            let names: Vec<&str> = commands()
                .iter()
                .filter(|c| categories(c) & bit != 0)
                .map(|c| c.name)
                .collect();
            ctx.array(names.len());
            names.iter().for_each(|n| ctx.bulk(n.as_bytes()));
        }
        "genpass" if a.len() <= 3 => genpass(ctx, a),
        "log" if a.len() <= 3 => log(ctx, a),
        "dryrun" => dryrun(ctx, a),
        "help" => help(ctx, ACL_HELP),
        _ => {
            let s = String::from_utf8_lossy(&a[1][..a[1].len().min(128)]).into_owned();
            ctx.err(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{s}'. Try ACL HELP."
            ));
        }
    }
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&c| c.is_ascii_whitespace() || c == 0)
}

fn setuser(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let name = a[2];
    if has_spaces(name) {
        return ctx.err("ERR Usernames can't contain spaces or null characters");
    }
    let base = ctx.shared.acl.get(name);
    match rules::set_user(base.as_deref(), name, &a[3..], pubsub_default_all(ctx)) {
        Ok(u) => {
            if let Some(old) = base.as_deref() {
                kill_pubsub_if_needed(ctx, old, &u);
            }
            ctx.shared.acl.put(u);
            ctx.ok();
        }
        Err(e) => ctx.err(&e),
    }
}

/// Closes the user's subscribed connections when channel permissions were taken away (as
/// Redis: any change that drops `allchannels` or a channel pattern).
fn kill_pubsub_if_needed(ctx: &Ctx<'_>, old: &User, new: &User) {
    let lost = old
        .selectors
        .iter()
        .zip(new.selectors.iter())
        .any(|(o, n)| {
            (o.allchannels && !n.allchannels) || o.channels.iter().any(|c| !n.channels.contains(c))
        })
        || new.selectors.len() < old.selectors.len();
    if !lost {
        return;
    }
    for c in ctx.shared.clients.all() {
        let mine = c.user.lock().as_deref().unwrap_or(b"default") == &old.name[..];
        let subscribed = c.subs.load(Ordering::Relaxed) + c.psubs.load(Ordering::Relaxed) > 0;
        if mine && subscribed && c.id != ctx.sess.info.id {
            c.kill();
        }
    }
}

fn deluser(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a[2..].iter().any(|n| *n == b"default") {
        return ctx.err("ERR The 'default' user cannot be removed");
    }
    let mut deleted = 0;
    for name in &a[2..] {
        if ctx.shared.acl.remove(name) {
            deleted += 1;
            for c in ctx.shared.clients.all() {
                if c.user.lock().as_deref() == Some(*name) {
                    if c.id == ctx.sess.info.id {
                        ctx.sess.close = true;
                    } else {
                        c.kill();
                    }
                }
            }
        }
    }
    ctx.int(deleted);
}

fn selector_fields(ctx: &mut Ctx<'_>, s: &crate::state::acl::Selector) {
    ctx.bulk(b"commands");
    ctx.bulk(rules::describe_commands(s).as_bytes());
    ctx.bulk(b"keys");
    let keys = if s.allkeys {
        "~*".to_string()
    } else {
        s.keys
            .iter()
            .map(|(p, f)| rules::key_rule(p, *f))
            .collect::<Vec<_>>()
            .join(" ")
    };
    ctx.bulk(keys.as_bytes());
    ctx.bulk(b"channels");
    let channels = if s.allchannels {
        "&*".to_string()
    } else {
        s.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    ctx.bulk(channels.as_bytes());
}

fn getuser(ctx: &mut Ctx<'_>, name: &[u8]) {
    let Some(u) = ctx.shared.acl.get(name) else {
        return ctx.null();
    };
    ctx.map(6);
    ctx.bulk(b"flags");
    let flags = rules::user_flags(&u);
    ctx.set(flags.len());
    flags.iter().for_each(|f| ctx.bulk(f.as_bytes()));
    ctx.bulk(b"passwords");
    ctx.array(u.passwords.len());
    u.passwords.iter().for_each(|p| ctx.bulk(p.as_bytes()));
    selector_fields(ctx, &u.selectors[0]);
    ctx.bulk(b"selectors");
    ctx.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        ctx.map(3);
        selector_fields(ctx, s);
    }
}

fn genpass(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let bits = match a.get(2) {
        None => 256,
        Some(v) => match int(v) {
            Some(b) => b,
            None => return ctx.err(NOT_INTEGER),
        },
    };
    if bits <= 0 || bits > 4096 {
        return ctx.err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    if getrandom_fill(&mut bytes).is_err() {
        return ctx.err("ERR Unable to generate a password");
    }
    let mut s = String::with_capacity(chars + 1);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    s.truncate(chars);
    ctx.bulk(s.as_bytes());
}

/// Fills `buf` from the operating system's random source.
fn getrandom_fill(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn log(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut count: i64 = 10;
    if let Some(arg) = a.get(2) {
        if eq(arg, "reset") {
            ctx.shared.acl.log.lock().clear();
            return ctx.ok();
        }
        match int(arg) {
            Some(n) => count = n.max(0),
            None => return ctx.err(NOT_INTEGER),
        }
    }
    let entries: Vec<_> = ctx
        .shared
        .acl
        .log
        .lock()
        .iter()
        .take(count as usize)
        .cloned()
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ctx.array(entries.len());
    for e in entries {
        ctx.map(7);
        ctx.bulk(b"count");
        ctx.int(e.count as i64);
        ctx.bulk(b"reason");
        ctx.bulk(match e.reason {
            Denied::Command => b"command" as &[u8],
            Denied::Key => b"key",
            Denied::Channel => b"channel",
            Denied::Auth => b"auth",
        });
        ctx.bulk(b"context");
        ctx.bulk(e.context.as_bytes());
        ctx.bulk(b"object");
        ctx.bulk(&e.object);
        ctx.bulk(b"username");
        ctx.bulk(&e.username);
        ctx.bulk(b"age-seconds");
        ctx.double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0);
        ctx.bulk(b"client-info");
        ctx.bulk(e.client_info.as_bytes());
    }
}

fn dryrun(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(u) = ctx.shared.acl.get(a[2]) else {
        let n = String::from_utf8_lossy(a[2]).into_owned();
        return ctx.err(&format!("ERR User '{n}' not found"));
    };
    let args = &a[3..];
    let Ok(cmd) = super::resolve(args) else {
        let n = String::from_utf8_lossy(a[3]).into_owned();
        return ctx.err(&format!("ERR Command '{n}' not found"));
    };
    if !super::arity_ok(cmd.arity, args.len()) {
        return ctx.arity_error(cmd.name);
    }
    match check::check_user(&u, cmd, args) {
        Ok(()) => ctx.ok(),
        Err((reason, pos)) => {
            let text = match reason {
                Denied::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(args[pos])
                ),
                Denied::Channel => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(args[pos])
                ),
                _ => format!(
                    "This user has no permissions to run the '{}' command",
                    cmd.name
                ),
            };
            ctx.bulk(text.as_bytes());
        }
    }
}

/// The lines of an ACL file as Redis splits them: trimmed, then cut at each space.
fn file_lines(text: &str) -> Vec<(Vec<String>, usize)> {
    text.split('\n')
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
            (!l.is_empty()).then(|| (l.split(' ').map(String::from).collect(), i + 1))
        })
        .collect()
}

/// The users of an ACL file or of `user` config lines; `Err`: Redis's error text.
pub fn parse_users(
    lines: &[(Vec<String>, usize)],
    file: &str,
    allchannels: bool,
) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (argv, no) in lines {
        if argv.first().map(String::as_str) != Some("user") || argv.len() < 2 {
            errors.push_str(&format!(
                "{file}:{no} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1].as_bytes();
        if users.iter().any(|u| &u.name[..] == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {no}. ",
                argv[1]
            ));
            continue;
        }
        let ops: Vec<&[u8]> = argv[2..].iter().map(|w| w.as_bytes()).collect();
        let merged = match rules::merge_selector_args(&ops) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{file}:{no}: Unmatched parenthesis in selector definition."
                ));
                continue;
            }
        };
        let mut u = User::new(name, allchannels);
        let mut syntax = false;
        for op in &merged {
            if let Err(e) = rules::apply_user(&mut u, op, allchannels) {
                if e == rules::RuleError::UnknownName {
                    errors.push_str(&format!(
                        "{file}:{no}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.message()
                    ));
                } else if !syntax {
                    errors.push_str(&format!("{file}:{no}: {}. ", e.message()));
                    syntax = true;
                }
            }
        }
        users.push(u);
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    Ok(users)
}

/// Replaces every user with those of the ACL file (the default user as it is unless the file
/// defines it) and, as Redis, closes the connections of every other user; `Err`: Redis's
/// error text.
pub fn load_file(ctx: &mut Ctx<'_>, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            os_error(&e)
        )
    })?;
    let mut users = parse_users(&file_lines(&text), path, pubsub_default_all(ctx))?;
    if !users.iter().any(|u| &u.name[..] == b"default") {
        let pass = ctx.shared.requirepass.read().clone();
        users.push(User::default_user(commands().len(), pass.as_deref()));
    }
    ctx.shared.acl.replace_all(users);
    for c in ctx.shared.clients.all() {
        if c.user.lock().is_some() {
            if c.id == ctx.sess.info.id {
                ctx.sess.close = true;
            } else {
                c.kill();
            }
        }
    }
    Ok(())
}

fn os_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Writes every user to the ACL file (through a temporary file and a rename).
pub fn save_file(ctx: &Ctx<'_>, path: &str) -> std::io::Result<()> {
    let mut text = String::new();
    for u in ctx.shared.acl.users() {
        text.push_str(&format!(
            "user {} {}\n",
            String::from_utf8_lossy(&u.name),
            rules::describe_user(&u)
        ));
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Loads the users of the config's `user` lines, or of `aclfile`, at startup; `Err`: why the
/// server must not start (Redis's texts).
pub fn load_startup(shared: &crate::state::Shared) -> Result<(), String> {
    let (lines, file, allchannels, pass) = {
        let c = shared.config.read();
        let file = c.get("aclfile").filter(|f| !f.is_empty());
        let all = c
            .get("acl-pubsub-default")
            .is_some_and(|v| v == "allchannels");
        (c.users().to_vec(), file, all, c.requirepass())
    };
    if file.is_some() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let users = if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "Aborting Redis startup because of ACL errors: Error loading ACLs, opening file '{path}': {}",
                os_error(&e)
            )
        })?;
        parse_users(&file_lines(&text), &path, allchannels)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?
    } else if !lines.is_empty() {
        parse_users(&lines, "redis.conf", allchannels)
            .map_err(|e| format!("Error in user declaration: {e}"))?
    } else {
        return Ok(());
    };
    let mut users = users;
    if !users.iter().any(|u| &u.name[..] == b"default") {
        users.push(User::default_user(
            commands().len(),
            pass.as_deref().map(str::as_bytes),
        ));
    }
    shared.acl.replace_all(users);
    Ok(())
}

/// The arguments SLOWLOG keeps and MONITOR shows as `(redacted)` (Redis's redaction): AUTH's,
/// HELLO's user and password after AUTH, every rule of ACL SETUSER; as a range of indexes.
pub fn redacted(cmd: &super::Command, argv: &[&[u8]]) -> std::ops::Range<usize> {
    match cmd.name {
        "auth" => 1..argv.len(),
        "acl|setuser" => 2..argv.len(),
        "hello" => match argv.iter().position(|a| eq(a, "auth")) {
            Some(i) => i + 1..i + 3,
            None => 0..0,
        },
        _ => 0..0,
    }
}
