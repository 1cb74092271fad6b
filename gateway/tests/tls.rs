//! TLS both ways. HTTPS served by the gateway (`start --tls-cert --tls-key`): a client trusting
//! the test CA is served, one trusting another CA is refused, a renewed certificate is picked
//! up without a restart, and a bad pair stops `start` with a clear reason. And `rediss://` to
//! the cache: a real `redis-server` serving only TLS stores the gateway's discovery.
//! Certificates are made with the `openssl` command.

mod common_gw;

use std::path::Path;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};
use testkit::make_pki;

use common_gw::*;
use serde_json::{json, Value};

fn client_trusting(ca_pem: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_pem).expect("ca");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca pem"))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn initialize(c: &reqwest::Client, url: &str) -> Result<(u16, Value), reqwest::Error> {
    let resp = c
        .post(url)
        .header("authorization", format!("Bearer {KEY}"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "https-test", "version": "1"}}}),
        )
        .send()
        .await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let body = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim()
        .to_string();
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_test_ca_and_a_renewed_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pki(d, "one");
    make_pki(d, "two");
    std::fs::copy(d.join("one.pem"), d.join("server.pem")).expect("copy");
    std::fs::copy(d.join("one.key"), d.join("server.key")).expect("copy");
    let config = demo_config(d);
    let cert = d.join("server.pem");
    let key = d.join("server.key");
    let port = free_port();
    let mut cmd = http_command(&config, port);
    cmd.args([
        "--tls-cert",
        &cert.to_string_lossy(),
        "--tls-key",
        &key.to_string_lossy(),
    ])
    .stderr(Stdio::null());
    let _gw = Proc(cmd.spawn().expect("gateway"));
    wait_port(port);
    let url = format!("https://localhost:{port}/mcp/");

    let one = client_trusting(&d.join("one-ca.pem"));
    let two = client_trusting(&d.join("two-ca.pem"));
    // Served to a client that trusts the CA (retry while the gateway finishes starting).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, v) = loop {
        match initialize(&one, &url).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "no HTTPS answer: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(status, 200);
    assert!(v["result"]["serverInfo"]["name"].is_string(), "{v}");
    let health = one
        .get(format!("https://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect("health over HTTPS, by IP (in the certificate's names)");
    assert_eq!(health.status().as_u16(), 200);
    // Refused to a client that trusts another CA, and to plain HTTP.
    let e = initialize(&two, &url).await.expect_err("wrong CA");
    assert!(e.is_connect() || e.is_request(), "{e:?}");
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP is not served"
    );

    // Renewal: the files now hold the pair of the second CA; new connections get it.
    std::fs::copy(d.join("two.key"), d.join("server.key")).expect("copy");
    std::fs::copy(d.join("two.pem"), d.join("server.pem")).expect("copy");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = client_trusting(&d.join("two-ca.pem"));
        if let Ok((200, _)) = initialize(&fresh, &url).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let old = client_trusting(&d.join("one-ca.pem"));
    assert!(
        initialize(&old, &url).await.is_err(),
        "the old certificate is no longer served"
    );
}

/// `start` over HTTPS with `cert` and `key`, which must fail: its standard error.
fn start_fails(config: &Path, cert: &Path, key: &Path) -> String {
    let mut cmd = http_command(config, free_port());
    cmd.args([
        "--tls-cert",
        &cert.to_string_lossy(),
        "--tls-key",
        &key.to_string_lossy(),
    ]);
    let out = cmd.stderr(Stdio::piped()).output().expect("run");
    assert!(!out.status.success(), "start must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_pair_stops_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pki(d, "one");
    make_pki(d, "two");
    let config = demo_config(d);
    let err = start_fails(&config, &d.join("one.pem"), &d.join("two.key"));
    assert!(err.contains("do not form a pair"), "{err}");
    let err = start_fails(&config, &d.join("missing.pem"), &d.join("one.key"));
    assert!(err.contains("missing.pem"), "{err}");
    let out = Command::new(gateway_bin())
        .args(["--config", &config.to_string_lossy(), "start"])
        .args(["--tls-cert", &d.join("one.pem").to_string_lossy()])
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "--tls-cert without --tls-key is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_over_tls() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    make_pki(d, "cache");
    let redis = testkit::RedisServer::start_tls(
        Some("cache-pw"),
        &d.join("cache.pem"),
        &d.join("cache.key"),
        &d.join("cache-ca.pem"),
    );
    let config = demo_config(d);
    let url = format!("rediss://:cache-pw@localhost:{}/3", redis.port);
    let ca = d.join("cache-ca.pem");
    let gw = start_http_with(&config, |cmd| {
        cmd.env("ENKRYPT_USE_EXTERNAL_CACHE", "true")
            .env("ENKRYPT_CACHE_URL", &url)
            .env("ENKRYPT_CACHE_TLS_CA_FILE", &ca)
            .stderr(Stdio::null());
    });
    let client = connect_http(&gw.url(), KEY).await.expect("connect");
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    // The discovery is in database 3 of the TLS server.
    let check = protocol::client::Client::new(protocol::client::ClientConfig {
        host: "localhost".into(),
        port: redis.port,
        db: 3,
        password: Some("cache-pw".into()),
        tls: Some(protocol::client::TlsConfig {
            ca_file: Some(ca.clone()),
            server_name: None,
        }),
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = check
            .cmd(&["KEYS", "enkrypt:tools:*"])
            .await
            .expect("KEYS over TLS");
        if matches!(keys, protocol::Frame::Array(ref a) if !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no discovery in the TLS cache");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The CLI reads the same variables: `cache status` reaches the TLS server too.
    let out = Command::new(gateway_bin())
        .args([
            "--config",
            &config.to_string_lossy(),
            "cache",
            "status",
            "--json",
        ])
        .env("ENKRYPT_USE_EXTERNAL_CACHE", "true")
        .env("ENKRYPT_CACHE_URL", &url)
        .env("ENKRYPT_CACHE_TLS_CA_FILE", &ca)
        .output()
        .expect("cache status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&text).expect("json");
    assert!(v.to_string().contains("External"), "{v}");
    assert_eq!(v["reachable"], true, "the CLI reached the TLS cache: {v}");
}
