//! Blocking list commands across connections and server threads: arrival order, wake-ups by
//! every kind of write, timeouts, disconnects, CLIENT UNBLOCK, pipelining, and a stress test
//! with many producers and consumers. Where the outcome is deterministic the same scenario runs
//! against a real `redis-server` and the replies are compared byte for byte.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

/// Our server with several event loops, so blocked clients and writers sit on different
/// threads.
fn ours() -> TestServer {
    TestServer::start(&["--server-threads", "3"])
}

/// A numeric field of `INFO clients`.
fn info_clients(admin: &mut Conn, field: &str) -> usize {
    let Frame::Bulk(text) = admin.cmd(&["INFO", "clients"]) else {
        panic!("INFO is a bulk reply");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO clients"))
}

fn blocked_clients(admin: &mut Conn) -> usize {
    info_clients(admin, "blocked_clients")
}

/// Waits until `n` clients are blocked (the server handles a request asynchronously).
fn wait_blocked(admin: &mut Conn, n: usize) {
    let start = Instant::now();
    while blocked_clients(admin) != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn client_id(c: &mut Conn) -> String {
    match c.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(i) => i.to_string(),
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// Clients blocked one after the other on the same key are served in that order.
fn arrival_order(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let mut waiting: Vec<Conn> = (0..6).map(|_| Conn::open(port)).collect();
    for (i, c) in waiting.iter_mut().enumerate() {
        if i % 2 == 0 {
            c.send(&["BLPOP", "other", "q", "0"]);
        } else {
            c.send(&["BRPOP", "q", "0"]);
        }
        wait_blocked(&mut admin, i + 1);
    }
    assert_eq!(
        admin.cmd(&["RPUSH", "q", "1", "2", "3", "4", "5", "6"]),
        Frame::Integer(6)
    );
    let replies = waiting.iter_mut().map(|c| c.read_raw().0).collect();
    wait_blocked(&mut admin, 0);
    replies
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = arrival_order(ours.port);
    assert_eq!(a[0], b"*2\r\n$1\r\nq\r\n$1\r\n1\r\n");
    // BRPOP takes from the tail.
    assert_eq!(a[1], b"*2\r\n$1\r\nq\r\n$1\r\n6\r\n");
    assert_eq!(a, arrival_order(redis.port));
}

/// Sorted-set pops that block: BZPOPMIN/BZPOPMAX/BZMPOP clients woken in arrival order by
/// ZADDs from another connection (a list push on the same key does not wake them), and one
/// that times out.
fn zset_waits(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let mut waiting: Vec<Conn> = (0..4).map(|_| Conn::open(port)).collect();
    waiting[0].send(&["BZPOPMIN", "other", "z", "0"]);
    wait_blocked(&mut admin, 1);
    waiting[1].send(&["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut admin, 2);
    waiting[2].send(&["BZMPOP", "0", "2", "z", "other", "MAX", "COUNT", "2"]);
    wait_blocked(&mut admin, 3);
    waiting[3].send(&["BZPOPMIN", "never", "0.05"]);
    admin.cmd(&["RPUSH", "l", "x"]);
    assert_eq!(
        admin.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]),
        Frame::Integer(5)
    );
    let replies: Vec<Vec<u8>> = waiting.iter_mut().map(|c| c.read_raw().0).collect();
    wait_blocked(&mut admin, 0);
    let mut out = replies;
    out.push(admin.cmd_raw(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]));
    out
}

#[test]
fn sorted_set_pops_block_and_wake_in_order() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = zset_waits(ours.port);
    assert_eq!(a[0], b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(a[3], b"*-1\r\n", "the timed-out client");
    assert_eq!(a, zset_waits(redis.port));
}

/// Clients spread over several keys (and several server threads), each key's clients served
/// in their arrival order on that key; a client waiting on two keys is served by the first
/// that gets an element.
fn arrival_order_per_key(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let keys = ["ka", "kb", "kc", "kd"];
    let mut waiting: Vec<Conn> = (0..12).map(|_| Conn::open(port)).collect();
    for (i, c) in waiting.iter_mut().enumerate() {
        let key = keys[i % keys.len()];
        if i == 5 {
            c.send(&["BLPOP", "kd", key, "0"]);
        } else {
            c.send(&["BLPOP", key, "0"]);
        }
        wait_blocked(&mut admin, i + 1);
    }
    // Served after each push: kd's four clients, then kc's three, kb's two, ka's three.
    for (key, left) in keys.iter().rev().zip([8, 5, 3, 0]) {
        let items: Vec<String> = (1..=4).map(|n| format!("{key}{n}")).collect();
        let mut cmd = vec!["RPUSH", key];
        cmd.extend(items.iter().map(String::as_str));
        admin.cmd(&cmd);
        wait_blocked(&mut admin, left);
    }
    let mut replies: Vec<Vec<u8>> = waiting.iter_mut().map(|c| c.read_raw().0).collect();
    // What is left on each list shows who took what.
    for key in keys {
        replies.push(admin.cmd_raw(&["LRANGE", key, "0", "-1"]));
    }
    wait_blocked(&mut admin, 0);
    replies
}

#[test]
fn clients_on_many_keys_are_served_in_arrival_order_per_key() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = arrival_order_per_key(ours.port);
    assert_eq!(a[0], b"*2\r\n$2\r\nka\r\n$3\r\nka1\r\n");
    // Client 5 waits on kd (pushed first) and kb: served from kd, after client 3.
    assert_eq!(a[5], b"*2\r\n$2\r\nkd\r\n$3\r\nkd2\r\n");
    assert_eq!(a[9], b"*2\r\n$2\r\nkb\r\n$3\r\nkb2\r\n");
    assert_eq!(a, arrival_order_per_key(redis.port));
}

/// Each kind of write that makes a list wakes its waiter.
fn wake_ups(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let mut w = Conn::open(port);
    let mut out = vec![];
    let mut case = |w: &mut Conn, admin: &mut Conn, block: &[&str], writes: &[&[&str]]| {
        w.send(block);
        wait_blocked(admin, 1);
        for cmd in writes {
            admin.cmd(cmd);
        }
        out.push(w.read_raw().0);
        wait_blocked(admin, 0);
    };
    case(
        &mut w,
        &mut admin,
        &["BLPOP", "k1", "0"],
        &[
            &["MULTI"],
            &["SET", "x", "1"],
            &["LPUSH", "k1", "a", "b"],
            &["EXEC"],
        ],
    );
    case(
        &mut w,
        &mut admin,
        &["BRPOP", "k2", "0"],
        &[&["RPUSH", "tmp", "r"], &["RENAME", "tmp", "k2"]],
    );
    case(
        &mut w,
        &mut admin,
        &["BLMPOP", "0", "2", "none", "k3", "RIGHT", "COUNT", "5"],
        &[
            &["RPUSH", "s", "3", "1", "2"],
            &["SORT", "s", "STORE", "k3"],
        ],
    );
    case(
        &mut w,
        &mut admin,
        &["BLMOVE", "k4", "dst", "LEFT", "RIGHT", "0"],
        &[
            &["RPUSH", "src", "m"],
            &["LMOVE", "src", "k4", "LEFT", "LEFT"],
        ],
    );
    case(
        &mut w,
        &mut admin,
        &["BRPOPLPUSH", "k5", "dst", "0"],
        &[&["RPUSH", "c", "z"], &["COPY", "c", "k5"]],
    );
    // A write of another type does not serve a list waiter; the list that follows does.
    case(
        &mut w,
        &mut admin,
        &["BLPOP", "k6", "0"],
        &[
            &["SET", "k6", "str"],
            &["DEL", "k6"],
            &["RPUSH", "k6", "late"],
        ],
    );
    // A waiter in another database is woken by MOVE.
    w.cmd(&["SELECT", "1"]);
    case(
        &mut w,
        &mut admin,
        &["BLPOP", "k7", "0"],
        &[&["RPUSH", "k7", "moved"], &["MOVE", "k7", "1"]],
    );
    out.push(admin.cmd_raw(&["LRANGE", "dst", "0", "-1"]));
    out
}

#[test]
fn every_kind_of_write_wakes_a_waiter() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = wake_ups(ours.port);
    assert_eq!(a[0], b"*2\r\n$2\r\nk1\r\n$1\r\nb\r\n");
    assert_eq!(a, wake_ups(redis.port));
}

