//! What the append-only file records, against redis-server 7.0: the same command scripts run
//! against both servers with `appendonly yes`, and their incremental files must hold the same
//! records (command names and arguments) once normalised: absolute Unix times are taken
//! relative to the start of each run and compared within a tolerance, and the members `SPOP`
//! picked at random (logged as `SREM`) are masked. Keys evicted under `maxmemory` are logged
//! as `DEL` by both, so a reload of cachesrv's files does not bring them back.
//!
//! Both run with the active expire cycle stopped (`DEBUG SET-ACTIVE-EXPIRE 0`, allowed in
//! redis-server by `enable-debug-command yes`) except where a test turns it on, so which
//! command expires a key does not depend on timing.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::procs::{info_u64, temp_dir, Cachesrv};
use common::Conn;
use protocol::Frame;
use testkit::RedisServer;

/// Tolerance on relative times (ms): the two runs are timed apart, each from its own start,
/// on a machine that may stall; a relative time logged as is would be off by far more.
const TIME_SLACK: i64 = 10_000;

/// One step of a script.
enum Step {
    /// A command on the main connection (its reply is read and not checked).
    Cmd(&'static [&'static str]),
    /// Pause (ms).
    Sleep(u64),
    /// A command sent on the second connection, its reply read at [`Step::Wake`].
    Block(&'static [&'static str]),
    /// Reads the second connection's pending reply.
    Wake,
    /// `DUMP src`, then `RESTORE dst ttl <payload>`.
    DumpRestore(&'static str, &'static str, &'static str),
}

use Step::*;

