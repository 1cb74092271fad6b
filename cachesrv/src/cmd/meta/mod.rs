//! Redis 7.0's command metadata: what `COMMAND INFO` and `COMMAND DOCS` report (flags, ACL
//! categories, tips, key specs, documentation), read from `redis7_commands.txt`, which
//! `scripts/redis7_commands.py` writes from a real redis-server 7.0.
//!
//! The file holds every Redis 7.0 command; only those in cachesrv's table are reported.
//! A container's subcommands (in `COMMAND INFO`'s tenth element and `COMMAND DOCS`'s
//! `subcommands`) are the ones cachesrv has. A command of the table that Redis 7.0 lacks
//! (such as `client|setinfo`) is described from the table itself. The ACL categories and key
//! specs found here drive ACL permissions and `COMMAND GETKEYS` ([`keys`]).

pub mod keys;

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{commands, Command, Ctx};

const DATA: &str = include_str!("redis7_commands.txt");

/// A reply tree, written in the client's protocol.
#[derive(Debug, Clone)]
pub enum Node {
    /// `*n`.
    Array(Vec<Node>),
    /// `%n` (a flat array in RESP2).
    Map(Vec<(Node, Node)>),
    /// `~n` (an array in RESP2).
    Set(Vec<Node>),
    /// `:n`.
    Int(i64),
    /// `+text`.
    Simple(String),
    /// `$text`.
    Bulk(String),
    /// Null.
    Null,
}

impl Node {
    /// Writes the tree as a reply.
    pub fn write(&self, ctx: &mut Ctx<'_>) {
        match self {
            Node::Array(v) => {
                ctx.array(v.len());
                v.iter().for_each(|n| n.write(ctx));
            }
            Node::Set(v) => {
                ctx.set(v.len());
                v.iter().for_each(|n| n.write(ctx));
            }
            Node::Map(v) => {
                ctx.map(v.len());
                for (k, n) in v {
                    k.write(ctx);
                    n.write(ctx);
                }
            }
            Node::Int(i) => ctx.int(*i),
            Node::Simple(s) => ctx.simple(s),
            Node::Bulk(s) => ctx.bulk(s.as_bytes()),
            Node::Null => ctx.null(),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Node::Simple(s) | Node::Bulk(s) => Some(s),
            _ => None,
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Array(v) | Node::Set(v) => v,
            _ => &[],
        }
    }

    /// The value of `key` in a map.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(v) => v.iter().find(|(k, _)| k.text() == Some(key)).map(|p| &p.1),
            _ => None,
        }
    }

    fn int(&self) -> i64 {
        match self {
            Node::Int(i) => *i,
            _ => 0,
        }
    }
}

/// The ACL categories in Redis's order (`ACL CAT`); category `i` is bit `i`.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of an ACL category by name (case-insensitive), 0 if there is none.
pub fn category_bit(name: &[u8]) -> u32 {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map_or(0, |i| 1 << i)
}

/// What the metadata says of one command.
#[derive(Debug)]
pub struct Meta {
    /// The `COMMAND INFO` reply (its subcommands element left empty).
    pub info: Node,
    /// The `COMMAND DOCS` map (without `subcommands`).
    pub docs: Node,
    /// ACL categories ([`CATEGORIES`] bits).
    pub categories: u32,
    /// Key specs.
    pub specs: Vec<keys::KeySpec>,
    /// Command flags by name (`write`, `movablekeys`, `no_mandatory_keys`, ...).
    pub flags: Vec<String>,
}

impl Meta {
    /// Whether the command has flag `name`.
    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_node<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Node {
    let Some(line) = lines.next() else {
        return Node::Null;
    };
    let (t, rest) = line.split_at(line.len().min(1));
    let n = || rest.parse::<usize>().unwrap_or(0);
    match t {
        "*" => Node::Array((0..n()).map(|_| parse_node(lines)).collect()),
        "~" => Node::Set((0..n()).map(|_| parse_node(lines)).collect()),
        "%" => Node::Map(
            (0..n())
                .map(|_| (parse_node(lines), parse_node(lines)))
                .collect(),
        ),
        ":" => Node::Int(rest.parse().unwrap_or(0)),
        "+" => Node::Simple(rest.to_string()),
        "$" => Node::Bulk(unescape(rest)),
        _ => Node::Null,
    }
}

fn parse(text: &str) -> HashMap<String, Meta> {
    let mut map = HashMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix('@') else {
            continue;
        };
        let info = parse_node(&mut lines);
        let docs = parse_node(&mut lines);
        let el = info.items();
        let flags = el
            .get(2)
            .map(|f| f.items().iter().filter_map(|n| n.text()).map(String::from))
            .into_iter()
            .flatten()
            .collect();
        let categories = el.get(6).map_or(0, |c| {
            c.items()
                .iter()
                .filter_map(|n| n.text())
                .map(|t| category_bit(t.trim_start_matches('@').as_bytes()))
                .fold(0, |a, b| a | b)
        });
        let specs = el
            .get(8)
            .map(|s| s.items().iter().map(keys::KeySpec::from_node).collect())
            .unwrap_or_default();
        map.insert(
            name.to_string(),
            Meta {
                info,
                docs,
                categories,
                specs,
                flags,
            },
        );
    }
    map
}

