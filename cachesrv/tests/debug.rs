//! DEBUG POPULATE against a real `redis-server` 7 (`enable-debug-command yes`): the same keys,
//! values, replies and errors; and a count no database could hold refused before any key is
//! made.

mod common;

use common::procs::info_u64;
use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

/// Runs `args` on both connections; the replies must be the same.
fn same(a: &mut Conn, b: &mut Conn, args: &[&[u8]]) -> Frame {
    let ours = a.cmd(args);
    let theirs = b.cmd(args);
    let shown: Vec<String> = args
        .iter()
        .map(|x| String::from_utf8_lossy(x).into_owned())
        .collect();
    assert_eq!(ours, theirs, "{shown:?}: cachesrv, then redis-server");
    ours
}

#[test]
fn populate_makes_the_keys_redis_makes() {
    let srv = TestServer::start(&[]);
    let redis = RedisServer::start_with(None, &["--enable-debug-command", "yes"]);
    let (mut a, mut b) = (Conn::open(srv.port), Conn::open(redis.port));
    let ok = Frame::Simple("OK".into());

    // Default prefix and values; a key that exists is left alone.
    same(&mut a, &mut b, &[b"SET", b"key:7", b"mine"]);
    assert_eq!(same(&mut a, &mut b, &[b"DEBUG", b"POPULATE", b"1000"]), ok);
    assert_eq!(
        same(&mut a, &mut b, &[b"DBSIZE"]),
        Frame::Integer(1000),
        "key:0 .. key:999"
    );
    for k in [&b"key:0"[..], b"key:7", b"key:999", b"key:1000"] {
        same(&mut a, &mut b, &[b"GET", k]);
    }
    assert_eq!(
        a.cmd(&[&b"GET"[..], b"key:123"]),
        Frame::Bulk("value:123".into())
    );

    // A prefix, and a size that cuts or pads the value with zero bytes.
    same(
        &mut a,
        &mut b,
        &[b"DEBUG", b"POPULATE", b"20", b"cut", b"3"],
    );
    same(
        &mut a,
        &mut b,
        &[b"DEBUG", b"POPULATE", b"20", b"pad", b"12"],
    );
    same(
        &mut a,
        &mut b,
        &[b"DEBUG", b"POPULATE", b"5", b"zero", b"0"],
    );
    for k in [&b"cut:0"[..], b"cut:19", b"pad:0", b"pad:19", b"zero:4"] {
        same(&mut a, &mut b, &[b"GET", k]);
        same(&mut a, &mut b, &[b"TYPE", k]);
    }
    assert_eq!(
        a.cmd(&[&b"GET"[..], b"pad:4"]),
        Frame::Bulk(b"value:4\0\0\0\0\0".to_vec().into())
    );

    // Keys are cut at 127 bytes (so these collide after the first), prefixes at a NUL byte.
    let long = vec![b'x'; 200];
    same(&mut a, &mut b, &[b"DEBUG", b"POPULATE", b"3", &long]);
    let cut = [&long[..127]].concat();
    same(&mut a, &mut b, &[b"EXISTS", &cut]);
    same(&mut a, &mut b, &[b"GET", &cut]);
    same(&mut a, &mut b, &[b"DEBUG", b"POPULATE", b"2", b"nul\0tail"]);
    same(&mut a, &mut b, &[b"GET", b"nul:1"]);
    same(&mut a, &mut b, &[b"DBSIZE"]);

    // Counts of zero, and in another database.
    same(&mut a, &mut b, &[b"DEBUG", b"POPULATE", b"0"]);
    same(&mut a, &mut b, &[b"SELECT", b"3"]);
    same(&mut a, &mut b, &[b"DEBUG", b"POPULATE", b"10", b"db3"]);
    assert_eq!(same(&mut a, &mut b, &[b"DBSIZE"]), Frame::Integer(10));
    same(&mut a, &mut b, &[b"SELECT", b"0"]);

    // Bad arguments: Redis's errors.
    for args in [
        &[&b"DEBUG"[..], b"POPULATE", b"-1"][..],
        &[b"DEBUG", b"POPULATE", b"abc"],
        &[b"DEBUG", b"POPULATE", b"1.5"],
        &[b"DEBUG", b"POPULATE", b"1", b"p", b"-2"],
        &[b"DEBUG", b"POPULATE", b"1", b"p", b"big"],
        &[b"DEBUG", b"POPULATE"],
        &[b"DEBUG", b"POPULATE", b"1", b"p", b"1", b"extra"],
        &[b"DEBUG", b"SLEEP"],
        &[b"DEBUG", b"NO-SUCH-THING", b"1"],
    ] {
        let r = same(&mut a, &mut b, args);
        assert!(matches!(r, Frame::Error(_)), "{r:?}");
    }
    same(&mut a, &mut b, &[b"DBSIZE"]);
}