/// Runs a command, panicking on an error reply.
fn ok<A: AsRef<[u8]>>(c: &mut Conn, args: &[A]) -> Frame {
    let f = c.cmd(args);
    if let Frame::Error(e) = &f {
        panic!("{}", String::from_utf8_lossy(e));
    }
    f
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The records of a RESP command file.
fn parse_aof(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn line(data: &[u8], at: &mut usize) -> usize {
        let end = data[*at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a CRLF")
            + *at;
        let n = std::str::from_utf8(&data[*at + 1..end])
            .expect("a length")
            .parse()
            .expect("a length");
        *at = end + 2;
        n
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        assert_eq!(data[at], b'*', "a RESP array at {at}");
        let n = line(data, &mut at);
        let mut rec = Vec::new();
        for _ in 0..n {
            assert_eq!(data[at], b'$', "a bulk string at {at}");
            let len = line(data, &mut at);
            rec.push(data[at..at + len].to_vec());
            at += len + 2;
        }
        out.push(rec);
    }
    out
}

fn last_incr(dir: &Path) -> PathBuf {
    let aof = dir.join("appendonlydir");
    let m = std::fs::read_to_string(aof.join("appendonly.aof.manifest")).expect("a manifest");
    let name = m
        .lines()
        .rev()
        .find(|l| l.ends_with("type i"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("an incremental file")
        .to_string();
    aof.join(name)
}

/// An argument after normalisation.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    /// A Unix time in ms, relative to the run's start.
    Time(i64),
}

impl PartialEq for Arg {
    fn eq(&self, other: &Arg) -> bool {
        match (self, other) {
            (Arg::Text(a), Arg::Text(b)) => a == b,
            (Arg::Time(a), Arg::Time(b)) => (a - b).abs() <= TIME_SLACK,
            _ => false,
        }
    }
}

fn normalise(recs: Vec<Vec<Vec<u8>>>, t0: i64) -> Vec<Vec<Arg>> {
    recs.into_iter()
        .map(|r| {
            let srem = r.first().is_some_and(|c| c.eq_ignore_ascii_case(b"srem"));
            r.into_iter()
                .enumerate()
                .map(|(i, a)| {
                    let text = String::from_utf8_lossy(&a).into_owned();
                    match text.parse::<i64>() {
                        // Times around now (not the far-future constants of the scripts).
                        Ok(v) if (t0 - 86_400_000..t0 + 86_400_000).contains(&v) => {
                            Arg::Time(v - t0)
                        }
                        _ if srem && i >= 2 => Arg::Text("<member>".into()),
                        _ => Arg::Text(text),
                    }
                })
                .collect()
        })
        .collect()
}

/// Runs `script` on a server at `port` whose files are in `dir`; returns the normalised
/// records of its incremental file.
fn run(port: u16, dir: &Path, script: &[Step]) -> Vec<Vec<Arg>> {
    let mut c = Conn::open(port);
    let mut b = Conn::open(port);
    let t0 = unix_ms();
    for step in script {
        match step {
            Cmd(args) => {
                c.cmd(args);
            }
            Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Block(args) => {
                b.send(args);
                // Blocked before the next step runs.
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while info_u64(&mut c, "clients", "blocked_clients") == 0 {
                    assert!(std::time::Instant::now() < deadline, "the client blocks");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Wake => {
                b.read_raw();
            }
            DumpRestore(src, dst, ttl) => {
                let Frame::Bulk(payload) = c.cmd(&["DUMP", src]) else {
                    panic!("DUMP replies a payload")
                };
                let args: [&[u8]; 4] = [b"RESTORE", dst.as_bytes(), ttl.as_bytes(), &payload];
                ok(&mut c, &args);
            }
        }
    }
    // appendfsync always: every record is in the file once its reply came.
    c.cmd(&["PING"]);
    let data = std::fs::read(last_incr(dir)).expect("the incremental file");
    normalise(parse_aof(&data), t0)
}

/// The AOF on with `appendfsync always`, no RDB saves: every write is in the file when
/// its reply arrives.
const ALWAYS: [&str; 6] = [
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
];

fn show(recs: &[Vec<Arg>]) -> String {
    recs.iter()
        .map(|r| format!("{r:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `script` against redis-server and cachesrv and compares their records.
fn assert_same_records(tag: &str, script: &[Step]) {
    let opts = ALWAYS;
    let rdir = temp_dir(&format!("aof-diff-redis-{tag}"));
    let mut args = vec!["--dir", rdir.to_str().expect("utf-8 path")];
    args.extend(opts);
    args.extend(["--enable-debug-command", "yes"]);
    let redis = RedisServer::start_with(None, &args);
    let want = run(redis.port, &rdir, script);
    drop(redis);
    let cdir = temp_dir(&format!("aof-diff-cachesrv-{tag}"));
    let s = Cachesrv::start(&cdir, &opts);
    let got = run(s.port, &cdir, script);
    drop(s);
    let check = std::process::Command::new("redis-check-aof")
        .arg(cdir.join("appendonlydir").join("appendonly.aof.manifest"))
        .output()
        .expect("run redis-check-aof");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("is valid"),
        "{tag}: redis-check-aof refused cachesrv's files: {text}"
    );
    assert!(
        got == want,
        "{tag}: cachesrv logged\n{}\n\nredis-server logged\n{}",
        show(&got),
        show(&want)
    );
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&cdir);
}

#[test]
fn expired_keys_are_logged_as_del_or_unlink() {
    assert_same_records(
        "expiry",
        &[
            Cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
            // Lazily on a read: DEL alone.
            Cmd(&["SET", "k", "v", "PX", "100"]),
            Sleep(200),
            Cmd(&["GET", "k"]),
            // Lazily by a write: in one MULTI block with it.
            Cmd(&["SET", "j", "v", "PX", "100"]),
            Sleep(200),
            Cmd(&["SET", "j", "w"]),
            // By a write that then changes nothing: alone.
            Cmd(&["SET", "x", "v", "PX", "100"]),
            Sleep(200),
            Cmd(&["SET", "x", "w", "XX"]),
            // In another database, with lazyfree-lazy-expire: UNLINK.
            Cmd(&["SELECT", "3"]),
            Cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]),
            Cmd(&["SET", "u", "v", "PX", "100"]),
            Sleep(200),
            Cmd(&["EXISTS", "u"]),
            Cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "no"]),
            Cmd(&["SELECT", "0"]),
            // By a transaction, and by a script: in their blocks.
            Cmd(&["SET", "q", "v", "PX", "100"]),
            Cmd(&["SET", "e", "v", "PX", "100"]),
            Cmd(&["SET", "r", "v", "PX", "100"]),
            Sleep(200),
            Cmd(&["MULTI"]),
            Cmd(&["INCR", "n"]),
            Cmd(&["GET", "r"]),
            Cmd(&["SET", "q", "w"]),
            Cmd(&["EXEC"]),
            Cmd(&[
                "EVAL",
                "redis.call('SET', 'e', 'w'); redis.call('INCR', 'n')",
                "0",
            ]),
            // By the active expire cycle.
            Cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]),
            Cmd(&["SET", "a", "v", "PX", "50"]),
            Sleep(1500),
            Cmd(&["SET", "z", "1"]),
        ],
    );
}

