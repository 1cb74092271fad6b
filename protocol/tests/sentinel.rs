//! The client behind Redis Sentinel, against real processes: a `redis-server` master and
//! replica and three sentinels started from the compose stack's `compose/sentinel/sentinel.conf`.
//! The master is killed during a write load; the client must carry on writing to the promoted
//! replica without being restarted, and every write it acknowledged after the failover must be
//! on the new master.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::client::{Client, ClientConfig, SentinelConfig};
use protocol::Frame;
use testkit::{RedisServer, Sentinels};

const CONF: &str = include_str!("../../compose/sentinel/sentinel.conf");
const PW: &str = "sentinel-test-pw";

fn direct(port: u16) -> Client {
    Client::new(ClientConfig {
        port,
        password: Some(PW.into()),
        ..ClientConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_follow_a_failover_to_the_promoted_replica() {
    let mut master = RedisServer::start_with(Some(PW), &["--masterauth", PW]);
    let replica_of = master.port.to_string();
    let replica = RedisServer::start_with(
        Some(PW),
        &["--masterauth", PW, "--replicaof", "127.0.0.1", &replica_of],
    );
    let sentinels = Sentinels::start(CONF, 3, master.port, PW);
    sentinels.wait_ready("mymaster", 1, Duration::from_secs(30));

    let addrs = sentinels
        .ports
        .iter()
        .map(|p| ("127.0.0.1".to_string(), *p))
        .collect();
    let client = Client::new(ClientConfig {
        host: "unused.invalid".into(),
        password: Some(PW.into()),
        sentinel: Some(SentinelConfig::new(addrs, "mymaster")),
        command_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    });
    client
        .set("before", "1")
        .await
        .expect("write to the first master");
    let v = direct(master.port)
        .get("before")
        .await
        .expect("read master");
    assert_eq!(
        v.as_deref(),
        Some(&b"1"[..]),
        "the client wrote to the master"
    );

    // A writer that never stops: acknowledged keys are recorded with the time of the ack.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let client = client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut acked: Vec<(u64, Instant)> = Vec::new();
            let mut failed = 0u64;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match client.set(format!("k{i}"), i.to_string()).await {
                    Ok(()) => acked.push((i, Instant::now())),
                    Err(_) => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
                if i.is_multiple_of(50) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            (acked, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    master.kill();

    // Wait for the sentinels to promote the replica.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sentinels.master_port("mymaster") != Some(replica.port) {
        assert!(Instant::now() < deadline, "no failover within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted_at = Instant::now();
    // Keep writing a while on the new master.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.await.expect("writer");

    let after: Vec<u64> = acked
        .iter()
        .filter(|(_, t)| *t > promoted_at)
        .map(|(i, _)| *i)
        .collect();
    assert!(
        after.len() > 10,
        "the client kept writing after the failover ({} acked writes after it, {failed} failed)",
        after.len()
    );
    let first_on_new = acked
        .iter()
        .find(|(_, t)| *t > promoted_at)
        .map(|(_, t)| t.duration_since(promoted_at));
    eprintln!(
        "failover: sentinels promoted the replica {:?} after the kill; the first write \
         acknowledged by the new master came {first_on_new:?} after the promotion was visible; \
         {failed} writes failed in between",
        promoted_at.duration_since(killed_at)
    );

    // Every write acknowledged after the promotion is on the new master.
    let new_master = direct(replica.port);
    match new_master.cmd(&["ROLE"]).await.expect("ROLE") {
        Frame::Array(items) => {
            assert_eq!(items[0].as_bytes().map(|b| &b[..]), Some(&b"master"[..]))
        }
        other => panic!("ROLE: {other:?}"),
    }
    for i in after {
        let v = new_master.get(format!("k{i}")).await.expect("GET");
        assert_eq!(
            v.as_deref(),
            Some(i.to_string().as_bytes()),
            "acknowledged write k{i} is on the new master"
        );
    }
}

#[tokio::test]
async fn an_unknown_master_name_is_a_clear_error() {
    let master = RedisServer::start_with(Some(PW), &[]);
    let sentinels = Sentinels::start(CONF, 1, master.port, PW);
    let client = Client::new(ClientConfig {
        password: Some(PW.into()),
        sentinel: Some(SentinelConfig::new(
            vec![("127.0.0.1".into(), sentinels.ports[0])],
            "not-monitored",
        )),
        command_timeout: Duration::from_millis(800),
        ..ClientConfig::default()
    });
    let e = client.set("k", "v").await.expect_err("no such master");
    let text = e.to_string();
    assert!(
        text.contains("not-monitored") || text.contains("timed out"),
        "the error names the master or the timeout: {text}"
    );
}

#[tokio::test]
async fn dead_sentinels_are_skipped() {
    let master = RedisServer::start_with(Some(PW), &[]);
    let sentinels = Sentinels::start(CONF, 1, master.port, PW);
    let dead = testkit::free_port();
    let client = Client::new(ClientConfig {
        password: Some(PW.into()),
        sentinel: Some(SentinelConfig::new(
            vec![
                ("127.0.0.1".into(), dead),
                ("127.0.0.1".into(), sentinels.ports[0]),
            ],
            "mymaster",
        )),
        ..ClientConfig::default()
    });
    client
        .set("k", "v")
        .await
        .expect("the live sentinel answers");
    let v = direct(master.port).get("k").await.expect("GET");
    assert_eq!(v.as_deref(), Some(&b"v"[..]));
}
