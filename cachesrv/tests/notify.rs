//! Keyspace notifications against a real `redis-server` 7: the scripts in
//! `tests/scripts/notify/*.txt` run on both servers while a subscriber on each listens to
//! `__key*__:*`; after every command the subscriber is synchronised (a PING) and the
//! messages it received are compared byte for byte, as are the command replies.
//!
//! Script lines are commands in inline syntax; `#` starts a comment; `!sleep <ms>` waits (for
//! the active expire cycle).

mod common;

use std::path::Path;

use common::{Conn, TestServer};
use protocol::{split_args, Frame};
use testkit::RedisServer;

/// The subscriber's messages up to the reply to a PING.
fn drain(sub: &mut Conn) -> Vec<u8> {
    sub.send(&["PING"]);
    let mut got = Vec::new();
    loop {
        let (raw, f) = sub.read_raw();
        if let Frame::Array(v) = &f {
            if v.first() == Some(&Frame::Bulk("pong".into())) {
                return got;
            }
        }
        got.extend_from_slice(&raw);
    }
}

fn subscriber(port: u16) -> Conn {
    let mut sub = Conn::open(port);
    sub.send(&["PSUBSCRIBE", "__key*__:*"]);
    sub.read_raw();
    sub
}

fn run_script(path: &Path, ours: u16, redis: u16) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("script");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut conns = [Conn::open(ours), Conn::open(redis)];
    for c in &mut conns {
        assert_eq!(c.cmd(&["FLUSHALL"]), Frame::Simple("OK".into()));
    }
    let mut subs = [subscriber(ours), subscriber(redis)];
    let mut failures = vec![];
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("!sleep ") {
            std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
        } else {
            let args = split_args(line.as_bytes()).expect("script line parses");
            let replies: Vec<Vec<u8>> = conns
                .iter_mut()
                .map(|c| {
                    c.send(&args);
                    c.read_raw().0
                })
                .collect();
            if replies[0] != replies[1] {
                failures.push(format!(
                    "{name}:{}: {line}\n    cachesrv reply: {:?}\n    redis reply:    {:?}",
                    no + 1,
                    String::from_utf8_lossy(&replies[0]),
                    String::from_utf8_lossy(&replies[1])
                ));
            }
        }
        let msgs: Vec<Vec<u8>> = subs.iter_mut().map(drain).collect();
        if msgs[0] != msgs[1] {
            failures.push(format!(
                "{name}:{}: {line}\n    cachesrv messages: {:?}\n    redis messages:    {:?}",
                no + 1,
                String::from_utf8_lossy(&msgs[0]),
                String::from_utf8_lossy(&msgs[1])
            ));
        }
    }
    for c in &mut conns {
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    }
    failures
}

#[test]
fn notification_streams_match_redis_byte_for_byte() {
    let ours = TestServer::start(&[]);
    // DEBUG SET-ACTIVE-EXPIRE stops the active expire cycle around the lazy-expiry step, so
    // which of the two expires a key is not a race with the cycle.
    let redis = RedisServer::start_with(None, &["--enable-debug-command", "yes"]);
    let mut failures = vec![];
    for s in &common::script_files("tests/scripts/notify") {
        failures.extend(run_script(s, ours.port, redis.port));
    }
    common::assert_no_differences(&failures);
}
