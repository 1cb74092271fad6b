//! Config files written by the reference gateway's own CLI (`fixtures/reference/`, see its
//! README for the commands): each loads, behaves as the reference documents it (the generated
//! key authenticates, a disabled key is refused, a project whose `mcp_config_id` is null has no
//! servers, denied tools are refused with the operator's reason), keeps every key on rewrite,
//! and the meta tools never show the secrets it holds.

mod common_gw;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common_gw::*;
use gateway::config::{
    load, parse, ConfigDocument, GatewayConfig, KeyError, RemoteTransport, UpstreamConfig,
};
use serde_json::{json, Value};

const FILES: [&str; 5] = [
    "01-generate-config.json",
    "02-project-create.json",
    "03-config-add-server.json",
    "04-generate-api-key.json",
    "05-disable-api-key.json",
];

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture")
}

fn loaded(name: &str) -> GatewayConfig {
    match parse(&fixture(name)) {
        Ok(l) => l.config,
        Err(e) => panic!("{name} does not load:\n{e}"),
    }
}

/// The keys of the last file, found by what the reference CLI did with them.
struct Keys {
    /// `generate-config`'s key (project `default_project`).
    generated: String,
    /// The key on `unassigned_project` (no mcp_config).
    unassigned: String,
    /// The active key on `parity_project`.
    parity: String,
    /// The key `user disable-api-key` disabled.
    disabled: String,
}

fn keys() -> Keys {
    let doc: Value = serde_json::from_str(&fixture("05-disable-api-key.json")).unwrap();
    let project_of = |name: &str| -> String {
        doc["projects"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, p)| p["project_name"] == name)
            .map(|(id, _)| id.clone())
            .unwrap()
    };
    let (default, unassigned, parity) = (
        project_of("default_project"),
        project_of("unassigned_project"),
        project_of("parity_project"),
    );
    let find = |project: &str, disabled: bool| -> String {
        doc["apikeys"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, k)| k["project_id"] == project && (k["disabled"] == true) == disabled)
            .map(|(key, _)| key.clone())
            .unwrap()
    };
    Keys {
        generated: find(&default, false),
        unassigned: find(&unassigned, false),
        parity: find(&parity, false),
        disabled: find(&parity, true),
    }
}

#[test]
fn every_reference_file_loads() {
    for f in FILES {
        let c = loaded(f);
        assert!(!c.apikeys.is_empty() && !c.mcp_configs.is_empty(), "{f}");
    }
}

#[test]
fn generated_key_authenticates_and_a_disabled_key_is_refused() {
    let k = keys();
    let c = loaded("05-disable-api-key.json");
    let r = c.resolve_key(&k.generated).expect("generated key");
    assert_eq!(r.project.name.as_deref(), Some("default_project"));
    assert_eq!(r.mcp_config.name.as_deref(), Some("default_config"));
    assert!(r.mcp_config.server("echo_server").is_some());
    // The generated file alone, as `generate-config` left it.
    let first = loaded("01-generate-config.json");
    assert_eq!(first.apikeys.len(), 1);
    let gateway::config::model::StoredKey::Plain(only) = &first.apikeys[0].key else {
        panic!("the reference writes keys in plain text");
    };
    let only = only.expose().to_string();
    assert!(first.resolve_key(&only).is_ok());
    assert_eq!(
        c.resolve_key(&k.disabled).unwrap_err(),
        KeyError::Disabled,
        "disable-api-key writes \"disabled\": true"
    );
    assert!(c.resolve_key(&k.parity).is_ok());
}

#[test]
fn project_with_null_mcp_config_has_no_servers() {
    let c = loaded("02-project-create.json");
    let p = c
        .projects
        .values()
        .find(|p| p.name.as_deref() == Some("unassigned_project"))
        .unwrap();
    assert!(p.users.is_empty());
    let c = loaded("05-disable-api-key.json");
    let r = c
        .resolve_key(&keys().unassigned)
        .expect("the key authenticates");
    assert_eq!(r.project.name.as_deref(), Some("unassigned_project"));
    assert!(r.mcp_config.servers.is_empty());
}