/// BLMOVE feeds a client blocked on its destination; requests pipelined after a blocking
/// command wait for it; a RESP3 client times out with RESP3's null.
fn chains_and_pipelines(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let mut mover = Conn::open(port);
    let mut taker = Conn::open(port);
    mover.send_raw(b"BLMOVE a b RIGHT LEFT 0\r\nPING\r\n");
    wait_blocked(&mut admin, 1);
    taker.send(&["BLPOP", "b", "0"]);
    wait_blocked(&mut admin, 2);
    admin.cmd(&["RPUSH", "a", "x", "y"]);
    let mut out = vec![mover.read_raw().0, mover.read_raw().0, taker.read_raw().0];
    wait_blocked(&mut admin, 0);
    taker.cmd(&["HELLO", "3"]);
    taker.send(&["BLPOP", "none", "0.05"]);
    out.push(taker.read_raw().0);
    out.push(admin.cmd_raw(&["LRANGE", "a", "0", "-1"]));
    out
}

#[test]
fn blmove_chains_pipelines_and_resp3_timeouts() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = chains_and_pipelines(ours.port);
    assert_eq!(a[1], b"+PONG\r\n");
    assert_eq!(a[3], b"_\r\n");
    assert_eq!(a, chains_and_pipelines(redis.port));
}

