//! Unit tests of the sorted-set commands that the diff scripts cannot express: encodings under
//! configured limits, score formatting, and OOM refusals.

use super::fmt_score;
use crate::cmd::runner::testing::{fill_until_oom, runner, OOM};

fn f(d: f64) -> String {
    let mut b = [0u8; 32];
    String::from_utf8_lossy(fmt_score(d, &mut b)).into_owned()
}

#[test]
fn scores_format_as_percent_17g() {
    assert_eq!(f(1.1), "1.1000000000000001");
    assert_eq!(f(0.0001), "0.0001");
    assert_eq!(f(1e-5), "1.0000000000000001e-05");
    assert_eq!(f(1e20), "1e+20");
    assert_eq!(f(123456789012345678.0), "1.2345678901234568e+17");
    assert_eq!(f(3.0), "3");
    assert_eq!(f(-2.5), "-2.5");
    assert_eq!(f(f64::INFINITY), "inf");
    assert_eq!(f(f64::NEG_INFINITY), "-inf");
    assert_eq!(f(0.5), "0.5");
    assert_eq!(f(1e16 + 0.5), "10000000000000000");
    assert_eq!(f(-1.5e-300), "-1.5000000000000001e-300");
    assert_eq!(f(99999999999999999.0), "1e+17");
}

