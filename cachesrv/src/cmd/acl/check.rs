//! The permission check of one command for one user, as Redis 7.0's `ACLCheckAllUserCommandPerm`:
//! a command passes if any selector allows the command, every key it names (with the access
//! its key specs declare) and every channel it publishes or subscribes to.

use super::super::command::spec_keys;
use super::super::flags::NOAUTH;
use super::super::meta::keys::{ACCESS, DELETE, INSERT, UPDATE};
use super::super::{Command, Ctx};
use crate::state::acl::{Denied, LogEntry, Selector, User, KEY_READ, KEY_WRITE};

/// The channels a command names: (argument index, is a pattern); only commands that
/// publish or subscribe are checked.
fn channels(cmd: &Command, argc: usize) -> Vec<(usize, bool)> {
    match cmd.name {
        "subscribe" | "ssubscribe" => (1..argc).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argc).map(|i| (i, true)).collect(),
        "publish" | "spublish" if argc > 1 => vec![(1, false)],
        _ => Vec::new(),
    }
}

fn key_needs(flags: u16) -> u8 {
    let mut n = 0;
    if flags & ACCESS != 0 {
        n |= KEY_READ;
    }
    if flags & (INSERT | DELETE | UPDATE) != 0 {
        n |= KEY_WRITE;
    }
    n
}

fn check_selector(
    s: &Selector,
    cmd: &Command,
    argv: &[&[u8]],
    keys: &mut Option<Vec<(usize, u16)>>,
) -> Result<(), (Denied, usize)> {
    if cmd.flags & NOAUTH == 0 && !s.allcommands {
        let first = argv.get(if cmd.is_sub() { 2 } else { 1 }).copied();
        if !s.allows_command(cmd.id, first) {
            return Err((Denied::Command, 0));
        }
    }
    if !s.allkeys {
        let keys = keys.get_or_insert_with(|| spec_keys(cmd, argv));
        for &(pos, flags) in keys.iter() {
            if !s.allows_key(argv[pos], key_needs(flags)) {
                return Err((Denied::Key, pos));
            }
        }
    }
    if !s.allchannels {
        for (pos, is_pattern) in channels(cmd, argv.len()) {
            if !s.allows_channel(argv[pos], is_pattern) {
                return Err((Denied::Channel, pos));
            }
        }
    }
    Ok(())
}

/// Whether `user` may run `argv`; the error is the reason and the argument it concerns.
pub fn check_user(user: &User, cmd: &Command, argv: &[&[u8]]) -> Result<(), (Denied, usize)> {
    let mut keys = None;
    let mut worst = (Denied::Command, 0);
    for s in &user.selectors {
        match check_selector(s, cmd, argv, &mut keys) {
            Ok(()) => return Ok(()),
            Err(e) => {
                if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                    worst = e;
                }
            }
        }
    }
    Err(worst)
}

/// Checks the session's user against a command (the fast path: an unchanged, unrestricted
/// user). On a denial, logs it with `context` and returns the reason.
pub fn check<G>(
    ctx: &mut Ctx<'_, G>,
    cmd: &Command,
    argv: &[&[u8]],
    context: &'static str,
) -> Result<(), Denied> {
    if ctx.sess.acl.fast_path(&ctx.shared.acl) {
        return Ok(());
    }
    let Some(user) = ctx.sess.acl.refresh(&ctx.shared.acl) else {
        // The user was deleted: its connection is closing.
        return Err(Denied::Command);
    };
    if ctx.sess.acl.unrestricted {
        return Ok(());
    }
    match check_user(&user, cmd, argv) {
        Ok(()) => Ok(()),
        Err((reason, pos)) => {
            let object = match reason {
                Denied::Command => cmd.name.as_bytes(),
                _ => argv[pos],
            };
            log(ctx, reason, context, object, &user.name.clone());
            Err(reason)
        }
    }
}

/// The dispatcher's check: false when the command is refused (its `-NOPERM` reply written,
/// and a transaction being queued marked failed).
pub fn admit<G>(ctx: &mut Ctx<'_, G>, cmd: &Command, argv: &[&[u8]]) -> bool {
    let context = if ctx.sess.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    match check(ctx, cmd, argv, context) {
        Ok(()) => true,
        Err(reason) => {
            ctx.err(&noperm(reason, cmd));
            ctx.sess.multi_error |= ctx.sess.multi.is_some();
            false
        }
    }
}

/// Adds an ACL LOG entry for this client.
pub fn log<G>(ctx: &Ctx<'_, G>, reason: Denied, context: &'static str, object: &[u8], user: &[u8]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let last = ctx
        .sess
        .info
        .last_cmd
        .load(std::sync::atomic::Ordering::Relaxed);
    let cmd = super::super::commands()
        .get(last)
        .map_or("NULL", |c| c.name);
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object: bytes::Bytes::copy_from_slice(object),
        username: bytes::Bytes::copy_from_slice(user),
        ctime_ms: now,
        client_info: ctx.sess.info.list_line(now, cmd),
    };
    let max = ctx
        .shared
        .config
        .read()
        .get("acllog-max-len")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(128);
    ctx.shared.acl.add_log(entry, max);
}

/// The `-NOPERM` reply of a command refused by the ACL.
pub fn noperm(reason: Denied, cmd: &Command) -> String {
    match reason {
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
        _ => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            cmd.name
        ),
    }
}

/// The `-NOPERM` reply of a queued command the ACL no longer allows at EXEC.
pub fn exec_noperm(reason: Denied) -> String {
    let why = match reason {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
        Denied::Auth => "no permission",
    };
    format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}")
}

/// The error of a script's `redis.call` the ACL refuses.
pub fn script_noperm(reason: Denied) -> &'static str {
    match reason {
        Denied::Command => "ERR The user executing the script can't run this command or subcommand",
        Denied::Key => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        Denied::Channel => "ERR The user executing the script can't publish to the channel mentioned in the command",
        Denied::Auth => "ERR The user executing the script lacking the permissions for the command",
    }
}