fn unblocking(port: u16) -> Vec<Vec<u8>> {
    let mut admin = Conn::open(port);
    admin.cmd(&["FLUSHALL"]);
    let mut w = Conn::open(port);
    let id = client_id(&mut w);
    let mut out = vec![admin.cmd_raw(&["CLIENT", "UNBLOCK", &id])];
    w.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    out.push(admin.cmd_raw(&["CLIENT", "UNBLOCK", &id]));
    out.push(w.read_raw().0);
    w.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    out.push(admin.cmd_raw(&["CLIENT", "UNBLOCK", &id, "ERROR"]));
    out.push(w.read_raw().0);
    w.send(&["BLMPOP", "0", "1", "k", "LEFT"]);
    wait_blocked(&mut admin, 1);
    out.push(admin.cmd_raw(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]));
    out.push(w.read_raw().0);
    wait_blocked(&mut admin, 0);
    // The unblocked client is served normally afterwards.
    admin.cmd(&["RPUSH", "k", "v"]);
    out.push(w.cmd_raw(&["BLPOP", "k", "0"]));
    out
}

#[test]
fn client_unblock_ends_a_wait_with_a_timeout_or_an_error() {
    let ours = ours();
    let redis = RedisServer::start(None);
    let a = unblocking(ours.port);
    assert_eq!(a[1], b":1\r\n");
    assert_eq!(a[4], b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    assert_eq!(a, unblocking(redis.port));
}

#[test]
fn blocked_clients_show_in_client_list_and_leave_when_they_disconnect() {
    let ours = ours();
    let mut admin = Conn::open(ours.port);
    let mut gone = Conn::open(ours.port);
    gone.cmd(&["CLIENT", "SETNAME", "gone"]);
    gone.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    let Frame::Bulk(list) = admin.cmd(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST is a bulk reply");
    };
    let list = String::from_utf8_lossy(&list).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains(" name=gone "))
        .expect("the blocked client");
    assert!(line.contains(" flags=b "), "{line}");
    assert!(line.contains(" cmd=blpop "), "{line}");
    assert_eq!(info_clients(&mut admin, "clients_in_timeout_table"), 0);
    let mut timed = Conn::open(ours.port);
    let id = client_id(&mut timed);
    timed.send(&["BRPOP", "t", "100"]);
    wait_blocked(&mut admin, 2);
    assert_eq!(info_clients(&mut admin, "clients_in_timeout_table"), 1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Frame::Integer(1));
    assert_eq!(timed.read_raw().0, b"*-1\r\n");
    wait_blocked(&mut admin, 1);
    assert_eq!(info_clients(&mut admin, "clients_in_timeout_table"), 0);
    drop(gone);
    wait_blocked(&mut admin, 0);
    // The element goes to the next waiter, not to the client that left.
    let mut next = Conn::open(ours.port);
    next.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "k", "only"]);
    assert_eq!(next.read_raw().0, b"*2\r\n$1\r\nk\r\n$4\r\nonly\r\n");
    assert_eq!(admin.cmd(&["EXISTS", "k"]), Frame::Integer(0));
}