/// Every command's metadata, by command id (`None`: Redis 7.0 has no such command).
fn by_id() -> &'static [Option<Meta>] {
    static METAS: OnceLock<Vec<Option<Meta>>> = OnceLock::new();
    METAS.get_or_init(|| {
        let mut all = parse(DATA);
        commands().iter().map(|c| all.remove(c.name)).collect()
    })
}

/// A command's metadata, if Redis 7.0 has the command.
pub fn meta(cmd: &Command) -> Option<&'static Meta> {
    by_id().get(cmd.id).and_then(|m| m.as_ref())
}

/// A command's ACL categories: Redis's, or for a command Redis 7.0 lacks, from its flags.
pub fn categories(cmd: &Command) -> u32 {
    use super::flags::*;
    if let Some(m) = meta(cmd) {
        return m.categories;
    }
    let mut bits = 0;
    let mut add = |name: &str| bits |= category_bit(name.as_bytes());
    if cmd.flags & WRITE != 0 {
        add("write");
    }
    if cmd.flags & READONLY != 0 {
        add("read");
    }
    if cmd.flags & ADMIN != 0 {
        add("admin");
        add("dangerous");
    }
    add(if cmd.flags & FAST != 0 {
        "fast"
    } else {
        "slow"
    });
    if cmd.name.starts_with("client|") {
        add("connection");
    }
    bits
}

/// Writes `COMMAND INFO`'s entry for `cmd`.
pub fn write_info(ctx: &mut Ctx<'_>, cmd: &Command) {
    let Some(m) = meta(cmd) else {
        return write_table_info(ctx, cmd);
    };
    let el = m.info.items();
    ctx.array(el.len());
    for (i, n) in el.iter().enumerate() {
        if i == 9 && !cmd.subs.is_empty() {
            ctx.array(cmd.subs.len());
            for &s in &cmd.subs {
                write_info(ctx, &commands()[s]);
            }
        } else {
            n.write(ctx);
        }
    }
}

/// `COMMAND INFO` from the table alone, for a command Redis 7.0 lacks.
fn write_table_info(ctx: &mut Ctx<'_>, c: &Command) {
    use super::flags::*;
    ctx.array(10);
    ctx.bulk(c.name.as_bytes());
    ctx.int(c.arity as i64);
    let names: Vec<&str> = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB_OK, "pubsub"),
        (NOAUTH, "no_auth"),
        (FAST, "fast"),
    ]
    .iter()
    .filter(|(f, _)| c.flags & f != 0)
    .map(|p| p.1)
    .collect();
    ctx.set(names.len());
    names.iter().for_each(|n| ctx.simple(n));
    ctx.int(c.keys.0 as i64);
    ctx.int(c.keys.1 as i64);
    ctx.int(c.keys.2 as i64);
    let cats = categories(c);
    ctx.set(cats.count_ones() as usize);
    for (i, name) in CATEGORIES.iter().enumerate() {
        if cats & (1 << i) != 0 {
            ctx.simple(&format!("@{name}"));
        }
    }
    ctx.set(0);
    ctx.set(0);
    ctx.set(0);
}

/// Writes `COMMAND DOCS`'s entry (the map) for `cmd`.
pub fn write_docs(ctx: &mut Ctx<'_>, cmd: &Command) {
    let fields: &[(Node, Node)] = match meta(cmd).map(|m| &m.docs) {
        Some(Node::Map(v)) => v,
        _ => {
            ctx.map(1);
            ctx.bulk(b"group");
            let group = cmd.name.split('|').next().unwrap_or(cmd.name);
            return ctx.bulk(if group == "client" {
                b"connection"
            } else {
                b"server"
            });
        }
    };
    let subs = !cmd.subs.is_empty();
    ctx.map(fields.len() + usize::from(subs));
    for (k, v) in fields {
        k.write(ctx);
        v.write(ctx);
    }
    if subs {
        ctx.bulk(b"subcommands");
        ctx.map(cmd.subs.len());
        for &s in &cmd.subs {
            let sub = &commands()[s];
            ctx.bulk(sub.name.as_bytes());
            write_docs(ctx, sub);
        }
    }
}