#[test]
fn a_count_no_database_could_hold_is_refused_before_any_key_is_made() {
    let srv = TestServer::start(&[]);
    let mut c = Conn::open(srv.port);
    for count in [&b"100000000000"[..], b"9223372036854775807"] {
        assert_eq!(
            c.cmd(&[&b"DEBUG"[..], b"POPULATE", count]),
            Frame::Error("ERR OOM in dictTryExpand".into())
        );
    }
    // Values no machine has the memory for.
    assert_eq!(
        c.cmd(&[
            &b"DEBUG"[..],
            b"POPULATE",
            b"1000000",
            b"big",
            b"1099511627776"
        ]),
        Frame::Error("ERR OOM in dictTryExpand".into())
    );
    assert_eq!(c.cmd(&[b"DBSIZE"]), Frame::Integer(0));
    assert_eq!(
        c.cmd(&[b"PING"]),
        Frame::Simple("PONG".into()),
        "still serving"
    );
}

fn used_memory(c: &mut Conn) -> u64 {
    info_u64(c, "memory", "used_memory")
}

fn dbsize(c: &mut Conn) -> i64 {
    let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
        panic!("DBSIZE is an integer")
    };
    n
}

const LIMIT: u64 = 4 << 20;

/// A server with a 4 MB `maxmemory` under `policy`, and POPULATE's reply for `count` keys of
/// 100-byte values.
fn populate_limited(policy: &str, count: &str) -> (TestServer, Conn, Frame) {
    let srv = TestServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", policy]);
    let mut c = Conn::open(srv.port);
    let reply = c.cmd(&["DEBUG", "POPULATE", count, "k", "100"]);
    (srv, c, reply)
}

#[test]
fn populate_under_noeviction_stops_at_maxmemory_keeping_what_it_made() {
    let (_srv, mut c, reply) = populate_limited("noeviction", "1000000");
    assert_eq!(
        reply,
        Frame::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    );
    let made = dbsize(&mut c);
    assert!(made > 1000 && made < 1_000_000, "{made} keys made");
    assert!(
        used_memory(&mut c) < LIMIT + (1 << 20),
        "stopped near the limit"
    );
    let mut first = b"value:0".to_vec();
    first.resize(100, 0);
    assert_eq!(
        c.cmd(&["GET", "k:0"]),
        Frame::Bulk(first.into()),
        "the keys made are kept"
    );
    assert!(matches!(c.cmd(&["SET", "more", "x"]), Frame::Error(_)));
}

#[test]
fn populate_under_an_eviction_policy_evicts_as_it_goes() {
    let (_srv, mut c, reply) = populate_limited("allkeys-lru", "200000");
    assert_eq!(reply, Frame::Simple("OK".into()));
    let left = dbsize(&mut c);
    assert!(left > 1000 && left < 200_000, "{left} keys left");
    assert!(used_memory(&mut c) < LIMIT + (1 << 20));
    // The oldest keys were evicted first; the newest is there.
    assert_eq!(c.cmd(&["EXISTS", "k:199999"]), Frame::Integer(1));
}
