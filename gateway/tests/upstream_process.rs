//! Stdio upstreams as processes: what environment they get, and that stopping them (pool
//! shutdown, drop, the gateway exiting) takes their whole process group down, grandchildren
//! included (`npx` and `uvx` start the real server as a grandchild).
//!
//! The upstream is `fixtures/probe_upstream.py` (python3), which reports its environment, its
//! pid and process group, and starts a `sleep 1000` grandchild on request.

mod common_gw;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common_gw::{call, write_config, KEY};
use gateway::upstream::{NoHandler, Pool, RequestCtx, Timeouts, Transport, Upstream, UpstreamSpec};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/probe_upstream.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn probe_spec(name: &str) -> UpstreamSpec {
    UpstreamSpec {
        name: name.into(),
        transport: Transport::Stdio {
            command: "python3".into(),
            args: vec![fixture()],
            env: vec![("PROBE_CONFIGURED".into(), "from the spec".into())],
        },
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(20),
            discovery: Duration::from_secs(20),
        },
    }
}

async fn tool(up: &Upstream, name: &str) -> Value {
    let r = up
        .request(
            "tools/call",
            Some(json!({ "name": name, "arguments": {} })),
            RequestCtx::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    r["structuredContent"].clone()
}

/// True while `pid` exists and is not a zombie (an exited process its parent has not reaped
/// yet is gone for our purpose).
fn running(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
    }
}

