//! COMMAND: COUNT, LIST [FILTERBY MODULE|ACLCAT|PATTERN], INFO, DOCS, GETKEYS,
//! GETKEYSANDFLAGS, HELP, as Redis 7.0 answers them, from the metadata in [`super::meta`].

use super::keys::help;
use super::meta::{self, keys as mkeys};
use super::util::eq;
use super::{commands, unknown_subcommand, Command, Ctx, Handler};
use crate::engine::glob_match;

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("command", -1, 0, (0, 0, 0), command);
    for (name, arity) in [
        ("command|count", 2),
        ("command|list", -2),
        ("command|info", -2),
        ("command|docs", -2),
        ("command|getkeys", -4),
        ("command|getkeysandflags", -4),
        ("command|help", 2),
    ] {
        add(name, arity, 0, (0, 0, 0), command);
    }
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

fn top_level() -> impl Iterator<Item = &'static Command> {
    commands().iter().filter(|c| !c.is_sub())
}

/// A command or subcommand by its full name (`config|get`), as `COMMAND INFO` looks it up.
fn by_full_name(name: &[u8]) -> Option<&'static Command> {
    if name.iter().filter(|&&c| c == b'|').count() > 1 {
        return None;
    }
    super::lookup_full(name)
}

fn command(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() == 1 {
        let all: Vec<_> = top_level().collect();
        ctx.array(all.len());
        return all.into_iter().for_each(|c| meta::write_info(ctx, c));
    }
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "count" if a.len() == 2 => ctx.int(top_level().count() as i64),
        "list" => list(ctx, a),
        "info" if a.len() == 2 => {
            let all: Vec<_> = top_level().collect();
            ctx.array(all.len());
            all.into_iter().for_each(|c| meta::write_info(ctx, c));
        }
        "info" => {
            ctx.array(a.len() - 2);
            for name in &a[2..] {
                match by_full_name(name) {
                    Some(c) => meta::write_info(ctx, c),
                    None => ctx.null(),
                }
            }
        }
        "docs" => {
            let cmds: Vec<&'static Command> = if a.len() == 2 {
                top_level().collect()
            } else {
                a[2..].iter().filter_map(|n| by_full_name(n)).collect()
            };
            ctx.map(cmds.len());
            for c in cmds {
                ctx.bulk(c.name.as_bytes());
                meta::write_docs(ctx, c);
            }
        }
        "getkeys" if a.len() >= 4 => getkeys(ctx, &a[2..], false),
        "getkeysandflags" if a.len() >= 4 => getkeys(ctx, &a[2..], true),
        "help" if a.len() == 2 => help(ctx, COMMAND_HELP),
        "count" | "getkeys" | "getkeysandflags" | "help" => {
            ctx.arity_error(&format!("command|{sub}"))
        }
        _ => unknown_subcommand(ctx, "command", a[1]),
    }
}

fn list(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut filter: Option<(&str, &[u8])> = None;
    let mut i = 2;
    while i < a.len() {
        if eq(a[i], "filterby") && a.len() - 1 - i == 2 {
            let kind = if eq(a[i + 1], "module") {
                "module"
            } else if eq(a[i + 1], "aclcat") {
                "aclcat"
            } else if eq(a[i + 1], "pattern") {
                "pattern"
            } else {
                return ctx.syntax_error();
            };
            filter = Some((kind, a[i + 2]));
            i += 3;
        } else {
            return ctx.syntax_error();
        }
    }
    let keep = |c: &Command| match filter {
        None => true,
        Some(("module", _)) => false,
        Some(("aclcat", cat)) => {
            let bit = meta::category_bit(cat);
            bit != 0 && meta::categories(c) & bit != 0
        }
        Some((_, pat)) => glob_match(pat, c.name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for c in top_level() {
        if keep(c) {
            names.push(c.name);
        }
        for &s in &c.subs {
            let sc = &commands()[s];
            if keep(sc) {
                names.push(sc.name);
            }
        }
    }
    ctx.array(names.len());
    for n in names {
        ctx.bulk(n.as_bytes());
    }
}

/// The keys of `args` (a full command) by Redis's rules, or the error Redis gives.
pub fn command_keys(args: &[&[u8]]) -> Result<Vec<mkeys::KeyRef>, &'static str> {
    let Ok(c) = super::resolve(args) else {
        return Err("ERR Invalid command specified");
    };
    let Some(m) = meta::meta(c) else {
        return table_keys(c, args);
    };
    if !mkeys::has_keys(c.name, m) {
        return Err("ERR The command has no key arguments");
    }
    if !super::arity_ok(c.arity, args.len()) {
        return Err("ERR Invalid number of arguments specified for command");
    }
    let keys = mkeys::get_keys(c.name, m, args);
    if keys.is_empty() && !m.has_flag("no_mandatory_keys") {
        return Err("ERR Invalid arguments specified for command");
    }
    Ok(keys)
}

/// The keys an ACL check looks at: (position, key spec flags), as Redis finds them for a
/// command that passed its arity check; none when the arguments do not name them.
pub fn spec_keys(c: &Command, args: &[&[u8]]) -> Vec<(usize, u16)> {
    let keys = match meta::meta(c) {
        Some(m) => mkeys::get_keys(c.name, m, args),
        None => table_keys(c, args).unwrap_or_default(),
    };
    keys.into_iter().map(|k| (k.pos, k.flags)).collect()
}

/// Keys from the table's (first, last, step), for a command Redis 7.0 lacks.
fn table_keys(c: &Command, args: &[&[u8]]) -> Result<Vec<mkeys::KeyRef>, &'static str> {
    let (first, last, step) = c.keys;
    if first == 0 {
        return Err("ERR The command has no key arguments");
    }
    let last = if last < 0 {
        args.len() as i32 + last
    } else {
        last
    };
    Ok((first..=last)
        .step_by(step.max(1) as usize)
        .filter(|&i| (i as usize) < args.len())
        .map(|i| mkeys::KeyRef {
            pos: i as usize,
            flags: 0,
        })
        .collect())
}

fn getkeys(ctx: &mut Ctx<'_>, args: &[&[u8]], with_flags: bool) {
    let keys = match command_keys(args) {
        Ok(k) => k,
        Err(e) => return ctx.err(e),
    };
    ctx.array(keys.len());
    for k in keys {
        if with_flags {
            ctx.array(2);
            ctx.bulk(args[k.pos]);
            let names: Vec<&str> = mkeys::flag_names(k.flags).collect();
            ctx.set(names.len());
            names.iter().for_each(|n| ctx.simple(n));
        } else {
            ctx.bulk(args[k.pos]);
        }
    }
}
