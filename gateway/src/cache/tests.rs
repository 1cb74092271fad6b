//! Discovery against tool changes declared while it runs ([`Cache::tools_changed`],
//! [`Cache::server_tools_changed`]), on the embedded cache.

use std::sync::Arc;

use serde_json::json;

use super::{Cache, ToolsKey};
use crate::config::{CommonConfig, Secret};

async fn embedded() -> Cache {
    Cache::new(&CommonConfig {
        embedded_cache_port: 0,
        embedded_cache_password: Some(Secret::new("pw-tools-changed")),
        ..CommonConfig::default()
    })
    .await
    .expect("embedded cache")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_the_tools_changed_during_is_answered_but_not_kept() {
    let cache = embedded().await;
    let key = ToolsKey::new("cfg", "srv");

    // The server says its tools changed while its tools/list is being answered (the
    // notification comes before the deletion it causes, which may run before the write).
    let c = cache.clone();
    let v = cache
        .discover_with(&key, || async move {
            c.server_tools_changed("srv");
            c.clear_server("cfg", "srv").await.expect("clear");
            Ok::<_, String>(json!({ "tools": [{ "name": "old" }] }))
        })
        .await
        .expect("discovery");
    assert_eq!(v["tools"][0]["name"], "old", "the callers get the result");
    assert!(
        cache.get_tools(&key).await.expect("get").is_none(),
        "a list the server declared changed meanwhile is not cached"
    );

    // The next discovery, with no change meanwhile, is kept and then answers from the cache.
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..2 {
        let runs = runs.clone();
        let v = cache
            .discover_with(&key, || async move {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, String>(json!({ "tools": [{ "name": "new" }] }))
            })
            .await
            .expect("discovery");
        assert_eq!(v["tools"][0]["name"], "new");
    }
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(cache.get_tools(&key).await.expect("get").is_some());

    // A change of another server leaves this one's running discovery alone; a change of
    // every server (a clear of all tool entries) does not.
    let other = ToolsKey::new("cfg", "other");
    let c = cache.clone();
    cache
        .discover_with(&other, || async move {
            c.server_tools_changed("srv");
            c.clear_server("cfg", "srv").await.expect("clear");
            Ok::<_, String>(json!({ "tools": [{ "name": "x" }] }))
        })
        .await
        .expect("discovery");
    assert!(cache.get_tools(&other).await.expect("get").is_some());
    assert!(
        cache.get_tools(&key).await.expect("get").is_none(),
        "cleared"
    );
    let third = ToolsKey::new("cfg", "third");
    let c = cache.clone();
    cache
        .discover_with(&third, || async move {
            c.clear_all_tools().await.expect("clear");
            Ok::<_, String>(json!({ "tools": [{ "name": "y" }] }))
        })
        .await
        .expect("discovery");
    assert!(cache.get_tools(&third).await.expect("get").is_none());
    cache.shutdown().await;
}
