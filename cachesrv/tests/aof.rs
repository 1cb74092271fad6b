//! The append-only file with the binary as a process: acknowledged writes survive `kill -9`
//! (`appendfsync always` and `everysec`), a torn last record is cut off at start (or refuses
//! it with `aof-load-truncated no`), a transaction cut short at the end is dropped whole (as
//! redis-server drops it), a corrupt record refuses the start with its offset,
//! `redis-check-aof` accepts the files, AOF directories move both ways between cachesrv and
//! `redis-server` 7.0, `BGREWRITEAOF` under a write load keeps every write (a plain `SET` run
//! while a rewrite copies the keys is logged as sent), and `CONFIG SET appendonly yes` at run
//! time keeps the data across a restart.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::procs::{
    assert_same, info_field, keyspace, ok, populate, temp_dir, wait_for, Cachesrv,
};
use common::Conn;
use protocol::Frame;
use testkit::RedisServer;

const AOF_DIR: &str = "appendonlydir";

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(AOF_DIR).join("appendonly.aof.manifest")).unwrap_or_default()
}

fn last_incr(dir: &Path) -> std::path::PathBuf {
    let m = manifest(dir);
    let name = m
        .lines()
        .rev()
        .find(|l| l.ends_with("type i"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("an incremental file in the manifest")
        .to_string();
    dir.join(AOF_DIR).join(name)
}

fn check_aof(dir: &Path) -> (bool, String) {
    let out = Command::new("redis-check-aof")
        .arg(dir.join(AOF_DIR).join("appendonly.aof.manifest"))
        .output()
        .expect("run redis-check-aof");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("is valid"), text)
}

/// A client appending `0, 1, 2...` to `log:<id>` with RPUSH until stopped or until the
/// server goes away; returns the highest value the server acknowledged (None: none). Writers
/// with an odd id wrap each RPUSH in MULTI/EXEC with an INCR of `count:<id>`.
fn writer(port: u16, id: usize, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) -> Option<u64> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut w = s.try_clone().ok()?;
    let mut r = BufReader::new(s);
    let key = format!("log:{id}");
    let mut last = None;
    let mut j = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let v = j.to_string();
        let push = format!(
            "*3\r\n$5\r\nRPUSH\r\n${}\r\n{key}\r\n${}\r\n{v}\r\n",
            key.len(),
            v.len()
        );
        let tx = id % 2 == 1;
        let req = if tx {
            let count = format!("count:{id}");
            format!(
                "*1\r\n$5\r\nMULTI\r\n{push}*2\r\n$4\r\nINCR\r\n${}\r\n{count}\r\n*1\r\n$4\r\nEXEC\r\n",
                count.len()
            )
        } else {
            // A plain SET too: logged as sent even while a rewrite copies the keys.
            let last = format!("last:{id}");
            format!(
                "{push}*3\r\n$3\r\nSET\r\n${}\r\n{last}\r\n${}\r\n{v}\r\n",
                last.len(),
                v.len()
            )
        };
        if w.write_all(req.as_bytes()).is_err() {
            break;
        }
        // Plain: `:n`, `+OK`. Transaction: `+OK`, `+QUEUED`, `+QUEUED`, `*2`, `:n`, `:n`.
        let expect: &[char] = if tx {
            &['+', '+', '+', '*', ':', ':']
        } else {
            &[':', '+']
        };
        let mut good = true;
        for lead in expect {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(n) if n > 0 && line.starts_with(*lead) => {}
                _ => {
                    good = false;
                    break;
                }
            }
        }
        if !good {
            break;
        }
        last = Some(j);
        acked.fetch_add(1, Ordering::Relaxed);
        j += 1;
    }
    last
}

/// Runs `clients` writers against `port`, calls `during` once at least `min_acked` writes were
/// acknowledged, and returns each writer's last acknowledged value.
fn under_load(
    port: u16,
    clients: usize,
    min_acked: u64,
    during: impl FnOnce(),
) -> Vec<Option<u64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || writer(port, i, stop, acked))
        })
        .collect();
    wait_for("acknowledged writes", || {
        acked.load(Ordering::Relaxed) >= min_acked
    });
    during();
    stop.store(true, Ordering::Relaxed);
    handles
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect()
}

