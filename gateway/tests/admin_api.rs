//! The admin REST API through the real binary (`start --admin-port`): refused without the
//! admin key, with a wrong one, from a web page's Origin, or when none is configured; then each
//! route group walked with a plain HTTP client, checking the config file changed as asked, the
//! answers, and the error statuses. Keys issued or disabled through the API take effect in the
//! running gateway at its next reload.

mod common_gw;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common_gw::*;
use reqwest::Method;
use serde_json::{json, Map, Value};

const ADMIN: &str = "admin-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGH";

struct Admin {
    _gw: HttpGateway,
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    admin_port: u16,
    mcp_port: u16,
    http: reqwest::Client,
}

/// A config with the demo server over stdio (`demo`), legacy telemetry settings, and the admin
/// key at its top level when `admin_key` is given.
fn admin_config(dir: &Path, admin_key: Option<&str>) -> PathBuf {
    let cfg = write_config(
        dir,
        vec![stdio_server("demo", gateway_bin(), &["demo-server"])],
        json!({ "enkrypt_telemetry": { "enabled": false, "insecure": true, "endpoint": "http://localhost:4317" } }),
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    if let Some(k) = admin_key {
        v["admin_apikey"] = json!(k);
    }
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    cfg
}

impl Admin {
    fn start(admin_key: Option<&str>) -> Admin {
        let dir = tempfile::tempdir().unwrap();
        let cfg = admin_config(dir.path(), admin_key);
        let admin_port = free_port();
        let gw = start_http_with(&cfg, |cmd| {
            cmd.args(["--admin-port", &admin_port.to_string()])
                .stderr(Stdio::null());
        });
        let mcp_port = gw.port;
        wait_port(admin_port);
        Admin {
            _gw: gw,
            _dir: dir,
            cfg,
            admin_port,
            mcp_port,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// A request with the admin key; the status and the JSON answer.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, self.url(path))
            .header("apikey", ADMIN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, v)
    }

    /// A request that must succeed: its `data`, after checking the reference's answer shape.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path}: {v}");
        assert!(v["message"].is_string(), "{v}");
        assert!(v["timestamp"].is_string(), "{v}");
        v["data"].clone()
    }

    /// A request that must fail with `status`: its `detail`.
    async fn err(&self, method: Method, path: &str, body: Option<Value>, status: u16) -> String {
        let (got, v) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {v}");
        v["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail: {v}"))
            .to_string()
    }

    /// The config file as the gateway loads it.
    fn file(&self) -> Map<String, Value> {
        gateway::config::load(&self.cfg)
            .expect("the config stays valid")
            .document
            .root()
            .clone()
    }

    /// The status of an MCP `initialize` with `key` against the running gateway.
    async fn mcp_status(&self, key: &str) -> u16 {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        self.http
            .post(format!("http://127.0.0.1:{}/mcp/", self.mcp_port))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits (a reload is ~1 s) until `key` gets `status` from the gateway.
    async fn wait_mcp(&self, key: &str, status: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.mcp_status(key).await;
            if got == status {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still {got}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn by_name(section: &Map<String, Value>, field: &str, name: &str) -> (String, Value) {
    section
        .iter()
        .find(|(_, v)| v[field] == name)
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_else(|| panic!("no entry with {field} = {name}"))
}

fn section<'a>(root: &'a Map<String, Value>, name: &str) -> &'a Map<String, Value> {
    root[name].as_object().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_without_the_admin_key_or_from_a_web_page() {
    let a = Admin::start(Some(ADMIN));
    let url = a.url("/api/v1/users");
    let before = std::fs::read(&a.cfg).unwrap();

    let r = a.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");

    for bad in ["wrong", &ADMIN[..ADMIN.len() - 1], KEY] {
        let r = a.http.get(&url).header("apikey", bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        let r = a.http.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // A write without the key changes nothing.
    let r = a
        .http
        .post(a.url("/api/v1/users"))
        .json(&json!({ "email": "intruder@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(std::fs::read(&a.cfg).unwrap(), before);

    // The right key, in either header.
    let r = a
        .http
        .get(&url)
        .header("apikey", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = a.http.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A web page elsewhere is refused even with the key; a loopback page is not.
    for origin in ["https://evil.example", "http://127.0.0.1.evil.example"] {
        let r = a
            .http
            .get(&url)
            .header("apikey", ADMIN)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    let r = a
        .http
        .get(&url)
        .header("apikey", ADMIN)
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // /health needs no key and tells nothing secret.
    let r = a.http.get(a.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(ADMIN) && !text.contains(KEY), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_key_configured_everything_is_refused() {
    let a = Admin::start(None);
    for key in [ADMIN, KEY, ""] {
        let r = a
            .http
            .get(a.url("/api/v1/configs"))
            .header("apikey", key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_servers_guardrails_and_settings() {
    let a = Admin::start(Some(ADMIN));
    use Method as M;

    let list = a.ok(M::GET, "/api/v1/configs", None).await;
    assert_eq!(list[0]["mcp_config_name"], "test");

    // Create: the reference's fields and ours; a second one by that name is a conflict.
    let d = a
        .ok(
            M::POST,
            "/api/v1/configs",
            Some(json!({ "config_name": "api" })),
        )
        .await;
    let id = d["config_id"].as_str().unwrap().to_string();
    assert_eq!(d["mcp_config_id"], id.as_str());
    assert_eq!(d["config_name"], "api");
    assert!(section(&a.file(), "mcp_configs").contains_key(&id));
    let e = a
        .err(
            M::POST,
            "/api/v1/configs",
            Some(json!({ "config_name": "api" })),
            409,
        )
        .await;
    assert!(e.contains("already exists"), "{e}");
    // Bad bodies.
    a.err(M::POST, "/api/v1/configs", Some(json!({})), 400)
        .await;
    a.err(
        M::POST,
        "/api/v1/configs",
        Some(json!({ "config_name": 5 })),
        400,
    )
    .await;
    let r = a
        .http
        .post(a.url("/api/v1/configs"))
        .header("apikey", ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Copy, rename, get (by name and by id), unknown.
    a.ok(
        M::POST,
        "/api/v1/configs/copy",
        Some(json!({ "source_config": "test", "target_config": "copied" })),
    )
    .await;
    let (_, copied) = by_name(
        section(&a.file(), "mcp_configs"),
        "mcp_config_name",
        "copied",
    );
    assert_eq!(copied["mcp_config"][0]["server_name"], "demo");
    a.ok(
        M::PUT,
        "/api/v1/configs/copied/rename",
        Some(json!({ "new_name": "renamed" })),
    )
    .await;
    by_name(
        section(&a.file(), "mcp_configs"),
        "mcp_config_name",
        "renamed",
    );
    a.err(
        M::PUT,
        "/api/v1/configs/renamed/rename",
        Some(json!({ "new_name": "test" })),
        409,
    )
    .await;
    let got = a.ok(M::GET, &format!("/api/v1/configs/{id}"), None).await;
    assert_eq!(got["mcp_config_name"], "api", "{got}");
    let got = a.ok(M::GET, "/api/v1/configs/api", None).await;
    assert_eq!(got["mcp_config_id"], id.as_str(), "{got}");
    a.err(M::GET, "/api/v1/configs/nope", None, 404).await;
    let projects = a.ok(M::GET, "/api/v1/configs/test/projects", None).await;
    assert!(projects.to_string().contains("proj-1"), "{projects}");

    // Servers: add (the reference's body, args as a list), get, update, guardrails, remove.
    a.ok(
        M::POST,
        "/api/v1/configs/api/servers",
        Some(json!({
            "server_name": "echo",
            "server_command": gateway_bin(),
            "args": ["demo-server"],
            "env": { "TOKEN": "s3cret-value" },
            "description": "the demo",
        })),
    )
    .await;
    let file = a.file();
    let server = &section(&file, "mcp_configs")[&id]["mcp_config"][0];
    assert_eq!(server["server_name"], "echo");
    assert_eq!(server["config"]["args"], json!(["demo-server"]));
    assert_eq!(server["config"]["env"]["TOKEN"], "s3cret-value");
    a.err(
        M::POST,
        "/api/v1/configs/api/servers",
        Some(json!({ "server_name": "echo", "server_command": "x" })),
        409,
    )
    .await;
    a.err(
        M::POST,
        "/api/v1/configs/api/servers",
        Some(json!({ "server_name": "neither" })),
        400,
    )
    .await;
    a.err(
        M::POST,
        "/api/v1/configs/api/servers",
        Some(json!({ "server_name": "comma", "server_command": "x", "args": ["a,b"] })),
        400,
    )
    .await;
    a.err(
        M::POST,
        "/api/v1/configs/nope/servers",
        Some(json!({ "server_name": "x", "server_command": "x" })),
        404,
    )
    .await;
    let servers = a.ok(M::GET, "/api/v1/configs/api/servers", None).await;
    assert_eq!(servers[0]["server_name"], "echo");
    // Secret values are masked in what is shown.
    let one = a.ok(M::GET, "/api/v1/configs/api/servers/echo", None).await;
    assert_eq!(one["server_name"], "echo", "{one}");
    assert!(!one.to_string().contains("s3cret-value"), "{one}");
    let whole = a.ok(M::GET, "/api/v1/configs/api", None).await;
    assert!(!whole.to_string().contains("s3cret-value"), "{whole}");
    a.err(M::GET, "/api/v1/configs/api/servers/nope", None, 404)
        .await;
    a.ok(
        M::PUT,
        "/api/v1/configs/api/servers/echo",
        Some(json!({
            "description": "updated",
            "args": ["demo-server", "--quiet"],
            "input_guardrails_config": { "enabled": false, "guardrail_name": "g1", "block": [] },
        })),
    )
    .await;
    let file = a.file();
    let server = &section(&file, "mcp_configs")[&id]["mcp_config"][0];
    assert_eq!(server["description"], "updated");
    assert_eq!(server["config"]["args"], json!(["demo-server", "--quiet"]));
    assert_eq!(server["input_guardrails_config"]["guardrail_name"], "g1");

    a.ok(
        M::PUT,
        "/api/v1/configs/api/servers/echo/output-guardrails",
        Some(json!({ "policy": { "enabled": false, "guardrail_name": "out", "block": [] } })),
    )
    .await;
    let policy = a.dir().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"enabled": false, "guardrail_name": "from-file", "block": []}"#,
    )
    .unwrap();
    a.ok(
        M::PUT,
        "/api/v1/configs/api/servers/echo/input-guardrails",
        Some(json!({ "policy_file": policy })),
    )
    .await;
    a.ok(
        M::PUT,
        "/api/v1/configs/api/servers/echo/guardrails",
        Some(
            json!({ "output_policy": { "enabled": false, "guardrail_name": "both", "block": [] } }),
        ),
    )
    .await;
    let file = a.file();
    let server = &section(&file, "mcp_configs")[&id]["mcp_config"][0];
    assert_eq!(
        server["input_guardrails_config"]["guardrail_name"],
        "from-file"
    );
    assert_eq!(server["output_guardrails_config"]["guardrail_name"], "both");
    a.err(
        M::PUT,
        "/api/v1/configs/api/servers/echo/input-guardrails",
        Some(json!({})),
        400,
    )
    .await;

    // Validate, export, import, search.
    a.ok(M::POST, "/api/v1/configs/api/validate", None).await;
    let out = a.dir().join("api-export.json");
    a.ok(
        M::POST,
        "/api/v1/configs/api/export",
        Some(json!({ "output_file": out })),
    )
    .await;
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(exported["config"]["mcp_config_name"], "api");
    a.ok(
        M::POST,
        "/api/v1/configs/import",
        Some(json!({ "input_file": out, "config_name": "imported" })),
    )
    .await;
    let (_, imported) = by_name(
        section(&a.file(), "mcp_configs"),
        "mcp_config_name",
        "imported",
    );
    assert_eq!(imported["mcp_config"][0]["server_name"], "echo");
    let found = a
        .ok(
            M::POST,
            "/api/v1/configs/search",
            Some(json!({ "search_term": "import" })),
        )
        .await;
    assert!(found.to_string().contains("imported"), "{found}");
    a.err(M::POST, "/api/v1/configs/search", None, 400).await;

    // Remove one server, then all; delete the config; a config in use is a conflict.
    a.ok(M::DELETE, "/api/v1/configs/api/servers/echo", None)
        .await;
    assert_eq!(
        section(&a.file(), "mcp_configs")[&id]["mcp_config"],
        json!([])
    );
    a.ok(M::DELETE, "/api/v1/configs/imported/servers", None)
        .await;
    let (_, imported) = by_name(
        section(&a.file(), "mcp_configs"),
        "mcp_config_name",
        "imported",
    );
    assert_eq!(imported["mcp_config"], json!([]));
    a.ok(M::DELETE, "/api/v1/configs/api", None).await;
    assert!(!section(&a.file(), "mcp_configs").contains_key(&id));
    a.err(M::DELETE, "/api/v1/configs/api", None, 404).await;
    let e = a.err(M::DELETE, "/api/v1/configs/test", None, 409).await;
    assert!(e.contains("proj-1") || e.contains("project"), "{e}");

    // Settings: the Enkrypt key is written, and read back masked only.
    let secret = "enkrypt-secret-key-value-0123456789";
    a.ok(
        M::PUT,
        "/api/v1/settings/enkrypt-api-key",
        Some(json!({ "api_key": secret })),
    )
    .await;
    assert_eq!(a.file()["enkrypt_config"]["api_key"], secret);
    let (status, v) = a
        .call(M::GET, "/api/v1/settings/enkrypt-api-key", None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(!v.to_string().contains(secret), "{v}");
    assert_eq!(v["data"]["enkrypt_api_key"], "****");
    a.err(
        M::PUT,
        "/api/v1/settings/enkrypt-api-key",
        Some(json!({ "api_key": "" })),
        400,
    )
    .await;
    a.ok(
        M::PUT,
        "/api/v1/settings/telemetry",
        Some(json!({ "enabled": true, "url": "http://otel.local:4317" })),
    )
    .await;
    let t = &a.file()["common_mcp_gateway_config"]["enkrypt_telemetry"];
    assert_eq!(t["enabled"], true);
    assert_eq!(t["endpoint"], "http://otel.local:4317");
    a.err(M::PUT, "/api/v1/settings/telemetry", Some(json!({})), 400)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_users_and_keys_in_the_running_gateway() {
    let a = Admin::start(Some(ADMIN));
    use Method as M;

    // Users.
    let u = a
        .ok(
            M::POST,
            "/api/v1/users",
            Some(json!({ "email": "ann@example.com" })),
        )
        .await;
    let uid = u["user_id"].as_str().unwrap().to_string();
    assert_eq!(u["email"], "ann@example.com");
    assert_eq!(
        section(&a.file(), "users")[&uid]["email"],
        "ann@example.com"
    );
    a.err(
        M::POST,
        "/api/v1/users",
        Some(json!({ "email": "ann@example.com" })),
        409,
    )
    .await;
    a.err(
        M::POST,
        "/api/v1/users",
        Some(json!({ "email": "not-an-email" })),
        400,
    )
    .await;
    let users = a.ok(M::GET, "/api/v1/users", None).await;
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    a.ok(M::GET, "/api/v1/users/ann@example.com", None).await;
    a.ok(
        M::PUT,
        &format!("/api/v1/users/{uid}"),
        Some(json!({ "new_email": "anne@example.com" })),
    )
    .await;
    assert_eq!(
        section(&a.file(), "users")[&uid]["email"],
        "anne@example.com"
    );
    a.err(M::GET, "/api/v1/users/nobody@example.com", None, 404)
        .await;
    let found = a
        .ok(
            M::POST,
            "/api/v1/users/search",
            Some(json!({ "search_term": "anne" })),
        )
        .await;
    assert!(found.to_string().contains(&uid), "{found}");

    // Projects.
    let p = a
        .ok(
            M::POST,
            "/api/v1/projects",
            Some(json!({ "project_name": "team" })),
        )
        .await;
    let pid = p["project_id"].as_str().unwrap().to_string();
    assert_eq!(section(&a.file(), "projects")[&pid]["project_name"], "team");
    a.err(
        M::POST,
        "/api/v1/projects",
        Some(json!({ "project_name": "team" })),
        409,
    )
    .await;
    a.err(M::GET, "/api/v1/projects/nope", None, 404).await;
    a.err(
        M::POST,
        "/api/v1/projects/team/assign-config",
        Some(json!({})),
        400,
    )
    .await;
    a.err(
        M::POST,
        "/api/v1/projects/nope/assign-config",
        Some(json!({ "config_name": "test" })),
        404,
    )
    .await;
    a.ok(
        M::POST,
        "/api/v1/projects/team/assign-config",
        Some(json!({ "config_name": "test" })),
    )
    .await;
    assert_eq!(
        section(&a.file(), "projects")[&pid]["mcp_config_id"],
        "cfg-1"
    );
    let c = a.ok(M::GET, "/api/v1/projects/team/config", None).await;
    assert!(c.to_string().contains("cfg-1"), "{c}");
    a.ok(
        M::POST,
        "/api/v1/projects/team/users",
        Some(json!({ "email": "anne@example.com" })),
    )
    .await;
    assert_eq!(section(&a.file(), "projects")[&pid]["users"], json!([uid]));
    let members = a.ok(M::GET, "/api/v1/projects/team/users", None).await;
    assert!(
        members.to_string().contains("anne@example.com"),
        "{members}"
    );
    let mine = a
        .ok(M::GET, &format!("/api/v1/users/{uid}/projects"), None)
        .await;
    assert!(mine.to_string().contains("team"), "{mine}");
    a.ok(M::GET, &format!("/api/v1/projects/{pid}"), None).await;
    let found = a
        .ok(
            M::POST,
            "/api/v1/projects/search",
            Some(json!({ "search_term": "tea" })),
        )
        .await;
    assert!(found.to_string().contains(&pid), "{found}");
    let out = a.dir().join("team-export.json");
    a.ok(
        M::POST,
        "/api/v1/projects/team/export",
        Some(json!({ "output_file": out })),
    )
    .await;
    assert!(std::fs::read_to_string(&out).unwrap().contains("team"));

    // A key issued through the API opens a session in the running gateway within a reload;
    // disabled through the API, it is refused.
    let k = a
        .ok(
            M::POST,
            &format!("/api/v1/users/{uid}/api-keys"),
            Some(json!({ "project_name": "team" })),
        )
        .await;
    let key = k["api_key"].as_str().unwrap().to_string();
    a.wait_mcp(&key, 200, "the issued key is not accepted")
        .await;
    a.ok(M::POST, &format!("/api/v1/api-keys/{key}/disable"), None)
        .await;
    a.wait_mcp(&key, 401, "the disabled key is still accepted")
        .await;
    assert_eq!(a.mcp_status(KEY).await, 200);

    // A user or project holding keys is kept unless forced.
    a.err(M::DELETE, &format!("/api/v1/users/{uid}"), None, 409)
        .await;
    a.err(M::DELETE, "/api/v1/projects/team", None, 409).await;
    a.ok(
        M::DELETE,
        &format!("/api/v1/projects/team/users/{uid}"),
        None,
    )
    .await;
    assert_eq!(section(&a.file(), "projects")[&pid]["users"], json!([]));
    a.ok(
        M::POST,
        "/api/v1/projects/team/users",
        Some(json!({ "user_id": uid })),
    )
    .await;
    a.ok(M::DELETE, "/api/v1/projects/team/users", None).await;
    assert_eq!(section(&a.file(), "projects")[&pid]["users"], json!([]));
    a.ok(M::POST, "/api/v1/projects/team/unassign-config", None)
        .await;
    assert_eq!(
        section(&a.file(), "projects")[&pid]["mcp_config_id"],
        Value::Null
    );
    a.ok(
        M::DELETE,
        &format!("/api/v1/users/{uid}"),
        Some(json!({ "force": true })),
    )
    .await;
    assert!(!section(&a.file(), "users").contains_key(&uid));
    a.ok(M::DELETE, "/api/v1/projects/team", None).await;
    assert!(!section(&a.file(), "projects").contains_key(&pid));
    a.err(M::DELETE, "/api/v1/projects/team", None, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_health_backup_restore_reset() {
    let a = Admin::start(Some(ADMIN));
    use Method as M;

    let h = a
        .ok(M::GET, "/api/v1/system/health?offline=true", None)
        .await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["statistics"]["total_projects"], 1);
    // Live: the demo upstream starts and lists its tools.
    let h = a.ok(M::GET, "/api/v1/system/health", None).await;
    assert_eq!(h["checks"]["upstreams"][0]["server"], "demo", "{h}");
    assert_eq!(h["checks"]["upstreams"][0]["ok"], true, "{h}");
    assert!(
        !h.to_string().contains(KEY) && !h.to_string().contains(ADMIN),
        "{h}"
    );

    let backup = a.dir().join("backup.json");
    let d = a
        .ok(
            M::POST,
            "/api/v1/system/backup",
            Some(json!({ "output_file": backup })),
        )
        .await;
    assert_eq!(d["config_valid"], true);
    a.ok(
        M::POST,
        "/api/v1/projects",
        Some(json!({ "project_name": "later" })),
    )
    .await;
    by_name(section(&a.file(), "projects"), "project_name", "later");
    a.err(
        M::POST,
        "/api/v1/system/restore",
        Some(json!({ "input_file": a.dir().join("missing.json") })),
        404,
    )
    .await;
    a.ok(
        M::POST,
        "/api/v1/system/restore",
        Some(json!({ "input_file": backup })),
    )
    .await;
    let file = a.file();
    assert!(section(&file, "projects")
        .values()
        .all(|p| p["project_name"] != "later"));
    assert_eq!(file["admin_apikey"], ADMIN);

    // Reset needs its confirmation; done, the admin key is kept, so the API still answers.
    let before = std::fs::read(&a.cfg).unwrap();
    a.err(M::POST, "/api/v1/system/reset", Some(json!({})), 400)
        .await;
    assert_eq!(std::fs::read(&a.cfg).unwrap(), before);
    let d = a
        .ok(
            M::POST,
            "/api/v1/system/reset",
            Some(json!({ "confirm": true })),
        )
        .await;
    let new_key = d["api_key"].as_str().unwrap().to_string();
    assert!(section(&a.file(), "projects").contains_key(d["project_id"].as_str().unwrap()));
    a.wait_mcp(&new_key, 200, "the reset's key is not accepted")
        .await;
    assert_eq!(a.file()["admin_apikey"], ADMIN);
    let (status, _) = a.call(M::GET, "/api/v1/users", None).await;
    assert_eq!(status, 200);
}
