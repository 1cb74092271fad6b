//! The embedded cache with a data directory (`enkrypt_embedded_cache_dir`): saved at
//! shutdown, loaded at start, so a restarted gateway serves discovery from the cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gateway::cache::{Cache, ToolsKey};
use gateway::config::{CommonConfig, Secret};
use serde_json::{json, Value};

const CONFIG_ID: &str = "3f1c2a4e-cfg-raw-id";

fn embedded_config(password: &str) -> CommonConfig {
    CommonConfig {
        embedded_cache_port: 0,
        embedded_cache_password: Some(Secret::new(password)),
        tool_cache_ttl: Duration::from_secs(1800),
        ..CommonConfig::default()
    }
}

fn tools_result(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("tool_{i}"), "inputSchema": {"type": "object"}}))
        .collect();
    json!({ "tools": tools })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cache_with_a_data_directory_restarts_warm() {
    let dir = std::env::temp_dir().join(format!("gw-embedded-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let with_dir = CommonConfig {
        embedded_cache_dir: Some(dir.join("cache").to_string_lossy().into_owned()),
        ..embedded_config("pw-warm")
    };
    let key = ToolsKey::new(CONFIG_ID, "warm");
    let calls = Arc::new(AtomicUsize::new(0));
    let discover = |cache: Cache, calls: Arc<AtomicUsize>| async move {
        cache
            .discover_with(&ToolsKey::new(CONFIG_ID, "warm"), || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(tools_result(2))
            })
            .await
            .expect("discovered")
    };
    let cache = Cache::new(&with_dir).await.expect("start");
    discover(cache.clone(), calls.clone()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    cache.shutdown().await;
    drop(cache);
    assert!(
        dir.join("cache").join("dump.rdb").exists(),
        "saved at shutdown"
    );

    // A restarted gateway serves the discovery from the cache it saved.
    let cache = Cache::new(&with_dir).await.expect("restart");
    let v = discover(cache.clone(), calls.clone()).await;
    assert_eq!(v["tools"][1]["name"], "tool_1");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "served from the saved cache"
    );
    assert!(cache.get_tools(&key).await.expect("get").is_some());
    cache.shutdown().await;
    drop(cache);

    // Without a data directory a restart starts cold.
    let cache = Cache::new(&embedded_config("pw-warm")).await.expect("cold");
    discover(cache.clone(), calls.clone()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "discovered again");
    cache.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
