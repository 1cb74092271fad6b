//! `install`, `system backup|restore|reset|health-check` through the real binary, with a
//! temporary HOME and `--config`.

mod common_gw;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common_gw::*;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::{json, Value};

/// Runs the gateway binary with HOME at `home` (no XDG_CONFIG_HOME) and `--config config`.
fn run(home: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(gateway_bin())
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ENKRYPT_CONFIG_PATH")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("gateway binary")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A generated config (demo upstream = this binary) with its embedded cache on a free port, so
/// that no other test's gateway answers for it. Returns (config path, its gateway key).
fn generated(dir: &Path, home: &Path) -> (PathBuf, String) {
    let path = dir.join("enkrypt_mcp_config.json");
    let out = run(home, &path, &["generate-config", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    edit_config(&path, |c| {
        c["common_mcp_gateway_config"]["enkrypt_embedded_cache_port"] = json!(free_port());
    });
    (path, v["api_key"].as_str().unwrap().to_string())
}

fn edit_config(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut c = read_json(path);
    f(&mut c);
    std::fs::write(path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

struct ClientCase {
    client: &'static str,
    file: &'static str,
    section: &'static str,
    name: &'static str,
    typed: bool,
}

const CLIENTS: [ClientCase; 4] = [
    ClientCase {
        client: "claude-desktop",
        file: ".config/Claude/claude_desktop_config.json",
        section: "mcpServers",
        name: "Enkrypt Secure MCP Gateway",
        typed: false,
    },
    ClientCase {
        client: "cursor",
        file: ".cursor/mcp.json",
        section: "mcpServers",
        name: "Enkrypt Secure MCP Gateway",
        typed: false,
    },
    ClientCase {
        client: "claude-code",
        file: ".claude.json",
        section: "mcpServers",
        name: "Enkrypt-Secure-MCP-Gateway",
        typed: true,
    },
    ClientCase {
        client: "vscode",
        file: ".config/Code/User/mcp.json",
        section: "servers",
        name: "Enkrypt-Secure-MCP-Gateway",
        typed: true,
    },
];

/// A client file already holding someone else's server and unrelated keys.
fn seed(case: &ClientCase) -> Value {
    let mut other =
        json!({ "command": "npx", "args": ["-y", "some-server"], "env": { "TOKEN": "theirs" } });
    if case.typed {
        other = json!({ "type": "stdio", "command": "npx", "args": ["-y", "some-server"] });
    }
    let mut v = json!({
        "theme": "dark",
        "numStartups": 7,
    });
    v[case.section] = json!({ "other-server": other });
    v["zLast"] = json!({ "nested": [1, 2, 3] });
    v
}

#[test]
fn install_writes_each_clients_own_file_keeping_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, key) = generated(dir.path(), home.path());
    for case in &CLIENTS {
        let file = home.path().join(case.file);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let seeded = seed(case);
        let seeded_text = serde_json::to_string_pretty(&seeded).unwrap();
        std::fs::write(&file, &seeded_text).unwrap();

        // --dry-run: shows the change, writes nothing.
        let before_files = files_in(file.parent().unwrap());
        let out = run(
            home.path(),
            &config,
            &[
                "install",
                "--client",
                case.client,
                "--api-key",
                &key,
                "--dry-run",
                "--json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["action"], "added", "{shown}");
        assert_eq!(shown["dry_run"], true);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            seeded_text,
            "{}",
            case.client
        );
        assert_eq!(files_in(file.parent().unwrap()), before_files);
        assert!(
            !text(&out).contains(&key),
            "the key was printed: {}",
            text(&out)
        );

        let out = run(
            home.path(),
            &config,
            &["install", "--client", case.client, "--api-key", &key],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            !text(&out).contains(&key),
            "the key was printed: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(&file.display().to_string()),
            "{}",
            text(&out)
        );

        let written = read_json(&file);
        let top: Vec<&String> = written.as_object().unwrap().keys().collect();
        assert_eq!(
            top,
            ["theme", "numStartups", case.section, "zLast"],
            "{}",
            case.client
        );
        for k in ["theme", "numStartups", "zLast"] {
            assert_eq!(written[k], seeded[k], "{} {k}", case.client);
        }
        let servers = written[case.section].as_object().unwrap();
        let names: Vec<&String> = servers.keys().collect();
        assert_eq!(names, ["other-server", case.name], "{}", case.client);
        assert_eq!(
            servers["other-server"],
            seeded[case.section]["other-server"]
        );
        let e = &servers[case.name];
        assert_eq!(e["command"], gateway_bin(), "{}", case.client);
        assert_eq!(
            e["args"],
            json!([
                "start",
                "--transport",
                "stdio",
                "--config",
                config.display().to_string()
            ])
        );
        assert_eq!(e["env"]["ENKRYPT_GATEWAY_KEY"], key.as_str());
        assert!(e["env"]["ENKRYPT_PROJECT_ID"].is_string());
        if case.typed {
            assert_eq!(e["type"], "stdio", "{}", case.client);
        } else {
            assert!(e.get("type").is_none(), "{}", case.client);
        }
        assert_eq!(mode(&file), 0o600, "{}", case.client);
        // The previous file is kept.
        let backups: Vec<String> = files_in(file.parent().unwrap())
            .into_iter()
            .filter(|n| n.contains(".bak."))
            .collect();
        assert_eq!(backups.len(), 1, "{}: {backups:?}", case.client);
        let kept = file.parent().unwrap().join(&backups[0]);
        assert_eq!(std::fs::read_to_string(kept).unwrap(), seeded_text);

        // Again: nothing to change, nothing rewritten.
        let out = run(
            home.path(),
            &config,
            &[
                "install",
                "--client",
                case.client,
                "--api-key",
                &key,
                "--json",
            ],
        );
        let again: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(again["action"], "unchanged", "{}", text(&out));
    }
}

#[test]
fn install_creates_a_missing_file_and_http_entries_carry_the_url_and_bearer_key() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, key) = generated(dir.path(), home.path());
    for case in &CLIENTS {
        let file = home.path().join(case.file);
        let out = run(
            home.path(),
            &config,
            &[
                "install",
                "--client",
                case.client,
                "--api-key",
                &key,
                "--dry-run",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(!file.exists(), "--dry-run created {}", file.display());

        let out = run(
            home.path(),
            &config,
            &[
                "install",
                "--client",
                case.client,
                "--api-key",
                &key,
                "--transport",
                "http",
                "--url",
                "https://gw.example.com/mcp/",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(!text(&out).contains(&key));
        let e = &read_json(&file)[case.section][case.name];
        assert_eq!(e["url"], "https://gw.example.com/mcp/");
        assert_eq!(e["headers"]["Authorization"], format!("Bearer {key}"));
        assert!(e.get("command").is_none());
        if case.typed {
            assert_eq!(e["type"], "http");
        }
        assert_eq!(mode(&file), 0o600);
    }
    // A client file that is not JSON is refused and left alone.
    let cursor = home.path().join(".cursor/mcp.json");
    std::fs::write(&cursor, "{ not json").unwrap();
    let out = run(home.path(), &config, &["install", "--client", "cursor"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("line 1"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "{ not json");
}

#[test]
fn install_issues_a_key_when_the_config_keeps_only_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, key) = generated(dir.path(), home.path());
    let file = home.path().join(".cursor/mcp.json");
    // --dry-run issues nothing.
    let out = run(
        home.path(),
        &config,
        &["install", "--client", "cursor", "--dry-run", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let keys_before = gateway::config::load(&config).unwrap().config.apikeys.len();
    assert_eq!(keys_before, 1);
    let out = run(
        home.path(),
        &config,
        &["install", "--client", "cursor", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key_issued"], true, "{v}");
    let installed = read_json(&file)["mcpServers"]["Enkrypt Secure MCP Gateway"]["env"]
        ["ENKRYPT_GATEWAY_KEY"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(installed, key);
    assert!(!text(&out).contains(&installed), "the key was printed");
    let cfg = gateway::config::load(&config).unwrap().config;
    assert_eq!(cfg.apikeys.len(), 2);
    let r = cfg
        .resolve_key(&installed)
        .expect("the installed key authenticates");
    assert_eq!(r.project.name.as_deref(), Some("default_project"));
}

#[test]
fn install_picks_the_first_enabled_key_or_the_one_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), vec![], json!({}));
    // The first key in the file is disabled.
    edit_config(&config, |c| {
        let keys = c["apikeys"].as_object().unwrap().clone();
        let mut reordered = serde_json::Map::new();
        reordered.insert(DISABLED_KEY.into(), keys[DISABLED_KEY].clone());
        reordered.insert(KEY.into(), keys[KEY].clone());
        c["apikeys"] = Value::Object(reordered);
    });
    let file = home.path().join(".cursor/mcp.json");
    let out = run(home.path(), &config, &["install", "--client", "cursor"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        read_json(&file)["mcpServers"]["Enkrypt Secure MCP Gateway"]["env"]["ENKRYPT_GATEWAY_KEY"],
        KEY
    );

    let out = run(
        home.path(),
        &config,
        &["install", "--client", "cursor", "--api-key", DISABLED_KEY],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("disabled"), "{}", text(&out));
    assert!(!text(&out).contains(DISABLED_KEY));
    let out = run(
        home.path(),
        &config,
        &[
            "install",
            "--client",
            "cursor",
            "--api-key",
            "not-a-key-of-this-config",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// What a user checks after `install`: the client starts the gateway as written in its file and
/// sees the tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_stdio_entry_starts_a_working_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = generated(dir.path(), home.path());
    let out = run(
        home.path(),
        &config,
        &["install", "--client", "claude-desktop"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let file = home
        .path()
        .join(".config/Claude/claude_desktop_config.json");
    let e = read_json(&file)["mcpServers"]["Enkrypt Secure MCP Gateway"].clone();
    let args: Vec<String> = e["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let env: Vec<(String, String)> = e["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let cmd = tokio::process::Command::new(e["command"].as_str().unwrap()).configure(move |c| {
        c.args(&args).envs(env).env_remove("ENKRYPT_CONFIG_PATH");
    });
    let (t, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = tokio::time::timeout(std::time::Duration::from_secs(30), ().serve(t))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let names = tool_names(&client).await;
    assert!(names.iter().any(|n| n.contains("echo")), "{names:?}");
    let _ = client.cancel().await;
}

#[test]
fn backup_reset_restore_gives_back_the_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, key) = generated(dir.path(), home.path());
    let original = read_json(&config);
    let backup = dir.path().join("backups").join("backup_20260304.json");

    // The spelling in the deployment guide.
    let out = run(
        home.path(),
        &config,
        &["system", "backup", "--output", backup.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&key));
    assert_eq!(mode(&backup), 0o600);
    let b = read_json(&backup);
    let fields: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["backup_version", "timestamp", "config"]);
    assert_eq!(b["backup_version"], "1.0");
    assert!(b["timestamp"].as_str().unwrap().starts_with("20"));
    assert_eq!(b["config"], original);

    // No reset without confirmation.
    let bytes = std::fs::read(&config).unwrap();
    let out = run(home.path(), &config, &["system", "reset"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--confirm"), "{}", text(&out));
    assert_eq!(std::fs::read(&config).unwrap(), bytes);

    let out = run(
        home.path(),
        &config,
        &["system", "reset", "--confirm", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = PathBuf::from(r["previous_config"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        bytes,
        "reset keeps the old file first"
    );
    let fresh = read_json(&config);
    assert!(
        fresh["apikeys"].get(&key).is_none(),
        "a new key after reset"
    );
    assert_eq!(fresh["users"].as_object().unwrap().len(), 1);
    assert_eq!(mode(&config), 0o600);

    let out = run(
        home.path(),
        &config,
        &["system", "restore", "--file", backup.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_json(&config), original);
    // The reference's spellings work too.
    let second = dir.path().join("b2.json");
    let out = run(
        home.path(),
        &config,
        &[
            "system",
            "backup",
            "--output-file",
            second.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        home.path(),
        &config,
        &[
            "system",
            "restore",
            "--input-file",
            second.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_json(&config), original);
    let out = run(home.path(), &config, &["system", "reset", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_backup_written_by_the_reference_gateway_restores() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = generated(dir.path(), home.path());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/06-system-backup.json");
    let out = run(
        home.path(),
        &config,
        &["system", "restore", "--file", fixture.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_json(&config), read_json(&fixture)["config"]);
    assert_eq!(mode(&config), 0o600);
    let out = run(
        home.path(),
        &config,
        &["system", "health-check", "--offline", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let restored = read_json(&fixture)["config"].clone();
    assert_eq!(r["status"], "healthy", "{r}");
    assert_eq!(
        r["statistics"]["total_api_keys"],
        restored["apikeys"].as_object().unwrap().len(),
        "{r}"
    );
    assert_eq!(
        r["statistics"]["total_projects"],
        restored["projects"].as_object().unwrap().len(),
        "{r}"
    );
    assert_eq!(r["statistics"]["disabled_api_keys"], 1, "{r}");
}

#[test]
fn a_bad_backup_is_refused_naming_the_problem_and_the_config_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = generated(dir.path(), home.path());
    let backup = dir.path().join("good.json");
    let out = run(
        home.path(),
        &config,
        &["system", "backup", "--output", backup.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let bytes = std::fs::read(&config).unwrap();
    let before_files = files_in(dir.path());

    let mut invalid = read_json(&backup);
    let pid = invalid["config"]["projects"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    invalid["config"]["projects"][&pid]["users"] = json!(42);
    let cases = [
        (
            "syntax.json",
            "{\"backup_version\": \"1.0\",\n \"config\": {\"projects\": }".to_string(),
            "line 2".to_string(),
        ),
        (
            "invalid.json",
            serde_json::to_string_pretty(&invalid).unwrap(),
            format!("config.projects.{pid}.users"),
        ),
        (
            "notabackup.json",
            "{\"projects\": {}}".to_string(),
            "config: missing".to_string(),
        ),
    ];
    for (name, content, expected) in cases {
        let f = dir.path().join("bad").join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, content).unwrap();
        let out = run(
            home.path(),
            &config,
            &["system", "restore", "--file", f.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&expected),
            "{name}: expected {expected:?} in {err}"
        );
        assert!(err.contains("not changed"), "{err}");
        assert_eq!(std::fs::read(&config).unwrap(), bytes, "{name}");
    }
    let mut after = files_in(dir.path());
    after.retain(|f| f != "bad");
    assert_eq!(after, before_files, "no copy made, no temp file left");
}

#[test]
fn health_check_passes_on_a_working_config_and_lists_what_it_checked() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, key) = generated(dir.path(), home.path());
    let out = run(home.path(), &config, &["system", "health-check", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(&key));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"], "healthy", "{r}");
    assert_eq!(r["issues"], json!([]));
    assert_eq!(
        r["statistics"],
        json!({"total_projects": 1, "total_users": 1, "total_configs": 1, "total_api_keys": 1, "disabled_api_keys": 0})
    );
    let ups = r["checks"]["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 1, "{r}");
    assert_eq!(ups[0]["server"], "echo");
    assert_eq!(ups[0]["ok"], true, "{r}");
    assert!(ups[0]["tools"].as_u64().unwrap() > 0, "{r}");
    // No gateway runs: said, not an error.
    assert_eq!(r["checks"]["cache"]["status"], "not_running", "{r}");
    assert_eq!(r["checks"]["guardrails"]["status"], "not_configured", "{r}");

    let out = run(home.path(), &config, &["system", "health-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Status: healthy") && t.contains("echo"), "{t}");
}

#[test]
fn health_check_fails_on_a_dangling_reference_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = generated(dir.path(), home.path());
    edit_config(&config, |c| {
        let pid = c["projects"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        c["projects"][&pid]["mcp_config_id"] = json!("no-such-config-0000");
    });
    for extra in [&[][..], &["--offline"][..]] {
        let mut args = vec!["system", "health-check", "--json"];
        args.extend_from_slice(extra);
        let out = run(home.path(), &config, &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["status"], "unhealthy");
        let issues = r["issues"].to_string();
        assert!(
            issues.contains(
                "Project default_project references non-existent config no-such-config-0000"
            ),
            "{issues}"
        );
    }
}

#[test]
fn health_check_fails_on_an_upstream_that_cannot_start_and_offline_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = generated(dir.path(), home.path());
    let marker = dir.path().join("started");
    edit_config(&config, |c| {
        let cid = c["mcp_configs"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        let servers = c["mcp_configs"][&cid]["mcp_config"].as_array_mut().unwrap();
        servers.push(
            json!({"server_name": "ghost", "description": "missing program",
            "config": {"command": "/nonexistent/mcp-server-ghost", "args": []}, "tools": {}}),
        );
        servers.push(json!({"server_name": "tracer", "description": "leaves a trace when started",
            "config": {"command": "sh", "args": ["-c", format!("touch '{}'", marker.display())]}, "tools": {}}));
    });

    let out = run(
        home.path(),
        &config,
        &["system", "health-check", "--offline", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!marker.exists(), "--offline started an upstream");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["checks"].get("upstreams").is_none(), "{r}");

    let out = run(home.path(), &config, &["system", "health-check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Status: unhealthy"), "{t}");
    assert!(t.contains("Upstream server `ghost`"), "{t}");
    assert!(t.contains("Upstream server `tracer`"), "{t}");
    assert!(marker.exists(), "the live check starts upstreams");
    // The healthy one is still listed as fine.
    assert!(t.contains("ok    echo"), "{t}");
}