/// Asserts each `log:<i>` is `0..=n` with `n` at least the writer's last acknowledged value.
fn assert_logs_kept(c: &mut Conn, last: &[Option<u64>]) {
    for (i, l) in last.iter().enumerate() {
        let Frame::Array(items) = ok(c, &[b"LRANGE", format!("log:{i}").as_bytes(), b"0", b"-1"])
        else {
            panic!("LRANGE is an array")
        };
        for (j, it) in items.iter().enumerate() {
            assert_eq!(
                *it,
                Frame::Bulk(j.to_string().into()),
                "log:{i} holds its writes in order without gaps"
            );
        }
        if let Some(l) = l {
            assert!(
                items.len() as u64 > *l,
                "log:{i}: write {l} was acknowledged but only {} are in the data",
                items.len()
            );
        }
    }
}

fn kill_9(s: &mut Cachesrv) {
    let mut child = s.child.take().expect("running");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

fn kill_9_keeps_acknowledged_writes(fsync: &str) {
    let dir = temp_dir(&format!("aof-kill-{fsync}"));
    let flags = ["--appendonly", "yes", "--appendfsync", fsync, "--save", ""];
    let mut s = Cachesrv::start(&dir, &flags);
    let port = s.port;
    let last = under_load(port, 6, 3000, || kill_9(&mut s));
    assert!(last.iter().all(Option::is_some), "every writer was served");
    let again = Cachesrv::start(&dir, &flags);
    let mut c = again.conn();
    assert_logs_kept(&mut c, &last);
    assert!(check_aof(&dir).0, "{}", check_aof(&dir).1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_loses_no_acknowledged_write_with_appendfsync_always() {
    kill_9_keeps_acknowledged_writes("always");
}

/// `everysec` fsyncs once a second, but every record is written to the file before its reply:
/// a killed process (the machine still up) loses nothing acknowledged either.
#[test]
fn kill_9_loses_no_acknowledged_write_with_appendfsync_everysec() {
    kill_9_keeps_acknowledged_writes("everysec");
}

fn write_some(c: &mut Conn, n: usize) {
    for i in 0..n {
        ok(c, &[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
}

#[test]
fn a_torn_last_record_is_cut_off_at_start_or_refuses_it() {
    let dir = temp_dir("aof-torn");
    let flags = ["--appendonly", "yes", "--save", ""];
    {
        let mut s = Cachesrv::start(&dir, &flags);
        let mut c = s.conn();
        write_some(&mut c, 10);
        assert!(s.terminate().success());
    }
    let incr = last_incr(&dir);
    let len = std::fs::metadata(&incr).expect("incr file").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&incr)
        .expect("open");
    f.set_len(len - 3).expect("truncate");
    drop(f);
    let (status, log) =
        Cachesrv::start_and_exit(&dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]);
    assert!(!status.success());
    assert!(log.contains("Unexpected end of file"), "{log}");
    let s = Cachesrv::start(&dir, &flags);
    let log = s.log_text();
    assert!(log.contains("bytes (a torn record) were dropped"), "{log}");
    let mut c = s.conn();
    assert_eq!(ok(&mut c, &[b"DBSIZE"]), Frame::Integer(9));
    assert_eq!(ok(&mut c, &[b"EXISTS", b"k9"]), Frame::Integer(0));
    drop(c);
    drop(s);
    assert!(
        check_aof(&dir).0,
        "the file was repaired: {}",
        check_aof(&dir).1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copies the AOF directory of `from` into `to`.
fn copy_aof_dir(from: &Path, to: &Path) {
    let dst = to.join(AOF_DIR);
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(from.join(AOF_DIR)).expect("the AOF directory") {
        let e = e.expect("an entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
    }
}

#[test]
fn a_transaction_cut_short_at_the_end_is_dropped_whole_as_redis_drops_it() {
    const MULTI_D: &[u8] = b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n";
    // Torn inside the block, and whole records but no EXEC.
    for (tag, tail) in [("torn", &b"*3\r\n$3\r\nSE"[..]), ("no-exec", &b""[..])] {
        let dir = temp_dir(&format!("aof-torn-multi-{tag}"));
        let flags = ["--appendonly", "yes", "--save", ""];
        {
            let mut s = Cachesrv::start(&dir, &flags);
            let mut c = s.conn();
            ok(&mut c, &[b"SET", b"a", b"1"]);
            ok(&mut c, &[b"MULTI"]);
            ok(&mut c, &[b"SET", b"b", b"2"]);
            ok(&mut c, &[b"SET", b"c", b"3"]);
            ok(&mut c, &[b"EXEC"]);
            assert!(s.terminate().success());
        }
        let incr = last_incr(&dir);
        let whole = std::fs::read(&incr).expect("incr file");
        let mut data = whole.clone();
        data.extend_from_slice(MULTI_D);
        data.extend_from_slice(tail);
        std::fs::write(&incr, &data).expect("write");
        let rdir = temp_dir(&format!("aof-torn-multi-redis-{tag}"));
        copy_aof_dir(&dir, &rdir);
        let s = Cachesrv::start(&dir, &flags);
        let mut c = s.conn();
        let ours = keyspace(&mut c);
        assert_eq!(ours.len(), 3, "{tag}: {ours:?}");
        assert_eq!(ok(&mut c, &[b"EXISTS", b"d"]), Frame::Integer(0));
        drop(c);
        drop(s);
        // Cut back to the end of the last whole transaction.
        assert_eq!(std::fs::read(&incr).expect("incr file"), whole, "{tag}");
        let redis = redis_with_aof(&rdir);
        let mut r = Conn::open(redis.port);
        assert_same(&keyspace(&mut r), &ours, "redis-server on the same file");
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&rdir);
    }
}

#[test]
fn a_corrupt_record_refuses_the_start_with_its_offset() {
    let dir = temp_dir("aof-corrupt");
    let flags = ["--appendonly", "yes", "--save", ""];
    {
        let mut s = Cachesrv::start(&dir, &flags);
        let mut c = s.conn();
        write_some(&mut c, 5);
        assert!(s.terminate().success());
    }
    let incr = last_incr(&dir);
    let mut data = std::fs::read(&incr).expect("incr file");
    // The first record is `*2 SELECT 0` (23 bytes): damage the second one's header.
    data[23] = b'!';
    std::fs::write(&incr, &data).expect("write");
    let (status, log) = Cachesrv::start_and_exit(&dir, &flags);
    assert!(!status.success());
    assert!(
        log.contains("Bad file format") && log.contains("at offset 23"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `redis-server` with `appendonly yes` on `dir`, once it has loaded its data.
fn redis_with_aof(dir: &Path) -> RedisServer {
    let r = RedisServer::start_with(
        None,
        &["--dir", &dir.to_string_lossy(), "--appendonly", "yes"],
    );
    let mut c = Conn::open(r.port);
    wait_for("redis to load", || info_field(&mut c, "loading") == "0");
    r
}

#[test]
fn our_aof_passes_redis_check_aof_and_loads_in_redis() {
    let dir = temp_dir("aof-to-redis");
    let expected = {
        let mut s = Cachesrv::start(&dir, &["--appendonly", "yes", "--save", ""]);
        let mut c = s.conn();
        populate(&mut c);
        assert_eq!(
            c.cmd(&["BGREWRITEAOF"]),
            Frame::Simple("Background append only file rewriting started".into())
        );
        wait_for("the rewrite", || {
            info_field(&mut c, "aof_rewrite_in_progress") == "0"
        });
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        // Writes after the rewrite, with expiries and a transaction, go to the new incr file.
        ok(&mut c, &[b"SET", b"after", b"1", b"EX", b"1000"]);
        ok(&mut c, &[b"EXPIRE", b"after", b"2000"]);
        ok(&mut c, &[b"MULTI"]);
        ok(&mut c, &[b"INCR", b"counter"]);
        ok(&mut c, &[b"RPUSH", b"tx-list", b"a", b"b"]);
        ok(&mut c, &[b"EXEC"]);
        ok(&mut c, &[b"INCRBYFLOAT", b"float", b"1.25"]);
        let ks = keyspace(&mut c);
        assert!(s.terminate().success());
        ks
    };
    let m = manifest(&dir);
    assert!(
        m.contains("type b") && m.contains("type i") && !m.contains("type h"),
        "{m}"
    );
    let (good, report) = check_aof(&dir);
    assert!(good, "{report}");
    let redis = redis_with_aof(&dir);
    let mut r = Conn::open(redis.port);
    assert_same(
        &expected,
        &keyspace(&mut r),
        "redis-server after loading our AOF",
    );
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_aof_written_by_redis_loads_in_cachesrv() {
    let dir = temp_dir("aof-from-redis");
    let expected = {
        let redis = redis_with_aof(&dir);
        let mut r = Conn::open(redis.port);
        // Part of the data in the base (rewritten), the rest in the incremental file.
        populate(&mut r);
        ok(&mut r, &[b"BGREWRITEAOF"]);
        wait_for("redis's rewrite", || {
            info_field(&mut r, "aof_rewrite_in_progress") == "0"
                && info_field(&mut r, "aof_rewrite_scheduled") == "0"
        });
        ok(&mut r, &[b"SET", b"late", b"1", b"PX", b"500000"]);
        ok(&mut r, &[b"SELECT", b"5"]);
        ok(&mut r, &[b"HSET", b"late-hash", b"f", b"v"]);
        ok(&mut r, &[b"SPOP", b"late-hash-none"]);
        let ks = keyspace(&mut r);
        // SHUTDOWN writes out Redis's AOF buffer (with everysec Redis may postpone a write
        // while a background fsync runs, so a SIGKILL could lose the last records).
        r.send(&["SHUTDOWN", "NOSAVE"]);
        r.read_to_close();
        drop(redis);
        ks
    };
    let s = Cachesrv::start(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut c = s.conn();
    assert_same(
        &expected,
        &keyspace(&mut c),
        "cachesrv after loading redis's AOF",
    );
    assert!(s.log_text().contains("DB loaded from append only file"));
    drop(c);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgrewriteaof_under_a_write_load_keeps_every_write() {
    let dir = temp_dir("aof-rewrite-load");
    let flags = ["--appendonly", "yes", "--save", ""];
    let mut s = Cachesrv::start(&dir, &flags);
    let mut c = s.conn();
    populate(&mut c);
    let port = s.port;
    let last = under_load(port, 4, 2000, || {
        let mut admin = Conn::open(port);
        for _ in 0..3 {
            assert_eq!(
                admin.cmd(&["BGREWRITEAOF"]),
                Frame::Simple("Background append only file rewriting started".into())
            );
            wait_for("the rewrite", || {
                info_field(&mut admin, "aof_rewrite_in_progress") == "0"
            });
        }
        assert_eq!(info_field(&mut admin, "aof_rewrites"), "3");
    });
    let expected = keyspace(&mut c);
    drop(c);
    kill_9(&mut s);
    let m = manifest(&dir);
    assert!(m.contains(".4.base.rdb seq 4 type b"), "{m}");
    let files = std::fs::read_dir(dir.join(AOF_DIR)).expect("dir").count();
    assert_eq!(files, 3, "history files are deleted: {m}");
    let again = Cachesrv::start(&dir, &flags);
    let mut c = again.conn();
    assert_logs_kept(&mut c, &last);
    assert_same(&expected, &keyspace(&mut c), "after rewrites under load");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_set_appendonly_yes_at_run_time_keeps_the_data_across_a_restart() {
    let dir = temp_dir("aof-config-set");
    let expected = {
        let mut s = Cachesrv::start(&dir, &["--save", ""]);
        let mut c = s.conn();
        populate(&mut c);
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        ok(&mut c, &[b"CONFIG", b"SET", b"appendonly", b"yes"]);
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        wait_for("the first rewrite", || {
            info_field(&mut c, "aof_rewrite_in_progress") == "0"
        });
        ok(&mut c, &[b"SET", b"after-switch", b"1"]);
        ok(&mut c, &[b"CONFIG", b"SET", b"appendfsync", b"always"]);
        ok(&mut c, &[b"LPUSH", b"after-always", b"x"]);
        let ks = keyspace(&mut c);
        kill_9(&mut s);
        ks
    };
    assert!(!dir.join("dump.rdb").exists());
    let s = Cachesrv::start(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut c = s.conn();
    assert_same(
        &expected,
        &keyspace(&mut c),
        "after CONFIG SET appendonly yes",
    );
    ok(&mut c, &[b"CONFIG", b"SET", b"appendonly", b"no"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes are logged as the RESP encoding of their arguments, byte for byte, whatever form the
/// client sent them in: separators Redis does not check (any byte after `\r`, any two after
/// an argument), inline commands, a request split across reads, several in one read.
#[test]
fn records_are_canonical_whatever_the_request_bytes() {
    let dir = temp_dir("aof-canonical");
    let mut s = Cachesrv::start(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut t = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let mut read = BufReader::new(t.try_clone().expect("clone"));
    let mut expect_ok = |n: usize| {
        for _ in 0..n {
            let mut line = String::new();
            read.read_line(&mut line).expect("a reply");
            assert_eq!(line, "+OK\r\n");
        }
    };
    // Pipelined in one write: canonical, odd separators, inline, lowercase.
    t.write_all(
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\n10\r\n\
          *3\rX$3\r\nSET\rY$1\r\nb\r\n$2\r\n20ZZ\
          SET c \"3 0\"\r\n\
          *3\r\n$3\r\nset\r\n$1\r\nd\r\n$0\r\n\r\n",
    )
    .expect("write");
    expect_ok(4);
    // One request in two reads.
    t.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\ne").expect("write");
    t.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(50));
    t.write_all(b"\r\n$1\r\n5\r\n").expect("write");
    expect_ok(1);
    assert!(s.terminate().success());
    let data = std::fs::read(last_incr(&dir)).expect("incr");
    let want: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
        *3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\n10\r\n\
        *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$2\r\n20\r\n\
        *3\r\n$3\r\nSET\r\n$1\r\nc\r\n$3\r\n3 0\r\n\
        *3\r\n$3\r\nset\r\n$1\r\nd\r\n$0\r\n\r\n\
        *3\r\n$3\r\nSET\r\n$1\r\ne\r\n$1\r\n5\r\n";
    assert_eq!(
        String::from_utf8_lossy(&data),
        String::from_utf8_lossy(want),
        "the incremental file"
    );
    let (valid, text) = check_aof(&dir);
    assert!(valid, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn records_are_written_as_redis_7_propagates_them() {
    let dir = temp_dir("aof-records");
    let mut s = Cachesrv::start(&dir, &["--appendonly", "yes", "--save", ""]);
    let mut c = s.conn();
    ok(&mut c, &[b"SET", b"a", b"1", b"EX", b"100"]);
    ok(&mut c, &[b"EXPIRE", b"a", b"200"]);
    ok(&mut c, &[b"SETEX", b"b", b"100", b"x"]);
    ok(&mut c, &[b"DEL", b"missing"]);
    ok(&mut c, &[b"SETNX", b"a", b"2"]);
    ok(&mut c, &[b"EXPIRE", b"b", b"-1"]);
    ok(&mut c, &[b"SELECT", b"2"]);
    ok(&mut c, &[b"MULTI"]);
    ok(&mut c, &[b"INCR", b"n"]);
    ok(&mut c, &[b"INCR", b"n"]);
    ok(&mut c, &[b"EXEC"]);
    assert!(s.terminate().success());
    let text = String::from_utf8_lossy(&std::fs::read(last_incr(&dir)).expect("incr")).into_owned();
    let words: Vec<&str> = text
        .split("\r\n")
        .filter(|w| !w.starts_with('*') && !w.starts_with('$') && !w.is_empty())
        .collect();
    let at = |i: usize| words[i].parse::<u64>().expect("a Unix time in ms");
    assert_eq!(&words[..4], ["SELECT", "0", "SET", "a"]);
    assert_eq!(&words[4..6], ["1", "PXAT"]);
    assert!(at(6) > 1_600_000_000_000);
    assert_eq!(&words[7..9], ["PEXPIREAT", "a"]);
    assert!(at(9) > at(6), "EXPIRE 200 after EX 100");
    assert_eq!(&words[10..14], ["SET", "b", "x", "PXAT"]);
    // DEL of a missing key and a SETNX that set nothing are not logged; an EXPIRE in the
    // past deleted the key: logged as DEL.
    assert_eq!(&words[15..17], ["DEL", "b"]);
    assert_eq!(
        &words[17..],
        ["SELECT", "2", "MULTI", "INCR", "n", "INCR", "n", "EXEC"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_aof_is_rewritten_automatically_past_its_growth_limit() {
    let dir = temp_dir("aof-auto");
    let s = Cachesrv::start(
        &dir,
        &[
            "--appendonly",
            "yes",
            "--save",
            "",
            "--auto-aof-rewrite-min-size",
            "4kb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut c = s.conn();
    assert_eq!(info_field(&mut c, "aof_rewrites"), "0");
    let value = vec![b'x'; 100];
    for i in 0..200 {
        ok(&mut c, &[b"SET", format!("k{}", i % 10).as_bytes(), &value]);
    }
    wait_for("an automatic rewrite", || {
        info_field(&mut c, "aof_rewrites") != "0"
            && info_field(&mut c, "aof_rewrite_in_progress") == "0"
    });
    // The base holds the ten keys; the incremental file starts again.
    let base: u64 = info_field(&mut c, "aof_base_size").parse().expect("size");
    let current: u64 = info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    assert!(
        base < 4000 && current < 4000,
        "base {base}, current {current}"
    );
    assert!(s.log_text().contains("Starting automatic rewriting of AOF"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transactions_under_automatic_rewrites_keep_every_write() {
    let dir = temp_dir("aof-auto-load");
    let flags = [
        "--appendonly",
        "yes",
        "--save",
        "",
        "--auto-aof-rewrite-min-size",
        "32kb",
        "--auto-aof-rewrite-percentage",
        "50",
    ];
    let mut s = Cachesrv::start(&dir, &flags);
    let mut c = s.conn();
    let last = under_load(s.port, 4, 4000, || {
        wait_for("automatic rewrites", || {
            info_field(&mut c, "aof_rewrites")
                .parse::<u64>()
                .unwrap_or(0)
                >= 2
        })
    });
    wait_for("the last rewrite", || {
        info_field(&mut c, "aof_rewrite_in_progress") == "0"
    });
    let expected = keyspace(&mut c);
    drop(c);
    kill_9(&mut s);
    let again = Cachesrv::start(&dir, &flags);
    let mut c = again.conn();
    assert_logs_kept(&mut c, &last);
    for (i, l) in last.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        // Each transaction pushed once and counted once.
        let n = l.map_or(0, |l| l + 1);
        let Frame::Integer(len) = ok(&mut c, &[b"LLEN", format!("log:{i}").as_bytes()]) else {
            panic!("LLEN is an integer")
        };
        let count = ok(&mut c, &[b"GET", format!("count:{i}").as_bytes()]);
        assert_eq!(count, Frame::Bulk(len.to_string().into()), "count:{i}");
        assert!(len as u64 >= n);
    }
    assert_same(
        &expected,
        &keyspace(&mut c),
        "after automatic rewrites under load",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_plain_set_while_a_rewrite_copies_the_keys_is_logged_as_sent_and_replays() {
    let dir = temp_dir("aof-set-in-rewrite");
    let flags = ["--appendonly", "yes", "--save", ""];
    let mut s = Cachesrv::start(&dir, &flags);
    let mut c = s.conn();
    // Enough keys for the rewrite's copy of them to outlast a few round trips.
    for i in 0..200 {
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for j in 0..1000 {
            args.push(format!("fill:{i}:{j}").into_bytes());
            args.push(b"x".to_vec());
        }
        c.send(&args);
    }
    for _ in 0..200 {
        assert_eq!(c.read_raw().1, Frame::Simple("OK".into()));
    }
    let mut rounds = 0;
    let mut seen = false;
    while rounds < 5 && !seen {
        assert_eq!(
            c.cmd(&["BGREWRITEAOF"]),
            Frame::Simple("Background append only file rewriting started".into())
        );
        let (plain, appended) = (format!("plain:{rounds}"), format!("appended:{rounds}"));
        ok(&mut c, &[b"SET", plain.as_bytes(), b"v"]);
        ok(&mut c, &[b"APPEND", appended.as_bytes(), b"x"]);
        rounds += 1;
        wait_for("the rewrite", || {
            info_field(&mut c, "aof_rewrite_in_progress") == "0"
        });
        let incr = std::fs::read(last_incr(&dir)).expect("the incremental file");
        let restore = format!("RESTORE\r\n${}\r\n{appended}\r\n", appended.len());
        // The APPEND ran while the keys were copied (logged as the key's state), so did the
        // SET before it: logged as sent all the same.
        seen = contains(&incr, restore.as_bytes());
        let set = format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{plain}\r\n$1\r\nv\r\n",
            plain.len()
        );
        assert!(
            contains(&incr, set.as_bytes()),
            "SET {plain} logged as sent"
        );
    }
    assert!(seen, "no write ran while a rewrite copied 200 000 keys");
    drop(c);
    kill_9(&mut s);
    let again = Cachesrv::start(&dir, &flags);
    let mut c = again.conn();
    assert_eq!(
        ok(&mut c, &[b"DBSIZE"]),
        Frame::Integer(200_000 + 2 * rounds as i64)
    );
    for r in 0..rounds {
        let get = |c: &mut Conn, k: String| ok(c, &[b"GET", k.as_bytes()]);
        assert_eq!(get(&mut c, format!("plain:{r}")), Frame::Bulk("v".into()));
        assert_eq!(
            get(&mut c, format!("appended:{r}")),
            Frame::Bulk("x".into())
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
