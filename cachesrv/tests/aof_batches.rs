//! The append-only file's ordering lock, kept by an event loop from one write command of a
//! pipelined batch to the next: batches that mix writes with reads, transactions, scripts,
//! blocking pops and admin commands, on several event loops while rewrites run and
//! `appendfsync` changes, are all answered, and every write is in the file (`kill -9`, then a
//! restart, gives back the same keyspace); a client blocked in the middle of a batch of writes
//! holds up no other client's writes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::procs::{
    assert_same, info_field, info_u64, keyspace, ok, temp_dir, wait_for, Cachesrv,
};
use common::Conn;
use protocol::{encode_command, Frame};

const SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

fn bulk(s: impl Into<String>) -> Frame {
    Frame::Bulk(s.into().into_bytes().into())
}

fn int(n: u64) -> Frame {
    Frame::Integer(n as i64)
}

/// Round `i` of client `id`: one pipeline of writes mixed with a read, a transaction, a script,
/// a blocking pop with a value waiting, a pop of nothing and a PING, with the replies it must
/// get (`None`: any reply that is not an error).
fn round(id: usize, i: u64) -> (Vec<Vec<String>>, Vec<Option<Frame>>) {
    let k = |p: &str| format!("{p}:{id}");
    let n = i + 1;
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), format!("a:{id}:{}", i % 50), i.to_string()],
        vec!["INCR".into(), k("n")],
        // A script right after a write: the batch lets the lock go before the exclusive gate.
        vec!["EVAL".into(), SCRIPT.into(), "1".into(), k("e")],
        vec!["GET".into(), k("n")],
        vec!["RPUSH".into(), k("l"), i.to_string()],
        // A command that takes the gate itself, right after a write.
        vec!["SCRIPT".into(), "EXISTS".into(), "0".repeat(40)],
        vec![
            "SET".into(),
            k("b"),
            i.to_string(),
            "EX".into(),
            "1000".into(),
        ],
        vec!["MULTI".into()],
        vec!["INCR".into(), k("t")],
        vec!["EXEC".into()],
        vec!["LPUSH".into(), k("q"), i.to_string()],
        vec!["BLPOP".into(), k("q"), "1".into()],
        vec!["SPOP".into(), k("none")],
        vec!["PING".into()],
        vec!["HSET".into(), k("h"), format!("f{}", i % 7), i.to_string()],
        vec!["SET".into(), k("c"), i.to_string()],
    ];
    let want = vec![
        Some(Frame::Simple("OK".into())),
        Some(int(n)),
        Some(int(n)),
        Some(bulk(n.to_string())),
        Some(int(n)),
        Some(Frame::Array(vec![int(0)])),
        Some(Frame::Simple("OK".into())),
        Some(Frame::Simple("OK".into())),
        Some(Frame::Simple("QUEUED".into())),
        Some(Frame::Array(vec![int(n)])),
        Some(int(1)),
        Some(Frame::Array(vec![bulk(k("q")), bulk(i.to_string())])),
        Some(Frame::Null),
        Some(Frame::Simple("PONG".into())),
        None,
        Some(Frame::Simple("OK".into())),
    ];
    (cmds, want)
}

/// Client `id`: `rounds` pipelines, each sent whole before its replies are read; panics on a
/// wrong reply, and (through the connection's read timeout) on a stall.
fn pipeliner(port: u16, id: usize, rounds: u64) {
    let mut c = Conn::open(port);
    for i in 0..rounds {
        let (cmds, want) = round(id, i);
        let mut out = BytesMut::new();
        for cmd in &cmds {
            encode_command(&mut out, cmd);
        }
        c.send_raw(&out);
        for (cmd, want) in cmds.iter().zip(want) {
            let got = c.read_raw().1;
            match want {
                Some(w) => assert_eq!(got, w, "client {id} round {i}: {cmd:?}"),
                None => assert!(
                    !matches!(got, Frame::Error(_)),
                    "client {id} round {i}: {cmd:?}: {got:?}"
                ),
            }
        }
    }
}

/// Until stopped: switches `appendfsync`, asks for rewrites and reads `INFO`, as an operator
/// might while the clients write.
fn operator(port: u16, stop: Arc<AtomicBool>) -> u64 {
    let mut c = Conn::open(port);
    let mut rewrites_asked = 0;
    let mut j = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let fsync = if j.is_multiple_of(2) {
            "always"
        } else {
            "everysec"
        };
        ok(
            &mut c,
            &[b"CONFIG", b"SET", b"appendfsync", fsync.as_bytes()],
        );
        match c.cmd(&["BGREWRITEAOF"]) {
            Frame::Simple(_) => rewrites_asked += 1,
            // One already runs (or is scheduled): asked too often, which is the point.
            Frame::Error(e) => assert!(
                String::from_utf8_lossy(&e).contains("in progress"),
                "BGREWRITEAOF: {}",
                String::from_utf8_lossy(&e)
            ),
            other => panic!("BGREWRITEAOF: {other:?}"),
        }
        let _ = info_field(&mut c, "aof_rewrite_in_progress");
        ok(&mut c, &[b"DBSIZE"]);
        std::thread::sleep(Duration::from_millis(15));
        j += 1;
    }
    rewrites_asked
}

