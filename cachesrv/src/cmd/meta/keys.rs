//! Key extraction as Redis 7.0 does it: the command's key specs (`begin_search` by index or
//! keyword, `find_keys` by range or key count), falling back to the command's own key
//! function when a spec is incomplete or invalid for the arguments (SORT's STORE, a bad
//! `numkeys`) or its flags vary with the arguments (SET ... GET, BITFIELD).

use super::{Meta, Node};
use crate::cmd::util::{eq, int};

/// Key spec flags, in the order Redis names them.
pub const KEY_FLAG_NAMES: [&str; 11] = [
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

/// Read-only access.
pub const RO: u16 = 1;
/// Read-write access.
pub const RW: u16 = 1 << 1;
/// Overwrite.
pub const OW: u16 = 1 << 2;
/// Remove.
pub const RM: u16 = 1 << 3;
/// Reads the value.
pub const ACCESS: u16 = 1 << 4;
/// Updates the value.
pub const UPDATE: u16 = 1 << 5;
/// Inserts into the value.
pub const INSERT: u16 = 1 << 6;
/// Deletes from the value.
pub const DELETE: u16 = 1 << 7;
const NOT_KEY: u16 = 1 << 8;
const INCOMPLETE: u16 = 1 << 9;
const VARIABLE_FLAGS: u16 = 1 << 10;

fn flag_bit(name: &str) -> u16 {
    KEY_FLAG_NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(0, |i| 1 << i)
}

#[derive(Debug, Clone)]
enum Begin {
    Index(i64),
    Keyword(String, i64),
    Unknown,
}

#[derive(Debug, Clone)]
enum Find {
    Range { last: i64, step: i64, limit: i64 },
    Keynum { idx: i64, first: i64, step: i64 },
    Unknown,
}

/// One key spec of a command.
#[derive(Debug, Clone)]
pub struct KeySpec {
    flags: u16,
    begin: Begin,
    find: Find,
}

impl KeySpec {
    pub(super) fn from_node(n: &Node) -> KeySpec {
        let flags = n.get("flags").map_or(0, |f| {
            f.items()
                .iter()
                .filter_map(|x| x.text())
                .map(flag_bit)
                .fold(0, |a, b| a | b)
        });
        let bs = n.get("begin_search");
        let bspec = bs.and_then(|b| b.get("spec"));
        let field = |s: Option<&Node>, k: &str| s.and_then(|s| s.get(k)).map_or(0, Node::int);
        let begin = match bs.and_then(|b| b.get("type")).and_then(Node::text) {
            Some("index") => Begin::Index(field(bspec, "index")),
            Some("keyword") => Begin::Keyword(
                bspec
                    .and_then(|s| s.get("keyword"))
                    .and_then(Node::text)
                    .unwrap_or("")
                    .to_string(),
                field(bspec, "startfrom"),
            ),
            _ => Begin::Unknown,
        };
        let fk = n.get("find_keys");
        let fspec = fk.and_then(|b| b.get("spec"));
        let find = match fk.and_then(|b| b.get("type")).and_then(Node::text) {
            Some("range") => Find::Range {
                last: field(fspec, "lastkey"),
                step: field(fspec, "keystep"),
                limit: field(fspec, "limit"),
            },
            Some("keynum") => Find::Keynum {
                idx: field(fspec, "keynumidx"),
                first: field(fspec, "firstkey"),
                step: field(fspec, "keystep"),
            },
            _ => Find::Unknown,
        };
        KeySpec { flags, begin, find }
    }
}

/// A key found in a command: its argument position and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    /// Index in the arguments (the command name is 0).
    pub pos: usize,
    /// Key spec flags.
    pub flags: u16,
}

/// Whether the command may have keys (Redis's `doesCommandHaveKeys`).
pub fn has_keys(name: &str, m: &Meta) -> bool {
    proc_of(name).is_some() || m.specs.iter().any(|s| s.flags & NOT_KEY == 0)
}

/// The keys of a command, as `getKeysFromCommandWithSpecs` finds them.
pub fn get_keys(name: &str, m: &Meta, argv: &[&[u8]]) -> Vec<KeyRef> {
    let has_keyspec = m.specs.iter().any(|s| s.flags & NOT_KEY == 0);
    let varflags = m.specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0);
    if has_keyspec && !varflags {
        if let Some(keys) = from_specs(&m.specs, argv) {
            return keys;
        }
    }
    match proc_of(name) {
        Some(p) => p(argv),
        None => Vec::new(),
    }
}

