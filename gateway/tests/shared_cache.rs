//! Several gateways on one config file, as users run them: an HTTP gateway, plus Claude Desktop
//! and Cursor each spawning `start --transport stdio`. The first one to start owns the embedded
//! cache's port; the later ones use its cache over RESP with the configured password, so they
//! share discovery. When the port is held by something they cannot use (another password, a
//! program that is not a RESP server), they run a private cache and say so; they serve either
//! way.

mod common_gw;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common_gw::*;
use serde_json::{json, Value};

const PASSWORD: &str = "embedded-pw-0123456789abcdef";

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "-a", PASSWORD, "--no-auth-warning"])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn keys(port: u16, pattern: &str) -> Vec<String> {
    let mut k: Vec<String> = redis_cli(port, &["keys", pattern])
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    k.sort();
    k
}

fn config(dir: &Path, cache_port: u16, password: &str) -> std::path::PathBuf {
    write_config(
        dir,
        vec![stdio_server("demo", gateway_bin(), &["demo-server"])],
        json!({
            "enkrypt_embedded_cache_port": cache_port,
            "enkrypt_embedded_cache_password": password,
        }),
    )
}

async fn echo(client: &Client, message: &str) {
    let (err, text, _) = call(client, "echo", json!({ "message": message })).await;
    assert!(!err, "{text}");
    assert_eq!(text, message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_gateway_and_two_stdio_gateways_on_one_config_share_one_cache() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, PASSWORD);
    let http = start_http(&cfg);
    assert!(
        keys(port, "enkrypt:tools:*").is_empty(),
        "nothing discovered yet"
    );

    // Claude Desktop's gateway: the port is taken, it uses the first gateway's cache.
    let desktop = connect_stdio(&cfg, KEY)
        .await
        .expect("a second gateway on the same config starts");
    assert!(tool_names(&desktop).await.contains(&"echo".to_string()));
    echo(&desktop, "from desktop").await;
    let tools = keys(port, "enkrypt:tools:*");
    assert_eq!(
        tools.len(),
        1,
        "the second gateway's discovery is in the first one's cache: {tools:?}"
    );

    // Cursor's gateway: finds the entry the second one stored.
    let cursor = connect_stdio(&cfg, KEY)
        .await
        .expect("a third gateway on the same config starts");
    assert!(tool_names(&cursor).await.contains(&"echo".to_string()));
    echo(&cursor, "from cursor").await;
    let (_, text, _) = call(&cursor, "enkrypt_get_cache_status", json!({})).await;
    let status: Value = serde_json::from_str(&text).unwrap();
    let global = &status["cache_status"]["global"];
    assert_eq!(global["backend"], "Embedded", "{global}");
    assert_eq!(global["embedded_port"], port, "{global}");
    assert!(
        global["hits"].as_u64() >= Some(1),
        "the third gateway's discovery was a hit: {global}"
    );

    // And the HTTP gateway itself.
    let client = connect_http(&http.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    echo(&client, "from http").await;

    let all = keys(port, "*");
    assert_eq!(
        keys(port, "enkrypt:tools:*"),
        tools,
        "one key set for all three: {all:?}"
    );
    for c in [desktop, cursor, client] {
        c.cancel().await.ok();
    }
}

/// The gateway over HTTP with its standard error in a file; returns it and the file.
fn start_http_logged(config: &Path, dir: &Path) -> (HttpGateway, std::path::PathBuf) {
    let log = dir.join("gateway.log");
    let gw = start_http_with(config, |cmd| {
        cmd.stderr(std::fs::File::create(&log).unwrap());
    });
    (gw, log)
}

fn assert_private_cache_warning(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("WARN") && text.contains("private"),
        "the log says the cache is private: {text}"
    );
    assert!(!text.contains(PASSWORD), "the password is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_port_held_by_a_program_that_is_not_a_resp_server_gives_a_private_cache() {
    // Accepts connections and never answers (the worst case: only a deadline ends the wait).
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        while let Ok((c, _)) = squatter.accept() {
            conns.push(c);
            if conns.len() > 64 {
                break;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), port, PASSWORD);
    let (gw, log) = start_http_logged(&cfg, dir.path());
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    echo(&client, "still serving").await;
    let (_, text, _) = call(&client, "enkrypt_get_cache_status", json!({})).await;
    let status: Value = serde_json::from_str(&text).unwrap();
    let global = &status["cache_status"]["global"];
    assert_eq!(global["backend"], "Embedded", "{global}");
    assert!(global["reachable"] == true, "{global}");
    assert_ne!(global["embedded_port"], port, "{global}");
    assert_private_cache_warning(&log);
    client.cancel().await.ok();
    drop(gw);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_port_held_by_a_gateway_with_another_password_gives_a_private_cache() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let port = free_port();
    let owner_cfg = config(other.path(), port, "another-password-0123456789");
    let owner = start_http(&owner_cfg);
    let cfg = config(dir.path(), port, PASSWORD);
    let (gw, log) = start_http_logged(&cfg, dir.path());
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    echo(&client, "still serving").await;
    assert_private_cache_warning(&log);
    client.cancel().await.ok();
    drop(owner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_gateway_owning_the_cache_exits_another_one_takes_its_port_over() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port, PASSWORD);
    let owner = start_http(&cfg);
    let (sibling, _log) = start_http_logged(&cfg, dir.path());
    let client = connect_http(&sibling.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    assert_eq!(keys(port, "enkrypt:tools:*").len(), 1);

    // The owner goes away (Claude Desktop quits): the sibling serves on, and the cache port
    // is served again, by the sibling, with the same password.
    drop(owner);
    let health = || async {
        reqwest::get(format!("http://127.0.0.1:{}/health", sibling.port))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(tool_names(&client).await.contains(&"echo".to_string()));
        echo(&client, "after the owner left").await;
        if keys(port, "enkrypt:tools:*").len() == 1 && health().await["status"] == "ok" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache port was not taken over: {}",
            health().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A gateway started now shares the new owner's cache.
    let later = connect_stdio(&cfg, KEY)
        .await
        .expect("a later gateway starts");
    echo(&later, "later").await;
    later.cancel().await.ok();
    client.cancel().await.ok();
}
