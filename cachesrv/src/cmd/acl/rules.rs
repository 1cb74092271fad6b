//! ACL rules as Redis 7.0's `ACLSetUser`/`ACLSetSelector` read them, and the descriptions
//! `ACL LIST`, `ACL GETUSER` and `ACL SAVE` write (the command rules found by Redis's
//! best-fit search over categories, then single commands).

use super::super::meta::{categories, category_bit, CATEGORIES};
use super::super::{commands, lookup_full, Command};
use crate::state::acl::{hash_password, Selector, User, KEY_ALL, KEY_READ, KEY_WRITE};

/// Why a rule was refused (Redis's errno values in `ACLSetUser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT.
    UnknownName,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    KeyAfterAll,
    /// EISDIR.
    ChannelAfterAll,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
    /// ECHILD.
    SubFirstArg,
}

impl RuleError {
    /// Redis's text for it.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

fn is(op: &[u8], word: &str) -> bool {
    op.eq_ignore_ascii_case(word.as_bytes())
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&c| c.is_ascii_whitespace() || c == 0)
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64
        && h.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// A command by its ACL name (`get`, `config|get`): at most one `|`.
fn acl_lookup(name: &[u8]) -> Option<&'static Command> {
    if name.iter().filter(|&&c| c == b'|').count() > 1 {
        return None;
    }
    lookup_full(name)
}

/// Allows or denies a command, and a container's subcommands with it.
fn change_perm(s: &mut Selector, c: &Command, allow: bool) {
    s.set_bit(c.id, allow);
    s.firstargs.retain(|(id, _)| *id != c.id);
    for &sub in &c.subs {
        s.set_bit(sub, allow);
    }
}

fn set_category(s: &mut Selector, bit: u32, allow: bool) {
    for c in commands().iter().filter(|c| !c.is_sub()) {
        if categories(c) & bit != 0 {
            change_perm(s, c, allow);
        }
        for &sub in &c.subs {
            let sc = &commands()[sub];
            if categories(sc) & bit != 0 {
                change_perm(s, sc, allow);
            }
        }
    }
}

/// Applies one selector rule.
pub fn apply_selector(s: &mut Selector, op: &[u8]) -> Result<(), RuleError> {
    let n = commands().len();
    if is(op, "allkeys") || op == b"~*" {
        s.allkeys = true;
        s.keys.clear();
    } else if is(op, "resetkeys") {
        s.allkeys = false;
        s.keys.clear();
    } else if is(op, "allchannels") || op == b"&*" {
        s.allchannels = true;
        s.channels.clear();
    } else if is(op, "resetchannels") {
        s.allchannels = false;
        s.channels.clear();
    } else if is(op, "allcommands") || is(op, "+@all") {
        s.set_all(true, n);
    } else if is(op, "nocommands") || is(op, "-@all") {
        s.set_all(false, n);
    } else if op[0] == b'~' || op[0] == b'%' {
        if s.allkeys {
            return Err(RuleError::KeyAfterAll);
        }
        let mut flags = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                let c = op[offset];
                if c.eq_ignore_ascii_case(&b'r') && flags & KEY_READ == 0 {
                    flags |= KEY_READ;
                } else if c.eq_ignore_ascii_case(&b'w') && flags & KEY_WRITE == 0 {
                    flags |= KEY_WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
        } else {
            flags = KEY_ALL;
        }
        let pat = &op[offset.min(op.len())..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match s.keys.iter_mut().find(|(p, _)| p[..] == *pat) {
            Some(k) => k.1 |= flags,
            None => s.keys.push((pat.to_vec(), flags)),
        }
        s.allkeys = false;
    } else if op[0] == b'&' {
        if s.allchannels {
            return Err(RuleError::ChannelAfterAll);
        }
        let pat = &op[1..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        if !s.channels.iter().any(|p| p[..] == *pat) {
            s.channels.push(pat.to_vec());
        }
        s.allchannels = false;
    } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
        let name = &op[1..];
        match name.iter().rposition(|&c| c == b'|') {
            None => {
                let c = acl_lookup(name).ok_or(RuleError::UnknownName)?;
                change_perm(s, c, true);
            }
            Some(bar) => {
                let (base, sub) = (&name[..bar], &name[bar + 1..]);
                let c = acl_lookup(base).ok_or(RuleError::UnknownName)?;
                if c.is_sub() {
                    return Err(RuleError::SubFirstArg);
                }
                if sub.is_empty() {
                    return Err(RuleError::Syntax);
                }
                if !c.subs.is_empty() {
                    let sc = acl_lookup(name).ok_or(RuleError::UnknownName)?;
                    change_perm(s, sc, true);
                } else {
                    let id = c.id;
                    match s.firstargs.iter_mut().find(|(i, _)| *i == id) {
                        Some((_, args)) => {
                            if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                                args.push(sub.to_vec());
                            }
                        }
                        None => s.firstargs.push((id, vec![sub.to_vec()])),
                    }
                }
            }
        }
    } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
        let c = acl_lookup(&op[1..]).ok_or(RuleError::UnknownName)?;
        change_perm(s, c, false);
    } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
        let bit = category_bit(&op[2..]);
        if bit == 0 {
            return Err(RuleError::UnknownName);
        }
        set_category(s, bit, op[0] == b'+');
    } else {
        return Err(RuleError::Syntax);
    }
    Ok(())
}

