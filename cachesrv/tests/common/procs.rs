//! Real processes for the persistence tests: the `cachesrv` binary on a data directory, a
//! `redis-server` on one, a deterministic data set with every type and encoding, and a
//! canonical view of a server's whole keyspace to compare two servers with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use protocol::Frame;
use testkit::{free_port, RedisServer};

use super::Conn;

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cachesrv-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The `cachesrv` binary, running.
pub struct Cachesrv {
    pub port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
}

fn cachesrv_cmd(dir: &Path, port: u16, log: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cachesrv"));
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &dir.to_string_lossy()])
        .args(["--logfile", &log.to_string_lossy()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

impl Cachesrv {
    /// Starts the binary on `dir` (with `extra` flags) and waits until it answers PING.
    pub fn start(dir: &Path, extra: &[&str]) -> Cachesrv {
        let port = free_port();
        let log = dir.join(format!("cachesrv-{port}.log"));
        let child = cachesrv_cmd(dir, port, &log, extra)
            .spawn()
            .expect("run cachesrv");
        let s = Cachesrv {
            port,
            child: Some(child),
            log,
        };
        wait_ready(port);
        s
    }

    /// Runs the binary on `dir` expecting it to exit on its own (a refused start); returns
    /// its exit status and its log.
    pub fn start_and_exit(dir: &Path, extra: &[&str]) -> (ExitStatus, String) {
        let port = free_port();
        let log = dir.join(format!("cachesrv-{port}.log"));
        let mut child = cachesrv_cmd(dir, port, &log, extra)
            .spawn()
            .expect("run cachesrv");
        let status = wait_exit(&mut child, Duration::from_secs(30)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("cachesrv kept running: {}", read(&log));
        });
        (status, read(&log))
    }

    /// A connection.
    pub fn conn(&self) -> Conn {
        Conn::open(self.port)
    }

    /// Sends SIGTERM and waits for the exit (a save may run first).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        wait_exit(&mut child, Duration::from_secs(60)).expect("cachesrv exits on SIGTERM")
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Cachesrv {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One inline PING on a fresh connection; true on `+PONG`. Never panics: a refused or reset
/// connection (a server starting, or one just killed on that port) is a `false`.
fn pong(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(n) if b[..n].starts_with(b"+PONG"))
}

/// Waits until a server on `port` answers PING with PONG. A connect that fails is tried again
/// (the server may still be loading), and so is one that reached no server: while nothing
/// listens on a loopback port in the ephemeral range, a connect can meet itself (TCP
/// simultaneous open) and read its own PING back.
pub fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if pong(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not start");
}

/// A `redis-server` whose `dir` is `dir` (it loads `dir/dump.rdb` if present).
pub fn redis_on(dir: &Path) -> RedisServer {
    RedisServer::start_with(
        None,
        &["--dir", &dir.to_string_lossy(), "--dbfilename", "dump.rdb"],
    )
}

/// `redis-check-rdb file`: (success, output).
pub fn check_rdb(file: &Path) -> (bool, String) {
    let out = Command::new("redis-check-rdb")
        .arg(file)
        .output()
        .expect("run redis-check-rdb");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("RDB looks OK"), text)
}

/// Runs a command, panicking on an error reply.
pub fn ok(c: &mut Conn, args: &[&[u8]]) -> Frame {
    let f = c.cmd(args);
    if let Frame::Error(e) = &f {
        panic!(
            "{:?}: {}",
            String::from_utf8_lossy(args[0]),
            String::from_utf8_lossy(e)
        );
    }
    f
}

fn s(v: impl AsRef<[u8]>) -> Vec<u8> {
    v.as_ref().to_vec()
}

/// The commands that build the test data set: every type, small and large encodings, integer
/// and compressible strings, TTLs, three databases.
pub fn dataset() -> Vec<(usize, Vec<Vec<u8>>)> {
    let mut out: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
    let mut add = |db: usize, parts: Vec<Vec<u8>>| out.push((db, parts));
    let noise: Vec<u8> = (0..60u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    for (k, v) in [
        (s("s:short"), s("hello")),
        (s("s:int"), s("12345")),
        (s("s:neg"), s("-5")),
        (s("s:i32"), s("-2147483648")),
        (s("s:i64"), s("9223372036854775807")),
        (s("s:lead0"), s("007")),
        (s("s:lzf"), s("abc".repeat(100))),
        (s("s:noise"), noise),
        (s("s:empty"), s("")),
        (s("s:bin"), (0..=255u8).collect()),
        ((0..=255u8).rev().collect(), s("binary key")),
    ] {
        add(0, vec![s("SET"), k, v]);
    }
    add(
        0,
        vec![
            s("RPUSH"),
            s("l:small"),
            s("a"),
            s("b"),
            s("1"),
            s("-200"),
            s("70000"),
            s(""),
        ],
    );
    let mut big = vec![s("RPUSH"), s("l:big")];
    for i in 0..3000 {
        big.push(s(format!("element-{i}-{}", "y".repeat(i % 70))));
    }
    add(0, big);
    add(
        0,
        vec![
            s("RPUSH"),
            s("l:huge"),
            s("x"),
            s("z".repeat(20_000)),
            s("9"),
        ],
    );
    add(
        0,
        vec![
            s("HSET"),
            s("h:small"),
            s("f1"),
            s("v1"),
            s("n"),
            s("-77"),
            s("e"),
            s(""),
        ],
    );
    let mut h = vec![s("HSET"), s("h:big")];
    for i in 0..600 {
        h.push(s(format!("field:{i}")));
        h.push(s(format!("{}", i * 7)));
    }
    add(0, h);
    add(0, vec![s("HSET"), s("h:long"), s("f"), s("v".repeat(100))]);
    add(
        0,
        vec![s("SADD"), s("set:int"), s("3"), s("-1"), s("70000"), s("0")],
    );
    add(
        0,
        vec![s("SADD"), s("set:i64"), s("1"), s("-9223372036854775808")],
    );
    add(
        0,
        vec![s("SADD"), s("set:str"), s("apple"), s("pear"), s("1")],
    );
    let mut bs = vec![s("SADD"), s("set:big")];
    for i in 0..1000 {
        bs.push(s(format!("member-{i}")));
    }
    add(0, bs);
    let mut bi = vec![s("SADD"), s("set:manyints")];
    for i in 0..700 {
        bi.push(s(format!("{}", i * 3 - 1000)));
    }
    add(0, bi);
    add(
        0,
        vec![
            s("ZADD"),
            s("z:small"),
            s("1"),
            s("alice"),
            s("2.5"),
            s("bob"),
            s("-3"),
            s("carol"),
            s("1e100"),
            s("dave"),
            s("-inf"),
            s("eve"),
            s("0.1"),
            s("12345"),
        ],
    );
    let mut bz = vec![s("ZADD"), s("z:big")];
    for i in 0..500 {
        bz.push(s(format!("{}", (i as f64) * 0.37 - 40.0)));
        bz.push(s(format!("player:{i}")));
    }
    add(0, bz);
    add(0, vec![s("ZADD"), s("z:long"), s("7"), s("m".repeat(100))]);
    add(0, vec![s("ZADD"), s("ttl:z"), s("1"), s("a")]);
    add(0, vec![s("PEXPIREAT"), s("ttl:z"), s("4102444800999")]);
    add(
        0,
        vec![s("SET"), s("ttl:s"), s("v"), s("PX"), s("100000000")],
    );
    add(0, vec![s("RPUSH"), s("ttl:l"), s("a")]);
    add(0, vec![s("PEXPIREAT"), s("ttl:l"), s("4102444800123")]);
    add(1, vec![s("SET"), s("db1:k"), s("one")]);
    add(1, vec![s("HSET"), s("db1:h"), s("a"), s("b")]);
    add(15, vec![s("SADD"), s("db15:s"), s("x")]);
    out
}

/// Loads [`dataset`] into the server behind `c`.
pub fn populate(c: &mut Conn) {
    let mut current = usize::MAX;
    for (db, parts) in dataset() {
        if db != current {
            ok(c, &[b"SELECT", db.to_string().as_bytes()]);
            current = db;
        }
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        ok(c, &refs);
    }
    ok(c, &[b"SELECT", b"0"]);
}

fn bulk(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Frame::Integer(i) => i.to_string(),
        Frame::Null => "nil".into(),
        other => format!("{other:?}"),
    }
}

fn items(f: Frame) -> Vec<Frame> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

/// Every key of databases 0..16 as `db/key -> type, expiry, value` (sets and hashes sorted).
pub fn keyspace(c: &mut Conn) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        ok(c, &[b"SELECT", db.to_string().as_bytes()]);
        for k in items(ok(c, &[b"KEYS", b"*"])) {
            let Frame::Bulk(key) = k else { continue };
            let t = bulk(&ok(c, &[b"TYPE", &key]));
            let exp = bulk(&ok(c, &[b"PEXPIRETIME", &key]));
            let value = match t.as_str() {
                "\"string\"" => bulk(&ok(c, &[b"GET", &key])),
                "\"list\"" => {
                    let v: Vec<String> = items(ok(c, &[b"LRANGE", &key, b"0", b"-1"]))
                        .iter()
                        .map(bulk)
                        .collect();
                    v.join(",")
                }
                "\"hash\"" => {
                    let flat: Vec<String> =
                        items(ok(c, &[b"HGETALL", &key])).iter().map(bulk).collect();
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "\"set\"" => {
                    let mut v: Vec<String> = items(ok(c, &[b"SMEMBERS", &key]))
                        .iter()
                        .map(bulk)
                        .collect();
                    v.sort();
                    v.join(",")
                }
                "\"zset\"" => {
                    let v: Vec<String> =
                        items(ok(c, &[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]))
                            .iter()
                            .map(bulk)
                            .collect();
                    v.join(",")
                }
                other => other.to_string(),
            };
            out.insert(
                format!("{db}/{}", String::from_utf8_lossy(&key)),
                format!("{t} exp={exp} {value}"),
            );
        }
    }
    ok(c, &[b"SELECT", b"0"]);
    out
}

/// Asserts two keyspaces are equal, naming the first differing key.
pub fn assert_same(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: key counts differ");
    for (k, v) in a {
        let w = b.get(k).unwrap_or_else(|| panic!("{what}: {k} missing"));
        assert!(
            v == w,
            "{what}: {k} differs:\n  {}\n  {}",
            &v[..v.len().min(300)],
            &w[..w.len().min(300)]
        );
    }
}

/// A field of `INFO persistence`.
pub fn info_field(c: &mut Conn, name: &str) -> String {
    let Frame::Bulk(text) = c.cmd(&["INFO", "persistence"]) else {
        panic!("INFO is a bulk reply")
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

/// A numeric field of an `INFO` section.
pub fn info_u64(c: &mut Conn, section: &str, field: &str) -> u64 {
    let Frame::Bulk(text) = c.cmd(&["INFO", section]) else {
        panic!("INFO is a bulk reply")
    };
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field}"))
}

/// Polls `f` until it holds; fails after a minute.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}
