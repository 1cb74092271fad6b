//! The deployment assets, checked with real tools and processes: every compose file validated
//! by `docker-compose config`, the Kubernetes manifests rendered by `kubectl kustomize` and
//! checked against the image, the image's Python entry point run, three gateways behind a real
//! nginx with `compose/nginx/nginx.conf`, and a gateway following a Redis Sentinel failover
//! with `compose/sentinel/sentinel.conf`. Images cannot be pulled here, so each service is run
//! as the Debian package of the same software with the same configuration file. A missing
//! tool is a failure (the test command installs them), never a skip.

mod common_gw;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common_gw::*;
use protocol::client::{Client as Resp, ClientConfig};
use serde_json::{json, Value};
use testkit::{RedisServer, Sentinels};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str, hint: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{name}` is missing: {hint} (scripts/test.sh installs it)"
    );
    Command::new(name)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_compose_file_is_valid() {
    let home = tempfile::tempdir().expect("tmp");
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("compose")).expect("compose/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        n += 1;
        run_ok(
            tool("docker-compose", "apt-get install docker-compose")
                .args(["-f", &path.to_string_lossy(), "config", "-q"])
                .env("CACHE_PASSWORD", "x")
                .env("HOME", home.path()),
        );
    }
    assert!(n >= 5, "compose files found: {n}");
}

#[test]
fn the_images_python_entry_point_runs_the_cli() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("enkrypt_mcp_config.json");
    run_ok(
        tool("python3", "apt-get install python3")
            .args(["-m", "secure_mcp_gateway.cli", "generate-config"])
            .env("PYTHONPATH", repo().join("docker/python"))
            .env("SECURE_MCP_GATEWAY_BIN", gateway_bin())
            .env("ENKRYPT_CONFIG_PATH", &config),
    );
    let text = std::fs::read_to_string(&config).expect("config written");
    valid_config(&text);
}

#[test]
fn the_dockerfile_agrees_with_the_gateway() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let config_dir = Path::new(gateway::config::DOCKER_CONFIG_PATH)
        .parent()
        .expect("dir")
        .to_string_lossy()
        .into_owned();
    assert!(
        text.contains(&format!("VOLUME [\"{config_dir}\"]")),
        "config volume at {config_dir}"
    );
    assert!(text.contains("EXPOSE 8000"));
    assert!(
        text.contains("127.0.0.1:8000/health"),
        "HEALTHCHECK on /health"
    );
    assert!(text.contains("USER 10001:10001"), "non-root");
    assert!(text.contains("ENTRYPOINT [\"secure-mcp-gateway\"]"));
    // The image's default command and the seeds' generate-config flow are real subcommands.
    for sub in ["start", "generate-config"] {
        run_ok(Command::new(gateway_bin()).args([sub, "--help"]));
    }
    assert!(text.contains("CMD [\"start\"]"));
}

/// The rendered manifests as JSON values (YAML read by python3-yaml).
fn kustomize() -> Vec<Value> {
    let yaml = run_ok(
        tool("kubectl", "apt-get install kubernetes-client")
            .args(["kustomize", &repo().join("deploy/k8s").to_string_lossy()]),
    );
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    py.stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write");
    let out = py
        .wait_with_output()
        .expect("python3-yaml (apt-get install python3-yaml)");
    assert!(out.status.success(), "python3 yaml failed");
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("json")
}

#[test]
fn the_kubernetes_manifests_render_and_agree() {
    let docs = kustomize();
    let find = |kind: &str| -> &Value {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let dep = find("Deployment");
    let name = dep["metadata"]["name"].as_str().expect("name");
    let pod = &dep["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["containerPort"], 8000);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/health", "{probe}");
    }
    let config_dir = Path::new(gateway::config::DOCKER_CONFIG_PATH)
        .parent()
        .expect("dir")
        .to_string_lossy()
        .into_owned();
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == config_dir.as_str()),
        "the config is mounted where the gateway looks in a container ({config_dir})"
    );
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 10001);
    // The instance id (pod name) must be accepted by the gateway: at most 63 characters.
    let env = c["env"].as_array().expect("env");
    assert!(env
        .iter()
        .any(|e| e["name"] == gateway::session::INSTANCE_ENV));
    assert!(gateway::session::check_instance_id(&"p".repeat(63)).is_ok());

    let hpa = find("HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], name);
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 10);
    let svc = find("Service");
    let labels = &pod["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&labels[k], v, "the Service selects the pods ({k})");
    }
    // Every env variable the ConfigMap sets is one the gateway reads.
    let cm = find("ConfigMap");
    let known = [
        gateway::config::env::USE_EXTERNAL_CACHE,
        gateway::config::env::CACHE_HOST,
        gateway::config::env::CACHE_PORT,
        "ENKRYPT_LOG_FORMAT",
    ];
    for k in cm["data"].as_object().expect("data").keys() {
        assert!(known.contains(&k.as_str()), "unknown variable {k}");
    }
}

/// One JSON-RPC request over streamable HTTP: (status, session id, result or error).
async fn rpc(
    http: &reqwest::Client,
    url: &str,
    sid: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = http
        .post(url)
        .header("authorization", format!("Bearer {KEY}"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body);
    if let Some(s) = sid {
        req = req.header("mcp-session-id", s);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.unwrap_or_default();
    let json_text = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .unwrap_or(text.trim());
    (
        status,
        sid,
        serde_json::from_str(json_text).unwrap_or(Value::Null),
    )
}

/// nginx's master process; stopped with SIGTERM so that it stops its workers too (SIGKILL
/// would leave them running).
struct Nginx(std::process::Child);
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_behind_nginx_keep_each_session_on_its_gateway() {
    const PW: &str = "cluster-cache-pw";
    let redis = RedisServer::start(Some(PW));
    let dir = tempfile::tempdir().expect("tmp");
    let config = demo_config(dir.path());
    let mut gateways = Vec::new();
    for n in 1..=3 {
        let port = redis.port.to_string();
        gateways.push(start_http_with(&config, |cmd| {
            cmd.env("ENKRYPT_USE_EXTERNAL_CACHE", "true")
                .env("ENKRYPT_CACHE_HOST", "127.0.0.1")
                .env("ENKRYPT_CACHE_PORT", &port)
                .env("ENKRYPT_CACHE_PASSWORD", PW)
                .env("ENKRYPT_INSTANCE_ID", format!("gw{n}"))
                .stderr(Stdio::null());
        }));
    }
    let nginx_port = free_port();
    let mut conf =
        std::fs::read_to_string(repo().join("compose/nginx/nginx.conf")).expect("nginx.conf");
    for (n, g) in gateways.iter().enumerate() {
        conf = conf.replace(
            &format!("gateway-{}:8000", n + 1),
            &format!("127.0.0.1:{}", g.port),
        );
    }
    let tmp = dir.path().to_string_lossy().into_owned();
    conf = conf
        .replace("listen 8080;", &format!("listen 127.0.0.1:{nginx_port};"))
        .replace("/tmp/", &format!("{tmp}/"));
    assert!(
        !conf.contains("server gateway-"),
        "every upstream was made local"
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    run_ok(tool("nginx", "apt-get install nginx").args([
        "-t",
        "-q",
        "-p",
        &tmp,
        "-c",
        &conf_path.to_string_lossy(),
    ]));
    let _nginx = Nginx(
        Command::new("nginx")
            .args([
                "-p",
                &tmp,
                "-c",
                &conf_path.to_string_lossy(),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    wait_port(nginx_port);

    let url = format!("http://127.0.0.1:{nginx_port}/mcp/");
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://127.0.0.1:{nginx_port}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200, "/health through nginx");

    let mut instances = HashSet::new();
    for i in 0..9 {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "deploy-test", "version": "1"}}});
        let (status, sid, _) = rpc(&http, &url, None, init).await;
        assert_eq!(status, 200, "initialize {i}");
        let sid = sid.expect("a session id");
        let instance = sid.split('.').next().expect("prefix").to_string();
        assert!(
            ["gw1", "gw2", "gw3"].contains(&instance.as_str()),
            "session id {sid}"
        );
        instances.insert(instance);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = rpc(&http, &url, Some(&sid), note).await;
        assert_eq!(status, 202, "initialized {i}");
        // Several requests per session: each must reach the gateway holding the session.
        for round in 0..3 {
            let list = json!({"jsonrpc": "2.0", "id": 2 + round, "method": "tools/list"});
            let (status, _, v) = rpc(&http, &url, Some(&sid), list).await;
            assert_eq!(status, 200, "tools/list {i}.{round} on {sid}");
            let names: Vec<&str> = v["result"]["tools"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
                .unwrap_or_default();
            assert!(names.contains(&"echo"), "tools of session {sid}: {v}");
        }
    }
    assert!(
        instances.len() >= 2,
        "nginx spread new sessions over the gateways (got {instances:?})"
    );
    // The gateways share one cache: the tool list discovered once is stored in Redis.
    let resp = Resp::new(ClientConfig {
        port: redis.port,
        password: Some(PW.into()),
        ..ClientConfig::default()
    });
    let keys = resp.cmd(&["KEYS", "enkrypt:tools:*"]).await.expect("KEYS");
    assert!(
        matches!(keys, protocol::Frame::Array(ref a) if !a.is_empty()),
        "{keys:?}"
    );
}

async fn tools_keys(port: u16, pw: &str) -> usize {
    let c = Resp::new(ClientConfig {
        port,
        password: Some(pw.into()),
        ..ClientConfig::default()
    });
    match c.cmd(&["KEYS", "enkrypt:tools:*"]).await {
        Ok(protocol::Frame::Array(a)) => a.len(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_follows_a_sentinel_failover() {
    const PW: &str = "sentinel-cache-pw";
    let mut master = RedisServer::start_with(Some(PW), &["--masterauth", PW]);
    let of = master.port.to_string();
    let replica = RedisServer::start_with(
        Some(PW),
        &["--masterauth", PW, "--replicaof", "127.0.0.1", &of],
    );
    let conf = std::fs::read_to_string(repo().join("compose/sentinel/sentinel.conf"))
        .expect("sentinel.conf");
    let sentinels = Sentinels::start(&conf, 3, master.port, PW);
    sentinels.wait_ready("mymaster", 1, Duration::from_secs(30));
    let list = sentinels
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");

    let dir = tempfile::tempdir().expect("tmp");
    let config = demo_config(dir.path());
    let gw = start_http_with(&config, |cmd| {
        cmd.env("ENKRYPT_USE_EXTERNAL_CACHE", "true")
            .env("ENKRYPT_CACHE_SENTINELS", &list)
            .env("ENKRYPT_CACHE_SENTINEL_MASTER", "mymaster")
            .env("ENKRYPT_CACHE_PASSWORD", PW)
            .stderr(Stdio::null());
    });
    let client = Arc::new(connect_http(&gw.url(), KEY).await.expect("connect"));
    let names = tool_names(&client).await;
    assert!(names.contains(&"echo".to_string()), "{names:?}");
    assert!(
        tools_keys(master.port, PW).await > 0,
        "discovery was written to the master"
    );

    // Calls never stop while the master dies and the replica is promoted.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let load = {
        let (client, stop, failed, done) =
            (client.clone(), stop.clone(), failed.clone(), done.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (err, text, _) = call(&client, "echo", json!({"message": "hi"})).await;
                if err || !text.contains("hi") {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    master.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sentinels.master_port("mymaster") != Some(replica.port) {
        assert!(Instant::now() < deadline, "no failover within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted = Instant::now();
    // Writes reach the new master: empty it, then a new session's discovery stores again.
    let fresh = Resp::new(ClientConfig {
        port: replica.port,
        password: Some(PW.into()),
        ..ClientConfig::default()
    });
    fresh
        .cmd(&["FLUSHALL"])
        .await
        .expect("FLUSHALL on the new master");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = connect_http(&gw.url(), KEY).await.expect("a new session");
        let names = tool_names(&c).await;
        assert!(names.contains(&"echo".to_string()));
        drop(c);
        if tools_keys(replica.port, PW).await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no discovery written to the new master within 30 s of the failover"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "discovery written to the new master {:?} after the promotion",
        promoted.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load");
    assert!(
        done.load(Ordering::Relaxed) > 20,
        "calls ran during the failover"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no call failed during the failover"
    );
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    let dir = repo().join("compose/prometheus");
    run_ok(
        tool("promtool", "apt-get install prometheus")
            .args(["check", "rules"])
            .arg(dir.join("alerts.yml")),
    );
    run_ok(
        tool("promtool", "apt-get install prometheus")
            .args(["test", "rules"])
            .arg(dir.join("alerts_test.yml")),
    );
}

/// Every `enkrypt_*` and `redis_*` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let w = &expr[start..i];
            if w.starts_with("enkrypt_") || w.starts_with("redis_") {
                out.push(w.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_with_the_compose_config_scrapes_and_every_dashboard_query_runs() {
    const PW: &str = "compose-cache-pw";
    const ADMIN: &str = "compose-admin-key-0123456789";
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();

    // The cache, as compose runs it: a password and its metrics port.
    let cache_metrics = free_port();
    let config = cachesrv::Config::from_args(&[
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--requirepass",
        PW,
        "--metrics-port",
        &cache_metrics.to_string(),
    ])
    .expect("cachesrv config");
    let server = cachesrv::Server::bind(config).expect("cachesrv");
    let cache_port = server.local_addrs()[0].port();
    tokio::spawn(server.run());

    // The gateway, as compose runs it: external cache from the environment, --metrics-port.
    let cfg = demo_config(d);
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).expect("read")).expect("json");
    v["admin_apikey"] = json!(ADMIN);
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).expect("ser")).expect("write");
    let gw_metrics = free_port();
    let cache_port_s = cache_port.to_string();
    let gw = start_http_with(&cfg, |cmd| {
        cmd.args(["--metrics-port", &gw_metrics.to_string()])
            .env("ENKRYPT_USE_EXTERNAL_CACHE", "true")
            .env("ENKRYPT_CACHE_HOST", "127.0.0.1")
            .env("ENKRYPT_CACHE_PORT", &cache_port_s)
            .env("ENKRYPT_CACHE_PASSWORD", PW)
            .stderr(Stdio::null());
    });
    wait_port(gw_metrics);

    // compose/prometheus: the same files, the service names made local, the secrets files
    // written, and a 1 s interval so the test does not wait 15 s per scrape.
    std::fs::write(d.join("gateway_admin_key"), ADMIN).expect("secret");
    std::fs::write(d.join("cache_password"), PW).expect("secret");
    let prom_dir = repo().join("compose/prometheus");
    let yml = std::fs::read_to_string(prom_dir.join("prometheus.yml"))
        .expect("prometheus.yml")
        .replace("gateway:9100", &format!("127.0.0.1:{gw_metrics}"))
        .replace("cache:9121", &format!("127.0.0.1:{cache_metrics}"))
        .replace("otel-collector:8889", &format!("127.0.0.1:{}", free_port()))
        .replace("/run/secrets/", &format!("{}/", d.display()))
        .replace("interval: 15s", "interval: 1s");
    assert!(
        !yml.contains("gateway:") && !yml.contains("cache:9121"),
        "every target made local"
    );
    std::fs::write(d.join("prometheus.yml"), &yml).expect("write");
    std::fs::copy(prom_dir.join("alerts.yml"), d.join("alerts.yml")).expect("alerts");
    run_ok(
        tool("promtool", "apt-get install prometheus")
            .args(["check", "config"])
            .arg(d.join("prometheus.yml")),
    );
    let prom_port = free_port();
    let _prom = Proc(
        tool("prometheus", "apt-get install prometheus")
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    wait_port(prom_port);

    // Some traffic: discovery, three calls and one refused key.
    let client = connect_http(&gw.url(), KEY).await.expect("connect");
    for _ in 0..3 {
        let (err, text, _) = call(&client, "echo", json!({"message": "hi"})).await;
        assert!(!err, "{text}");
    }
    assert!(connect_http(&gw.url(), "not-a-key").await.is_err());

    let http = reqwest::Client::new();
    let api = |path: &str| format!("http://127.0.0.1:{prom_port}/api/v1/{path}");
    let query = |q: String| {
        let http = http.clone();
        let url = api("query");
        async move {
            let v: Value = http
                .get(url)
                .query(&[("query", q.as_str())])
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("json");
            v
        }
    };
    // Both targets are scraped (with the secrets as credentials) and report calls.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = query("sum(up{job=~\"secure-mcp-gateway|cachesrv\"})".into()).await;
        let calls = query("sum(enkrypt_tool_calls_total)".into()).await;
        let up = up.pointer("/data/result/0/value/1").and_then(Value::as_str) == Some("2");
        let calls = calls
            .pointer("/data/result/0/value/1")
            .and_then(Value::as_str)
            == Some("3");
        if up && calls {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape both targets with 3 calls"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The alert rules are loaded.
    let rules: Value = http
        .get(api("rules"))
        .send()
        .await
        .expect("rules")
        .json()
        .await
        .expect("json");
    let text = rules.to_string();
    for name in [
        "GatewayDown",
        "CacheDown",
        "UpstreamDown",
        "GuardrailBlockSpike",
        "ToolErrorRate",
        "AuthFailureSpike",
    ] {
        assert!(text.contains(name), "rule {name} loaded: {text}");
    }
    // Every dashboard query runs, and every series it names exists.
    let names: Value =
        query("group by (__name__) ({__name__=~\"enkrypt_.+|redis_.+\"})".into()).await;
    let present: HashSet<String> = names
        .pointer("/data/result")
        .and_then(Value::as_array)
        .expect("names")
        .iter()
        .filter_map(|r| {
            r.pointer("/metric/__name__")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let mut checked = 0;
    for file in ["gateway.json", "cache.json"] {
        let dash: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("compose/grafana/dashboards").join(file))
                .expect("dashboard"),
        )
        .expect("dashboard json");
        for panel in dash["panels"].as_array().expect("panels") {
            for t in panel["targets"].as_array().expect("targets") {
                let expr = t["expr"].as_str().expect("expr");
                let v = query(expr.to_string()).await;
                assert_eq!(v["status"], "success", "{file}: {expr}: {v}");
                for n in metric_names(expr) {
                    assert!(
                        present.contains(&n),
                        "{file}: {expr}: no series {n} (have {present:?})"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked} queries");
}
