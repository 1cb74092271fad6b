//! CLIENT REPLY, CLIENT PAUSE / UNPAUSE against a real `redis-server` 7 and cachesrv, and
//! the evicted notifications of cachesrv.

mod common;

use std::time::Duration;

use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

/// Sends `cmds` as one pipeline followed by `CLIENT REPLY ON` and `PING`, and returns every
/// byte received up to the PONG.
fn pipeline_bytes(port: u16, cmds: &[&[&str]]) -> Vec<u8> {
    let mut c = Conn::open(port);
    for cmd in cmds {
        c.send(cmd);
    }
    c.send(&["CLIENT", "REPLY", "ON"]);
    c.send(&["PING"]);
    let mut got = Vec::new();
    loop {
        let (raw, f) = c.read_raw();
        got.extend_from_slice(&raw);
        if f == Frame::Simple("PONG".into()) {
            return got;
        }
    }
}

#[test]
fn client_reply_drops_the_same_replies_as_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "OFF"],
        &["INCR", "a"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "SKIP"],
        &["NOSUCHCOMMAND"],
        &["CLIENT", "REPLY", "ON"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "REPLY", "ON"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "BAD"],
        &["CLIENT", "REPLY"],
        &["CLIENT", "REPLY", "OFF"],
        &["CLIENT", "REPLY", "BAD"],
        &["RESET"],
        &["GET", "a"],
    ];
    let a = pipeline_bytes(ours.port, script);
    let b = pipeline_bytes(redis.port, script);
    assert_eq!(
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        "cachesrv vs redis"
    );
}

/// A writer paused by `CLIENT PAUSE WRITE` waits (its SET has not run), readers are served,
/// and the writer proceeds after `CLIENT UNPAUSE`: the same on both servers.
fn pause_write_then_unpause(port: u16) -> Vec<Frame> {
    let mut admin = Conn::open(port);
    let mut writer = Conn::open(port);
    let mut seen = vec![admin.cmd(&["DEL", "k"])];
    seen.push(admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]));
    writer.send(&["SET", "k", "v"]);
    writer.send(&["GET", "k"]);
    // Let the SET reach the server: it must still be waiting afterwards.
    std::thread::sleep(Duration::from_millis(200));
    seen.push(admin.cmd(&["GET", "k"]));
    seen.push(admin.cmd(&["EXISTS", "k"]));
    seen.push(admin.cmd(&["CLIENT", "UNPAUSE"]));
    seen.push(writer.read_raw().1);
    seen.push(writer.read_raw().1);
    seen.push(admin.cmd(&["GET", "k"]));
    seen
}

#[test]
fn a_paused_writer_waits_and_proceeds_after_unpause() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = pause_write_then_unpause(ours.port);
    assert_eq!(a, pause_write_then_unpause(redis.port));
    assert_eq!(a[2], Frame::Null, "the SET waited");
    assert_eq!(a[5], Frame::Simple("OK".into()), "then ran");
    assert_eq!(a[7], Frame::Bulk("v".into()));
}

/// `CLIENT PAUSE ALL` holds every command, the pausing client's too, until it times out.
fn pause_all_times_out(port: u16) -> Vec<Frame> {
    let mut admin = Conn::open(port);
    let mut other = Conn::open(port);
    let mut seen = vec![admin.cmd(&["SET", "k", "1"])];
    seen.push(admin.cmd(&["CLIENT", "PAUSE", "300", "ALL"]));
    other.send(&["INCR", "k"]);
    seen.push(other.read_raw().1);
    seen.push(admin.cmd(&["GET", "k"]));
    seen
}

#[test]
fn a_pause_of_all_commands_ends_on_its_timeout() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = pause_all_times_out(ours.port);
    assert_eq!(a, pause_all_times_out(redis.port));
    assert_eq!(a[3], Frame::Bulk("2".into()));
}

#[test]
fn evicted_keys_are_notified() {
    let ours = TestServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = Conn::open(ours.port);
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    let mut sub = Conn::open(ours.port);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let value = "x".repeat(10_000);
    for i in 0..1000 {
        c.cmd(&["SET", &format!("key:{i}"), &value]);
    }
    let (_, f) = sub.read_raw();
    let Frame::Array(v) = f else {
        panic!("a message");
    };
    assert_eq!(v[0], Frame::Bulk("message".into()));
    assert_eq!(v[1], Frame::Bulk("__keyevent@0__:evicted".into()));
    let Frame::Bulk(key) = &v[2] else {
        panic!("a key name");
    };
    assert!(key.starts_with(b"key:"));
}
