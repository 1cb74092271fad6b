//! cachesrv over real sockets: the `redis` crate as an independent client, concurrency,
//! transactions across threads, expiry, eviction, limits and security.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use protocol::Frame;

fn redis_client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection())
        .expect("redis crate connects")
}

#[test]
fn redis_crate_basic_commands() {
    let srv = TestServer::start(&[]);
    let mut c = redis_client(srv.port);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let n: i64 = redis::cmd("INCRBY").arg("n").arg(5).query(&mut c).unwrap();
    assert_eq!(n, 5);
    let (a, b): (Option<String>, i64) = redis::pipe()
        .cmd("GET")
        .arg("missing")
        .cmd("DBSIZE")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b), (None, 2));
    let err = redis::cmd("INCR")
        .arg("k")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn fifty_clients_incr_one_key_lose_nothing() {
    let srv = TestServer::start(&["--server-threads", "2"]);
    let port = srv.port;
    let threads: Vec<_> = (0..50)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = redis_client(port);
                for _ in 0..200 {
                    let _: i64 = redis::cmd("INCR").arg("counter").query(&mut c).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = redis_client(port);
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(v, 50 * 200);
}

#[test]
fn multi_exec_is_atomic_across_threads() {
    let srv = TestServer::start(&[]);
    let port = srv.port;
    let mut setup = redis_client(port);
    let _: () = redis::cmd("MSET")
        .arg("a")
        .arg(0)
        .arg("b")
        .arg(0)
        .query(&mut setup)
        .unwrap();
    // Writers move one unit from a to b inside MULTI/EXEC; readers read both in a transaction:
    // the sum must always be 0.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = redis_client(port);
                for _ in 0..300 {
                    let _: (i64, i64) = redis::pipe()
                        .atomic()
                        .cmd("DECR")
                        .arg("a")
                        .cmd("INCR")
                        .arg("b")
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = std::thread::spawn(move || {
        let mut c = redis_client(port);
        for _ in 0..300 {
            let (a, b): (i64, i64) = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg("a")
                .cmd("GET")
                .arg("b")
                .query(&mut c)
                .unwrap();
            assert_eq!(a + b, 0, "a transaction saw a half-applied one");
        }
    });
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    let (a, b): (i64, i64) = redis::pipe()
        .cmd("GET")
        .arg("a")
        .cmd("GET")
        .arg("b")
        .query(&mut setup)
        .unwrap();
    assert_eq!((a, b), (-1200, 1200));
}

#[test]
fn watch_aborts_on_concurrent_change() {
    let srv = TestServer::start(&[]);
    let mut a = Conn::open(srv.port);
    let mut b = Conn::open(srv.port);
    a.cmd(&["SET", "w", "1"]);
    a.cmd(&["WATCH", "w"]);
    b.cmd(&["SET", "w", "2"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "w", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(a.cmd(&["GET", "w"]), Frame::bulk("2"));
    // Without interference it commits.
    a.cmd(&["WATCH", "w"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "w", "4"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("OK".into())])
    );
}

#[test]
fn key_with_ttl_is_gone_within_two_seconds_unread() {
    let srv = TestServer::start(&[]);
    let mut c = Conn::open(srv.port);
    for i in 0..20_000 {
        c.send(&["SET", &format!("plain:{i}"), "x"]);
    }
    for _ in 0..20_000 {
        c.read_raw();
    }
    for i in 0..100 {
        c.cmd(&["SET", &format!("short:{i}"), "x", "EX", "1"]);
    }
    let start = Instant::now();
    // DBSIZE counts keys without touching them (no lazy expiry).
    loop {
        let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
            panic!()
        };
        if n == 20_000 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{n} keys after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let info = c.cmd(&["INFO", "stats"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).to_string();
    assert!(text.contains("expired_keys:100\r\n"), "{text}");
}

#[test]
fn maxmemory_with_lru_evicts_and_noeviction_refuses() {
    let srv = TestServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = Conn::open(srv.port);
    let value = "v".repeat(1000);
    for i in 0..10_000 {
        c.cmd(&["SET", &format!("k{i}"), &value]);
        let used = srv.shared.engine.used_memory();
        assert!(
            used <= 2 * 1024 * 1024 + 2048,
            "used_memory {used} after write {i}"
        );
    }
    let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
        panic!()
    };
    assert!(n > 100 && n < 10_000, "{n} keys");
    let info = c.cmd(&["INFO", "stats"]);
    assert!(String::from_utf8_lossy(info.as_bytes().unwrap()).contains("evicted_keys:"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        Frame::Simple("OK".into())
    );
    let mut oom = false;
    for i in 0..5000 {
        if let Frame::Error(e) = c.cmd(&["SET", &format!("new{i}"), &value]) {
            assert_eq!(
                &e[..],
                b"OOM command not allowed when used memory > 'maxmemory'."
            );
            oom = true;
            break;
        }
    }
    assert!(oom, "noeviction never refused a write");
    // Reads and deletes still work when full.
    assert!(matches!(
        c.cmd(&["GET", "k9999"]),
        Frame::Bulk(_) | Frame::Null
    ));
    assert!(matches!(c.cmd(&["DEL", "k9999"]), Frame::Integer(_)));
}

#[test]
fn requirepass_and_preauth_limits() {
    let srv = TestServer::start(&["--requirepass", "s3cret"]);
    let mut c = Conn::open(srv.port);
    assert_eq!(
        c.cmd(&["GET", "k"]),
        Frame::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // Before authentication, large requests are refused and the connection closed.
    let mut d = Conn::open(srv.port);
    d.send_raw(b"*20\r\n");
    assert_eq!(
        d.read_to_close(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let mut e = Conn::open(srv.port);
    e.send_raw(b"*2\r\n$100000\r\n");
    assert_eq!(
        e.read_to_close(),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    // The redis crate authenticates from the URL.
    let mut r = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/3", srv.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET").arg("x").arg("1").query(&mut r).unwrap();
    assert_eq!(c.cmd(&["SELECT", "3"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "x"]), Frame::bulk("1"));
}

fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.200:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_denies_non_loopback_clients() {
    let Some(ip) = non_loopback_ip() else {
        panic!("this test needs a non-loopback interface address");
    };
    let srv = TestServer::start(&["--bind", "0.0.0.0"]);
    let mut s = TcpStream::connect((ip, srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = vec![];
    let _ = s.read_to_end(&mut out);
    assert!(
        out.starts_with(b"-DENIED Redis is running in protected mode"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Loopback is still served.
    let mut c = Conn::open(srv.port);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // With a password, non-loopback clients may connect (and must authenticate).
    let srv2 = TestServer::start(&["--bind", "0.0.0.0", "--requirepass", "pw"]);
    let mut s = TcpStream::connect((ip, srv2.port)).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"-NOAUTH Authentication required.\r\n");
}

#[test]
fn maxclients_is_enforced() {
    let srv = TestServer::start(&["--maxclients", "2"]);
    let mut a = Conn::open(srv.port);
    let mut b = Conn::open(srv.port);
    a.cmd(&["PING"]);
    b.cmd(&["PING"]);
    let mut c = Conn::open(srv.port);
    assert_eq!(c.read_to_close(), b"-ERR max number of clients reached\r\n");
}

#[test]
fn maxclients_holds_for_a_burst_spread_over_threads() {
    // Every connection is made before the server accepts any: the first loop accepts them
    // all in one go and hands most to the other loops.
    let srv = TestServer::start(&["--maxclients", "3", "--server-threads", "4"]);
    let mut conns: Vec<TcpStream> = (0..24)
        .map(|_| TcpStream::connect(("127.0.0.1", srv.port)).unwrap())
        .collect();
    let (mut served, mut refused) = (0, 0);
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A refused connection may already be closed: a failed write is read below.
        let _ = s.write_all(b"PING\r\n");
        let mut got = Vec::new();
        let mut buf = [0u8; 128];
        while !got.ends_with(b"\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        match got.as_slice() {
            b"+PONG\r\n" => served += 1,
            b"-ERR max number of clients reached\r\n" => refused += 1,
            other => panic!("unexpected reply {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!((served, refused), (3, 21));
}

#[test]
fn idle_timeout_closes_clients() {
    let srv = TestServer::start(&["--timeout", "1"]);
    let mut c = Conn::open(srv.port);
    c.cmd(&["PING"]);
    let start = Instant::now();
    let rest = c.read_to_close();
    assert!(rest.is_empty());
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn timeout_set_at_run_time_closes_clients_already_idle() {
    let srv = TestServer::start(&[]);
    // Connected first and then silent: whichever thread serves it has nothing to wake it.
    let mut idle = Conn::open(srv.port);
    idle.cmd(&["PING"]);
    let mut op = Conn::open(srv.port);
    assert_eq!(
        op.cmd(&["CONFIG", "SET", "timeout", "1"]),
        Frame::Simple("OK".into())
    );
    let start = Instant::now();
    assert!(idle.read_to_close().is_empty());
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn slowlog_records_slow_commands_only() {
    let srv = TestServer::start(&[]);
    let mut c = Conn::open(srv.port);
    let ok = Frame::Simple("OK".into());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "20000"]),
        ok
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), ok);
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.05"]), ok);
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Frame::Integer(1));
    let Frame::Array(entries) = c.cmd(&["SLOWLOG", "GET"]) else {
        panic!("SLOWLOG GET")
    };
    let Frame::Array(entry) = &entries[0] else {
        panic!("an entry")
    };
    let Frame::Integer(micros) = entry[2] else {
        panic!("a duration")
    };
    assert!((50_000..5_000_000).contains(&micros), "{micros} us");
    assert_eq!(
        entry[3],
        Frame::Array(vec![
            Frame::Bulk("DEBUG".into()),
            Frame::Bulk("SLEEP".into()),
            Frame::Bulk("0.05".into())
        ])
    );
    // Threshold 0 logs every command.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        ok
    );
    c.cmd(&["PING"]);
    let Frame::Integer(n) = c.cmd(&["SLOWLOG", "LEN"]) else {
        panic!("SLOWLOG LEN")
    };
    assert!(n >= 3, "{n} entries");
}

/// A client that asks for 200 MB of replies (1 MB value, 200 GETs) and reads none of them:
/// the server's writes to it wait for room. Returns it (kept open) and its id.
fn greedy_client(port: u16) -> (Conn, i64) {
    let mut setter = Conn::open(port);
    setter.cmd(&["SET", "big", &"x".repeat(1 << 20)]);
    let mut greedy = Conn::open(port);
    let Frame::Integer(id) = greedy.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    greedy.send_raw(&b"GET big\r\n".repeat(200));
    (greedy, id)
}

/// Polls CLIENT LIST on `op` until client `id` is gone; fails after 5 s.
fn wait_until_gone(op: &mut Conn, id: i64, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Frame::Bulk(list) = op.cmd(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST")
        };
        let list = String::from_utf8_lossy(&list).to_string();
        if !list.contains(&format!("id={id} ")) {
            return;
        }
        assert!(Instant::now() < deadline, "{why}:\n{list}");
        // Often enough that `op` itself never idles out under `timeout 1`.
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn idle_timeout_closes_a_client_that_stops_reading() {
    let srv = TestServer::start(&["--timeout", "1"]);
    let (_greedy, id) = greedy_client(srv.port);
    let mut op = Conn::open(srv.port);
    wait_until_gone(
        &mut op,
        id,
        "a client that reads nothing is still connected after 5 s with timeout 1",
    );
}

#[test]
fn hostile_clients_do_not_hurt_others() {
    let srv = TestServer::start(&[]);
    // 100 000 nested arrays: a protocol error, the connection closed.
    let mut n = Conn::open(srv.port);
    n.send_raw(&b"*1\r\n".repeat(100_000));
    assert_eq!(
        n.read_to_close(),
        b"-ERR Protocol error: expected '$', got '*'\r\n"
    );
    // A declared 2^62 bulk.
    let mut b = Conn::open(srv.port);
    b.send_raw(b"*1\r\n$4611686018427387904\r\n");
    assert_eq!(
        b.read_to_close(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    // A thousand idle connections.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", srv.port)).unwrap())
        .collect();
    // A client sending one byte at a time, slowly.
    let mut slow = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    slow.write_all(b"*2\r\n$4\r\nEC").unwrap();
    // A client that never reads its replies: a large value requested many times.
    let mut setter = Conn::open(srv.port);
    setter.cmd(&["SET", "big", &"x".repeat(1 << 20)]);
    let mut greedy = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    let rss_before = rss_kb();
    greedy
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let req = b"GET big\r\n".repeat(500);
    let _ = greedy.write_all(&req);
    // Everyone else is still served promptly.
    let mut ok = Conn::open(srv.port);
    for _ in 0..100 {
        assert_eq!(ok.cmd(&["PING"]), Frame::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_kb().saturating_sub(rss_before);
    assert!(
        grown < 100 * 1024,
        "RSS grew by {grown} KiB for a client that does not read"
    );
    slow.write_all(b"HO\r\n$2\r\nhi\r\n").unwrap();
    let mut buf = [0u8; 16];
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let got = slow.read(&mut buf).unwrap();
    assert_eq!(&buf[..got], b"$2\r\nhi\r\n");
    drop(idle);
}

#[test]
fn slow_reader_gets_every_byte_of_large_replies() {
    let srv = TestServer::start(&[]);
    let value: Vec<u8> = (0..4 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let mut setter = Conn::open(srv.port);
    assert_eq!(
        setter.cmd(&[b"SET".as_slice(), b"big", &value]),
        Frame::Simple("OK".into())
    );
    // Four 4 MB replies requested at once, then nothing read for a while: the server's writes
    // fill the socket and must wait for room, while others are served.
    let mut reader = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    reader.write_all(&b"GET big\r\n".repeat(4)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut other = Conn::open(srv.port);
    assert_eq!(other.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let mut expected = Vec::new();
    for _ in 0..4 {
        expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
    }
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = vec![0u8; expected.len()];
    let mut chunk = [0u8; 7919];
    let mut n = 0;
    while n < got.len() {
        // Small, slow reads: the server sees the socket fill up again and again.
        let r = reader.read(&mut chunk).expect("reply bytes");
        assert!(r > 0, "connection closed after {n} bytes");
        got[n..n + r].copy_from_slice(&chunk[..r]);
        n += r;
        if n % 64 == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    assert!(got == expected, "the replies differ from the value");
}

#[test]
fn a_pipeline_larger_than_the_socket_buffers_is_answered_in_order() {
    let srv = TestServer::start(&[]);
    // 100 000 requests sent before reading anything: their replies (21 MB, more than the
    // socket buffers hold) fill the socket, the server stops in the middle of the requests it
    // has read and resumes once there is room. Every reply must come, once, in order.
    const N: usize = 100_000;
    let mut c = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut requests = Vec::new();
    for i in 0..N {
        requests.extend_from_slice(format!("ECHO {i:0>200}\r\n").as_bytes());
    }
    let writer = {
        let mut w = c.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&requests).unwrap())
    };
    let mut expected = Vec::new();
    for i in 0..N {
        let s = format!("{i:0>200}");
        expected.extend_from_slice(format!("${}\r\n{s}\r\n", s.len()).as_bytes());
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut got = vec![0u8; expected.len()];
    c.read_exact(&mut got).expect("every reply");
    writer.join().unwrap();
    assert!(got == expected, "replies missing, repeated or out of order");
}

#[test]
fn a_client_that_closes_its_side_still_gets_its_replies() {
    let srv = TestServer::start(&[]);
    let mut c = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"SET k v\r\nGET k\r\nDEL k\r\n").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got)
        .expect("replies, then the end of the stream");
    assert_eq!(got, b"+OK\r\n$1\r\nv\r\n:1\r\n");
    let mut op = Conn::open(srv.port);
    assert_eq!(op.cmd(&["EXISTS", "k"]), Frame::Integer(0));
}

#[test]
fn client_kill_closes_a_client_that_does_not_read() {
    let srv = TestServer::start(&[]);
    let (_greedy, id) = greedy_client(srv.port);
    std::thread::sleep(Duration::from_millis(300));
    let mut op = Conn::open(srv.port);
    assert_eq!(
        op.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Frame::Integer(1)
    );
    wait_until_gone(&mut op, id, "the killed client is still connected");
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            l.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn pubsub_and_monitor() {
    let srv = TestServer::start(&[]);
    let mut sub = Conn::open(srv.port);
    sub.send(&["SUBSCRIBE", "ch1", "ch2"]);
    sub.read_raw();
    sub.read_raw();
    let mut psub = Conn::open(srv.port);
    psub.cmd(&["PSUBSCRIBE", "ch*"]);
    let mut mon = Conn::open(srv.port);
    assert_eq!(mon.cmd(&["MONITOR"]), Frame::Simple("OK".into()));
    let mut p = Conn::open(srv.port);
    assert_eq!(p.cmd(&["PUBLISH", "ch1", "hello"]), Frame::Integer(2));
    assert_eq!(
        sub.read_raw().1,
        Frame::Array(vec![
            Frame::bulk("message"),
            Frame::bulk("ch1"),
            Frame::bulk("hello")
        ])
    );
    assert_eq!(
        psub.read_raw().1,
        Frame::Array(vec![
            Frame::bulk("pmessage"),
            Frame::bulk("ch*"),
            Frame::bulk("ch1"),
            Frame::bulk("hello")
        ])
    );
    let Frame::Simple(line) = mon.read_raw().1 else {
        panic!()
    };
    assert!(
        String::from_utf8_lossy(&line).ends_with("\"PUBLISH\" \"ch1\" \"hello\""),
        "{line:?}"
    );
    // Subscriber mode allows only a few commands (RESP2).
    assert_eq!(
        sub.cmd(&["GET", "x"]),
        Frame::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "ch1"]),
        Frame::Array(vec![Frame::bulk("ch1"), Frame::Integer(1)])
    );
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), Frame::Integer(1));
}

#[test]
fn monitor_shows_auth_and_hello_with_their_secrets_redacted() {
    let srv = TestServer::start(&["--requirepass", "s3cret"]);
    let mut mon = Conn::open(srv.port);
    assert_eq!(mon.cmd(&["AUTH", "s3cret"]), Frame::Simple("OK".into()));
    assert_eq!(mon.cmd(&["MONITOR"]), Frame::Simple("OK".into()));
    let mut c = Conn::open(srv.port);
    // A failed AUTH is shown too (it ran), as in Redis.
    assert!(matches!(c.cmd(&["AUTH", "wrong-pass"]), Frame::Error(_)));
    assert_eq!(
        c.cmd(&["AUTH", "default", "s3cret"]),
        Frame::Simple("OK".into())
    );
    assert!(matches!(
        c.cmd(&["HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "app"]),
        Frame::Array(_)
    ));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Frame::Simple("OK".into()));
    // Administrative commands are not shown.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "0"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["GET", "k"]), Frame::bulk("v"));
    let mut lines = Vec::new();
    for _ in 0..5 {
        let Frame::Simple(line) = mon.read_raw().1 else {
            panic!("not a monitor line")
        };
        let line = String::from_utf8_lossy(&line).into_owned();
        // `<time> [<db> <addr>] "arg" ...`
        let (_, args) = line.split_once("] ").expect("a monitor line");
        lines.push(args.to_string());
    }
    assert_eq!(
        lines,
        [
            r#""AUTH" "(redacted)""#,
            r#""AUTH" "(redacted)" "(redacted)""#,
            r#""HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "app""#,
            r#""SET" "k" "v""#,
            r#""GET" "k""#,
        ]
    );
}

#[test]
fn shutdown_stops_the_server() {
    let srv = TestServer::start(&[]);
    let mut c = Conn::open(srv.port);
    c.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(c.read_to_close().is_empty());
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        TcpStream::connect(("127.0.0.1", srv.port)).is_err(),
        "still accepting after SHUTDOWN"
    );
}
