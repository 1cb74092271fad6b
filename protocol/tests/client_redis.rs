//! The client against a real `redis-server` started on a free loopback port.

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::{Client, ClientConfig, Error, Frame, SetCondition, SetExpiry, SetOptions};
use testkit::RedisServer;
use tokio::io::AsyncWriteExt;

fn cfg(port: u16) -> ClientConfig {
    ClientConfig {
        port,
        command_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn typed_helpers() {
    let srv = RedisServer::start(None);
    let c = Client::connect(cfg(srv.port)).await.unwrap();
    c.ping().await.unwrap();
    assert_eq!(c.get("missing").await.unwrap(), None);
    c.set("k", "v").await.unwrap();
    assert_eq!(c.get("k").await.unwrap(), Some(Bytes::from("v")));
    let nx = SetOptions {
        condition: Some(SetCondition::IfAbsent),
        ..Default::default()
    };
    assert!(!c.set_with("k", "other", nx).await.unwrap());
    let xx = SetOptions {
        condition: Some(SetCondition::IfExists),
        expiry: Some(SetExpiry::Seconds(100)),
    };
    assert!(c.set_with("k", "v2", xx).await.unwrap());
    let ttl = c.ttl("k").await.unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let px = SetOptions {
        expiry: Some(SetExpiry::Millis(50_000)),
        ..Default::default()
    };
    assert!(c.set_with("p", "1", px).await.unwrap());
    assert!((49..=50).contains(&c.ttl("p").await.unwrap()));
    assert_eq!(c.ttl("nokey").await.unwrap(), -2);
    assert!(c.expire("p", 1000).await.unwrap());
    assert!(!c.expire("nokey", 10).await.unwrap());
    assert_eq!(c.incr("n").await.unwrap(), 1);
    assert_eq!(c.incr("n").await.unwrap(), 2);
    assert_eq!(
        c.mget(&["k", "missing", "n"]).await.unwrap(),
        vec![Some(Bytes::from("v2")), None, Some(Bytes::from("2"))]
    );
    assert_eq!(c.del(&["k", "missing"]).await.unwrap(), 1);
    assert_eq!(c.unlink(&["n", "p"]).await.unwrap(), 2);
    for i in 0..120 {
        c.set(format!("enkrypt:tools:{i}"), "x").await.unwrap();
    }
    c.set("other", "x").await.unwrap();
    let mut keys = c.scan_all(b"enkrypt:tools:*", 10).await.unwrap();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 120);
    let info = c.info(Some("keyspace")).await.unwrap();
    assert!(info.contains("db0:keys=121"), "{info}");

    // Server errors keep their code.
    c.cmd(&["HSET", "h", "f", "1"]).await.unwrap();
    let err = c.get("h").await.unwrap_err();
    assert_eq!(err.server().map(|e| e.code()), Some("WRONGTYPE"));
    let err = c.cmd(&["NOSUCHCOMMAND", "a"]).await.unwrap_err();
    assert_eq!(
        err.server().unwrap().line(),
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' "
    );
}

#[tokio::test]
async fn password_and_database() {
    let srv = RedisServer::start(Some("s3cret pass"));
    // No password: commands are refused with NOAUTH.
    let anon = Client::new(cfg(srv.port));
    let err = anon.ping().await.unwrap_err();
    assert_eq!(err.server().map(|e| e.code()), Some("NOAUTH"));
    // A wrong password fails the connect with WRONGPASS, quickly (no retry loop).
    let t = Instant::now();
    let err = Client::connect(ClientConfig {
        password: Some("nope".into()),
        ..cfg(srv.port)
    })
    .await
    .unwrap_err();
    assert_eq!(err.server().map(|e| e.code()), Some("WRONGPASS"));
    assert!(t.elapsed() < Duration::from_secs(1));
    // The right one, with and without the default user name, and a database other than 0.
    let db3 = Client::connect(ClientConfig {
        password: Some("s3cret pass".into()),
        db: 3,
        ..cfg(srv.port)
    })
    .await
    .unwrap();
    db3.set("only-in-3", "yes").await.unwrap();
    let db0 = Client::connect(ClientConfig {
        password: Some("s3cret pass".into()),
        username: Some("default".into()),
        ..cfg(srv.port)
    })
    .await
    .unwrap();
    assert_eq!(db0.get("only-in-3").await.unwrap(), None);
    assert!(db3
        .info(Some("keyspace"))
        .await
        .unwrap()
        .contains("db3:keys=1"));
    // RESP3 on request: HELLO 3 with AUTH.
    let r3 = Client::connect(ClientConfig {
        password: Some("s3cret pass".into()),
        resp3: true,
        ..cfg(srv.port)
    })
    .await
    .unwrap();
    r3.cmd(&["HSET", "h", "a", "1"]).await.unwrap();
    assert_eq!(
        r3.cmd(&["HGETALL", "h"]).await.unwrap(),
        Frame::Map(vec![(Frame::bulk("a"), Frame::bulk("1"))])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_connection() {
    let srv = RedisServer::start(None);
    let c = Client::connect(ClientConfig {
        pool_size: 1,
        ..cfg(srv.port)
    })
    .await
    .unwrap();
    let mut tasks = vec![];
    for t in 0..64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let key = format!("t{t}:k{i}");
                let val = format!("{t}-{i}");
                c.set(&key, &val).await.unwrap();
                c.incr("counter").await.unwrap();
                // Each task gets its own reply back, never another's.
                assert_eq!(c.get(&key).await.unwrap(), Some(Bytes::from(val)));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.get("counter").await.unwrap(), Some(Bytes::from("6400")));
    let clients = c.info(Some("clients")).await.unwrap();
    assert!(clients.contains("connected_clients:1\r"), "{clients}");
}

#[tokio::test]
async fn survives_a_server_restart() {
    let mut srv = RedisServer::start(None);
    let c = Client::connect(cfg(srv.port)).await.unwrap();
    c.set("a", "1").await.unwrap();
    srv.kill();
    let err = c.get("a").await.unwrap_err();
    assert!(err.is_connection(), "{err}");
    srv.restart();
    // The next command after the server is back succeeds (a fresh, empty server).
    assert_eq!(c.get("a").await.unwrap(), None);
    c.set("a", "2").await.unwrap();
    assert_eq!(c.get("a").await.unwrap(), Some(Bytes::from("2")));
}

#[tokio::test]
async fn stopped_server_fails_within_timeout() {
    let mut srv = RedisServer::start(None);
    let port = srv.port;
    srv.kill();
    let timeout = Duration::from_millis(700);
    let c = Client::new(ClientConfig {
        command_timeout: timeout,
        ..cfg(port)
    });
    let t = Instant::now();
    let err = c.ping().await.unwrap_err();
    let took = t.elapsed();
    assert!(
        matches!(err, Error::Connect { .. } | Error::Timeout { .. }),
        "{err}"
    );
    assert!(
        took <= timeout + Duration::from_millis(300),
        "took {took:?}"
    );
}

#[tokio::test]
async fn hung_server_times_out() {
    // Accepts connections and never answers.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let _acceptor = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let c = Client::new(ClientConfig {
        command_timeout: Duration::from_millis(300),
        ..cfg(port)
    });
    let t = Instant::now();
    let err = c.ping().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                what: "command",
                ..
            }
        ),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn hostile_server_replies_are_errors() {
    for reply in [
        b"*1\r\n".repeat(100_000),
        b"$4611686018427387904\r\n".to_vec(),
        b"?what\r\n".to_vec(),
    ] {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(&reply).await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let c = Client::new(cfg(port));
        let err = c.ping().await.unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err}");
        server.abort();
    }
}

#[tokio::test]
async fn publish_and_subscribe() {
    let mut srv = RedisServer::start(Some("pw"));
    let conf = ClientConfig {
        password: Some("pw".into()),
        ..cfg(srv.port)
    };
    let c = Client::connect(conf.clone()).await.unwrap();
    let mut sub = c.subscribe(&["enkrypt:invalidate"]).await.unwrap();
    let mut psub = c.psubscribe(&["enkrypt:*"]).await.unwrap();
    assert_eq!(c.publish("enkrypt:invalidate", "tools").await.unwrap(), 2);
    let m = sub.next().await.unwrap();
    assert_eq!(
        (&m.channel[..], &m.payload[..], m.pattern),
        (&b"enkrypt:invalidate"[..], &b"tools"[..], None)
    );
    let m = psub.next().await.unwrap();
    assert_eq!(m.pattern.as_deref(), Some(&b"enkrypt:*"[..]));

    // After a restart the subscription comes back by itself.
    srv.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "subscription did not come back");
        if c.publish("enkrypt:invalidate", "again").await.unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&m.payload[..], b"again");
}