/// Applies one user rule (`allchannels`: `acl-pubsub-default` for new selectors and `reset`).
pub fn apply_user(u: &mut User, op: &[u8], allchannels: bool) -> Result<(), RuleError> {
    if op.is_empty() {
        return Ok(());
    }
    if is(op, "on") {
        u.enabled = true;
    } else if is(op, "off") {
        u.enabled = false;
    } else if is(op, "skip-sanitize-payload") {
        u.sanitize = Some(false);
    } else if is(op, "sanitize-payload") {
        u.sanitize = Some(true);
    } else if is(op, "nopass") {
        u.nopass = true;
        u.passwords.clear();
    } else if is(op, "resetpass") {
        u.nopass = false;
        u.passwords.clear();
    } else if op[0] == b'>' || op[0] == b'#' {
        let h = if op[0] == b'>' {
            hash_password(&op[1..])
        } else {
            if !valid_hash(&op[1..]) {
                return Err(RuleError::BadHash);
            }
            String::from_utf8_lossy(&op[1..]).into_owned()
        };
        if !u.passwords.contains(&h) {
            u.passwords.push(h);
        }
        u.nopass = false;
    } else if op[0] == b'<' || op[0] == b'!' {
        let h = if op[0] == b'<' {
            hash_password(&op[1..])
        } else {
            if !valid_hash(&op[1..]) {
                return Err(RuleError::BadHash);
            }
            String::from_utf8_lossy(&op[1..]).into_owned()
        };
        let before = u.passwords.len();
        u.passwords.retain(|p| *p != h);
        if u.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
    } else if op[0] == b'(' && op[op.len() - 1] == b')' {
        let mut s = Selector::new(allchannels);
        let inner = String::from_utf8_lossy(&op[1..op.len() - 1]).into_owned();
        let parts = protocol::split_args(inner.as_bytes()).map_err(|_| RuleError::Syntax)?;
        for p in parts {
            apply_selector(&mut s, &p)?;
        }
        u.selectors.push(s);
    } else if is(op, "clearselectors") {
        u.selectors.truncate(1);
    } else if is(op, "reset") {
        u.nopass = false;
        u.passwords.clear();
        let root = &mut u.selectors[0];
        root.allkeys = false;
        root.keys.clear();
        root.allchannels = allchannels;
        root.channels.clear();
        u.enabled = false;
        u.sanitize = Some(true);
        u.selectors.truncate(1);
        u.selectors[0].set_all(false, commands().len());
    } else {
        apply_selector(&mut u.selectors[0], op)?;
    }
    Ok(())
}

