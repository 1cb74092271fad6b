//! RDB files and DUMP payloads between cachesrv and a real `redis-server` 7.0, both run as
//! processes: files each one writes load in the other with the same data, `redis-check-rdb`
//! accepts cachesrv's files, DUMP/RESTORE move every type both ways, and corrupt or
//! truncated files are refused with a clear message (never a crash).

mod common;

use common::procs::{assert_same, check_rdb, keyspace, ok, populate, redis_on, temp_dir, Cachesrv};
use common::Conn;
use protocol::Frame;

#[test]
fn cachesrv_snapshots_pass_check_rdb_and_load_in_redis() {
    for flags in [
        &["--save", ""][..],
        &[
            "--save",
            "",
            "--rdbcompression",
            "no",
            "--rdbchecksum",
            "no",
        ][..],
        &["--save", "", "--maxmemory-policy", "allkeys-lru"][..],
        &["--save", "", "--maxmemory-policy", "allkeys-lfu"][..],
    ] {
        let dir = temp_dir("to-redis");
        let ours = Cachesrv::start(&dir, flags);
        let mut c = ours.conn();
        populate(&mut c);
        let expected = keyspace(&mut c);
        assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
        let file = dir.join("dump.rdb");
        let (good, report) = check_rdb(&file);
        assert!(good, "redis-check-rdb ({flags:?}):\n{report}");
        assert!(report.contains("keys read"), "{report}");
        let redis = redis_on(&dir);
        let mut r = Conn::open(redis.port);
        assert_same(
            &expected,
            &keyspace(&mut r),
            &format!("redis after loading ({flags:?})"),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn redis_snapshots_load_in_cachesrv() {
    let dir = temp_dir("from-redis");
    let expected = {
        let redis = redis_on(&dir);
        let mut r = Conn::open(redis.port);
        populate(&mut r);
        // A function library: in the file, skipped by cachesrv (no FUNCTION support).
        ok(
            &mut r,
            &[
                b"FUNCTION",
                b"LOAD",
                b"#!lua name=mylib\nredis.register_function('one', function() return 1 end)",
            ],
        );
        assert_eq!(ok(&mut r, &[b"SAVE"]), Frame::Simple("OK".into()));
        keyspace(&mut r)
    };
    let ours = Cachesrv::start(&dir, &["--save", ""]);
    let mut c = ours.conn();
    assert_same(&expected, &keyspace(&mut c), "cachesrv after loading");
    let log = ours.log_text();
    assert!(log.contains("DB loaded from disk"), "{log}");
    assert!(
        log.contains(&format!("{} keys loaded", expected.len())),
        "{log}"
    );
    let info = c.cmd(&["INFO", "persistence"]);
    let Frame::Bulk(text) = info else {
        panic!("INFO is a bulk reply")
    };
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(&format!("rdb_last_load_keys_loaded:{}\r\n", expected.len())),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_and_restore_move_every_type_both_ways() {
    let dir = temp_dir("dump");
    let ours = Cachesrv::start(&dir, &["--save", ""]);
    let redis = redis_on(&dir);
    for (from_port, to_port, what) in [
        (ours.port, redis.port, "cachesrv -> redis"),
        (redis.port, ours.port, "redis -> cachesrv"),
    ] {
        let from = &mut Conn::open(from_port);
        let to = &mut Conn::open(to_port);
        ok(from, &[b"FLUSHALL"]);
        ok(to, &[b"FLUSHALL"]);
        populate(from);
        let expected = keyspace(from);
        for db in 0..16 {
            ok(from, &[b"SELECT", db.to_string().as_bytes()]);
            ok(to, &[b"SELECT", db.to_string().as_bytes()]);
            let Frame::Array(keys) = ok(from, &[b"KEYS", b"*"]) else {
                panic!("KEYS is an array")
            };
            for k in keys {
                let Frame::Bulk(k) = k else { continue };
                let Frame::Bulk(payload) = ok(from, &[b"DUMP", &k]) else {
                    panic!("DUMP of an existing key is a bulk")
                };
                let Frame::Integer(at) = ok(from, &[b"PEXPIRETIME", &k]) else {
                    panic!("PEXPIRETIME is an integer")
                };
                let ttl = if at > 0 { at.to_string() } else { "0".into() };
                let args: Vec<&[u8]> = vec![b"RESTORE", &k, ttl.as_bytes(), &payload, b"ABSTTL"];
                assert_eq!(
                    to.cmd(&args),
                    Frame::Simple("OK".into()),
                    "{what}: RESTORE {}",
                    String::from_utf8_lossy(&k)
                );
            }
        }
        ok(from, &[b"SELECT", b"0"]);
        ok(to, &[b"SELECT", b"0"]);
        assert_same(&expected, &keyspace(to), what);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_and_truncated_files_are_refused_clearly() {
    let dir = temp_dir("corrupt");
    let good = {
        let ours = Cachesrv::start(&dir, &["--save", ""]);
        let mut c = ours.conn();
        populate(&mut c);
        ok(&mut c, &[b"SAVE"]);
        std::fs::read(dir.join("dump.rdb")).expect("the saved file")
    };
    let file = dir.join("dump.rdb");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty file".into(), Vec::new()),
        (
            "not an RDB file".into(),
            b"hello world, not a database".to_vec(),
        ),
        (
            "a newer version".into(),
            [b"REDIS0011".as_slice(), &good[9..]].concat(),
        ),
    ];
    for cut in [
        5,
        9,
        40,
        good.len() / 3,
        good.len() / 2,
        good.len() - 9,
        good.len() - 1,
    ] {
        cases.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    for at in [good.len() / 4, good.len() / 2, good.len() - 12] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        cases.push((format!("byte {at} flipped"), bad));
    }
    for (what, bytes) in &cases {
        std::fs::write(&file, bytes).expect("write the bad file");
        let (status, log) = Cachesrv::start_and_exit(&dir, &["--save", ""]);
        assert!(!status.success(), "{what}: started anyway");
        assert!(
            status.code().is_some(),
            "{what}: killed by a signal: {status:?}\n{log}"
        );
        assert!(log.contains("Fatal error loading the DB"), "{what}: {log}");
        assert!(!log.contains("panicked"), "{what}: {log}");
    }
}