#[test]
fn encodings_follow_the_configured_limits() {
    let mut r = runner(&[]);
    let lp = "$8\r\nlistpack\r\n";
    let sl = "$8\r\nskiplist\r\n";
    assert_eq!(r.run(&["ZADD", "z", "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(r.run(&["OBJECT", "ENCODING", "z"]), lp);
    assert_eq!(r.run(&["TYPE", "z"]), "+zset\r\n");
    assert_eq!(
        r.run(&["CONFIG", "SET", "zset-max-ziplist-entries", "2"]),
        "+OK\r\n"
    );
    assert_eq!(
        r.run(&["CONFIG", "GET", "zset-max-listpack-entries"]),
        "*2\r\n$25\r\nzset-max-listpack-entries\r\n$1\r\n2\r\n"
    );
    assert_eq!(r.run(&["ZADD", "z", "3", "c"]), ":1\r\n");
    assert_eq!(r.run(&["OBJECT", "ENCODING", "z"]), sl);
    // A store is sized to its result.
    assert_eq!(r.run(&["ZRANGESTORE", "d", "z", "0", "1"]), ":2\r\n");
    assert_eq!(r.run(&["OBJECT", "ENCODING", "d"]), lp);
    assert_eq!(r.run(&["ZUNIONSTORE", "u", "1", "z"]), ":3\r\n");
    assert_eq!(r.run(&["OBJECT", "ENCODING", "u"]), sl);
    r.run(&["CONFIG", "SET", "zset-max-listpack-value", "3"]);
    assert_eq!(r.run(&["ZADD", "long", "1", "abcd"]), ":1\r\n");
    assert_eq!(r.run(&["OBJECT", "ENCODING", "long"]), sl);
    // A new key with more pairs than the limit starts as a skiplist.
    assert_eq!(
        r.run(&["ZADD", "many", "1", "a", "1", "a", "1", "a"]),
        ":1\r\n"
    );
    assert_eq!(r.run(&["OBJECT", "ENCODING", "many"]), sl);
}

#[test]
fn memory_usage_grows_and_returns() {
    let mut r = runner(&[]);
    let used = |r: &mut crate::cmd::Runner| {
        let info = String::from_utf8_lossy(&r.run(&["INFO", "memory"])).into_owned();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let base = used(&mut r);
    for i in 0..300 {
        r.run(&["ZADD", "z", &i.to_string(), &format!("member:{i}")]);
    }
    let mid = used(&mut r);
    assert!(mid > base + 300 * 16, "{base} -> {mid}");
    r.run(&["ZREMRANGEBYRANK", "z", "0", "-1"]);
    assert_eq!(r.run(&["EXISTS", "z"]), ":0\r\n");
    assert_eq!(used(&mut r), base);
}

#[test]
fn stores_and_adds_are_refused_when_out_of_memory() {
    let mut r = runner(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    r.run(&["ZADD", "s", "1", "a"]);
    fill_until_oom(&mut r);
    assert_eq!(r.run(&["ZADD", "s", "2", "b"]), OOM);
    assert_eq!(r.run(&["ZINCRBY", "s", "2", "a"]), OOM);
    for cmd in ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"] {
        assert_eq!(r.run(&[cmd, "d", "1", "s"]), OOM);
    }
    assert_eq!(r.run(&["ZRANGESTORE", "d", "s", "0", "-1"]), OOM);
    assert_eq!(r.run(&["EXISTS", "d"]), ":0\r\n");
    // Reads and removals still work.
    assert_eq!(r.run(&["ZSCORE", "s", "a"]), "$1\r\n1\r\n");
    assert_eq!(r.run(&["ZREM", "s", "a"]), ":1\r\n");
}

#[test]
fn eviction_holds_the_limit_with_sorted_sets() {
    let mut r = runner(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    for k in 0..1000 {
        let key = format!("z{k}");
        for i in 0..100 {
            let reply = r.run(&["ZADD", &key, &i.to_string(), &format!("member-{i:04}")]);
            assert_eq!(reply, ":1\r\n", "{key} {i}");
        }
    }
    let info = String::from_utf8_lossy(&r.run(&["INFO", "memory"])).into_owned();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX);
    assert!(used <= 2 * 1024 * 1024, "used_memory {used}");
    let dbsize = String::from_utf8_lossy(&r.run(&["DBSIZE"])).into_owned();
    let n: u64 = dbsize.trim_start_matches(':').trim().parse().unwrap_or(0);
    assert!(n > 0 && n < 1000, "some keys evicted, some kept: {n}");
    assert_eq!(r.run(&["ZCARD", "z999"]), ":100\r\n");
}

#[test]
fn watch_sees_sorted_set_writes_and_not_no_ops() {
    let mut a = runner(&[]);
    a.run(&["ZADD", "z", "1", "m"]);
    a.run(&["WATCH", "z"]);
    // A no-op write (same score) leaves the key untouched.
    a.run(&["ZADD", "z", "1", "m"]);
    a.run(&["MULTI"]);
    a.run(&["ZCARD", "z"]);
    assert_eq!(a.run(&["EXEC"]), "*1\r\n:1\r\n");
    a.run(&["WATCH", "z"]);
    a.run(&["ZINCRBY", "z", "1", "m"]);
    a.run(&["MULTI"]);
    a.run(&["ZCARD", "z"]);
    assert_eq!(a.run(&["EXEC"]), "*-1\r\n");
}

#[test]
fn zscan_of_a_large_set_returns_every_member_once() {
    let mut r = runner(&[]);
    // Many members share a score, more than one COUNT's worth.
    for i in 0..300 {
        r.run(&["ZADD", "z", &(i / 40).to_string(), &format!("m{i:03}")]);
    }
    assert_eq!(r.run(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let reply = crate::cmd::decode_all(r.run(&["ZSCAN", "z", &cursor, "COUNT", "7"]));
        let [protocol::Frame::Array(parts)] = reply.as_slice() else {
            panic!("array reply: {reply:?}");
        };
        let (protocol::Frame::Bulk(next), protocol::Frame::Array(items)) = (&parts[0], &parts[1])
        else {
            panic!("cursor and items");
        };
        for pair in items.chunks(2) {
            if let protocol::Frame::Bulk(m) = &pair[0] {
                assert!(seen.insert(m.to_vec()), "returned twice: {m:?}");
            }
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        rounds += 1;
        if cursor == "0" {
            break;
        }
        assert!(rounds < 300, "the scan ends");
    }
    assert_eq!(seen.len(), 300);
}