#[test]
fn denied_tools_and_transports_as_the_reference_writes_them() {
    let c = loaded("03-config-add-server.json");
    let mc = c
        .mcp_configs
        .values()
        .find(|m| m.name.as_deref() == Some("parity_config"))
        .unwrap();
    let demo = mc.server("demo").unwrap();
    for allowed in ["echo", "env", "progress"] {
        assert!(demo.allows_tool(allowed), "{allowed}");
    }
    for denied in ["crash", "sleep", "sample", "stats", "add"] {
        assert!(!demo.allows_tool(denied), "{denied}");
    }
    // "*" denies everything but the allow-list.
    let sse = mc.server("remote_sse").unwrap();
    assert!(sse.allows_tool("search") && !sse.allows_tool("delete"));
    // `--type sse` writes "type": "sse"; `--transport sse` writes "transport": "sse".
    for name in ["remote_sse", "remote_legacy"] {
        match &mc.server(name).unwrap().upstream {
            UpstreamConfig::Remote(r) => assert_eq!(r.transport, RemoteTransport::Sse, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn cache_lifetimes_as_the_reference_reads_them() {
    // generate-config writes enkrypt_tool_cache_expiration: 4 (hours) and both
    // enkrypt_gateway_cache_expiration: 24 (hours) and _minutes: 5; the minutes win.
    let c = loaded("01-generate-config.json");
    assert_eq!(c.common.tool_cache_ttl, Duration::from_secs(4 * 3600));
    assert_eq!(c.common.gateway_cache_ttl, Duration::from_secs(5 * 60));
}

#[test]
fn rewrite_keeps_every_reference_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enkrypt_mcp_config.json");
    let original: Value = serde_json::from_str(&fixture("05-disable-api-key.json")).unwrap();
    std::fs::write(&path, fixture("05-disable-api-key.json")).unwrap();

    // Unchanged: the same document, key order included.
    let l = load(&path).unwrap();
    l.document.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.trim_end(),
        fixture("05-disable-api-key.json").trim_end()
    );

    // An edit through the document touches only what it edits.
    let mut doc = load(&path).unwrap().document;
    let k = keys();
    doc.root_mut()["apikeys"][&k.parity]["disabled"] = json!(true);
    doc.validate().unwrap();
    doc.save(&path).unwrap();
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut expected = original.clone();
    expected["apikeys"][&k.parity]["disabled"] = json!(true);
    assert_eq!(after, expected);
    let keys_of = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys_of(&after), keys_of(&original));
    // Keys this gateway does not model are there, untouched.
    for pointer in [
        "/admin_apikey",
        "/plugins/telemetry/config/url",
        "/common_mcp_gateway_config/enkrypt_config_watcher_poll_seconds",
        "/common_mcp_gateway_config/timeout_settings/escalation_policies/warn_threshold",
    ] {
        assert_eq!(
            after.pointer(pointer),
            original.pointer(pointer),
            "{pointer}"
        );
        assert!(after.pointer(pointer).is_some(), "{pointer}");
    }
    let echo = &after["mcp_configs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["mcp_config"][0];
    assert_eq!(echo["oauth_config"]["OAUTH_VERSION"], "2.1");
    assert!(load(&path).unwrap().config.resolve_key(&k.parity).is_err());
}

// ---------------------------------------------------------------------------------------------
// The real gateway on the reference's file

/// The last fixture with the embedded cache on a free port (tests run side by side), written
/// through the document layer to a temp dir.
fn runnable_config(dir: &Path) -> PathBuf {
    let mut doc = ConfigDocument::parse_str(&fixture("05-disable-api-key.json")).unwrap();
    let common = doc
        .root_mut()
        .get_mut("common_mcp_gateway_config")
        .and_then(Value::as_object_mut)
        .unwrap();
    common.insert("enkrypt_embedded_cache_port".into(), json!(0));
    common.insert(
        "enkrypt_embedded_cache_password".into(),
        json!("embedded-pw-0123456789abcdef"),
    );
    common.insert("enkrypt_log_level".into(), json!("WARNING"));
    let path = dir.join("enkrypt_mcp_config.json");
    doc.save(&path).unwrap();
    path
}

/// The gateway on `config`, with its own directory on `PATH` so `secure-mcp-gateway
/// demo-server` (the fixture's demo server) is found.
fn start_with_path(config: &Path) -> HttpGateway {
    let bin_dir = Path::new(gateway_bin()).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    start_http_with(config, |cmd| {
        cmd.env("PATH", &path).stderr(Stdio::null());
    })
}

fn meta_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_keys_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = runnable_config(dir.path());
    let gw = start_with_path(&cfg);
    let k = keys();

    // The generated key authenticates (no tool listing: its echo server is the reference's).
    let c = connect_http(&gw.url(), &k.generated)
        .await
        .expect("generated key");
    let (_, text, _) = call(
        &c,
        "enkrypt_list_all_servers",
        json!({ "discover_tools": false }),
    )
    .await;
    let v = meta_json(&text);
    assert!(v["available_servers"]["echo_server"].is_object(), "{v}");
    c.cancel().await.ok();

    // The disabled key is refused.
    assert!(connect_http(&gw.url(), &k.disabled).await.is_err());

    // A key of the project without an mcp_config: authenticated, no servers.
    let c = connect_http(&gw.url(), &k.unassigned)
        .await
        .expect("unassigned key");
    let names = tool_names(&c).await;
    assert!(names.iter().all(|n| n.starts_with("enkrypt_")), "{names:?}");
    let (err, text, _) = call(&c, "enkrypt_list_all_servers", json!({})).await;
    let v = meta_json(&text);
    assert!(!err, "{v}");
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["available_servers"], json!({}), "{v}");
    c.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_tools_are_refused_with_the_operators_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = runnable_config(dir.path());
    let gw = start_with_path(&cfg);
    let c = connect_http(&gw.url(), &keys().parity)
        .await
        .expect("parity key");

    let names = tool_names(&c).await;
    for offered in ["echo", "env", "progress"] {
        assert!(names.iter().any(|n| n == offered), "{offered}: {names:?}");
    }
    for denied in ["crash", "sleep", "sample", "stats", "add"] {
        assert!(
            !names
                .iter()
                .any(|n| n == denied || n.ends_with(&format!("__{denied}"))),
            "{denied} listed: {names:?}"
        );
    }

    // Direct calls: an isError result with the reason, by either name.
    let (err, text, _) = call(&c, "demo__add", json!({ "a": 1, "b": 2 })).await;
    assert!(err, "{text}");
    assert_eq!(
        text,
        "Tool 'add' is denied: Arithmetic is reserved for the finance team"
    );
    let (err, text, _) = call(&c, "add", json!({ "a": 1, "b": 2 })).await;
    assert!(err, "{text}");
    assert!(text.contains("Arithmetic is reserved"), "{text}");
    let (err, text, _) = call(&c, "demo__sleep", json!({ "ms": 1 })).await;
    assert!(err, "{text}");
    assert_eq!(
        text,
        "Tool 'sleep' is denied: Denied by deny-list pattern: s*"
    );
    let (err, text, _) = call(&c, "echo", json!({ "message": "still here" })).await;
    assert!(!err && text.contains("still here"), "{text}");

    // The meta tool answers as the reference does.
    let (_, text, _) = call(
        &c,
        "enkrypt_secure_call_tools",
        json!({ "server_name": "demo", "tool_calls": [
            { "name": "echo", "args": { "message": "first" } },
            { "name": "add", "args": { "a": 1, "b": 2 } }
        ] }),
    )
    .await;
    let v = meta_json(&text);
    assert_eq!(v["results"][0]["status"], "success", "{v}");
    let denied = &v["results"][1];
    assert_eq!(denied["status"], "denied", "{v}");
    assert_eq!(
        denied["message"],
        "Tool 'add' is denied: Arithmetic is reserved for the finance team"
    );
    assert_eq!(denied["error"], denied["message"]);
    assert_eq!(denied["enkrypt_mcp_data"]["deny_pattern"], "add");
    assert_eq!(
        denied["enkrypt_mcp_data"]["deny_reason"],
        "Arithmetic is reserved for the finance team"
    );
    assert_eq!(v["summary"]["successful_calls"], 1, "{v}");

    // Discovery reports what the deny list removed.
    let (_, text, _) = call(
        &c,
        "enkrypt_discover_all_tools",
        json!({ "server_name": "demo" }),
    )
    .await;
    let v = meta_json(&text);
    let removed: Vec<&str> = v["policy_denied_tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for denied in ["crash", "sleep", "sample", "stats", "add"] {
        assert!(removed.contains(&denied), "{denied}: {v}");
    }
    assert_eq!(v["policy_denied_count"], removed.len());
    c.cancel().await.ok();
}

