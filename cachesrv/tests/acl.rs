//! ACL users seen from clients: a restricted user through the `redis` crate and `redis-cli`,
//! checks inside MULTI/EXEC and Lua compared with a real redis-server, `user=` in CLIENT LIST,
//! ACL DELUSER closing the user's connections, and users from `user` lines and `aclfile`.

mod common;

use common::{Conn, TestServer};
use protocol::Frame;
use testkit::RedisServer;

fn setup_user(c: &mut Conn) {
    let r = c.cmd(&[
        "ACL",
        "SETUSER",
        "app",
        "on",
        ">s3cret",
        "+@read",
        "+set",
        "+multi",
        "+exec",
        "+eval",
        "+client|list",
        "+acl|whoami",
        "~cache:*",
        "%R~shared:*",
        "&news",
    ]);
    assert_eq!(r, Frame::Simple("OK".into()));
}

#[test]
fn a_restricted_user_through_the_redis_crate_and_redis_cli() {
    let srv = TestServer::start(&[]);
    let mut admin = Conn::open(srv.port);
    setup_user(&mut admin);
    admin.cmd(&["SET", "shared:x", "1"]);

    let client =
        redis::Client::open(format!("redis://app:s3cret@127.0.0.1:{}/", srv.port)).expect("client");
    let mut con = client
        .get_connection()
        .expect("AUTH app as the connection starts");
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query(&mut con)
        .expect("whoami");
    assert_eq!(who, "app");
    let _: () = redis::cmd("SET")
        .arg("cache:a")
        .arg("v")
        .query(&mut con)
        .expect("cache:* is writable");
    let v: String = redis::cmd("GET")
        .arg("shared:x")
        .query(&mut con)
        .expect("read");
    assert_eq!(v, "1");
    let err = redis::cmd("SET")
        .arg("shared:x")
        .arg("2")
        .query::<()>(&mut con)
        .expect_err("shared:* is read-only");
    assert_eq!(err.code(), Some("NOPERM"));
    let err = redis::cmd("DEL")
        .arg("cache:a")
        .query::<()>(&mut con)
        .expect_err("DEL is not allowed");
    assert!(
        err.to_string()
            .contains("no permissions to run the 'del' command"),
        "{err}"
    );
    let wrong = redis::Client::open(format!("redis://app:nope@127.0.0.1:{}/", srv.port))
        .expect("client")
        .get_connection();
    assert!(wrong.is_err(), "a wrong password must not connect");

    // redis-cli as the same user.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &srv.port.to_string(),
                "--user",
                "app",
                "--pass",
                "s3cret",
            ])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["GET", "cache:a"]), "v");
    assert_eq!(
        cli(&["FLUSHALL"]),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    assert!(cli(&["CLIENT", "LIST"]).contains(" user=app "));

    // Every refusal is in ACL LOG, newest first.
    let Frame::Array(log) = admin.cmd(&["ACL", "LOG"]) else {
        panic!("ACL LOG is an array");
    };
    let text = format!("{log:?}");
    for needle in ["flushall", "shared:x", "del", "auth"] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }

    // CLIENT KILL USER closes the user's connections.
    assert_eq!(
        admin.cmd(&["CLIENT", "KILL", "USER", "app"]),
        Frame::Integer(1)
    );
    assert!(redis::cmd("PING").query::<String>(&mut con).is_err());
}