/// Joins the arguments of a `(...)` selector split across arguments;
/// `Err(i)`: argument `i` opens a selector that is never closed.
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, s)) = open.take() {
                    out.push(s);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

/// `ACL SETUSER`'s work: the rules applied to a copy of `base` (or a new user), or Redis's
/// error text. Nothing changes unless every rule is valid.
pub fn set_user(
    base: Option<&User>,
    name: &[u8],
    args: &[&[u8]],
    allchannels: bool,
) -> Result<User, String> {
    let merged = merge_selector_args(args).map_err(|i| {
        format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(args[i])
        )
    })?;
    let mut u = match base {
        Some(b) => b.clone(),
        None => User::new(name, allchannels),
    };
    for op in &merged {
        if let Err(e) = apply_user(&mut u, op, allchannels) {
            return Err(format!(
                "ERR Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.message()
            ));
        }
    }
    Ok(u)
}

/// (allowed, denied) counts of a category's commands.
fn count_category(s: &Selector, bit: u32) -> (usize, usize) {
    let (mut on, mut off) = (0, 0);
    for c in commands() {
        if categories(c) & bit != 0 {
            if s.bit(c.id) {
                on += 1;
            } else {
                off += 1;
            }
        }
    }
    (on, off)
}

fn same_bits(a: &Selector, b: &Selector) -> bool {
    commands().iter().all(|c| a.bit(c.id) == b.bit(c.id))
}

/// The command rules of a selector as Redis writes them: `+@all` or `-@all`, the categories
/// that fit best, then single commands and first-args.
pub fn describe_commands(s: &Selector) -> String {
    let n = commands().len();
    let additive = !s.future;
    let mut rules = String::from(if additive { "-@all " } else { "+@all " });
    let mut fake = Selector::default();
    fake.set_all(!additive, n);
    let mut temp = Selector {
        bits: s.bits.clone(),
        ..Selector::default()
    };
    let mut applied = [false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut mindiff, mut maxsame) = (usize::MAX, 0);
        for (j, _) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (on, off) = count_category(&temp, 1 << j);
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                best = Some(j);
                mindiff = diff;
                maxsame = same;
            }
        }
        let Some(j) = best else { break };
        set_category(&mut fake, 1 << j, additive);
        set_category(&mut temp, 1 << j, !additive);
        rules.push_str(if additive { "+@" } else { "-@" });
        rules.push_str(CATEGORIES[j]);
        rules.push(' ');
        applied[j] = true;
    }
    for c in commands().iter().filter(|c| !c.is_sub()) {
        single(s, &mut fake, c, &mut rules);
        for &sub in &c.subs {
            single(s, &mut fake, &commands()[sub], &mut rules);
        }
    }
    rules.pop();
    debug_assert!(same_bits(s, &fake));
    rules
}

fn single(s: &Selector, fake: &mut Selector, c: &Command, rules: &mut String) {
    let userbit = s.bit(c.id);
    if userbit != fake.bit(c.id) {
        rules.push(if userbit { '+' } else { '-' });
        rules.push_str(c.name);
        rules.push(' ');
        change_perm(fake, c, userbit);
    }
    if !userbit {
        if let Some((_, args)) = s.firstargs.iter().find(|(id, _)| *id == c.id) {
            for a in args {
                rules.push('+');
                rules.push_str(c.name);
                rules.push('|');
                rules.push_str(&String::from_utf8_lossy(a));
                rules.push(' ');
            }
        }
    }
}