#[test]
fn scripts_and_transactions_are_logged_as_their_effects_in_one_block() {
    assert_same_records(
        "scripts",
        &[
            Cmd(&[
                "EVAL",
                "redis.call('SET', KEYS[1], '1'); redis.call('INCR', 'b'); return 1",
                "1",
                "a",
            ]),
            Cmd(&["EVAL", "redis.call('SET', 'c', '1')", "0"]),
            Cmd(&["EVAL", "return redis.call('GET', 'a')", "0"]),
            Cmd(&["EVAL", "redis.call('SPOP', 'nothing'); return 1", "0"]),
            Cmd(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function('f', function(keys, args) \
                 redis.call('SET', keys[1], args[1]); redis.call('LPUSH', 'l', args[1]) end)",
            ]),
            Cmd(&["FCALL", "f", "1", "fk", "fv"]),
            Cmd(&["MULTI"]),
            Cmd(&["SET", "t", "1"]),
            Cmd(&["INCRBYFLOAT", "t", "0.5"]),
            Cmd(&[
                "EVAL",
                "redis.call('DEL', 't'); redis.call('SET', 'u', '2')",
                "0",
            ]),
            Cmd(&["EXEC"]),
            Cmd(&["MULTI"]),
            Cmd(&["SET", "t", "3"]),
            Cmd(&["EXEC"]),
            Cmd(&["FUNCTION", "DELETE", "lib"]),
        ],
    );
}