/// Runs the same steps on a server and returns every reply, as bytes.
fn transcript(port: u16) -> Vec<String> {
    let mut admin = Conn::open(port);
    setup_user(&mut admin);
    let mut user = Conn::open(port);
    let mut out = vec![];
    let mut step = |c: &mut Conn, args: &[&str]| {
        out.push(String::from_utf8_lossy(&c.cmd_raw(args)).into_owned());
    };
    step(&mut user, &["AUTH", "app", "s3cret"]);
    // Refused while queueing: the transaction is aborted.
    step(&mut user, &["MULTI"]);
    step(&mut user, &["SET", "cache:a", "1"]);
    step(&mut user, &["DEL", "cache:a"]);
    step(&mut user, &["SET", "other", "1"]);
    step(&mut user, &["EXEC"]);
    // Allowed when queued, refused at EXEC after the rules changed.
    step(&mut user, &["MULTI"]);
    step(&mut user, &["SET", "cache:b", "1"]);
    step(&mut user, &["GET", "cache:b"]);
    step(&mut admin, &["ACL", "SETUSER", "app", "-set"]);
    step(&mut user, &["EXEC"]);
    step(&mut admin, &["ACL", "SETUSER", "app", "+set"]);
    // Lua runs the script's commands as the caller.
    step(
        &mut user,
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "cache:b"],
    );
    step(
        &mut user,
        &["EVAL", "return redis.call('del', KEYS[1])", "1", "cache:b"],
    );
    step(
        &mut user,
        &[
            "EVAL",
            "return redis.call('set', KEYS[1], 1)",
            "1",
            "shared:z",
        ],
    );
    step(
        &mut user,
        &[
            "EVAL",
            "return redis.pcall('set', KEYS[1], 1)",
            "1",
            "other",
        ],
    );
    step(&mut user, &["PUBLISH", "news", "x"]);
    step(&mut admin, &["ACL", "SETUSER", "app", "+publish"]);
    step(&mut user, &["PUBLISH", "news", "x"]);
    step(&mut user, &["PUBLISH", "sports", "x"]);
    // A failed AUTH leaves the connection's user as it was.
    step(&mut user, &["HELLO", "2", "AUTH", "app", "wrong"]);
    step(&mut user, &["ACL", "WHOAMI"]);
    let log = admin.cmd(&["ACL", "LOG"]);
    if let Frame::Array(entries) = log {
        for e in entries {
            // Everything but age-seconds and client-info.
            if let Frame::Array(f) = e {
                out.push(format!("{:?}", &f[..8]));
            }
        }
    }
    out.push(String::from_utf8_lossy(&admin.cmd_raw(&["ACL", "DELUSER", "app"])).into_owned());
    let closed = user.read_to_close();
    out.push(format!(
        "after DELUSER: {}",
        String::from_utf8_lossy(&closed)
    ));
    // Closed, not merely quiet: a PING gets no answer.
    use std::io::{Read, Write};
    let _ = user.stream.write_all(b"PING\r\n");
    let mut buf = [0u8; 16];
    let n = user.stream.read(&mut buf).unwrap_or(0);
    out.push(format!("PING after DELUSER: {:?}", &buf[..n]));
    out
}

#[test]
fn multi_exec_and_lua_are_checked_as_redis_checks_them() {
    let srv = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let ours = transcript(srv.port);
    let theirs = transcript(redis.port);
    assert_eq!(ours, theirs);
    assert!(ours.iter().any(|r| r.starts_with("-EXECABORT")));
    assert!(ours.iter().any(|r| r.contains("ACLs rules changed")));
    assert_eq!(
        ours.last().map(String::as_str),
        Some("PING after DELUSER: []")
    );
}