/// A key pattern as a rule (`~p`, `%R~p`, `%W~p`).
pub fn key_rule(p: &[u8], flags: u8) -> String {
    let prefix = match flags {
        KEY_READ => "%R~",
        KEY_WRITE => "%W~",
        _ => "~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(p))
}

/// A selector's keys, channels and commands as `ACL LIST` writes them.
pub fn describe_selector(s: &Selector) -> String {
    let mut out = String::new();
    if s.allkeys {
        out.push_str("~* ");
    } else {
        for (p, f) in &s.keys {
            out.push_str(&key_rule(p, *f));
            out.push(' ');
        }
    }
    if s.allchannels {
        out.push_str("&* ");
    } else {
        out.push_str("resetchannels ");
        for c in &s.channels {
            out.push('&');
            out.push_str(&String::from_utf8_lossy(c));
            out.push(' ');
        }
    }
    out.push_str(&describe_commands(s));
    out
}

/// A user's flags as `ACL GETUSER` lists them.
pub fn user_flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize {
        Some(false) => f.push("skip-sanitize-payload"),
        Some(true) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// A user as `ACL LIST` and the ACL file write it, without the `user <name> ` prefix.
pub fn describe_user(u: &User) -> String {
    let mut out = String::new();
    for f in user_flags(u) {
        out.push_str(f);
        out.push(' ');
    }
    for p in &u.passwords {
        out.push('#');
        out.push_str(p);
        out.push(' ');
    }
    for (i, s) in u.selectors.iter().enumerate() {
        if i == 0 {
            out.push_str(&describe_selector(s));
        } else {
            out.push_str(&format!(" ({})", describe_selector(s)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let args: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
        set_user(None, b"u", &args, false).expect("valid rules")
    }

    /// Applying a user's description to a new user gives the same user.
    #[test]
    fn descriptions_read_back_as_the_same_user() {
        let cases: &[&[&str]] = &[
            &["on", ">pw", "+@all"],
            &["+@all", "-@dangerous", "-get", "+config|get"],
            &["-@all", "+@read", "-get", "+set", "~a*", "%R~b*", "%W~c*"],
            &["+@hash", "+@string", "-@write", "+select|0", "&ch", "&x*"],
            &[
                "nocommands",
                "+client|list",
                "+acl|whoami",
                "(+get ~k*)",
                "(+@set %R~s*)",
            ],
            &[
                "allcommands",
                "-@sortedset",
                "+zadd",
                "allkeys",
                "allchannels",
                "nopass",
            ],
        ];
        for rules in cases {
            let u = user(rules);
            let text = describe_user(&u);
            let again: Vec<String> = {
                let words: Vec<&[u8]> = text.split(' ').map(str::as_bytes).collect();
                let merged = merge_selector_args(&words).expect("balanced");
                merged
                    .into_iter()
                    .map(|m| String::from_utf8_lossy(&m).into_owned())
                    .collect()
            };
            let refs: Vec<&str> = again.iter().map(String::as_str).collect();
            let v = user(&refs);
            for (a, b) in u.selectors.iter().zip(&v.selectors) {
                assert!(same_bits(a, b), "{rules:?} -> {text}");
                assert_eq!((a.allkeys, &a.keys), (b.allkeys, &b.keys), "{text}");
                assert_eq!((a.allchannels, &a.channels), (b.allchannels, &b.channels));
                assert_eq!(a.firstargs, b.firstargs, "{text}");
            }
            assert_eq!(
                (u.enabled, u.nopass, &u.passwords, u.selectors.len()),
                (v.enabled, v.nopass, &v.passwords, v.selectors.len())
            );
        }
    }

    #[test]
    fn rule_errors_are_redis_errors() {
        let err = |rules: &[&str]| {
            let args: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
            set_user(None, b"u", &args, false).expect_err("invalid")
        };
        assert_eq!(
            err(&["+nosuch"]),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            err(&["(+get", "~a"]),
            "ERR Unmatched parenthesis in acl selector starting at '(+get'."
        );
        assert!(err(&["allkeys", "~a"]).contains("Try 'resetkeys'"));
        assert!(err(&["+config|get|x"])
            .ends_with("Allowing first-arg of a subcommand is not supported"));
        assert!(err(&["+get|"]).ends_with("': Syntax error"));
    }
}
