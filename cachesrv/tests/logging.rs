//! The log file as an operator reads it: Redis's line format, and `loglevel` applied at start
//! and changed by `CONFIG SET` while the server runs.

mod common;

use common::procs::{temp_dir, Cachesrv};
use protocol::Frame;

/// `pid:M dd Mon yyyy hh:mm:ss.mmm <mark> message`.
fn redis_line(line: &str) -> Option<(char, &str)> {
    let (pid, rest) = line.split_once(":M ")?;
    pid.parse::<u32>().ok()?;
    let (stamp, rest) = rest.split_at_checked(25)?;
    let b = stamp.as_bytes();
    let shape_ok = b[2] == b' ' && b[6] == b' ' && b[11] == b' ' && b[20] == b'.' && b[24] == b' ';
    let mut chars = rest.chars();
    let mark = chars.next()?;
    let msg = chars.as_str().strip_prefix(' ')?;
    (shape_ok && ".-*#".contains(mark)).then_some((mark, msg))
}

fn eval_log(srv: &Cachesrv, level: &str, msg: &str) {
    let script = format!("redis.log(redis.{level}, '{msg}')");
    assert_eq!(
        srv.conn().cmd(&["EVAL", &script, "0"]),
        Frame::Null,
        "redis.log returns nothing"
    );
}

#[test]
fn log_lines_follow_loglevel_and_config_set() {
    let dir = temp_dir("logging");
    let mut srv = Cachesrv::start(&dir, &["--loglevel", "notice"]);
    eval_log(&srv, "LOG_VERBOSE", "verbose-at-notice");
    eval_log(&srv, "LOG_NOTICE", "notice-at-notice");
    let mut c = srv.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "loglevel", "warning"]),
        Frame::Simple("OK".into())
    );
    eval_log(&srv, "LOG_NOTICE", "notice-at-warning");
    eval_log(&srv, "LOG_WARNING", "warning-at-warning");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "loglevel", "debug"]),
        Frame::Simple("OK".into())
    );
    eval_log(&srv, "LOG_DEBUG", "debug-at-debug");
    srv.terminate();

    let text = srv.log_text();
    let lines: Vec<(char, &str)> = text
        .lines()
        .map(|l| redis_line(l).unwrap_or_else(|| panic!("not a Redis log line: {l:?}")))
        .collect();
    let has = |mark: char, msg: &str| lines.iter().any(|&(m, t)| m == mark && t == msg);
    assert!(has('*', "notice-at-notice"), "{text}");
    assert!(has('#', "warning-at-warning"), "{text}");
    assert!(has('.', "debug-at-debug"), "{text}");
    assert!(!text.contains("verbose-at-notice"), "{text}");
    assert!(!text.contains("notice-at-warning"), "{text}");
    assert!(
        lines
            .iter()
            .any(|&(m, t)| m == '*' && t.starts_with("cachesrv ")),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
