//! Client output buffer limits and `maxmemory-clients`: a slow subscriber is disconnected at
//! the pubsub limit (as by `redis-server` 7), logged as Redis logs it; clients past
//! `maxmemory-clients` are evicted unless `CLIENT NO-EVICT on`.

mod common;

use common::procs::{temp_dir, Cachesrv};
use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

/// Publishes to a subscriber that never reads until the server drops it; returns the
/// subscriber count seen by the last PUBLISH (0 once it is gone).
fn flood_slow_subscriber(port: u16) -> i64 {
    let mut admin = Conn::open(port);
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 0 0"
        ]),
        Frame::Simple("OK".into())
    );
    let mut sub = Conn::open(port);
    sub.cmd(&["SUBSCRIBE", "ch"]);
    let payload = "x".repeat(64 * 1024);
    let mut last = -1;
    // Far more than the socket buffers hold: the subscriber cannot keep up.
    for _ in 0..2000 {
        let Frame::Integer(n) = admin.cmd(&["PUBLISH", "ch", &payload]) else {
            panic!("PUBLISH replies an integer");
        };
        last = n;
        if n == 0 {
            break;
        }
    }
    // Its connection was closed by the server.
    let _ = sub.read_to_close();
    last
}

#[test]
fn a_slow_subscriber_is_disconnected_at_the_pubsub_limit_as_by_redis() {
    let redis = RedisServer::start(None);
    assert_eq!(flood_slow_subscriber(redis.port), 0);
    let dir = temp_dir("obuf");
    let ours = Cachesrv::start(&dir, &[]);
    assert_eq!(flood_slow_subscriber(ours.port), 0);
    let log = ours.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("scheduled to be closed ASAP for overcoming of output buffer limits."))
        .unwrap_or_else(|| panic!("no disconnection logged: {log}"));
    assert!(
        line.contains(" flags=P ") && line.contains(" sub=1 "),
        "{line}"
    );
    let mut c = ours.conn();
    let Frame::Bulk(info) = c.cmd(&["INFO", "clients"]) else {
        panic!("INFO");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let recent: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("client_recent_max_output_buffer:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("client_recent_max_output_buffer");
    assert!(recent >= 1024 * 1024, "{info}");
}

#[test]
fn output_buffer_limits_are_configured_as_in_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    for port in [ours.port, redis.port] {
        let mut c = Conn::open(port);
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 10 5 1 normal 1kb 2mb 3",
        ]);
    }
    let mut a = Conn::open(ours.port);
    let mut b = Conn::open(redis.port);
    for args in [
        &["CONFIG", "GET", "client-output-buffer-limit"][..],
        &["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"][..],
        &["CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3"][..],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1 2 x",
        ][..],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "slave 0 0 0 normal 0 0 0",
        ][..],
        &["CONFIG", "GET", "client-output-buffer-limit"][..],
    ] {
        assert_eq!(a.cmd_raw(args), b.cmd_raw(args), "{args:?}");
    }
}

fn evicted_clients(c: &mut Conn) -> String {
    let Frame::Bulk(info) = c.cmd(&["INFO", "stats"]) else {
        panic!("INFO");
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find(|l| l.starts_with("evicted_clients:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn clients_past_maxmemory_clients_are_evicted_unless_no_evict() {
    let ours = TestServer::start(&["--maxmemory-clients", "1mb"]);
    let mut admin = Conn::open(ours.port);
    admin.cmd(&["CLIENT", "NO-EVICT", "on"]);
    let big = "v".repeat(2 * 1024 * 1024);
    // A protected client may grow past the limit.
    let mut kept = Conn::open(ours.port);
    kept.cmd(&["CLIENT", "NO-EVICT", "on"]);
    assert_eq!(kept.cmd(&["SET", "k", &big]), Frame::Simple("OK".into()));
    assert_eq!(kept.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(evicted_clients(&mut admin), "evicted_clients:0");
    // Another one is evicted once its query buffer takes it past the limit.
    let mut evicted = Conn::open(ours.port);
    // The server may close the connection before the whole command is written.
    if evicted.try_send(&["SET", "k2", &big]).is_ok() {
        let _ = evicted.read_to_close();
    }
    assert_eq!(evicted_clients(&mut admin), "evicted_clients:1");
    assert_eq!(kept.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

/// A subscriber that stays over the soft pubsub limit for more than its seconds is dropped at
/// the next message; false if it was still subscribed after about ten seconds.
fn soft_limit_drop(port: u16) -> bool {
    let mut admin = Conn::open(port);
    admin.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 0 256kb 1",
    ]);
    let mut sub = Conn::open(port);
    sub.cmd(&["SUBSCRIBE", "soft"]);
    let payload = "y".repeat(16 * 1024);
    // Fill the socket buffers and pass the soft limit, then keep publishing slowly.
    for _ in 0..1000 {
        admin.cmd(&["PUBLISH", "soft", &payload]);
    }
    for _ in 0..1000 {
        if admin.cmd(&["PUBLISH", "soft", "x"]) == Frame::Integer(0) {
            let _ = sub.read_to_close();
            admin.cmd(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 32mb 8mb 60",
            ]);
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_dropped_as_by_redis() {
    let redis = RedisServer::start(None);
    assert!(soft_limit_drop(redis.port));
    let ours = TestServer::start(&[]);
    assert!(soft_limit_drop(ours.port));
}
