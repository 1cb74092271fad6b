//! Differential tests: the same command scripts against cachesrv and a real `redis-server` 7,
//! replies compared byte for byte.
//!
//! Scripts are `tests/scripts/*.txt`, one command per line in inline syntax (quotes and
//! escapes as `redis-cli` accepts them). `#` starts a comment. Directives:
//! - `!sort <command>`: the reply is an array whose order Redis does not define; elements
//!   (flattened one level) are compared sorted.
//! - `!type <command>`: only the reply's type and length are compared (random results).
//! - `!sleep <ms>`: waits (for expiry cases).
//! - `!resp3`: switches both connections to RESP3 (`HELLO 3`).
//!
//! Both servers start empty; each script runs on fresh connections after `FLUSHALL`.

mod common;

use std::path::Path;

use common::{Conn, TestServer};
use protocol::{split_args, Frame};
use testkit::RedisServer;

/// The reply's elements in a canonical order: arrays (at any depth) sorted, maps flattened.
fn sorted_elems(f: &Frame) -> Vec<String> {
    let items = match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => v.clone(),
        Frame::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [k.clone(), v.clone()])
            .collect(),
        other => return vec![format!("{other:?}")],
    };
    let mut s: Vec<String> = items
        .iter()
        .map(|i| match i {
            Frame::Array(_) | Frame::Set(_) | Frame::Map(_) | Frame::Push(_) => {
                sorted_elems(i).join(",")
            }
            other => format!("{other:?}"),
        })
        .collect();
    s.sort();
    s
}

fn shape(f: &Frame) -> String {
    match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => format!("array[{}]", v.len()),
        Frame::Map(v) => format!("map[{}]", v.len()),
        Frame::Bulk(_) => "bulk".into(),
        Frame::Null => "null".into(),
        Frame::Integer(_) => "int".into(),
        Frame::Error(e) => format!("error {}", String::from_utf8_lossy(e)),
        other => format!("{other:?}"),
    }
}

fn run_script(path: &Path, ours: u16, redis: u16) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("script");
    let mut a = Conn::open(ours);
    let mut b = Conn::open(redis);
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["FLUSHALL"]), Frame::Simple("OK".into()));
    }
    let mut failures = vec![];
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, cmdline) = match line.split_once(' ') {
            Some((m, rest)) if m.starts_with('!') => (m, rest),
            _ if line.starts_with('!') => (line, ""),
            _ => ("", line),
        };
        match mode {
            "!sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(
                    cmdline.parse().unwrap_or(0),
                ));
                continue;
            }
            "!resp3" => {
                for c in [&mut a, &mut b] {
                    c.cmd(&["HELLO", "3"]);
                }
                continue;
            }
            _ => {}
        }
        let args = split_args(cmdline.as_bytes()).expect("script line parses");
        a.send(&args);
        b.send(&args);
        let (raw_a, fa) = a.read_raw();
        let (raw_b, fb) = b.read_raw();
        let same = match mode {
            "!sort" => sorted_elems(&fa) == sorted_elems(&fb),
            "!type" => shape(&fa) == shape(&fb),
            _ => raw_a == raw_b,
        };
        if !same {
            failures.push(format!(
                "{}:{}: {}\n    cachesrv: {:?}\n    redis:    {:?}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                no + 1,
                line,
                String::from_utf8_lossy(&raw_a),
                String::from_utf8_lossy(&raw_b)
            ));
        }
    }
    failures
}

#[test]
fn scripts_match_redis_byte_for_byte() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let mut failures = vec![];
    for s in &common::script_files("tests/scripts") {
        failures.extend(run_script(s, ours.port, redis.port));
    }
    common::assert_no_differences(&failures);
}

/// `INFO commandstats` as (name, calls, rejected_calls, failed_calls), without the timings.
fn command_counts(c: &mut Conn) -> Vec<String> {
    let Frame::Bulk(text) = c.cmd(&["INFO", "commandstats"]) else {
        panic!("INFO is a bulk reply");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let mut rows: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .map(|l| {
            let (name, fields) = l.split_once(':').expect("name:fields");
            let keep: Vec<&str> = fields
                .split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect();
            format!("{name}:{}", keep.join(","))
        })
        .collect();
    rows.sort();
    rows
}

/// The `cmd=` field of the `CLIENT LIST` line whose `name=` is `name`.
fn last_command(list: &Frame, name: &str) -> String {
    let Frame::Bulk(text) = list else {
        panic!("CLIENT LIST is a bulk reply");
    };
    let text = String::from_utf8_lossy(text);
    let line = text
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client named {name} in {text}"));
    let cmd = line
        .split(' ')
        .find_map(|f| f.strip_prefix("cmd="))
        .expect("cmd= field");
    cmd.to_string()
}

#[test]
fn commandstats_and_client_list_name_subcommands_as_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let mut results = vec![];
    for port in [ours.port, redis.port] {
        let mut admin = Conn::open(port);
        let mut reader = Conn::open(port);
        let mut stranger = Conn::open(port);
        admin.cmd(&["CLIENT", "SETNAME", "admin"]);
        reader.cmd(&["CLIENT", "SETNAME", "reader"]);
        stranger.cmd(&["CLIENT", "SETNAME", "stranger"]);
        admin.cmd(&["CONFIG", "RESETSTAT"]);
        admin.cmd(&["CONFIG", "GET", "maxmemory"]);
        admin.cmd(&["config", "get", "maxmemory-policy"]);
        admin.cmd(&["CONFIG", "GET"]); // arity: rejected, counted on config|get
        admin.cmd(&["CONFIG"]); // arity: rejected, counted on config
        admin.cmd(&["CONFIG", "NOSUCH"]); // unknown subcommand: counted nowhere
        admin.cmd(&["OBJECT", "ENCODING", "missing"]);
        admin.cmd(&["MEMORY", "USAGE", "missing"]);
        admin.cmd(&["PUBSUB", "NUMPAT"]);
        admin.cmd(&["SLOWLOG", "LEN"]);
        admin.cmd(&["CLIENT", "ID"]);
        admin.cmd(&["COMMAND", "COUNT"]);
        reader.cmd(&["GET", "x"]);
        stranger.cmd(&["NOSUCHCOMMAND"]);
        let list = admin.cmd(&["CLIENT", "LIST"]);
        let names: Vec<String> = ["admin", "reader", "stranger"]
            .iter()
            .map(|n| last_command(&list, n))
            .collect();
        results.push((command_counts(&mut admin), names));
    }
    let (ours_r, redis_r) = (&results[0], &results[1]);
    assert_eq!(ours_r.1, redis_r.1, "CLIENT LIST cmd= (cachesrv, redis)");
    assert_eq!(ours_r.1[0], "client|list");
    assert_eq!(ours_r.0, redis_r.0, "INFO commandstats (cachesrv, redis)");
    assert!(ours_r
        .0
        .iter()
        .any(|r| r.starts_with("config|get:calls=2,")));
}