/// Waits (at most 15 s) for `pid` to be gone; false if it is still running then.
async fn gone(pid: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while running(pid) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Kills a leftover process so a failing test does not leave it behind.
fn reap(pid: u64) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_upstream_runs_in_its_own_process_group_and_stopping_kills_it() {
    let pool = Pool::new(Arc::new(NoHandler));
    let spec = probe_spec("probe");
    let up = pool.get(&spec).await.expect("start the probe server");
    let who = tool(&up, "whoami").await;
    let pid = who["pid"].as_u64().unwrap();
    assert_eq!(
        who["pgid"].as_u64(),
        Some(pid),
        "the server leads its own process group: {who}"
    );
    let grandchild = tool(&up, "spawn_grandchild").await["pid"].as_u64().unwrap();
    assert!(running(grandchild));
    drop(up);
    pool.close_all().await;
    let (server_gone, grandchild_gone) = (gone(pid).await, gone(grandchild).await);
    reap(grandchild);
    assert!(server_gone, "the server {pid} survived the pool's shutdown");
    assert!(
        grandchild_gone,
        "the server's child {grandchild} survived the pool's shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stdio_upstream_kills_its_process_group() {
    let up = Upstream::connect(probe_spec("probe"), Arc::new(NoHandler))
        .await
        .expect("start the probe server");
    let pid = tool(&up, "whoami").await["pid"].as_u64().unwrap();
    let grandchild = tool(&up, "spawn_grandchild").await["pid"].as_u64().unwrap();
    drop(up);
    let (server_gone, grandchild_gone) = (gone(pid).await, gone(grandchild).await);
    reap(grandchild);
    assert!(server_gone, "the server {pid} survived its session");
    assert!(
        grandchild_gone,
        "the server's child {grandchild} survived its session"
    );
}

/// The gateway (stdio mode) as a child of this test, with `env` added to the test's own
/// environment.
async fn stdio_gateway(
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let cfg = config.to_path_buf();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cmd = tokio::process::Command::new(common_gw::gateway_bin()).configure(move |cmd| {
        cmd.args([
            "--config",
            &cfg.to_string_lossy(),
            "start",
            "--transport",
            "stdio",
        ])
        .envs(env);
    });
    let (t, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the gateway");
    ().serve(t).await.expect("initialize the gateway")
}

fn probe_config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config(
        dir,
        vec![json!({
            "server_name": "probe",
            "description": "probe",
            "config": {
                "command": "python3",
                "args": [fixture()],
                "env": { "PROBE_CONFIGURED": "from-config", "LANG": "C.UTF-8" }
            },
            "tools": {}
        })],
        json!({}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_upstream_sees_an_allow_list_of_the_gateway_environment_and_its_own_env() {
    let dir = tempfile::tempdir().unwrap();
    let config = probe_config(dir.path());
    let client = stdio_gateway(
        &config,
        &[
            ("ENKRYPT_GATEWAY_KEY", KEY),
            ("ENKRYPT_API_KEY", "enkrypt-api-secret-value"),
            ("ENKRYPT_CONFIG_PATH", "/somewhere/else.json"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
            ("GITHUB_TOKEN", "ghp-secret-value"),
            ("TZ", "Europe/Paris"),
            ("LANG", "POSIX"),
            ("LC_ALL", "C.UTF-8"),
        ],
    )
    .await;
    let (err, text, result) = call(&client, "environ", json!({})).await;
    assert!(!err, "{text}");
    let env = result["structuredContent"]["env"]
        .as_object()
        .unwrap_or_else(|| panic!("no env in {result}"))
        .clone();
    let leaked: Vec<&String> = env.keys().filter(|k| k.starts_with("ENKRYPT_")).collect();
    assert!(leaked.is_empty(), "the upstream saw {leaked:?}");
    for secret in ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"] {
        assert!(!env.contains_key(secret), "the upstream saw {secret}");
    }
    let all = serde_json::to_string(&env).unwrap();
    for value in [
        KEY,
        "enkrypt-api-secret-value",
        "aws-secret-value",
        "ghp-secret-value",
    ] {
        assert!(!all.contains(value), "a secret value reached the upstream");
    }
    // Its own env, and what programs need to run.
    assert_eq!(env["PROBE_CONFIGURED"], "from-config");
    assert_eq!(env["LANG"], "C.UTF-8", "the server's env wins");
    assert_eq!(env["TZ"], "Europe/Paris");
    assert_eq!(env["LC_ALL"], "C.UTF-8");
    // (A `python3` shim, as pyenv's, may put its own directories in front.)
    let path = env.get("PATH").and_then(Value::as_str).unwrap_or_default();
    assert!(
        path.ends_with(&std::env::var("PATH").unwrap()),
        "PATH is the gateway's: {path}"
    );
    if let Ok(home) = std::env::var("HOME") {
        assert_eq!(env.get("HOME").and_then(Value::as_str), Some(home.as_str()));
    }
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_gateway_that_exits_takes_its_upstreams_process_groups_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = probe_config(dir.path());
    let client = stdio_gateway(&config, &[("ENKRYPT_GATEWAY_KEY", KEY)]).await;
    let (err, text, who) = call(&client, "whoami", json!({})).await;
    assert!(!err, "{text}");
    let pid = who["structuredContent"]["pid"].as_u64().unwrap();
    let (err, text, spawned) = call(&client, "spawn_grandchild", json!({})).await;
    assert!(!err, "{text}");
    let grandchild = spawned["structuredContent"]["pid"].as_u64().unwrap();
    assert!(running(grandchild));
    // The client goes away: the gateway's stdin closes and it exits.
    client.cancel().await.ok();
    let (server_gone, grandchild_gone) = (gone(pid).await, gone(grandchild).await);
    reap(grandchild);
    assert!(server_gone, "the upstream {pid} outlived the gateway");
    assert!(
        grandchild_gone,
        "the upstream's child {grandchild} outlived the gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_changed_in_the_config_is_stopped_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let config = probe_config(dir.path());
    let client = stdio_gateway(&config, &[("ENKRYPT_GATEWAY_KEY", KEY)]).await;
    let (err, text, who) = call(&client, "whoami", json!({})).await;
    assert!(!err, "{text}");
    let pid = who["structuredContent"]["pid"].as_u64().unwrap();
    let (_, _, spawned) = call(&client, "spawn_grandchild", json!({})).await;
    let grandchild = spawned["structuredContent"]["pid"].as_u64().unwrap();

    // The server's definition changes (another env value): the new one serves, the old one
    // is stopped.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    doc["mcp_configs"]["cfg-1"]["mcp_config"][0]["config"]["env"]["PROBE_CONFIGURED"] =
        json!("changed");
    std::fs::write(&config, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, env) = call(&client, "environ", json!({})).await;
        if env["structuredContent"]["env"]["PROBE_CONFIGURED"] == "changed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the config change was not applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (server_gone, grandchild_gone) = (gone(pid).await, gone(grandchild).await);
    reap(grandchild);
    reap(pid);
    assert!(server_gone, "the old server {pid} still runs");
    assert!(
        grandchild_gone,
        "the old server's child {grandchild} still runs"
    );
    client.cancel().await.ok();
}
