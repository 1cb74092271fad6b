//! The gateway cache against a real `redis-server` (testkit) that is killed and restarted
//! under it, refused with a wrong password, or down when the cache is created.

mod common_cache;

use std::time::{Duration, Instant};

use common_cache::*;
use gateway::cache::{Cache, CacheError, ToolsKey, BACKEND_EXTERNAL};
use serde_json::{json, Value};

/// Runs `f`, asserting it finishes within `limit`; returns its output.
async fn within<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = T>) -> T {
    let t = Instant::now();
    let out = f.await;
    let took = t.elapsed();
    assert!(took <= limit, "{what} took {took:?} (limit {limit:?})");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_round_trip_outage_and_recovery() {
    let pw = "external-test-password";
    let mut redis = testkit::RedisServer::start(Some(pw));
    let cfg = external_config(redis.port, pw);
    let cache = Cache::new(&cfg)
        .await
        .expect("external never fails at start");
    assert_eq!(cache.backend_name(), BACKEND_EXTERNAL);

    let key = ToolsKey::new(CONFIG_ID, SERVER);
    assert!(cache
        .put_tools(&key, &tools_result(2), None)
        .await
        .expect("put"));
    let got = cache.get_tools(&key).await.expect("get").expect("hit");
    assert_eq!(got["tools"][1]["name"], "tool_1");
    cache
        .put_gateway_config(GATEWAY_KEY, &json!({"user_id": "u"}))
        .await
        .expect("put");
    cache
        .put_key_to_id(GATEWAY_KEY, &json!("cfg"))
        .await
        .expect("put");
    assert_eq!(
        cache.get_key_to_id(GATEWAY_KEY).await.expect("get"),
        Some(json!("cfg"))
    );

    let c = resp(redis.port, Some(pw), 2).await.expect("resp db 2");
    let ttl = c.ttl(key.shared_key()).await.expect("TTL");
    assert!((14395..=14400).contains(&ttl), "{ttl}");
    let raw = c
        .get(key.shared_key())
        .await
        .expect("GET")
        .expect("present");
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).expect("JSON")["server_name"],
        SERVER
    );
    let keys = all_keys(&c).await;
    assert_eq!(keys.len(), 3);
    assert_hashed_keys(&keys);

    let st = cache.status().await;
    assert_eq!(st.backend, "External (Redis/KeyDB)");
    assert_eq!(
        (st.host.as_deref(), st.port, st.db),
        (Some("127.0.0.1"), Some(redis.port), Some(2))
    );
    assert!(st.reachable && !st.degraded, "{st:?}");
    let e = st.entries.expect("entries");
    assert_eq!((e.tools, e.gateway_config, e.key_to_id), (1, 1, 1));
    assert!(st.used_memory.unwrap_or(0) > 0 && st.used_memory_human.is_some());

    assert_eq!(cache.clear(Some((CONFIG_ID, SERVER)), false).await, Ok(1));
    cache
        .put_tools(&key, &tools_result(2), None)
        .await
        .expect("put");

    // Outage: the first call is bounded by cache_timeout, the next ones skip at once.
    redis.kill();
    let limit = cfg.timeouts.cache + Duration::from_millis(700);
    let first = within(limit, "first call after kill", cache.get_tools(&key)).await;
    assert!(first.is_err(), "{first:?}");
    for i in 0..20 {
        let r = within(
            Duration::from_millis(50),
            &format!("call {i} in the backoff window"),
            cache.get_tools(&key),
        )
        .await;
        assert!(matches!(r, Err(CacheError::Unavailable { .. })), "{r:?}");
    }
    let v = within(
        Duration::from_millis(50),
        "discovery during the outage",
        cache.discover_with(&key, || async { Ok::<_, String>(tools_result(1)) }),
    )
    .await
    .expect("discovery works without the cache");
    assert_eq!(v["tools"].as_array().map(Vec::len), Some(1));
    let st = within(limit, "status during the outage", cache.status()).await;
    assert!(!st.reachable && st.degraded, "{st:?}");
    assert!(st.degraded_reason.is_some() && st.errors >= 1 && st.skipped >= 20);
    let text = serde_json::to_string(&st).expect("json");
    assert!(!text.contains(pw), "{text}");

    // Recovery without recreating the cache.
    redis.restart();
    let t = Instant::now();
    loop {
        match cache.put_tools(&key, &tools_result(2), None).await {
            Ok(true) => break,
            other => {
                assert!(t.elapsed() < Duration::from_secs(5), "not back: {other:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(cache.get_tools(&key).await.expect("get").is_some());
    let st = cache.status().await;
    assert!(st.reachable && !st.degraded, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_down_at_creation() {
    let port = testkit::free_port();
    let cfg = external_config(port, "pw-nobody");
    let cache = Cache::new(&cfg)
        .await
        .expect("created while the server is down");
    let key = ToolsKey::new(CONFIG_ID, SERVER);
    let limit = cfg.timeouts.cache + Duration::from_millis(700);
    for _ in 0..5 {
        let r = within(limit, "call with the server down", cache.get_tools(&key)).await;
        assert!(r.is_err(), "{r:?}");
    }
    let st = within(limit, "status", cache.status()).await;
    assert!(!st.reachable && st.degraded, "{st:?}");
    assert_eq!(st.entries, None);
    // Discovery still works.
    let v = within(
        limit,
        "discovery",
        cache.discover_with(&key, || async { Ok::<_, String>(tools_result(1)) }),
    )
    .await
    .expect("discovered");
    assert_eq!(v["server_name"], SERVER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_wrong_password_is_reported_without_secrets() {
    let redis = testkit::RedisServer::start(Some("the-right-one"));
    let wrong = "wrong-secret-value-42";
    let cache = Cache::new(&external_config(redis.port, wrong))
        .await
        .expect("created");
    let key = ToolsKey::new(CONFIG_ID, SERVER);
    let err = cache.get_tools(&key).await.expect_err("refused");
    let st = cache.status().await;
    assert!(!st.reachable && st.degraded, "{st:?}");
    let text = format!(
        "{err} {err:?} {}",
        serde_json::to_string(&st).expect("json")
    );
    assert!(text.contains("WRONGPASS"), "{text}");
    assert!(!text.contains(wrong), "{text}");
}
