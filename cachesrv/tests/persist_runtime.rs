//! Snapshots while cachesrv runs, with the binary as a process: the save at exit and the
//! `save` rules keep the data across restarts, `SHUTDOWN NOSAVE` and `save ""` write nothing,
//! and a BGSAVE taken while clients write saves every key whole (the writers' latency during
//! the save is printed, not asserted: speed is measured by the bench scripts).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::procs::{
    assert_same, info_field, keyspace, ok, populate, temp_dir, wait_for, Cachesrv,
};
use common::Conn;
use protocol::Frame;

#[test]
fn restarts_keep_the_data_saved_at_exit_and_by_the_rules() {
    let dir = temp_dir("restart");
    let mut first = Cachesrv::start(&dir, &["--save", "3600 1"]);
    let expected = {
        let mut c = first.conn();
        populate(&mut c);
        assert!(
            info_field(&mut c, "rdb_changes_since_last_save")
                .parse::<u64>()
                .unwrap_or(0)
                > 0
        );
        keyspace(&mut c)
    };
    assert!(first.terminate().success());
    assert!(
        first.log_text().contains("Saving the final RDB snapshot"),
        "{}",
        first.log_text()
    );
    // Restart with a rule that fires after one second and one change.
    let second = Cachesrv::start(&dir, &["--save", "1 1"]);
    let mut c = second.conn();
    assert_same(&expected, &keyspace(&mut c), "after a SIGTERM restart");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    ok(&mut c, &[b"SET", b"added-later", b"by-the-rule"]);
    wait_for("a save by the rule", || {
        info_field(&mut c, "rdb_saves") == "1"
            && info_field(&mut c, "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(second
        .log_text()
        .contains("changes in 1 seconds. Saving..."));
    // A crash (SIGKILL: no save at exit) keeps what the rule saved.
    drop(second);
    let third = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = third.conn();
    assert_eq!(
        c.cmd(&["GET", "added-later"]),
        Frame::Bulk("by-the-rule".into())
    );
    // SHUTDOWN NOSAVE writes nothing.
    ok(&mut c, &[b"SET", b"unsaved", b"1"]);
    c.send(&["SHUTDOWN", "NOSAVE"]);
    let _ = c.read_to_close();
    drop(third);
    let fourth = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = fourth.conn();
    assert_eq!(c.cmd(&["EXISTS", "unsaved"]), Frame::Integer(0));
    assert_eq!(c.cmd(&["EXISTS", "added-later"]), Frame::Integer(1));
    // SHUTDOWN SAVE saves with no rules.
    ok(&mut c, &[b"SET", b"saved-by-shutdown", b"1"]);
    c.send(&["SHUTDOWN", "SAVE"]);
    let _ = c.read_to_close();
    drop(fourth);
    let fifth = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = fifth.conn();
    assert_eq!(c.cmd(&["EXISTS", "saved-by-shutdown"]), Frame::Integer(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_file_with_save_empty_writes_nothing_at_exit() {
    let dir = temp_dir("nosave");
    let conf = dir.join("redis.conf");
    std::fs::write(&conf, "save 900 1\nsave \"\"\nappendonly no\n").expect("conf");
    let port = testkit::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cachesrv"))
        .arg(&conf)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", &dir.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run cachesrv");
    common::procs::wait_ready(port);
    let mut c = Conn::open(port);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]),
        Frame::Array(vec![Frame::Bulk("save".into()), Frame::Bulk("".into())])
    );
    ok(&mut c, &[b"SET", b"k", b"v"]);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().expect("exit");
    assert!(status.success());
    assert!(!dir.join("dump.rdb").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_reports_a_failed_save_and_keeps_serving() {
    let dir = temp_dir("failsave");
    let srv = Cachesrv::start(&dir, &["--save", "3600 1"]);
    let mut c = srv.conn();
    ok(&mut c, &[b"SET", b"k", b"v"]);
    // The directory disappears: the save fails, SHUTDOWN says so and the server stays up.
    std::fs::remove_dir_all(&dir).expect("remove dir");
    assert_eq!(
        c.cmd(&["SHUTDOWN"]),
        Frame::Error("ERR Errors trying to SHUTDOWN. Check logs.".into())
    );
    assert_eq!(c.cmd(&["SAVE"]), Frame::Error("ERR".into()));
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Bulk("v".into()));
    // As Redis with stop-writes-on-bgsave-error yes: writes (and PING) are refused until a
    // save succeeds again.
    for args in [&["SET", "k", "v2"][..], &["PING"][..]] {
        let Frame::Error(e) = c.cmd(args) else {
            panic!("{args:?} accepted after a failed save")
        };
        assert!(e.starts_with(b"MISCONF Redis is configured to save RDB snapshots"));
    }
    std::fs::create_dir_all(&dir).expect("recreate dir");
    assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "k", "v2"]), Frame::Simple("OK".into()));
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgsave_while_clients_write_saves_every_key_whole() {
    let dir = temp_dir("bgsave");
    let srv = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = srv.conn();
    // 200 000 keys, in pipelined MSETs.
    let n = 200_000;
    for chunk in 0..(n / 1000) {
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            args.push(format!("base:{i}").into_bytes());
            args.push(format!("value-{i}").into_bytes());
        }
        c.send(&args);
    }
    for _ in 0..(n / 1000) {
        assert_eq!(c.read_raw().1, Frame::Simple("OK".into()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let stop = stop.clone();
            let port = srv.port;
            std::thread::spawn(move || {
                let mut w = Conn::open(port);
                let mut lat = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("w:{t}:{}", n % 500);
                    let v = n.to_string();
                    let start = Instant::now();
                    let r = w.cmd(&["HSET", &key, "a", &v, "b", &v]);
                    lat.push(start.elapsed());
                    assert!(matches!(r, Frame::Integer(_)), "{r:?}");
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    wait_for("the background save", || {
        info_field(&mut c, "rdb_bgsave_in_progress") == "0"
    });
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<Duration> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "writers during BGSAVE of {n} keys: {} ops, p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        p(0.5),
        p(0.99),
        lat[lat.len() - 1]
    );
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    // Load the file in a second server and check every key.
    let copy = temp_dir("bgsave-copy");
    std::fs::copy(dir.join("dump.rdb"), copy.join("dump.rdb")).expect("copy");
    let other = Cachesrv::start(&copy, &["--save", ""]);
    let mut o = other.conn();
    for i in (0..n).step_by(997) {
        let k = format!("base:{i}");
        assert_eq!(
            o.cmd(&["GET", &k]),
            Frame::Bulk(format!("value-{i}").into())
        );
    }
    let Frame::Integer(size) = o.cmd(&["DBSIZE"]) else {
        panic!("DBSIZE")
    };
    assert!(size >= n as i64, "{size}");
    let Frame::Array(keys) = o.cmd(&["KEYS", "w:*"]) else {
        panic!("KEYS")
    };
    assert!(!keys.is_empty());
    for k in keys {
        let Frame::Bulk(k) = k else { continue };
        let a = o.cmd(&[b"HGET".to_vec(), k.to_vec(), b"a".to_vec()]);
        let b = o.cmd(&[b"HGET".to_vec(), k.to_vec(), b"b".to_vec()]);
        assert_eq!(a, b, "{}", String::from_utf8_lossy(&k));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn flushall_with_save_rules_saves_the_empty_keyspace() {
    let dir = temp_dir("flushall");
    let srv = Cachesrv::start(&dir, &["--save", "3600 1"]);
    let mut c = srv.conn();
    ok(&mut c, &[b"SET", b"k", b"v"]);
    assert!(!dir.join("dump.rdb").exists());
    assert_eq!(c.cmd(&["FLUSHALL"]), Frame::Simple("OK".into()));
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    drop(srv);
    let again = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = again.conn();
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(0));
    assert!(again.log_text().contains("0 keys loaded"));
    let _ = std::fs::remove_dir_all(&dir);
}
