//! No leaks between tenants through a shared upstream session: clients of different keys and
//! projects whose configs use one server definition share one upstream process, yet a
//! server-to-client request reaches only the client whose request it belongs to, log messages
//! and resource updates only the clients entitled to them, and one client's log level does not
//! change what another receives.

mod common_gw;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common_gw::*;
use rmcp::service::RunningService;
use rmcp::RoleClient;
use serde_json::{json, Value};

const KEY_A: &str = "tenant-a-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCD";
const KEY_B: &str = "tenant-b-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCD";
const KEY_C: &str = "tenant-c-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCD";

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/tenant_upstream.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Tenants A and B: two projects, two mcp_configs, one identical `tenant` server definition
/// (one pooled upstream). Tenant C: a third config naming a different server `tenant`.
fn write_tenants(dir: &std::path::Path) -> std::path::PathBuf {
    let server = |tag: &str| {
        json!({ "server_name": "tenant", "description": "tenant",
                "config": { "command": "python3", "args": [fixture()], "env": { "TENANT_TAG": tag } },
                "tools": {} })
    };
    let cfg = json!({
        "common_mcp_gateway_config": {
            "enkrypt_log_level": "WARNING",
            "enkrypt_embedded_cache_port": 0,
            "enkrypt_embedded_cache_password": "embedded-pw-0123456789abcdef",
        },
        "mcp_configs": {
            "cfg-a": { "mcp_config_name": "a", "mcp_config": [server("shared")] },
            "cfg-b": { "mcp_config_name": "b", "mcp_config": [server("shared")] },
            "cfg-c": { "mcp_config_name": "c", "mcp_config": [server("other")] },
        },
        "projects": {
            "proj-a": { "project_name": "a", "mcp_config_id": "cfg-a", "users": ["user-a"] },
            "proj-b": { "project_name": "b", "mcp_config_id": "cfg-b", "users": ["user-b"] },
            "proj-c": { "project_name": "c", "mcp_config_id": "cfg-c", "users": ["user-c"] },
        },
        "users": {
            "user-a": { "email": "a@example.com" },
            "user-b": { "email": "b@example.com" },
            "user-c": { "email": "c@example.com" },
        },
        "apikeys": {
            KEY_A: { "project_id": "proj-a", "user_id": "user-a" },
            KEY_B: { "project_id": "proj-b", "user_id": "user-b" },
            KEY_C: { "project_id": "proj-c", "user_id": "user-c" },
        }
    });
    let path = dir.join("enkrypt_mcp_config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

/// A client that samples (answering with its own name) and records what reached it.
#[derive(Clone)]
struct Tenant {
    name: &'static str,
    sampled: Arc<Mutex<usize>>,
    logs: Arc<Mutex<Vec<String>>>,
    updates: Arc<Mutex<Vec<String>>>,
}

impl Tenant {
    fn new(name: &'static str) -> Tenant {
        Tenant {
            name,
            sampled: Arc::default(),
            logs: Arc::default(),
            updates: Arc::default(),
        }
    }
}

#[allow(deprecated)]
impl rmcp::ClientHandler for Tenant {
    async fn create_message(
        &self,
        _: rmcp::model::CreateMessageRequestParams,
        _: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        *self.sampled.lock().unwrap() += 1;
        Ok(serde_json::from_value(json!({
            "role": "assistant",
            "content": { "type": "text", "text": format!("from {}", self.name) },
            "model": "test-model",
            "stopReason": "endTurn"
        }))
        .unwrap())
    }

    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let v = serde_json::to_value(&params).unwrap();
        self.logs
            .lock()
            .unwrap()
            .push(v["data"].as_str().unwrap_or_default().to_string());
    }

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.updates.lock().unwrap().push(params.uri.to_string());
    }

    fn get_info(&self) -> rmcp::model::ClientConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "sampling": {} },
            "clientInfo": { "name": self.name, "version": "1" }
        }))
        .unwrap()
    }
}

type TenantClient = RunningService<RoleClient, Tenant>;

