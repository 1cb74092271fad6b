//! The gateway cache against real parts: the embedded `cachesrv` (checked over its RESP port
//! with our client and the real `redis-cli`), discovery through it (hints, private scope,
//! single flight), and the CLI's view of it. Against `redis-server`: `cache_external.rs`.

mod common_cache;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common_cache::*;
use gateway::cache::{Cache, CacheError, ToolsKey, BACKEND_EMBEDDED};
use gateway::config::{CommonConfig, TimeoutSettings};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_round_trip_ttl_and_resp_inspection() {
    // Quotes, backslashes and spaces survive the trip into the server's config.
    let pw = r#"emb"ed\x41 pw'1"#;
    let cache = Cache::new(&embedded_config(pw)).await.expect("start");
    let port = cache.embedded_port().expect("embedded port");
    assert_eq!(cache.backend_name(), BACKEND_EMBEDDED);

    let key = ToolsKey::new(CONFIG_ID, SERVER);
    assert!(cache.get_tools(&key).await.expect("get").is_none());
    assert!(cache
        .put_tools(&key, &tools_result(3), None)
        .await
        .expect("put"));
    let got = cache.get_tools(&key).await.expect("get").expect("hit");
    assert_eq!(got["server_name"], SERVER);
    assert_eq!(got["tools"][2]["name"], "tool_2");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let cached_at = got["cached_at"].as_u64().expect("cached_at");
    assert!(now.abs_diff(cached_at) <= 2);

    cache
        .put_gateway_config(GATEWAY_KEY, &json!({"user_id": "u1", "project_id": "p1"}))
        .await
        .expect("put config");
    cache
        .put_key_to_id(GATEWAY_KEY, &json!({"config_id": CONFIG_ID}))
        .await
        .expect("put mapping");
    assert_eq!(
        cache.get_gateway_config(GATEWAY_KEY).await.expect("get"),
        Some(json!({"user_id": "u1", "project_id": "p1"}))
    );
    assert_eq!(
        cache.get_key_to_id(GATEWAY_KEY).await.expect("get"),
        Some(json!({"config_id": CONFIG_ID}))
    );
    assert_eq!(cache.get_key_to_id("other-key").await.expect("get"), None);

    // Over RESP, as an operator sees it.
    let c = resp(port, Some(pw), 0).await.expect("auth ok");
    let tool_key = key.shared_key();
    let raw = c.get(&tool_key).await.expect("GET").expect("present");
    let v: Value = serde_json::from_slice(&raw).expect("readable JSON");
    assert_eq!(v["tools"][0]["name"], "tool_0");
    let ttl = c.ttl(&tool_key).await.expect("TTL");
    assert!((1795..=1800).contains(&ttl), "tool TTL {ttl} for 0.5 h");
    let ttl = c
        .ttl(gateway::config::keys::gateway_config_key(GATEWAY_KEY))
        .await
        .expect("TTL");
    assert!((86395..=86400).contains(&ttl), "config TTL {ttl} for 24 h");
    let keys = all_keys(&c).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_hashed_keys(&keys);
    // The gateway is a client of its cache like any other: its commands are counted, and it
    // is listed by name.
    let stats = c.info(Some("commandstats")).await.expect("INFO");
    let sets = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_set:calls="))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(sets, Some(3), "{stats}");
    assert!(stats.contains("cmdstat_get:calls="), "{stats}");
    let clients = c.cmd(&["CLIENT", "LIST"]).await.expect("CLIENT LIST");
    let clients = String::from_utf8_lossy(clients.as_bytes().expect("bulk")).into_owned();
    assert!(clients.contains(" name=enkrypt-gateway "), "{clients}");

    // The real redis-cli.
    let out = tokio::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "-a", pw, "--no-auth-warning"])
        .args(["--scan", "--pattern", "enkrypt:tools:*"])
        .output()
        .await
        .expect("run redis-cli");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.trim(), tool_key, "redis-cli listed {listed:?}");

    // Wrong and missing passwords are refused.
    match resp(port, Some("wrong"), 0).await {
        Err(protocol::Error::Server(e)) => assert_eq!(e.code(), "WRONGPASS", "{e}"),
        other => panic!("expected WRONGPASS, got {other:?}"),
    }
    let anon = resp(port, None, 0).await.expect("connect without AUTH");
    match anon.get(&tool_key).await {
        Err(protocol::Error::Server(e)) => assert_eq!(e.code(), "NOAUTH", "{e}"),
        other => panic!("expected NOAUTH, got {other:?}"),
    }

    let st = cache.status().await;
    assert_eq!(st.backend, "Embedded");
    assert!(st.reachable && !st.degraded, "{st:?}");
    assert_eq!(st.embedded_port, Some(port));
    let e = st.entries.expect("entries");
    assert_eq!((e.tools, e.gateway_config, e.key_to_id), (1, 1, 1));
    assert!(st.hits >= 3 && st.misses >= 2, "{st:?}");
    assert!(st.used_memory.unwrap_or(0) > 0);
    assert_eq!(st.maxmemory, Some(256 * 1024 * 1024));
    assert_eq!(st.maxmemory_policy.as_deref(), Some("allkeys-lru"));
    let text = serde_json::to_string(&st).expect("serializable");
    assert!(!text.contains(pw), "{text}");

    cache.shutdown().await;
    assert!(matches!(
        cache.get_tools(&key).await,
        Err(CacheError::Closed)
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        resp(port, Some(pw), 0).await.is_err(),
        "the RESP port is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_clear_by_server_and_all() {
    let cache = Cache::new(&embedded_config("pw-clear"))
        .await
        .expect("start");
    let a = ToolsKey::new(CONFIG_ID, "a");
    let b = ToolsKey::new(CONFIG_ID, "b");
    let p = ToolsKey::new(CONFIG_ID, "p");
    cache
        .put_tools(&a, &tools_result(1), None)
        .await
        .expect("put");
    cache
        .put_tools(&b, &tools_result(1), None)
        .await
        .expect("put");
    let private = json!({"tools": [], "cacheScope": "private"});
    for user in ["alice", "bob"] {
        assert!(cache
            .put_tools(&p.for_user(user), &private, None)
            .await
            .expect("put private"));
    }
    cache
        .put_gateway_config(GATEWAY_KEY, &json!({}))
        .await
        .expect("put");
    // a, b, p's marker, alice's and bob's entries.
    assert_eq!(cache.status().await.entries.map(|e| e.tools), Some(5));

    assert_eq!(cache.clear(Some((CONFIG_ID, "a")), false).await, Ok(1));
    assert!(cache.get_tools(&a).await.expect("get").is_none());
    assert!(cache.get_tools(&b).await.expect("get").is_some());
    assert_eq!(
        cache.clear(Some((CONFIG_ID, "p")), false).await,
        Ok(3),
        "the marker and both per-user entries"
    );
    assert!(cache
        .get_tools(&p.for_user("alice"))
        .await
        .expect("get")
        .is_none());

    cache
        .put_tools(&a, &tools_result(1), None)
        .await
        .expect("put");
    assert_eq!(cache.clear(None, false).await, Ok(2), "tool entries only");
    assert!(cache
        .get_gateway_config(GATEWAY_KEY)
        .await
        .expect("get")
        .is_some());
    cache
        .put_tools(&a, &tools_result(1), None)
        .await
        .expect("put");
    assert_eq!(cache.clear(None, true).await, Ok(2), "every enkrypt:* key");
    let e = cache.status().await.entries.expect("entries");
    assert_eq!((e.tools, e.gateway_config, e.key_to_id), (0, 0, 0));
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_port_taken_by_a_non_resp_program_gives_a_private_cache() {
    // Listens and never answers: only the deadline ends the attempt to share it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cfg = CommonConfig {
        embedded_cache_port: port,
        timeouts: TimeoutSettings {
            cache: Duration::from_millis(500),
            connectivity: Duration::from_millis(500),
            ..TimeoutSettings::default()
        },
        ..embedded_config("pw")
    };
    let cache = Cache::new(&cfg).await.expect("a private cache");
    let st = cache.status().await;
    assert_eq!(st.backend, BACKEND_EMBEDDED);
    assert!(st.reachable && !st.degraded, "{st:?}");
    let private = st.embedded_port.expect("its own port");
    assert_ne!(private, port);
    let k = ToolsKey::new(CONFIG_ID, SERVER);
    cache
        .put_tools(&k, &tools_result(2), None)
        .await
        .expect("put");
    assert!(cache.get_tools(&k).await.expect("get").is_some());
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_port_taken_by_another_cache_with_our_password_is_shared() {
    let owner = Cache::new(&embedded_config("shared-pw"))
        .await
        .expect("owner");
    let port = owner.embedded_port().expect("port");
    let cfg = CommonConfig {
        embedded_cache_port: port,
        ..embedded_config("shared-pw")
    };
    let sibling = Cache::new(&cfg).await.expect("sibling");
    assert_eq!(sibling.embedded_port(), Some(port));
    let k = ToolsKey::new(CONFIG_ID, SERVER);
    sibling
        .put_tools(&k, &tools_result(3), None)
        .await
        .expect("put through the sibling");
    let seen = owner
        .get_tools(&k)
        .await
        .expect("get")
        .expect("shared entry");
    assert_eq!(seen["tools"].as_array().map(Vec::len), Some(3));
    // Another password: not shared, private.
    let other = CommonConfig {
        embedded_cache_port: port,
        ..embedded_config("other-pw")
    };
    let private = Cache::new(&other).await.expect("private");
    assert_ne!(private.embedded_port(), Some(port));
    assert!(private.get_tools(&k).await.expect("get").is_none());
    for c in [private, sibling, owner] {
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_password_with_a_newline_is_refused() {
    let err = Cache::new(&embedded_config("pw\nport 1"))
        .await
        .expect_err("refused");
    assert!(matches!(err, CacheError::Embedded(_)), "{err:?}");
    assert!(!err.to_string().contains("port 1"), "{err}");
}

/// Many hits in a row all answer the stored list (the read path's speed is measured by
/// `cargo bench -p benches --bench embedded`, not asserted here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_hits_answer_the_stored_list() {
    let cache = Cache::new(&embedded_config("pw-fast"))
        .await
        .expect("start");
    let key = ToolsKey::new(CONFIG_ID, SERVER);
    let result = tools_result(25);
    cache.put_tools(&key, &result, None).await.expect("put");
    for _ in 0..2000u32 {
        let v = cache.get_tools(&key).await.expect("get").expect("hit");
        assert_eq!(v["tools"].as_array().map(Vec::len), Some(25));
        assert_eq!(v["tools"][24]["name"], "tool_24");
    }
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_ttl_ms_and_private_scope() {
    let pw = "pw-hints";
    let cache = Cache::new(&embedded_config(pw)).await.expect("start");
    let port = cache.embedded_port().expect("port");
    let c = resp(port, Some(pw), 0).await.expect("resp");

    // ttlMs caps the TTL.
    let key = ToolsKey::new(CONFIG_ID, "short");
    let mut r = tools_result(1);
    r["ttlMs"] = json!(1500);
    assert!(cache.put_tools(&key, &r, None).await.expect("put"));
    let pttl = c
        .cmd(&["PTTL", key.shared_key().as_str()])
        .await
        .expect("PTTL");
    match pttl {
        protocol::Frame::Integer(ms) => assert!((1000..=1500).contains(&ms), "{ms}"),
        other => panic!("{other:?}"),
    }
    assert!(cache.get_tools(&key).await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert!(
        cache.get_tools(&key).await.expect("get").is_none(),
        "expired after ~1.5 s"
    );
    // In _meta, and 0 = do not store.
    let key0 = ToolsKey::new(CONFIG_ID, "never");
    let r0 = json!({"tools": [], "_meta": {"ttlMs": 0}});
    assert_eq!(cache.put_tools(&key0, &r0, None).await, Ok(false));
    assert!(cache.get_tools(&key0).await.expect("get").is_none());

    // Private scope: stored per user.
    let key = ToolsKey::new(CONFIG_ID, "private-srv");
    let mut alice_tools = tools_result(2);
    alice_tools["_meta"] = json!({"cacheScope": "private"});
    assert!(cache
        .put_tools(&key.for_user("alice"), &alice_tools, None)
        .await
        .expect("put"));
    let got = cache
        .get_tools(&key.for_user("alice"))
        .await
        .expect("get")
        .expect("alice hits");
    assert_eq!(got["tools"][1]["name"], "tool_1");
    assert_eq!(got["private"], true);
    assert!(cache
        .get_tools(&key.for_user("bob"))
        .await
        .expect("get")
        .is_none());
    assert!(cache.get_tools(&key).await.expect("get").is_none());
    // The shared key holds only the marker; alice's own key holds the tools.
    let marker: Value =
        serde_json::from_slice(&c.get(key.shared_key()).await.expect("GET").expect("marker"))
            .expect("json");
    assert_eq!(marker["private"], true);
    assert!(marker.get("tools").is_none(), "{marker}");
    let alice_key = key.for_user("alice").user_key().expect("user key");
    assert!(c.get(&alice_key).await.expect("GET").is_some());
    assert_hashed_keys(&all_keys(&c).await);

    // Bob's discovery runs on its own and does not see alice's tools.
    let bob = cache
        .discover_with(&key.for_user("bob"), || async {
            Ok::<_, String>(json!({"tools": [{"name": "bobs"}], "cacheScope": "user"}))
        })
        .await
        .expect("discover");
    assert_eq!(bob["tools"][0]["name"], "bobs");
    let again = cache
        .get_tools(&key.for_user("alice"))
        .await
        .expect("get")
        .expect("alice still hits");
    assert_eq!(again["tools"].as_array().map(Vec::len), Some(2));
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_runs_once_and_shares_errors() {
    let cache = Cache::new(&embedded_config("pw-flight"))
        .await
        .expect("start");
    let calls = Arc::new(AtomicUsize::new(0));
    let key = ToolsKey::new(CONFIG_ID, "flight");

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let key = ToolsKey::new(CONFIG_ID, "flight");
            cache
                .discover_with(&key, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, String>(tools_result(2))
                })
                .await
        }));
    }
    for t in tasks {
        let v = t.await.expect("join").expect("discovered");
        assert_eq!(v["tools"][1]["name"], "tool_1");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one discovery for 50 callers"
    );
    assert!(
        cache.get_tools(&key).await.expect("get").is_some(),
        "stored"
    );

    // Errors reach every waiter and are not cached.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let key = ToolsKey::new(CONFIG_ID, "failing");
            cache
                .discover_with(&key, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err::<Value, _>("upstream down".to_string())
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect_err("failed"), "upstream down");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let failing = ToolsKey::new(CONFIG_ID, "failing");
    assert!(cache.get_tools(&failing).await.expect("get").is_none());
    let v = cache
        .discover_with(&failing, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(tools_result(1))
        })
        .await
        .expect("retried");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the error was not cached");
    assert_eq!(v["tools"][0]["name"], "tool_0");

    // A cancelled leader hands over to a waiter.
    let key = ToolsKey::new(CONFIG_ID, "cancelled");
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            let key = ToolsKey::new(CONFIG_ID, "cancelled");
            cache
                .discover_with(&key, || async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, String>(tools_result(1))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            let key = ToolsKey::new(CONFIG_ID, "cancelled");
            cache
                .discover_with(&key, || async { Ok::<_, String>(tools_result(4)) })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let v = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter finishes")
        .expect("join")
        .expect("ok");
    assert_eq!(v["tools"].as_array().map(Vec::len), Some(4));
    assert!(cache.get_tools(&key).await.expect("get").is_some());
    cache.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convenience_calls_and_the_cli_view_of_the_embedded_cache() {
    let pw = "pw-facade";
    let mut cfg = embedded_config(pw);
    let cache = Cache::start(&cfg).await.expect("start");
    let port = cache.embedded_port().expect("port");
    let alice = Some("alice");

    let v = cache
        .discover_tools(CONFIG_ID, SERVER, alice, || async {
            Ok::<_, String>(tools_result(3))
        })
        .await
        .expect("discover");
    assert_eq!(v["tools"].as_array().map(Vec::len), Some(3));
    let tools = cache
        .cached_tools(CONFIG_ID, SERVER, alice)
        .await
        .expect("cached");
    assert_eq!(tools.as_array().map(Vec::len), Some(3));
    let info = cache.tools_entry_info(CONFIG_ID, SERVER, alice).await;
    assert!(
        info.exists && !info.private && info.tool_count == 3,
        "{info:?}"
    );
    let hours = info.expires_in_hours.expect("expiry");
    assert!((0.49..=0.5).contains(&hours), "{hours}");
    assert!(
        !cache
            .tools_entry_info(CONFIG_ID, "other", alice)
            .await
            .exists
    );

    let health = cache.health().await;
    assert!(health.reachable && health.detail.is_none() && health.backend == "Embedded");

    // The CLI's view from "another process": over RESP, reported as Embedded.
    cfg.embedded_cache_port = port;
    cfg.timeouts.cache = Duration::from_millis(800);
    let remote = Cache::connect_remote(&cfg).await.expect("remote");
    let st = remote.status().await;
    assert_eq!(st.backend, "Embedded");
    assert!(st.reachable, "{st:?}");
    assert_eq!(st.entries.map(|e| e.tools), Some(1));
    let text = st.to_text();
    assert!(
        text.contains("Type: Embedded") && !text.contains(pw),
        "{text}"
    );
    let no_pw = CommonConfig {
        embedded_cache_password: None,
        ..cfg.clone()
    };
    assert!(Cache::connect_remote(&no_pw).await.is_err());

    // Gateway config entries of a config id.
    cache
        .put_gateway_config(
            GATEWAY_KEY,
            &json!({"mcp_config_id": CONFIG_ID, "user_id": "u"}),
        )
        .await
        .expect("put");
    cache
        .put_key_to_id(GATEWAY_KEY, &json!(CONFIG_ID))
        .await
        .expect("put");
    cache
        .put_gateway_config("another-key", &json!({"mcp_config_id": "other-cfg"}))
        .await
        .expect("put");
    assert_eq!(remote.clear_gateway_config(CONFIG_ID).await, Ok(2));
    assert!(cache
        .get_gateway_config("another-key")
        .await
        .expect("get")
        .is_some());

    cache.invalidate_tools(CONFIG_ID, SERVER).await;
    assert!(cache.cached_tools(CONFIG_ID, SERVER, alice).await.is_none());
    assert_eq!(remote.clear_all().await, Ok(1));

    cache.shutdown().await;
    let health = remote.health().await;
    assert!(!health.reachable && health.detail.is_some(), "{health:?}");
}
