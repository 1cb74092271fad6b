//! `rediss://`: the client over TLS to a real `redis-server` serving only TLS, with a test CA
//! made by `openssl`: trusted CA served, unknown CA refused, wrong name refused.

use std::time::Duration;

use protocol::client::{Client, ClientConfig, TlsConfig};
use testkit::{make_pki, RedisServer};

fn client(port: u16, tls: TlsConfig) -> Client {
    Client::new(ClientConfig {
        host: "localhost".into(),
        port,
        password: Some("tls-pw".into()),
        tls: Some(tls),
        command_timeout: Duration::from_secs(3),
        ..ClientConfig::default()
    })
}

#[tokio::test]
async fn commands_over_tls_with_a_trusted_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pki(d, "srv");
    make_pki(d, "other");
    let redis = RedisServer::start_tls(
        Some("tls-pw"),
        &d.join("srv.pem"),
        &d.join("srv.key"),
        &d.join("srv-ca.pem"),
    );

    let good = client(
        redis.port,
        TlsConfig {
            ca_file: Some(d.join("srv-ca.pem")),
            server_name: None,
        },
    );
    good.set("k", "over tls").await.expect("SET over TLS");
    assert_eq!(
        good.get("k").await.expect("GET").as_deref(),
        Some(&b"over tls"[..])
    );
    // Many pipelined commands over one TLS connection.
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = good.clone();
        tasks.push(tokio::spawn(async move { c.incr("n").await }));
    }
    for t in tasks {
        t.await.expect("task").expect("INCR");
    }
    assert_eq!(
        good.get("n").await.expect("GET").as_deref(),
        Some(&b"200"[..])
    );

    // An unknown CA, the public roots, a name the certificate does not carry: all refused.
    for (what, tls) in [
        (
            "another CA",
            TlsConfig {
                ca_file: Some(d.join("other-ca.pem")),
                server_name: None,
            },
        ),
        ("public roots", TlsConfig::default()),
        (
            "wrong name",
            TlsConfig {
                ca_file: Some(d.join("srv-ca.pem")),
                server_name: Some("cache.example.com".into()),
            },
        ),
    ] {
        let e = client(redis.port, tls).ping().await.expect_err(what);
        assert!(
            e.to_string().contains("TLS") || e.to_string().contains("timed out"),
            "{what}: {e}"
        );
    }
    // Plain RESP to a TLS port is not served.
    let plain = Client::new(ClientConfig {
        port: redis.port,
        password: Some("tls-pw".into()),
        command_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    });
    assert!(plain.ping().await.is_err());
}
