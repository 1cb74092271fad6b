//! Scripts seen from several connections: atomicity against clients on other threads,
//! `-BUSY` past `busy-reply-threshold`, SCRIPT KILL and FUNCTION KILL from a second
//! connection, UNKILLABLE after a write. (Replies and errors of single commands are diffed
//! against redis-server in `diff.rs`, `tests/scripts/scripting.txt` and `functions.txt`.)

mod common;

use bytes::Bytes;
use common::{Conn, TestServer};
use protocol::Frame;

fn err(s: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
}

/// Two connections served by different event loops: connections are handed to the loops in
/// turn, so two accepted one after the other never share one.
fn two_conns(port: u16) -> (Conn, Conn) {
    let mut a = Conn::open(port);
    assert_eq!(a.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let mut b = Conn::open(port);
    assert_eq!(b.cmd(&["PING"]), Frame::Simple("PONG".into()));
    (a, b)
}

/// Sends GET on `b` until the server answers `-BUSY`; returns that error.
fn until_busy(b: &mut Conn) -> Frame {
    loop {
        match b.cmd(&["GET", "k"]) {
            f @ Frame::Error(_) => return f,
            _ => std::thread::yield_now(),
        }
    }
}

#[test]
fn script_kill_stops_a_busy_script_from_another_connection() {
    let server = TestServer::start(&["--server-threads", "2", "--busy-reply-threshold", "50"]);
    let (mut a, mut b) = two_conns(server.port);
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]),
        err("NOTBUSY No scripts in execution right now.")
    );
    let body = "local n = 0\nwhile true do n = n + 1 end";
    let Frame::Bulk(sha) = b.cmd(&["SCRIPT", "LOAD", body]) else {
        panic!("SCRIPT LOAD answers the SHA-1");
    };
    let sha = String::from_utf8_lossy(&sha).to_string();
    a.send(&["EVALSHA", &sha, "0"]);
    assert_eq!(
        until_busy(&mut b),
        err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(
        b.cmd(&["FUNCTION", "KILL"]),
        err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert_eq!(
        a.read_raw().1,
        err(&format!(
            "ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:2."
        ))
    );
    // Both connections work again.
    assert_eq!(a.cmd(&["SET", "k", "v"]), Frame::Simple("OK".into()));
    assert_eq!(b.cmd(&["GET", "k"]), Frame::Bulk(Bytes::from_static(b"v")));
}

#[test]
fn function_kill_stops_a_busy_function() {
    let server = TestServer::start(&["--server-threads", "2", "--busy-reply-threshold", "50"]);
    let (mut a, mut b) = two_conns(server.port);
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(
        a.cmd(&["FUNCTION", "LOAD", lib]),
        Frame::Bulk(Bytes::from_static(b"spin"))
    );
    a.send(&["FCALL", "spin", "0"]);
    assert_eq!(
        until_busy(&mut b),
        err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    let Frame::Array(stats) = b.cmd(&["FUNCTION", "STATS"]) else {
        panic!("FUNCTION STATS is an array in RESP2");
    };
    assert_eq!(stats[0], Frame::Bulk(Bytes::from_static(b"running_script")));
    assert!(
        matches!(&stats[1], Frame::Array(r) if r[1] == Frame::Bulk(Bytes::from_static(b"spin")))
    );
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]),
        err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(b.cmd(&["FUNCTION", "KILL"]), Frame::Simple("OK".into()));
    assert_eq!(
        a.read_raw().1,
        err("ERR Script killed by user with FUNCTION KILL... script: spin, on @user_function:2.")
    );
}

#[test]
fn a_script_that_wrote_is_unkillable_and_finishes() {
    let server = TestServer::start(&["--server-threads", "2", "--busy-reply-threshold", "50"]);
    let (mut a, mut b) = two_conns(server.port);
    // Writes, then runs until the server's clock has moved on by a second and a half.
    let body = "redis.call('set', 'w', '1')\n\
                local t0 = tonumber(redis.call('time')[1])\n\
                while tonumber(redis.call('time')[1]) < t0 + 2 do end\n\
                return 'done'";
    a.send(&["EVAL", body, "0"]);
    until_busy(&mut b);
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]),
        err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    );
    assert_eq!(a.read_raw().1, Frame::Bulk(Bytes::from_static(b"done")));
    assert_eq!(b.cmd(&["GET", "w"]), Frame::Bulk(Bytes::from_static(b"1")));
}

#[test]
fn a_script_is_atomic_against_clients_on_other_threads() {
    let server = TestServer::start(&["--server-threads", "2"]);
    let port = server.port;
    let rounds = 5;
    let per_round = 2000;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                let mut seen = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    match c.cmd(&["GET", "counter"]) {
                        Frame::Null => seen.push(0),
                        Frame::Bulk(b) => seen.push(
                            std::str::from_utf8(&b)
                                .expect("digits")
                                .parse::<i64>()
                                .expect("a number"),
                        ),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                seen
            })
        })
        .collect();
    let mut w = Conn::open(port);
    let body = format!(
        "for i = 1, {per_round} do redis.call('incr', 'counter') end return redis.call('get', 'counter')"
    );
    for round in 1..=rounds {
        let expect = (round * per_round).to_string();
        assert_eq!(
            w.cmd(&["EVAL", &body, "0"]),
            Frame::Bulk(Bytes::from(expect))
        );
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for r in readers {
        let seen = r.join().expect("reader");
        assert!(!seen.is_empty());
        // Never a value from the middle of a script.
        for v in seen {
            assert_eq!(v % per_round, 0, "a reader saw {v} mid-script");
        }
    }
}

#[test]
fn info_reports_the_script_cache() {
    let server = TestServer::start(&[]);
    let mut c = Conn::open(server.port);
    let count = |c: &mut Conn| -> (u64, u64) {
        let Frame::Bulk(text) = c.cmd(&["INFO", "memory"]) else {
            panic!("INFO is a bulk string");
        };
        let text = String::from_utf8_lossy(&text).to_string();
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in INFO memory"))
        };
        (
            field("number_of_cached_scripts"),
            field("used_memory_scripts_eval"),
        )
    };
    assert_eq!(count(&mut c), (0, 0));
    c.cmd(&["SCRIPT", "LOAD", "return 1"]);
    c.cmd(&["EVAL", "return 22", "0"]);
    assert_eq!(count(&mut c), (2, 17));
    c.cmd(&["SCRIPT", "FLUSH"]);
    assert_eq!(count(&mut c), (0, 0));
}

#[test]
fn busy_reply_threshold_and_lua_time_limit_are_one_setting() {
    let server = TestServer::start(&[]);
    let mut c = Conn::open(server.port);
    let get = |c: &mut Conn, name: &str| c.cmd(&["CONFIG", "GET", name]);
    assert_eq!(
        get(&mut c, "busy-reply-threshold"),
        Frame::Array(vec![
            Frame::Bulk(Bytes::from_static(b"busy-reply-threshold")),
            Frame::Bulk(Bytes::from_static(b"5000")),
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "lua-time-limit", "250"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        get(&mut c, "busy-reply-threshold"),
        Frame::Array(vec![
            Frame::Bulk(Bytes::from_static(b"busy-reply-threshold")),
            Frame::Bulk(Bytes::from_static(b"250")),
        ])
    );
    assert_eq!(
        server
            .shared
            .scripts
            .busy_threshold_ms
            .load(std::sync::atomic::Ordering::Relaxed),
        250
    );
}