#[test]
fn mixed_pipelines_on_several_event_loops_keep_every_write_through_rewrites() {
    let dir = temp_dir("aof-batches");
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--server-threads",
        "4",
        "--auto-aof-rewrite-min-size",
        "64kb",
        "--auto-aof-rewrite-percentage",
        "50",
    ];
    let mut s = Cachesrv::start(&dir, &flags);
    let port = s.port;
    // Keys are tracked (the invalidations go to a connection nobody reads): writes take the
    // tracking path too.
    let mut inval = s.conn();
    let Frame::Integer(inval_id) = ok(&mut inval, &[b"CLIENT", b"ID"]) else {
        panic!("CLIENT ID is an integer")
    };
    inval.send(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut tracker = s.conn();
    ok(
        &mut tracker,
        &[
            b"CLIENT",
            b"TRACKING",
            b"ON",
            b"REDIRECT",
            inval_id.to_string().as_bytes(),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let op = {
        let stop = stop.clone();
        std::thread::spawn(move || operator(port, stop))
    };
    let rounds = 1000;
    let clients: Vec<_> = (0..6)
        .map(|id| std::thread::spawn(move || pipeliner(port, id, rounds)))
        .collect();
    for id in 0..6 {
        // Reads by the tracking client, so that the writes have keys to invalidate.
        ok(&mut tracker, &[b"GET", format!("c:{id}").as_bytes()]);
    }
    for h in clients {
        h.join().expect("a client got every reply");
    }
    stop.store(true, Ordering::Relaxed);
    let asked = op.join().expect("the operator got every reply");
    assert!(asked > 0, "at least one rewrite was asked for");
    let mut c = s.conn();
    ok(&mut c, &[b"CONFIG", b"SET", b"appendfsync", b"everysec"]);
    wait_for("the last rewrite", || {
        info_field(&mut c, "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "aof_rewrite_scheduled") == "0"
    });
    assert!(
        info_field(&mut c, "aof_rewrites")
            .parse::<u64>()
            .unwrap_or(0)
            > 0
    );
    for id in 0..6 {
        let get = |c: &mut Conn, k: &str| ok(c, &[b"GET", format!("{k}:{id}").as_bytes()]);
        assert_eq!(get(&mut c, "n"), bulk(rounds.to_string()));
        assert_eq!(get(&mut c, "t"), bulk(rounds.to_string()));
        assert_eq!(get(&mut c, "e"), bulk(rounds.to_string()));
    }
    let expected = keyspace(&mut c);
    drop(c);
    // Every reply was written after its records reached the file: a SIGKILL loses none.
    let mut child = s.child.take().expect("running");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let again = Cachesrv::start(&dir, &flags);
    let mut c = again.conn();
    assert_same(&expected, &keyspace(&mut c), "after kill -9 and a restart");
    drop(c);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_blocked_amid_a_batch_of_writes_holds_up_no_other_writer() {
    let dir = temp_dir("aof-batch-block");
    let flags = ["--appendonly", "yes", "--save", "", "--server-threads", "2"];
    let s = Cachesrv::start(&dir, &flags);
    let mut blocked = s.conn();
    // Writes, then a pop that blocks for up to 20 s, then writes that wait for it.
    let mut out = BytesMut::new();
    for cmd in [
        &["SET", "before", "1"][..],
        &["RPUSH", "other", "x"],
        &["BLPOP", "empty", "20"],
        &["SET", "after", "1"],
    ] {
        encode_command(&mut out, cmd);
    }
    blocked.send_raw(&out);
    assert_eq!(blocked.read_raw().1, Frame::Simple("OK".into()));
    assert_eq!(blocked.read_raw().1, Frame::Integer(1));
    let mut c = s.conn();
    wait_for("the client to block", || {
        let Frame::Bulk(list) = ok(&mut c, &[b"CLIENT", b"LIST"]) else {
            return false;
        };
        String::from_utf8_lossy(&list).contains("cmd=blpop")
    });
    // Other clients write meanwhile, on both event loops (a stalled write fails on the
    // connection's read timeout, 10 s, before the pop's 20 s are up).
    for i in 0..50 {
        let mut w = s.conn();
        ok(&mut w, &[b"SET", format!("w{i}").as_bytes(), b"v"]);
        ok(&mut w, &[b"INCR", b"count"]);
    }
    assert_eq!(
        info_u64(&mut c, "clients", "blocked_clients"),
        1,
        "the writes were answered while the client was still blocked"
    );
    assert_eq!(ok(&mut c, &[b"EXISTS", b"after"]), Frame::Integer(0));
    // The blocked client is served by a push, then runs the rest of its batch.
    ok(&mut c, &[b"RPUSH", b"empty", b"y"]);
    assert_eq!(
        blocked.read_raw().1,
        Frame::Array(vec![bulk("empty"), bulk("y")])
    );
    assert_eq!(blocked.read_raw().1, Frame::Simple("OK".into()));
    assert_eq!(ok(&mut c, &[b"GET", b"count"]), bulk("50"));
    assert_eq!(ok(&mut c, &[b"EXISTS", b"after"]), Frame::Integer(1));
    let _ = std::fs::remove_dir_all(&dir);
}
