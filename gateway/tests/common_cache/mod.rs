//! What the cache tests share: the configs of an embedded and an external cache, a RESP
//! client to inspect them, a tools/list result, and checks of the keys they hold.

#![allow(dead_code)]

use gateway::config::{CommonConfig, Secret, TimeoutSettings};
use protocol::client::{Client, ClientConfig};
use serde_json::{json, Value};
use std::time::Duration;

pub const CONFIG_ID: &str = "3f1c2a4e-cfg-raw-id";
pub const SERVER: &str = "github-raw-server";
pub const GATEWAY_KEY: &str = "gk-raw-gateway-key-0123456789";

pub fn embedded_config(password: &str) -> CommonConfig {
    CommonConfig {
        embedded_cache_port: 0,
        embedded_cache_password: Some(Secret::new(password)),
        tool_cache_ttl: Duration::from_secs_f64(0.5 * 3600.0),
        gateway_cache_ttl: Duration::from_secs(24 * 3600),
        ..CommonConfig::default()
    }
}

pub fn external_config(port: u16, password: &str) -> CommonConfig {
    CommonConfig {
        use_external_cache: true,
        cache_host: "127.0.0.1".into(),
        cache_port: port,
        cache_db: 2,
        cache_password: Some(Secret::new(password)),
        tool_cache_ttl: Duration::from_secs(4 * 3600),
        timeouts: TimeoutSettings {
            cache: Duration::from_millis(800),
            connectivity: Duration::from_millis(400),
            ..TimeoutSettings::default()
        },
        ..CommonConfig::default()
    }
}

pub async fn resp(port: u16, password: Option<&str>, db: u32) -> Result<Client, protocol::Error> {
    Client::connect(ClientConfig {
        port,
        db,
        password: password.map(str::to_string),
        ..ClientConfig::default()
    })
    .await
}

pub fn tools_result(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("tool_{i}"),
                "description": "Creates an issue in a repository, with a title, a body and labels.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "owner": {"type": "string"}, "repo": {"type": "string"},
                        "title": {"type": "string"}, "body": {"type": "string"},
                        "labels": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["owner", "repo", "title"]
                }
            })
        })
        .collect();
    json!({ "tools": tools })
}

/// Every key is `enkrypt:<kind>:<32 hex>` and holds no raw identifier.
pub fn assert_hashed_keys(keys: &[String]) {
    for k in keys {
        let digest = [
            "enkrypt:tools:",
            "enkrypt:gateway_config:",
            "enkrypt:key_to_id:",
        ]
        .iter()
        .find_map(|p| k.strip_prefix(p))
        .unwrap_or_else(|| panic!("unexpected key {k}"));
        assert_eq!(digest.len(), 32, "{k}");
        assert!(
            digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{k}"
        );
        for raw in [CONFIG_ID, SERVER, GATEWAY_KEY, "alice", "bob"] {
            assert!(!k.contains(raw), "raw id {raw} in key {k}");
        }
    }
}

pub async fn all_keys(c: &Client) -> Vec<String> {
    let mut keys: Vec<String> = c
        .scan_all(b"enkrypt:*", 100)
        .await
        .expect("scan")
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    keys.sort();
    keys
}
