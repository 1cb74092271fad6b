//! Client-side caching against a real `redis-server` 7: the invalidation messages a RESP3
//! tracking client, and a RESP2 client it redirects to, receive are compared byte for byte;
//! `redis-cli` (RESP2 and `-3`) reads TRACKINGINFO the same from both.

mod common;

use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

/// Everything `c` receives up to the reply to a PING (pushes included), as bytes.
fn until_pong(c: &mut Conn) -> Vec<u8> {
    c.send(&["PING"]);
    let mut got = Vec::new();
    loop {
        let (raw, f) = c.read_raw();
        got.extend_from_slice(&raw);
        match f {
            Frame::Simple(s) if s == "PONG" => return got,
            Frame::Array(v) if v.first() == Some(&Frame::Bulk("pong".into())) => return got,
            _ => {}
        }
    }
}

/// The `flags=` and `redir=` fields of the connection's `CLIENT INFO`.
fn info_fields(c: &mut Conn) -> String {
    let f = c.cmd(&["CLIENT", "INFO"]);
    let (Frame::Bulk(line) | Frame::Verbatim { text: line, .. }) = f else {
        panic!("CLIENT INFO: {f:?}");
    };
    String::from_utf8_lossy(&line)
        .split_whitespace()
        .filter(|f| f.starts_with("flags=") || f.starts_with("redir="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A RESP3 client tracking in default mode, then BCAST, OPTIN, NOLOOP and FLUSHALL.
fn resp3_session(port: u16) -> Vec<String> {
    let mut t = Conn::open(port);
    let mut w = Conn::open(port);
    let mut seen = vec![];
    w.cmd(&["FLUSHALL"]);
    t.cmd(&["HELLO", "3"]);
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKING", "ON"])));
    w.cmd(&["SET", "a", "1"]);
    w.cmd(&["SET", "b", "1"]);
    seen.push(text(&t.cmd_raw(&["GET", "a"])));
    seen.push(text(&t.cmd_raw(&["MGET", "a", "b", "c"])));
    w.cmd(&["SET", "a", "2"]);
    seen.push(text(&until_pong(&mut t)));
    // Invalidated once: a second write sends nothing until the key is read again.
    w.cmd(&["SET", "a", "3"]);
    w.cmd(&["DEL", "b"]);
    seen.push(text(&until_pong(&mut t)));
    w.cmd(&["SET", "c", "1"]);
    seen.push(text(&until_pong(&mut t)));
    // The client's own writes are invalidated too, unless NOLOOP.
    t.cmd(&["GET", "a"]);
    t.cmd(&["SET", "a", "4"]);
    seen.push(text(&until_pong(&mut t)));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKING", "ON", "NOLOOP"])));
    t.cmd(&["GET", "a"]);
    t.cmd(&["SET", "a", "5"]);
    seen.push(text(&until_pong(&mut t)));
    t.cmd(&["GET", "a"]);
    w.cmd(&["FLUSHALL"]);
    seen.push(text(&until_pong(&mut t)));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKINGINFO"])));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKING", "OFF"])));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKING", "ON", "OPTIN"])));
    t.cmd(&["GET", "x"]);
    seen.push(text(&t.cmd_raw(&["CLIENT", "CACHING", "YES"])));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKINGINFO"])));
    t.cmd(&["GET", "y"]);
    w.cmd(&["MSET", "x", "1", "y", "1"]);
    seen.push(text(&until_pong(&mut t)));
    t.cmd(&["CLIENT", "TRACKING", "OFF"]);
    seen.push(text(&t.cmd_raw(&[
        "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "obj:",
    ])));
    seen.push(info_fields(&mut t));
    w.cmd(&["SET", "user:1", "x"]);
    w.cmd(&["SET", "other", "x"]);
    w.cmd(&["DEL", "obj:2"]);
    w.cmd(&["SET", "obj:3", "x"]);
    seen.push(text(&until_pong(&mut t)));
    seen.push(text(&t.cmd_raw(&["CLIENT", "TRACKINGINFO"])));
    w.cmd(&["SET", "user:e", "x", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    w.cmd(&["GET", "user:e"]);
    seen.push(text(&until_pong(&mut t)));
    seen
}

#[test]
fn resp3_invalidations_match_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = resp3_session(ours.port);
    let b = resp3_session(redis.port);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "step {i}");
    }
    assert!(a[3].contains(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n"));
}

/// A RESP2 client tracking with REDIRECT to a RESP2 subscriber of `__redis__:invalidate`.
fn redirect_session(port: u16) -> Vec<String> {
    let mut r = Conn::open(port);
    let mut t = Conn::open(port);
    let mut w = Conn::open(port);
    let mut seen = vec![];
    w.cmd(&["FLUSHALL"]);
    let Frame::Integer(rid) = r.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID");
    };
    seen.push(text(&r.cmd_raw(&["SUBSCRIBE", "__redis__:invalidate"])));
    let rid = rid.to_string();
    seen.push(text(
        &t.cmd_raw(&["CLIENT", "TRACKING", "ON", "REDIRECT", &rid]),
    ));
    seen.push(text(&t.cmd_raw(&["CLIENT", "GETREDIR"])).replace(&format!(":{rid}\r\n"), ":ID\r\n"));
    t.cmd(&["GET", "k"]);
    t.cmd(&["HGET", "h", "f"]);
    w.cmd(&["SET", "k", "v"]);
    w.cmd(&["HSET", "h", "f", "v"]);
    seen.push(text(&until_pong(&mut r)));
    t.cmd(&["GET", "k"]);
    w.cmd(&["FLUSHDB"]);
    seen.push(text(&until_pong(&mut r)));
    // The tracking client itself hears nothing in RESP2.
    seen.push(text(&until_pong(&mut t)));
    drop(r);
    std::thread::sleep(std::time::Duration::from_millis(100));
    t.cmd(&["GET", "k"]);
    w.cmd(&["SET", "k", "2"]);
    seen.push(text(&until_pong(&mut t)));
    seen.push(
        text(&t.cmd_raw(&["CLIENT", "TRACKINGINFO"])).replace(&format!(":{rid}\r\n"), ":ID\r\n"),
    );
    seen.push(info_fields(&mut t).replace(&format!("redir={rid}"), "redir=ID"));
    t.cmd(&["CLIENT", "TRACKING", "OFF"]);
    t.cmd(&["CLIENT", "NO-EVICT", "ON"]);
    seen.push(info_fields(&mut t));
    seen
}