#[test]
fn relative_and_random_effects_are_logged_as_redis_logs_them() {
    assert_same_records(
        "effects",
        &[
            Cmd(&["SADD", "s", "a", "b", "c", "d", "e"]),
            Cmd(&["SPOP", "s"]),
            Cmd(&["SPOP", "s", "2"]),
            Cmd(&["SPOP", "s", "0"]),
            Cmd(&["SPOP", "s", "10"]),
            Cmd(&["SRANDMEMBER", "s"]),
            Cmd(&["INCRBYFLOAT", "f", "1.5"]),
            Cmd(&["SET", "g", "1", "EX", "100"]),
            Cmd(&["INCRBYFLOAT", "g", "2.25"]),
            Cmd(&["HINCRBYFLOAT", "h", "x", "0.5"]),
            Cmd(&["HINCRBYFLOAT", "h", "x", "1e3"]),
            Cmd(&["ZADD", "zz", "1", "a", "2", "b"]),
            Cmd(&["ZRANDMEMBER", "zz"]),
            Cmd(&["SET", "a", "1"]),
            Cmd(&["EXPIRE", "a", "100"]),
            Cmd(&["PEXPIRE", "a", "100000"]),
            Cmd(&["EXPIREAT", "a", "4000000000"]),
            Cmd(&["EXPIRE", "a", "100", "GT"]),
            Cmd(&["EXPIRE", "a", "100", "NX"]),
            Cmd(&["PEXPIRE", "a", "1000", "LT"]),
            Cmd(&["SET", "gd", "1"]),
            Cmd(&["GETDEL", "gd"]),
            Cmd(&["GETDEL", "gd"]),
            Cmd(&["PFADD", "hll", "a", "b"]),
            Cmd(&["PFCOUNT", "hll"]),
            Cmd(&["PFCOUNT", "hll"]),
            Cmd(&["PFCOUNT", "hll", "nothing"]),
            Cmd(&["SET", "b", "1", "EX", "100"]),
            Cmd(&["SET", "c", "1", "PX", "100000"]),
            Cmd(&["SET", "d", "1", "EXAT", "4000000000"]),
            Cmd(&["SET", "e", "1", "PXAT", "4000000000000"]),
            Cmd(&["SETEX", "sx", "100", "v"]),
            Cmd(&["PSETEX", "px", "100000", "v"]),
            Cmd(&["GETEX", "a", "EX", "100"]),
            Cmd(&["GETEX", "a", "PERSIST"]),
            Cmd(&["GETEX", "b", "PXAT", "4000000000000"]),
            Cmd(&["SET", "h2", "1", "KEEPTTL"]),
            Cmd(&["SET", "b", "2", "KEEPTTL", "GET"]),
            Cmd(&["SET", "n", "1", "GET"]),
            Cmd(&["SET", "i", "1", "PX", "100000", "GET"]),
            Cmd(&["EXPIRE", "c", "-1"]),
            DumpRestore("a", "r1", "0"),
            DumpRestore("a", "r2", "100000"),
        ],
    );
}

#[test]
fn blocking_pops_are_logged_as_their_non_blocking_forms() {
    assert_same_records(
        "blocking",
        &[
            Cmd(&["RPUSH", "l", "a", "b", "c"]),
            Cmd(&["BLPOP", "l", "0"]),
            Cmd(&["BRPOP", "nothing", "l", "0"]),
            Cmd(&["RPUSH", "l", "x", "y"]),
            Cmd(&["BLMOVE", "l", "m", "LEFT", "RIGHT", "0"]),
            Cmd(&["BRPOPLPUSH", "l", "m", "0"]),
            Cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
            Cmd(&["BZPOPMIN", "z", "0"]),
            Cmd(&["BZPOPMAX", "z", "0"]),
            Cmd(&["RPUSH", "n", "1", "2", "3"]),
            Cmd(&["BLMPOP", "0", "1", "n", "LEFT", "COUNT", "2"]),
            Cmd(&["ZADD", "y", "1", "a", "2", "b"]),
            Cmd(&["BZMPOP", "0", "1", "y", "MIN", "COUNT", "5"]),
            Cmd(&["LMPOP", "1", "m", "RIGHT"]),
            Cmd(&["ZADD", "y", "1", "a", "2", "b"]),
            Cmd(&["ZMPOP", "1", "y", "MAX", "COUNT", "5"]),
            // Served once woken by another client's write.
            Block(&["BLPOP", "w1", "0"]),
            Cmd(&["RPUSH", "w1", "p", "q"]),
            Wake,
            Block(&["BLMOVE", "w2", "dst", "RIGHT", "LEFT", "0"]),
            Cmd(&["LPUSH", "w2", "p"]),
            Wake,
            Block(&["BZPOPMAX", "w3", "0"]),
            Cmd(&["ZADD", "w3", "1", "p", "2", "q"]),
            Wake,
            Block(&["BLMPOP", "0", "1", "w4", "RIGHT", "COUNT", "3"]),
            Cmd(&["RPUSH", "w4", "p", "q"]),
            Wake,
        ],
    );
}