async fn text_of(client: &TenantClient, tool: &str, args: Value) -> String {
    let mut p = rmcp::model::CallToolRequestParams::new(tool.to_string());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    let r = client.call_tool(p).await.expect("tools/call");
    let v = serde_json::to_value(&r).unwrap();
    v.pointer("/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_request_reaches_only_the_client_it_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_tenants(dir.path());
    let gw = start_http(&cfg);
    let (a, b) = (Tenant::new("a"), Tenant::new("b"));
    let ca = connect_http_with(&gw.url(), KEY_A, a.clone())
        .await
        .unwrap();
    let cb = connect_http_with(&gw.url(), KEY_B, b.clone())
        .await
        .unwrap();

    // Alone in flight: the request is A's, A is asked.
    assert_eq!(
        text_of(&ca, "tenant__ask", json!({})).await,
        "sampled: from a"
    );
    assert_eq!(
        (*a.sampled.lock().unwrap(), *b.sampled.lock().unwrap()),
        (1, 0)
    );

    // A's call asks after a second; meanwhile B's call (newer) is in flight on the same
    // upstream. Nothing ties the request to A's call on stdio: it is declined, not sent to B.
    let ca = Arc::new(ca);
    let asking = {
        let ca = ca.clone();
        tokio::spawn(async move { text_of(&ca, "tenant__ask", json!({ "delay": 1.0 })).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow = text_of(&cb, "tenant__slow", json!({ "secs": 2 })).await;
    assert_eq!(slow, "slept");
    let answer = asking.await.unwrap();
    assert!(answer.contains("no client to handle"), "{answer}");
    assert_eq!(
        *b.sampled.lock().unwrap(),
        0,
        "B was asked to sample for A's request"
    );
}

// Logging and resources/subscribe are deprecated from 2026-07-28 on; clients of the earlier
// versions the gateway serves still use them.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_log_levels_and_subscriptions_are_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_tenants(dir.path());
    let gw = start_http(&cfg);
    let (a, b, c) = (Tenant::new("a"), Tenant::new("b"), Tenant::new("c"));
    let ca = connect_http_with(&gw.url(), KEY_A, a.clone())
        .await
        .unwrap();
    let cb = connect_http_with(&gw.url(), KEY_B, b.clone())
        .await
        .unwrap();
    let cc = connect_http_with(&gw.url(), KEY_C, c.clone())
        .await
        .unwrap();
    // C's own server runs too (so it could relay anything it got).
    assert_eq!(text_of(&cc, "tenant__level", json!({})).await, "unset");

    // A wants errors only, B everything: the shared upstream is set to B's debug.
    ca.set_level(serde_json::from_value(json!({ "level": "error" })).unwrap())
        .await
        .unwrap();
    cb.set_level(serde_json::from_value(json!({ "level": "debug" })).unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&ca, "tenant__level", json!({})).await, "debug");
    assert_eq!(text_of(&ca, "tenant__log", json!({})).await, "logged");
    // Subscriptions: A to tenant://a; both to tenant://b.
    for (client, uri) in [
        (&ca, "tenant://a"),
        (&ca, "tenant://b"),
        (&cb, "tenant://b"),
    ] {
        client
            .subscribe(serde_json::from_value(json!({ "uri": uri })).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(
        text_of(&cb, "tenant__touch", json!({ "uri": "tenant://a" })).await,
        "touched"
    );
    // A leaves tenant://b: B still holds it upstream; then B leaves too.
    ca.unsubscribe(serde_json::from_value(json!({ "uri": "tenant://b" })).unwrap())
        .await
        .unwrap();
    assert_eq!(
        text_of(&ca, "tenant__subs", json!({})).await,
        "tenant://a,tenant://b"
    );
    cb.unsubscribe(serde_json::from_value(json!({ "uri": "tenant://b" })).unwrap())
        .await
        .unwrap();
    assert_eq!(text_of(&ca, "tenant__subs", json!({})).await, "tenant://a");
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(*a.logs.lock().unwrap(), vec!["error shared".to_string()]);
    // (The client handles notifications concurrently: order is not kept.)
    let mut got = b.logs.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got,
        ["debug", "error", "info", "warning"]
            .map(|l| format!("{l} shared"))
            .to_vec()
    );
    assert!(
        c.logs.lock().unwrap().is_empty(),
        "C's config names a different server `tenant`: {:?}",
        c.logs.lock().unwrap()
    );
    assert_eq!(*a.updates.lock().unwrap(), vec!["tenant://a".to_string()]);
    assert!(b.updates.lock().unwrap().is_empty());
    assert!(c.updates.lock().unwrap().is_empty());
}