#[test]
fn resp2_redirect_invalidations_match_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = redirect_session(ours.port);
    let b = redirect_session(redis.port);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "step {i}");
    }
    assert!(a[3].contains("__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"));
}

#[test]
fn the_tracking_table_keeps_at_most_tracking_table_max_keys() {
    let ours = TestServer::start(&["--tracking-table-max-keys", "2"]);
    let mut t = Conn::open(ours.port);
    t.cmd(&["HELLO", "3"]);
    t.cmd(&["CLIENT", "TRACKING", "ON"]);
    t.cmd(&["MGET", "a", "b", "c"]);
    // One of the three was dropped from the table, with an invalidation.
    let got = text(&until_pong(&mut t));
    assert_eq!(got.matches("invalidate").count(), 1, "{got}");
    assert_eq!(ours.shared.tracking.info().keys, 2);
}

fn cli(port: u16, resp3: bool, args: &[&str]) -> String {
    let mut c = std::process::Command::new("redis-cli");
    c.args(["-p", &port.to_string()]);
    if resp3 {
        c.arg("-3");
    }
    let out = c.args(args).output().expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_reads_trackinginfo_the_same_in_resp2_and_resp3() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    for resp3 in [false, true] {
        for args in [
            &["CLIENT", "TRACKINGINFO"][..],
            &["CLIENT", "GETREDIR"][..],
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab",
            ][..],
            &["CLIENT", "CACHING", "YES"][..],
        ] {
            assert_eq!(
                cli(ours.port, resp3, args),
                cli(redis.port, resp3, args),
                "{args:?} resp3={resp3}"
            );
        }
    }
}
