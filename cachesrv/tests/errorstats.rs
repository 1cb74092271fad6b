//! `INFO errorstats`, `total_error_replies` and the `rejected_calls`/`failed_calls` of
//! `INFO commandstats` after the same failing commands, against a real redis-server.

mod common;

use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

fn info(c: &mut Conn, section: &str) -> Vec<String> {
    let Frame::Bulk(text) = c.cmd(&["INFO", section]) else {
        panic!("INFO is a bulk reply");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            // Timings differ between servers: keep the counts only.
            l.split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn run(port: u16) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut c = Conn::open(port);
    let mut other = Conn::open(port);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["LPUSH", "list", "a"]);
    for cmd in [
        vec!["GET"],
        vec!["NOSUCH", "x"],
        vec!["GET", "list"],
        vec!["INCR", "list"],
        vec!["SET", "k", "v", "XX", "NX"],
        vec!["CONFIG", "NOSUCH"],
        vec!["CONFIG", "SET", "nosuch", "1"],
        vec!["SELECT", "99"],
        vec!["EXPIRE", "k", "x"],
        vec!["AUTH", "x"],
        vec!["ACL", "SETUSER", "u", "on", "nopass", "+get", "~a*"],
        // Scripts: an error of a called command counts once, for that command.
        vec!["EVAL", "return redis.call('incr', 'list')", "0"],
        vec!["EVAL", "return redis.pcall('incr', 'list')", "0"],
        vec!["EVAL", "return redis.error_reply('MINE failed')", "0"],
        vec!["EVAL", "return {err = 'OWN failed'}", "0"],
        vec!["EVAL", "error('boom')", "0"],
    ] {
        c.cmd(&cmd);
    }
    other.cmd(&["AUTH", "u", "x"]);
    other.cmd(&["SET", "a", "1"]);
    other.cmd(&["GET", "b"]);
    other.cmd(&["GET", "a"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "k"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "list"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["ACL", "DELUSER", "u"]);
    let stats: Vec<String> = info(&mut c, "stats")
        .into_iter()
        .filter(|l| l.starts_with("total_error_replies"))
        .collect();
    (info(&mut c, "errorstats"), stats, {
        let mut v = info(&mut c, "commandstats");
        v.retain(|l| !l.starts_with("cmdstat_info"));
        v.sort();
        v
    })
}

#[test]
fn error_counts_match_redis() {
    let ours = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = run(ours.port);
    let b = run(redis.port);
    assert_eq!(a.0, b.0, "INFO errorstats (cachesrv, redis)");
    assert_eq!(a.1, b.1, "total_error_replies (cachesrv, redis)");
    assert_eq!(a.2, b.2, "INFO commandstats counts (cachesrv, redis)");
    assert!(a.0.iter().any(|l| l.starts_with("errorstat_NOPERM:count=")));
    assert!(a
        .0
        .iter()
        .any(|l| l.starts_with("errorstat_WRONGTYPE:count=")));
}