#[test]
fn users_from_config_lines_and_the_acl_file() {
    let srv = TestServer::start(&["--user", "ro", "on", ">pw", "+get", "~*"]);
    let mut c = Conn::open(srv.port);
    assert_eq!(
        c.cmd(&["ACL", "LIST"]),
        Frame::Array(vec![
            Frame::Bulk("user default on nopass ~* &* +@all".into()),
            Frame::Bulk(
                "user ro on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* resetchannels -@all +get"
                    .into()
            ),
        ])
    );
    drop(srv);

    let dir = common::procs::temp_dir("aclfile");
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser w on nopass ~w:* +set\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let srv = TestServer::start(&["--aclfile", &path]);
    let mut c = Conn::open(srv.port);
    assert_eq!(
        c.cmd(&["ACL", "USERS"]),
        Frame::Array(vec![Frame::Bulk("default".into()), Frame::Bulk("w".into())])
    );
    c.cmd(&["ACL", "SETUSER", "x", "on", ">p", "+ping"]);
    assert_eq!(c.cmd(&["ACL", "SAVE"]), Frame::Simple("OK".into()));
    let saved = std::fs::read_to_string(&file).expect("read");
    assert_eq!(
        saved,
        "user default on nopass ~* &* +@all\n\
         user w on nopass ~w:* resetchannels -@all +set\n\
         user x on #c4e2a1ff3e8bfe6e2e1a28e8e3d2d2b7b8a2ee7f1fa0a37f6a4e2f3a7b0d1e4c resetchannels -@all +ping\n"
            .replace(
                "c4e2a1ff3e8bfe6e2e1a28e8e3d2d2b7b8a2ee7f1fa0a37f6a4e2f3a7b0d1e4c",
                &sha256_hex("p")
            )
    );
    let mut w = Conn::open(srv.port);
    assert_eq!(w.cmd(&["AUTH", "w", "any"]), Frame::Simple("OK".into()));
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser y on nopass +get ~*\n",
    )
    .expect("write");
    assert_eq!(c.cmd(&["ACL", "LOAD"]), Frame::Simple("OK".into()));
    // As Redis: ACL LOAD closes the connections of every user but the default one.
    assert!(closed(&mut w), "w's connection is closed");
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(
        c.cmd(&["ACL", "USERS"]),
        Frame::Array(vec![Frame::Bulk("default".into()), Frame::Bulk("y".into())])
    );
    std::fs::write(&file, "user y on +nosuch\nfoo\n").expect("write");
    let path2 = path.clone();
    assert_eq!(
        c.cmd(&["ACL", "LOAD"]),
        Frame::Error(format!(
            "ERR {path2}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. {path2}:2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        ).into())
    );
    assert_eq!(
        c.cmd(&["ACL", "USERS"]),
        Frame::Array(vec![Frame::Bulk("default".into()), Frame::Bulk("y".into())])
    );
}

/// Whether the server closed the connection (not merely went quiet: a PING gets nothing).
fn closed(c: &mut Conn) -> bool {
    use std::io::{Read, Write};
    let rest = c.read_to_close();
    let _ = c.stream.write_all(b"PING\r\n");
    let mut buf = [0u8; 16];
    rest.is_empty() && c.stream.read(&mut buf).unwrap_or(0) == 0
}

fn sha256_hex(s: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().expect("stdin").write_all(s.as_bytes())?;
            ch.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// The arguments of the SLOWLOG entries after commands carrying secrets.
fn slowlog_args(port: u16) -> Vec<Frame> {
    let mut c = Conn::open(port);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["ACL", "SETUSER", "dave", "on", ">secret", "+@all", "~*"]);
    c.cmd(&["AUTH", "dave", "secret"]);
    c.cmd(&["HELLO", "2", "AUTH", "dave", "secret", "SETNAME", "conn"]);
    c.cmd(&["AUTH", "wrong"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "10000"]);
    let Frame::Array(entries) = c.cmd(&["SLOWLOG", "GET", "10"]) else {
        panic!("SLOWLOG GET is an array");
    };
    c.cmd(&["ACL", "DELUSER", "dave"]);
    entries
        .into_iter()
        .map(|e| match e {
            Frame::Array(f) => f[3].clone(),
            other => other,
        })
        .collect()
}

#[test]
fn slowlog_keeps_no_passwords() {
    let srv = TestServer::start(&[]);
    let redis = RedisServer::start(None);
    let ours = slowlog_args(srv.port);
    assert_eq!(ours, slowlog_args(redis.port));
    let text = format!("{ours:?}");
    assert!(
        !text.contains("secret") && text.contains("(redacted)"),
        "{text}"
    );
}
