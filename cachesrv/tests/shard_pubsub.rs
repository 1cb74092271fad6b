//! Shard channels with cluster mode disabled: SSUBSCRIBE'd clients get SPUBLISH's `smessage`
//! and nothing of PUBLISH, and RESP2 subscriber mode holds for them; compared with redis-server.

mod common;

use common::Conn;
use testkit::RedisServer;

fn transcript(port: u16) -> Vec<String> {
    let mut sub = Conn::open(port);
    let mut publ = Conn::open(port);
    let mut out = vec![];
    let raw = |out: &mut Vec<String>, c: &mut Conn, args: &[&str]| {
        out.push(String::from_utf8_lossy(&c.cmd_raw(args)).into_owned());
    };
    raw(&mut out, &mut sub, &["SSUBSCRIBE", "news"]);
    raw(&mut out, &mut sub, &["GET", "k"]);
    let list = String::from_utf8_lossy(&publ.cmd_raw(&["CLIENT", "LIST"])).into_owned();
    let fields: Vec<String> = list
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l
                .split(' ')
                .filter(|f| f.starts_with("flags=") || f.contains("sub="))
                .collect();
            (!f.is_empty()).then(|| f.join(" "))
        })
        .collect();
    out.push(format!("{fields:?}"));
    raw(&mut out, &mut publ, &["PUBLISH", "news", "plain"]);
    raw(&mut out, &mut publ, &["SPUBLISH", "news", "sharded"]);
    out.push(String::from_utf8_lossy(&sub.read_raw().0).into_owned());
    raw(&mut out, &mut publ, &["SPUBLISH", "other", "x"]);
    raw(&mut out, &mut sub, &["SUNSUBSCRIBE"]);
    raw(&mut out, &mut sub, &["GET", "k"]);
    out
}

#[test]
fn spublish_reaches_ssubscribers_as_in_redis() {
    let ours = common::TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let a = transcript(ours.port);
    assert_eq!(a, transcript(redis.port));
    assert!(a.iter().any(|r| r.contains("smessage")));
}
