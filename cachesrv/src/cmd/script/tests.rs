//! Scripting through the in-process runner: what the differential scripts cannot show.

use crate::cmd::runner::testing::runner;

#[test]
fn function_dump_and_restore_round_trip() {
    let mut r = runner(&[]);
    let lib = "#!lua name=lib1\nredis.register_function('one', function() return 1 end)";
    assert_eq!(r.run(&["FUNCTION", "LOAD", lib]), "$4\r\nlib1\r\n");
    let dump = r.run(&["FUNCTION", "DUMP"]);
    let payload = match crate::cmd::decode_all(dump).pop() {
        Some(protocol::Frame::Bulk(b)) => b,
        other => panic!("DUMP answers a bulk string, not {other:?}"),
    };
    // APPEND (the default) refuses a library that exists.
    assert_eq!(
        r.run(&[&b"FUNCTION"[..], b"RESTORE", &payload]),
        "-ERR Library 'lib1' already exists\r\n"
    );
    assert_eq!(r.run(&["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(r.run(&["FCALL", "one", "0"]), "-ERR Function not found\r\n");
    assert_eq!(r.run(&[&b"FUNCTION"[..], b"RESTORE", &payload]), "+OK\r\n");
    assert_eq!(r.run(&["FCALL", "one", "0"]), ":1\r\n");
    assert_eq!(
        r.run(&[&b"FUNCTION"[..], b"RESTORE", &payload, b"REPLACE"]),
        "+OK\r\n"
    );
    assert_eq!(
        r.run(&[&b"FUNCTION"[..], b"RESTORE", &payload, b"FLUSH"]),
        "+OK\r\n"
    );
    let mut damaged = payload.to_vec();
    damaged[6] ^= 1;
    assert_eq!(
        r.run(&[&b"FUNCTION"[..], b"RESTORE", &damaged]),
        "-ERR DUMP payload version or checksum are wrong\r\n"
    );
    assert_eq!(
        r.run(&[&b"FUNCTION"[..], b"RESTORE", &payload, b"BOGUS"]),
        "-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.\r\n"
    );
}

#[test]
fn a_script_in_exec_runs_inside_the_transaction() {
    let mut r = runner(&[]);
    assert_eq!(r.run(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        r.run(&["EVAL", "return redis.call('incr', KEYS[1])", "1", "n"]),
        "+QUEUED\r\n"
    );
    assert_eq!(r.run(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(r.run(&["EXEC"]), "*2\r\n:1\r\n:2\r\n");
}

#[test]
fn a_script_s_commands_count_in_commandstats() {
    let mut r = runner(&[]);
    r.run(&[
        "EVAL",
        "redis.call('incr','a') redis.call('incr','a') return 1",
        "0",
    ]);
    let stats = crate::cmd::command_stats(r.shared());
    let calls = |name: &str| stats.iter().find(|s| s.0 == name).map_or(0, |s| s.1);
    assert_eq!((calls("eval"), calls("incr")), (1, 2));
}

#[test]
fn select_inside_a_script_leaves_the_caller_s_database() {
    let mut r = runner(&[]);
    assert_eq!(r.run(&["SELECT", "2"]), "+OK\r\n");
    assert_eq!(
        r.run(&[
            "EVAL",
            "redis.call('select', 5) return redis.call('set', 'k', 'v')",
            "0"
        ]),
        "+OK\r\n"
    );
    assert_eq!(r.session().db, 2);
    assert_eq!(r.run(&["GET", "k"]), "$-1\r\n");
    assert_eq!(r.run(&["SELECT", "5"]), "+OK\r\n");
    assert_eq!(r.run(&["GET", "k"]), "$1\r\nv\r\n");
}

#[test]
fn writes_are_refused_out_of_memory() {
    let mut r = runner(&["--maxmemory", "200kb"]);
    crate::cmd::runner::testing::fill_until_oom(&mut r);
    assert_eq!(
        r.run(&["EVAL", "return redis.pcall('set', 'x', 'y')", "0"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(
        r.run(&["EVAL", "return redis.call('dbsize') > 0", "0"]),
        ":1\r\n"
    );
}

#[test]
fn a_kill_reaches_a_loop_inside_a_coroutine() {
    let mut r = runner(&[]);
    let shared = r.shared().clone();
    let killer = std::thread::spawn(move || {
        while shared.scripts.running.kind().is_none() {
            std::thread::yield_now();
        }
        shared.scripts.running.request_kill();
    });
    let reply = r.run(&[
        "EVAL",
        "coroutine.wrap(function() while true do end end)()",
        "0",
    ]);
    killer.join().expect("killer");
    assert!(
        reply.starts_with(b"-ERR "),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        String::from_utf8_lossy(&reply).contains("Script killed by user with SCRIPT KILL..."),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}
