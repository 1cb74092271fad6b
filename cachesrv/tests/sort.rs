//! SORT with BY/GET key patterns against writers on other threads: as in Redis, the keys the
//! patterns name are read at one instant (never half before and half after a write that
//! changes them together).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{Conn, TestServer};
use protocol::Frame;

const N: usize = 40;

fn strings(f: Frame) -> Vec<String> {
    let Frame::Array(items) = f else {
        panic!("not an array: {f:?}")
    };
    items
        .into_iter()
        .map(|i| match i {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect()
}

#[test]
fn sort_reads_the_keys_its_patterns_name_at_one_instant() {
    let server = TestServer::start(&["--server-threads", "2"]);
    let port = server.port;
    let mut c = Conn::open(port);
    let ids: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
    let mut push = vec!["RPUSH", "ids"];
    push.extend(ids.iter().map(String::as_str));
    assert_eq!(c.cmd(&push), Frame::Integer(N as i64));
    // Weights and names, rewritten together by one MSET each generation g: weight i is
    // 100 g + i (ids ascending) in even generations and 100 g - i (descending) in odd ones;
    // every name is g.
    let mset = |g: u64| -> Vec<String> {
        let mut a = vec!["MSET".to_string()];
        for i in 1..=N as u64 {
            let w = if g.is_multiple_of(2) {
                g * 100 + i
            } else {
                g * 100 - i
            };
            a.extend([
                format!("w_{i}"),
                w.to_string(),
                format!("n_{i}"),
                g.to_string(),
            ]);
        }
        a
    };
    let args = mset(2);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&refs), Frame::Simple("OK".into()));

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut w = Conn::open(port);
            let mut g = 3;
            while !stop.load(Ordering::Acquire) {
                let args = mset(g);
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                assert_eq!(w.cmd(&refs), Frame::Simple("OK".into()));
                written.store(g, Ordering::Release);
                g += 1;
            }
        })
    };
    let mut sorts = 0;
    while written.load(Ordering::Acquire) < 1500 || sorts < 300 {
        // GET alone: every name from one generation.
        let names = strings(c.cmd(&["SORT", "ids", "BY", "nosort", "GET", "n_*"]));
        assert_eq!(names.len(), N);
        assert!(
            names.iter().all(|n| *n == names[0]),
            "names of several generations: {names:?}"
        );
        // BY and GET: sorted by one generation's weights (ascending or descending ids), with
        // that generation's names.
        let out = strings(c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "#", "GET", "n_*"]));
        let (got, names): (Vec<_>, Vec<_>) =
            out.chunks(2).map(|p| (p[0].clone(), p[1].clone())).unzip();
        let g: u64 = names[0].parse().expect("a generation");
        assert!(names.iter().all(|n| *n == names[0]), "{out:?}");
        let mut want = ids.clone();
        if !g.is_multiple_of(2) {
            want.reverse();
        }
        assert_eq!(got, want, "generation {g}");
        // STORE: the same, kept.
        assert_eq!(
            c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "n_*", "STORE", "out"]),
            Frame::Integer(N as i64)
        );
        let stored = strings(c.cmd(&["LRANGE", "out", "0", "-1"]));
        assert!(stored.iter().all(|n| *n == stored[0]), "{stored:?}");
        sorts += 1;
    }
    stop.store(true, Ordering::Release);
    writer.join().expect("writer");
}
