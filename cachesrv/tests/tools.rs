//! cachesrv with the real tools: the `cachesrv` binary started like `redis-server` (with the
//! documentation's redis.conf and keydb.conf), `redis-cli` and a bounded `redis-benchmark`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use protocol::Frame;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli is installed (the test command installs redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_works() {
    let srv = TestServer::start(&[]);
    let p = srv.port;
    assert_eq!(cli(p, &["PING"]), "PONG\n");
    assert_eq!(
        cli(p, &["SET", "enkrypt:tools:abc", "{\"tools\":[]}"]),
        "OK\n"
    );
    assert_eq!(cli(p, &["GET", "enkrypt:tools:abc"]), "{\"tools\":[]}\n");
    for i in 0..50 {
        cli(p, &["SET", &format!("enkrypt:key_to_id:{i}"), "x"]);
    }
    let scanned = cli(p, &["--scan", "--pattern", "enkrypt:key_to_id:*"]);
    assert_eq!(scanned.lines().count(), 50);
    let info = cli(p, &["INFO", "memory"]);
    assert!(
        info.contains("used_memory:") && info.contains("maxmemory_policy:noeviction"),
        "{info}"
    );
    let usage: i64 = cli(p, &["MEMORY", "USAGE", "enkrypt:tools:abc"])
        .trim()
        .parse()
        .unwrap();
    assert!(usage > 20 && usage < 400, "{usage}");
    // Mass insertion with --pipe.
    let mut payload = Vec::new();
    for i in 0..1000 {
        let cmd = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\npipe:{i}\r\n$1\r\nv\r\n",
            format!("pipe:{i}").len()
        );
        payload.extend_from_slice(cmd.as_bytes());
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &p.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(cli(p, &["DBSIZE"]), "1051\n");
    // Interactive-style input on stdin (redis-cli asks COMMAND DOCS first).
    let mut child = Command::new("redis-cli")
        .args(["-p", &p.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"PING\nINCR counter\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG\n1\n");
}

#[test]
fn bounded_redis_benchmark_runs_clean() {
    let srv = TestServer::start(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &srv.port.to_string(),
            "-n",
            "5000",
            "-c",
            "20",
            "-P",
            "4",
            "-t",
            "set,get,incr,mset,lpush,lpop,sadd,hset",
            "-q",
        ])
        .output()
        .expect("redis-benchmark is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for t in ["SET", "GET", "INCR", "MSET"] {
        assert!(
            text.split(['\r', '\n'])
                .any(|l| l.trim_start().starts_with(&format!("{t}: "))
                    || l.trim_start().starts_with(&format!("{t} ("))
                        && l.contains("requests per second")),
            "{t} missing in:\n{text}"
        );
    }
    assert!(!text.to_lowercase().contains("error"), "{text}");
    let mut c = Conn::open(srv.port);
    assert_eq!(c.cmd(&["GET", "counter:__rand_int__"]), Frame::bulk("5000"));
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_binary(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachesrv"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cachesrv binary");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (Child(child), stdout)
}

/// Starts the binary on a free port (`before`, `--port <p>`, `after`) and returns once it logged
/// its start line (its listeners are bound then), with the line. A port found free can be
/// taken by another test before the binary binds it: then the binary exits with an error and
/// another port is tried.
fn start_bound(
    before: &[&str],
    after: &[&str],
) -> (Child, BufReader<std::process::ChildStdout>, u16, String) {
    for _ in 0..5 {
        let port = testkit::free_port();
        let p = port.to_string();
        let mut args: Vec<&str> = before.to_vec();
        args.extend(["--port", p.as_str()]);
        args.extend_from_slice(after);
        let (child, mut out) = start_binary(&args);
        // The start line comes after any line about loading the RDB file.
        for _ in 0..5 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.contains("started: port") {
                return (child, out, port, line);
            }
        }
    }
    panic!("cachesrv did not start on a free port in 5 tries");
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "cachesrv did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binary_starts_with_the_documented_configs_and_stops_on_sigterm() {
    for conf in ["redis.conf", "keydb.conf"] {
        let path = format!("{}/tests/conf/{conf}", env!("CARGO_MANIFEST_DIR"));
        // The configs' save rules stay; the snapshot goes to a scratch directory.
        let dir =
            std::env::temp_dir().join(format!("cachesrv-tools-{}-{conf}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_s = dir.to_string_lossy().into_owned();
        let (mut child, _out, port, _) = start_bound(&[&path], &["--logfile", "", "--dir", &dir_s]);
        let mut c = Conn::open(port);
        assert_eq!(
            c.cmd(&["PING"]),
            Frame::Error("NOAUTH Authentication required.".into())
        );
        assert_eq!(
            c.cmd(&["AUTH", "your-very-secure-password-here"]),
            Frame::Simple("OK".into())
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "maxmemory"]),
            Frame::Array(vec![Frame::bulk("maxmemory"), Frame::bulk("1073741824")])
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "save"]),
            Frame::Array(vec![
                Frame::bulk("save"),
                Frame::bulk("900 1 300 10 60 10000")
            ])
        );
        c.cmd(&["SET", "k", "v"]);
        let info = c.cmd(&["INFO", "persistence"]);
        let info = String::from_utf8_lossy(info.as_bytes().unwrap()).to_string();
        assert!(info.contains("rdb_changes_since_last_save:1\r\n"), "{info}");
        // SIGTERM: a clean exit, after saving (the config has save rules).
        unsafe_kill(child.0.id(), 15);
        let status = wait_exit(&mut child.0);
        assert!(status.success(), "{conf}: exit {status:?}");
        assert!(dir.join("dump.rdb").exists(), "{conf}: no snapshot at exit");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn binary_logs_a_start_line_and_rejects_bad_directives() {
    let (mut child, _out, port, line) = start_bound(
        &[],
        &["--server-threads", "2", "--maxmemory", "64mb", "--save", ""],
    );
    assert!(
        line.contains("started: port")
            && line.contains("2 server threads")
            && line.contains("maxmemory 67108864"),
        "{line}"
    );
    wait_for_port(port);
    let mut c = Conn::open(port);
    c.send(&["SHUTDOWN"]);
    assert!(c.read_to_close().is_empty());
    assert!(wait_exit(&mut child.0).success());

    let bad = Command::new(env!("CARGO_BIN_EXE_cachesrv"))
        .args(["--port", "1", "--no-such-directive", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("Bad directive or wrong number of arguments")
            && err.contains("no-such-directive"),
        "{err}"
    );
}

fn unsafe_kill(pid: u32, sig: i32) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}