/// Every fake secret in the fixture carries `QZ`, at both ends where a partial mask would show
/// the first or last four characters (`Bearer sk-QZlive-QZxy`, `QZtok-demo-QZab`, the URL's
/// `pwQZhunter2` and `token=QZtok3n`); nothing else in the answers does.
fn assert_no_secret(text: &str) {
    assert!(
        !text.contains("QZ"),
        "a secret (or part of one) is shown:\n{text}"
    );
    assert!(!text.contains("embedded-pw-0123456789abcdef"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_tools_mask_secrets_entirely() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = runnable_config(dir.path());
    let gw = start_with_path(&cfg);
    let c = connect_http(&gw.url(), &keys().parity)
        .await
        .expect("parity key");

    let (_, listed, _) = call(
        &c,
        "enkrypt_list_all_servers",
        json!({ "discover_tools": false }),
    )
    .await;
    assert_no_secret(&listed);
    let v = meta_json(&listed);
    let sse = &v["available_servers"]["remote_sse"]["config"];
    assert_eq!(
        sse["url"], "https://****@127.0.0.1:9/sse?token=****&region=eu",
        "{v}"
    );
    assert_eq!(sse["headers"]["Authorization"], "****");
    assert_eq!(sse["headers"]["X-Trace"], "trace-visible");
    assert_eq!(sse["transport"], "sse");
    let env = &v["available_servers"]["demo"]["config"]["env"];
    assert_eq!(env["API_TOKEN"], "****");
    assert_eq!(env["DEMO_MODE"], "visible-value");

    for server in ["remote_sse", "demo", "remote_legacy"] {
        let (_, text, _) = call(
            &c,
            "enkrypt_get_server_info",
            json!({ "server_name": server }),
        )
        .await;
        assert_no_secret(&text);
        assert!(meta_json(&text)["server_info"].is_object(), "{text}");
    }
    // Discovery of an unreachable server: its error names no credential.
    let (_, text, _) = call(
        &c,
        "enkrypt_discover_all_tools",
        json!({ "server_name": "remote_sse" }),
    )
    .await;
    assert_no_secret(&text);
    assert_eq!(meta_json(&text)["status"], "error", "{text}");
    for (tool, args) in [
        ("enkrypt_list_all_servers", json!({})),
        ("enkrypt_get_cache_status", json!({})),
        (
            "enkrypt_secure_call_tools",
            json!({ "server_name": "remote_sse", "tool_calls": [] }),
        ),
    ] {
        let (_, text, _) = call(&c, tool, args).await;
        assert_no_secret(&text);
    }
    c.cancel().await.ok();
}