#[test]
fn keys_writes_find_expired_are_logged_with_them_and_replay_the_same() {
    let dir = temp_dir("aof-expired-by-writes");
    let opts = ALWAYS;
    let mut s = Cachesrv::start(&dir, &opts);
    let mut c = s.conn();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for k in ["j", "q", "e"] {
        ok(&mut c, &["SET", k, "v", "PX", "100"]);
    }
    std::thread::sleep(Duration::from_millis(200));
    ok(&mut c, &["SET", "j", "w", "NX"]);
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["SET", "q", "w", "NX"]);
    ok(&mut c, &["INCR", "n"]);
    ok(&mut c, &["EXEC"]);
    ok(&mut c, &["EVAL", "redis.call('SET', 'e', 'w', 'NX')", "0"]);
    let recs: Vec<String> = parse_aof(&std::fs::read(last_incr(&dir)).expect("the file"))
        .iter()
        .skip(4)
        .map(|r| String::from_utf8_lossy(&r.join(&b' ')).into_owned())
        .collect();
    let want = [
        "MULTI",
        "DEL j",
        "SET j w NX",
        "EXEC",
        "MULTI",
        "DEL q",
        "SET q w NX",
        "INCR n",
        "EXEC",
        "MULTI",
        "DEL e",
        "SET e w NX",
        "EXEC",
    ];
    assert_eq!(recs, want);
    let before = ["j", "q", "e", "n"].map(|k| c.cmd(&["GET", k]));
    assert!(s.terminate().success());
    let s = Cachesrv::start(&dir, &opts);
    let mut c = s.conn();
    assert_eq!(["j", "q", "e", "n"].map(|k| c.cmd(&["GET", k])), before);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fills the server past a `maxmemory` set just above its current use; returns the number
/// of keys evicted, after checking each is logged as `DEL`.
fn fill_past_maxmemory(what: &str, port: u16, dir: &Path) -> u64 {
    let mut c = Conn::open(port);
    ok(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = (used + 400_000).to_string();
    ok(&mut c, &["CONFIG", "SET", "maxmemory", &limit]);
    let value = "x".repeat(1000);
    for i in 0..2000 {
        ok(&mut c, &["SET", &format!("key:{i}"), &value]);
    }
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 500, "{what}: {evicted} keys evicted");
    // With lazyfree-lazy-eviction: UNLINK.
    ok(&mut c, &["CONFIG", "SET", "lazyfree-lazy-eviction", "yes"]);
    for i in 2000..2500 {
        ok(&mut c, &["SET", &format!("key:{i}"), &value]);
    }
    let unlinked = info_u64(&mut c, "stats", "evicted_keys") - evicted;
    assert!(unlinked > 100, "{what}: {unlinked} keys evicted");
    c.cmd(&["PING"]);
    let recs = parse_aof(&std::fs::read(last_incr(dir)).expect("the incremental file"));
    let count = |name: &[u8]| recs.iter().filter(|r| r[0] == name).count() as u64;
    assert_eq!(
        count(b"DEL"),
        evicted,
        "{what}: evicted keys are logged as DEL"
    );
    assert_eq!(count(b"UNLINK"), unlinked, "{what}: then as UNLINK");
    evicted
}

#[test]
fn evicted_keys_are_logged_as_del_and_stay_gone_after_a_restart() {
    let opts = ALWAYS;
    let rdir = temp_dir("aof-evict-redis");
    let mut args = vec!["--dir", rdir.to_str().expect("utf-8 path")];
    args.extend(opts);
    let redis = RedisServer::start_with(None, &args);
    fill_past_maxmemory("redis-server", redis.port, &rdir);
    drop(redis);
    let cdir = temp_dir("aof-evict-cachesrv");
    let mut s = Cachesrv::start(&cdir, &opts);
    fill_past_maxmemory("cachesrv", s.port, &cdir);
    let mut c = s.conn();
    let Frame::Integer(before) = c.cmd(&["DBSIZE"]) else {
        panic!("DBSIZE is an integer")
    };
    assert!(s.terminate().success());
    // Without the limit, so nothing is evicted while loading or after.
    let s = Cachesrv::start(&cdir, &opts);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(before));
    drop(s);
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&cdir);
}