fn from_specs(specs: &[KeySpec], argv: &[&[u8]]) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.flags & NOT_KEY != 0 {
            continue;
        }
        let first = match &spec.begin {
            Begin::Index(i) => *i,
            Begin::Keyword(word, from) => {
                let (start, end) = if *from > 0 {
                    (*from, argc - 1)
                } else {
                    (argc + from, 1)
                };
                let mut i = start;
                let mut found = 0;
                while i < argc && i >= 1 {
                    if eq(argv[i as usize], word) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range { last, step, limit } => {
                let l = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / limit + last)
                };
                (first, l, step)
            }
            Find::Keynum {
                idx,
                first: f,
                step,
            } => {
                if idx >= argc {
                    return None;
                }
                let n = argv
                    .get((first + idx) as usize)
                    .and_then(|a| int(a))
                    .filter(|n| *n >= 0)?;
                (first + f, first + f + n - 1, step)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef {
                pos: i as usize,
                flags: spec.flags,
            });
            i += step.max(1);
        }
        if spec.flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(out)
}

type Proc = fn(&[&[u8]]) -> Vec<KeyRef>;

/// The commands of cachesrv's table with a key function of their own in Redis 7.0.
fn proc_of(name: &str) -> Option<Proc> {
    Some(match name {
        "sintercard" | "zunion" | "zinter" | "zdiff" | "zintercard" | "lmpop" | "zmpop" => {
            |a| numkeys(a, 0, 1, 2)
        }
        "zunionstore" | "zinterstore" | "zdiffstore" => |a| numkeys(a, 1, 2, 3),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => |a| numkeys(a, 0, 2, 3),
        "sort" => sort_keys,
        "sort_ro" => |_| vec![key(1, RO | ACCESS)],
        "georadius" | "georadiusbymember" => georadius_keys,
        "set" => set_keys,
        "bitfield" => bitfield_keys,
        _ => return None,
    })
}

fn key(pos: usize, flags: u16) -> KeyRef {
    KeyRef { pos, flags }
}

/// C's `atoi`: leading blanks, a sign, digits; 0 when there are none.
fn atoi(s: &[u8]) -> i64 {
    let s = match s.iter().position(|c| !c.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return 0,
    };
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's `genericGetKeys`: `numkeys` keys from `first`, then the destination, if any.
fn numkeys(a: &[&[u8]], store: usize, count: usize, first: usize) -> Vec<KeyRef> {
    let num = a.get(count).map_or(0, |c| atoi(c));
    let room = a.len().saturating_sub(first) as i64;
    if num < 1 || num > room {
        return Vec::new();
    }
    let mut keys: Vec<KeyRef> = (0..num as usize).map(|i| key(first + i, 0)).collect();
    if store > 0 {
        keys.push(key(store, 0));
    }
    keys
}

fn sort_keys(a: &[&[u8]]) -> Vec<KeyRef> {
    let mut keys = vec![key(1, RO | ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < a.len() {
        // As Redis: LIMIT, GET and BY skip their arguments; the last STORE wins.
        if eq(a[i], "limit") {
            i += 2;
        } else if a.len() > i + 1 && eq(a[i], "store") {
            store = Some(i + 1);
        } else if eq(a[i], "get") || eq(a[i], "by") {
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        keys.push(key(s, OW | UPDATE));
    }
    keys
}

fn georadius_keys(a: &[&[u8]]) -> Vec<KeyRef> {
    let mut stored = None;
    let mut i = 5;
    while i < a.len() {
        if (eq(a[i], "store") || eq(a[i], "storedist")) && i + 1 < a.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut keys = vec![key(1, 0)];
    keys.extend(stored.map(|s| key(s, 0)));
    keys
}

fn set_keys(a: &[&[u8]]) -> Vec<KeyRef> {
    if a.iter().skip(3).any(|x| eq(x, "get")) {
        vec![key(1, RW | ACCESS | UPDATE)]
    } else {
        vec![key(1, OW | UPDATE)]
    }
}

fn bitfield_keys(a: &[&[u8]]) -> Vec<KeyRef> {
    let mut readonly = true;
    let mut i = 2;
    while i < a.len() {
        let rem = a.len() - i - 1;
        if eq(a[i], "get") && rem >= 2 {
            i += 2;
        } else if (eq(a[i], "set") || eq(a[i], "incrby")) && rem >= 3 {
            readonly = false;
            break;
        } else if eq(a[i], "overflow") && rem >= 1 {
            i += 1;
        } else {
            readonly = false;
            break;
        }
        i += 1;
    }
    vec![key(
        1,
        if readonly {
            RO | ACCESS
        } else {
            RW | ACCESS | UPDATE
        },
    )]
}

/// The names of a key's flags, in Redis's order.
pub fn flag_names(flags: u16) -> impl Iterator<Item = &'static str> {
    KEY_FLAG_NAMES
        .iter()
        .enumerate()
        .filter(move |(i, _)| flags & (1 << i) != 0)
        .map(|p| *p.1)
}
