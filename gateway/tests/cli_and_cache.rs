//! The command line and the caches through the real binary: `generate-config`, `start` with no
//! config, `cache status` / `cache clear`, the embedded cache inspected with `redis-cli`, and an
//! external `redis-server` killed and restarted while the gateway serves.

mod common_gw;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common_gw::*;
use serde_json::{json, Value};

fn gw_cmd(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(gateway_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("gateway binary")
}

#[test]
fn generate_config_writes_a_private_working_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("enkrypt_mcp_config.json");
    let out = gw_cmd(&path, &["generate-config", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    for k in ["config_path", "api_key", "project_id", "user_id"] {
        assert!(v[k].is_string(), "{k} in {v}");
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The key is stored only as its keyed hash: not in the file, nor in its secret's file.
    let key = v["api_key"].as_str().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(key), "the key is stored in plain text");
    let cfg: Value = serde_json::from_str(&text).unwrap();
    assert!(
        cfg["apikeys"].as_object().is_none_or(|k| k.is_empty()),
        "{cfg}"
    );
    let hashes = cfg["apikey_hashes"].as_object().unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(
        hashes.values().next().unwrap()["key_hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let secret = path.with_file_name("enkrypt_gateway_keys.secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!std::fs::read_to_string(&secret).unwrap().contains(key));
    // And it authenticates.
    let loaded = gateway::config::load(&path).unwrap();
    assert!(loaded.config.resolve_key(key).is_ok());
    assert!(loaded.config.resolve_key(&format!("{key}x")).is_err());
    // No overwrite without --overwrite; with it, a backup first.
    let again = gw_cmd(&path, &["generate-config"]);
    assert!(!again.status.success());
    let before = std::fs::read(&path).unwrap();
    let over = gw_cmd(&path, &["generate-config", "--overwrite", "--json"]);
    assert!(over.status.success());
    let backups: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".bak."))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read(backups[0].path()).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_without_a_config_generates_one_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enkrypt_mcp_config.json");
    let port = free_port();
    // Exactly what a newcomer gets: the generated config as is (embedded cache on 6380).
    let child = Command::new(gateway_bin())
        .args([
            "--config",
            &path.to_string_lossy(),
            "start",
            "--port",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = proc.0.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            proc.0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("gateway exited {status}: {err}");
        }
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The key is printed once, on standard error.
    let mut err = std::io::BufReader::new(proc.0.stderr.take().unwrap());
    let mut key = String::new();
    for _ in 0..50 {
        use std::io::BufRead;
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(k) = line.trim().strip_prefix("Gateway key (shown once): ") {
            key = k.to_string();
            break;
        }
    }
    assert!(key.starts_with("mgw_"), "no key printed");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let client = connect_http(&format!("http://127.0.0.1:{port}/mcp/"), &key)
        .await
        .unwrap();
    let (err, text, _) = call(&client, "echo", json!({ "message": "zero install" })).await;
    assert!(!err, "{text}");
    assert_eq!(text, "zero install");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cache_is_inspectable_with_redis_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cache_port = free_port();
    let cfg = write_config(
        dir.path(),
        vec![stdio_server("demo", gateway_bin(), &["demo-server"])],
        json!({ "enkrypt_embedded_cache_port": cache_port }),
    );
    let gw = start_http(&cfg);
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    tool_names(&client).await;
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &cache_port.to_string(),
                "-a",
                "embedded-pw-0123456789abcdef",
                "--no-auth-warning",
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let keys = cli(&["--scan", "--pattern", "enkrypt:tools:*"]);
    let key = keys.lines().next().expect("a tool entry").to_string();
    assert!(
        key.starts_with("enkrypt:tools:") && !key.contains("demo") && !key.contains("cfg-1"),
        "{key}"
    );
    let value: Value = serde_json::from_str(cli(&["GET", &key]).trim()).expect("readable JSON");
    assert!(value["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "echo"));
    let ttl: i64 = cli(&["TTL", &key]).trim().parse().unwrap();
    assert!(ttl > 4 * 3600 - 60 && ttl <= 4 * 3600, "{ttl}");
    // Without the password: refused.
    let out = Command::new("redis-cli")
        .args(["-p", &cache_port.to_string(), "GET", &key])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOAUTH"));
    // The CLI sees and clears it.
    let st = gw_cmd(&cfg, &["cache", "status", "--json"]);
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["backend"], "Embedded", "{st}");
    let clear = gw_cmd(&cfg, &["cache", "clear", "--server", "demo"]);
    assert!(clear.status.success());
    assert!(cli(&["--scan", "--pattern", "enkrypt:tools:*"])
        .trim()
        .is_empty());
    // The meta tools report and clear the cache too.
    tool_names(&client).await;
    let (_, text, _) = call(&client, "enkrypt_get_cache_status", json!({})).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(
        v["cache_status"]["gateway_specific"]["tools"]["servers"]["demo"]["exists"], true,
        "{v}"
    );
    let (_, text, _) = call(
        &client,
        "enkrypt_clear_cache",
        json!({ "server_name": "demo", "cache_type": "server_config" }),
    )
    .await;
    assert!(text.contains("Cache cleared for server: demo"), "{text}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_redis_dies_and_comes_back() {
    let mut redis = testkit::RedisServer::start(Some("redis-pw"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        vec![stdio_server("demo", gateway_bin(), &["demo-server"])],
        json!({
            "enkrypt_mcp_use_external_cache": true,
            "enkrypt_cache_host": "127.0.0.1",
            "enkrypt_cache_port": redis.port,
            "enkrypt_cache_db": 2,
            "enkrypt_cache_password": "redis-pw",
            "timeout_settings": { "cache_timeout": 1, "connectivity_timeout": 1 }
        }),
    );
    let gw = start_http(&cfg);
    let health = || async {
        let r = reqwest::get(format!("http://127.0.0.1:{}/health", gw.port))
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    };
    let client = connect_http(&gw.url(), KEY).await.unwrap();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    let h = health().await;
    assert_eq!(
        (h["status"].as_str(), h["cache"]["backend"].as_str()),
        (Some("ok"), Some("External (Redis/KeyDB)")),
        "{h}"
    );
    let rc = protocol::Client::new(protocol::ClientConfig {
        port: redis.port,
        password: Some("redis-pw".into()),
        db: 2,
        ..Default::default()
    });
    assert_eq!(rc.scan_all(b"enkrypt:tools:*", 100).await.unwrap().len(), 1);
    // Redis dies: the gateway serves on (discovery straight from the upstream).
    redis.kill();
    let t = Instant::now();
    assert!(tool_names(&client).await.contains(&"echo".to_string()));
    let (err, text, _) = call(&client, "echo", json!({ "message": "no cache" })).await;
    assert!(!err && text == "no cache");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let h = health().await;
    assert_eq!(h["status"], "degraded", "{h}");
    // It comes back: the gateway reconnects by itself.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tool_names(&client).await;
        if health().await["status"] == "ok"
            && rc
                .scan_all(b"enkrypt:tools:*", 100)
                .await
                .map(|k| k.len())
                .unwrap_or(0)
                == 1
        {
            break;
        }
        assert!(Instant::now() < deadline, "the cache did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.cancel().await.ok();
}

/// Starts `start --port <free> <extra>` with `env`, waits for its "listening on" line and
/// returns the address it names; the gateway is stopped before returning.
fn listen_address(config: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let port = free_port();
    let mut cmd = Command::new(gateway_bin());
    cmd.args(["--config", &config.to_string_lossy(), "start", "--port"])
        .arg(port.to_string())
        .args(extra)
        .env_remove("ENKRYPT_GATEWAY_HOST")
        .env_remove("ENKRYPT_DOCKER")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut proc = Proc(cmd.spawn().unwrap());
    let stderr = proc.0.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr = rest.split('/').next().unwrap_or_default().to_string();
            assert!(addr.ends_with(&format!(":{port}")), "{line}");
            return addr.rsplit_once(':').unwrap().0.to_string();
        }
        seen.push(line);
    }
    panic!("the gateway did not say where it listens: {seen:?}");
}

#[test]
fn http_listens_on_every_interface_in_a_container_and_on_loopback_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path());
    // ENKRYPT_DOCKER stands for the container signals (this test may itself run in one).
    assert_eq!(
        listen_address(&cfg, &[], &[("ENKRYPT_DOCKER", "true")]),
        "0.0.0.0"
    );
    assert_eq!(
        listen_address(&cfg, &[], &[("ENKRYPT_DOCKER", "false")]),
        "127.0.0.1"
    );
    // An explicit host always wins.
    assert_eq!(
        listen_address(
            &cfg,
            &["--host", "127.0.0.1"],
            &[("ENKRYPT_DOCKER", "true")]
        ),
        "127.0.0.1"
    );
    assert_eq!(
        listen_address(
            &cfg,
            &[],
            &[
                ("ENKRYPT_DOCKER", "true"),
                ("ENKRYPT_GATEWAY_HOST", "127.0.0.1")
            ]
        ),
        "127.0.0.1"
    );
}