#[test]
fn timeouts_fire_for_many_clients_on_many_keys() {
    let ours = ours();
    let mut admin = Conn::open(ours.port);
    let mut clients: Vec<Conn> = (0..20).map(|_| Conn::open(ours.port)).collect();
    let start = Instant::now();
    for (i, c) in clients.iter_mut().enumerate() {
        let key = format!("t{}", i % 7);
        if i % 2 == 0 {
            c.send(&["BLPOP", &key, "0.2"]);
        } else {
            c.send(&["BLMOVE", &key, "d", "LEFT", "LEFT", "0.3"]);
        }
    }
    for c in &mut clients {
        assert_eq!(c.read_raw().0, b"*-1\r\n");
    }
    // Wide bounds: the deadlines were honoured, neither ignored nor forever.
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    wait_blocked(&mut admin, 0);
}

#[test]
fn every_element_is_popped_exactly_once_under_load() {
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 400;
    const CONSUMERS: usize = 6;
    let ours = ours();
    let port = ours.port;
    let keys = ["s1", "s2", "s3"];
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                let mut got = vec![];
                loop {
                    let reply = if i % 3 == 2 {
                        // Moves to a per-consumer list; read back at the end.
                        let dst = format!("done{i}");
                        match c.cmd(&["BLMOVE", "s3", &dst, "RIGHT", "LEFT", "0"]) {
                            Frame::Bulk(b) => b,
                            other => panic!("BLMOVE: {other:?}"),
                        }
                    } else {
                        // Some with a long timeout: their timers outlive the waits.
                        let timeout = if i % 2 == 0 { "100" } else { "0" };
                        match c.cmd(&["BLPOP", "s1", "s2", "s3", timeout]) {
                            Frame::Array(v) => match &v[1] {
                                Frame::Bulk(b) => b.clone(),
                                other => panic!("BLPOP element: {other:?}"),
                            },
                            other => panic!("BLPOP: {other:?}"),
                        }
                    };
                    if reply.as_ref() == b"STOP" {
                        break;
                    }
                    got.push(String::from_utf8_lossy(&reply).into_owned());
                }
                if i % 3 == 2 {
                    // The BLMOVE consumer's elements are in its list (and the STOP on top).
                    let dst = format!("done{i}");
                    let Frame::Array(v) = c.cmd(&["LRANGE", &dst, "1", "-1"]) else {
                        panic!("LRANGE");
                    };
                    assert_eq!(v.len(), got.len());
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                for n in 0..PER_PRODUCER {
                    let key = keys[(p + n) % keys.len()];
                    let v = format!("{p}-{n}");
                    let reply = if n % 2 == 0 {
                        c.cmd(&["RPUSH", key, &v])
                    } else {
                        // Pushes inside transactions wake the waiters too.
                        c.cmd(&["MULTI"]);
                        c.cmd(&["LPUSH", key, &v]);
                        match c.cmd(&["EXEC"]) {
                            Frame::Array(mut v) => v.remove(0),
                            other => other,
                        }
                    };
                    assert!(matches!(reply, Frame::Integer(_)), "{reply:?}");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    // Every element is taken before the STOPs go out: wait for the lists to drain (the
    // BLMOVE consumers take only from s3, the others from all three).
    let mut admin = Conn::open(port);
    let start = Instant::now();
    loop {
        let total: i64 = keys
            .iter()
            .map(|k| match admin.cmd(&["LLEN", k]) {
                Frame::Integer(n) => n,
                other => panic!("LLEN: {other:?}"),
            })
            .sum();
        if total == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "lists never drained"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..CONSUMERS {
        admin.cmd(&["RPUSH", "s3", "STOP"]);
    }
    let mut all = vec![];
    for c in consumers {
        all.extend(c.join().expect("consumer"));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        PRODUCERS * PER_PRODUCER,
        "elements lost or doubled"
    );
    assert_eq!(unique.len(), all.len(), "an element was popped twice");
    wait_blocked(&mut admin, 0);
}
