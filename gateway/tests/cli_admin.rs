//! The `config`, `project` and `user` command groups through the real binary, against a
//! temporary HOME and `--config` file: `--json` outputs parsed back, error cases (exit 1, one
//! line on stderr, the file byte-identical), concurrent writers, and a config written by the
//! reference CLI edited without losing any key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

struct Env {
    home: tempfile::TempDir,
    config: PathBuf,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_secure-mcp-gateway")
}

impl Env {
    /// A HOME with a config written by `generate-config`.
    fn generated() -> Env {
        let e = Env::empty();
        let out = e.run(&["generate-config", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }

    /// A HOME with `fixture` (from tests/fixtures/reference) as the config.
    fn reference(fixture: &str) -> Env {
        let e = Env::empty();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference")
            .join(fixture);
        std::fs::create_dir_all(e.config.parent().unwrap()).unwrap();
        std::fs::copy(src, &e.config).unwrap();
        e
    }

    fn empty() -> Env {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".enkrypt").join("enkrypt_mcp_config.json");
        Env { home, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .env("HOME", self.home.path())
            .env_remove("ENKRYPT_CONFIG_PATH")
            .current_dir(self.home.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run the gateway binary")
    }

    /// Runs `args` with `--json`; asserts exit 0 and returns the parsed stdout.
    fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `args`; asserts exit 1, exactly one line on stderr, and the config file unchanged.
    /// Returns that line.
    fn fails(&self, args: &[&str]) -> String {
        let before = std::fs::read(&self.config).ok();
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err:?}"
        );
        assert_eq!(
            std::fs::read(&self.config).ok(),
            before,
            "{args:?} changed the file"
        );
        err.trim_end().to_string()
    }

    fn file(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.config).unwrap()).unwrap()
    }

    fn text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|i| b[*i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn config_by_name<'a>(file: &'a Value, name: &str) -> (&'a String, &'a Value) {
    file["mcp_configs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, c)| c["mcp_config_name"] == name)
        .unwrap_or_else(|| panic!("no config {name}"))
}

#[test]
fn every_group_and_subcommand_has_help() {
    let e = Env::empty();
    for group in ["config", "project", "user"] {
        let out = e.text(&[group, "--help"]);
        assert!(out.contains("list"), "{group}: {out}");
    }
    for sub in [
        "add-server",
        "update-server-guardrails",
        "configure-telemetry",
        "get-enkrypt-api-key",
    ] {
        let out = e.text(&["config", sub, "--help"]);
        assert!(out.contains("--json"), "config {sub}: {out}");
    }
    assert!(e
        .text(&["project", "add-user", "--help"])
        .contains("--email"));
    assert!(e.text(&["user", "delete", "--help"]).contains("--force"));
}

#[test]
fn config_group_lifecycle() {
    let e = Env::generated();
    let added = e.ok(&["config", "add", "--config-name", "team"]);
    let id = added["mcp_config_id"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&id), "{id}");
    assert_eq!(added["mcp_config_name"], "team");
    // The text form is the reference's.
    let t = e.text(&["config", "add", "--config-name", "other"]);
    assert!(t.starts_with("mcp_config_id: "), "{t}");
    e.fails(&["config", "add", "--config-name", "team"]);

    let listed = e.ok(&["config", "list"]);
    let team = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mcp_config_name"] == "team")
        .unwrap();
    assert_eq!(team["servers"], 0);
    assert_eq!(team["used_by_projects"], json!([]));

    // A stdio server with a secret env value, and a remote one with secret headers.
    e.ok(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--server-command",
        "npx",
        "--args=-y,@org/pkg",
        "--env",
        r#"{"API_TOKEN": "tok-SECRET-1", "MODE": "fast"}"#,
        "--denied-tools",
        r#"["rm*", {"name": "drop", "reason": "no"}]"#,
        "--description",
        "Local one",
    ]);
    e.ok(&[
        "config",
        "add-server",
        "--config-id",
        &id,
        "--server-name",
        "remote",
        "--server-url",
        "https://u:pw-SECRET-2@mcp.example.com/mcp?token=SECRET-3&x=1",
        "--transport",
        "sse",
        "--headers",
        r#"{"Authorization": "Bearer SECRET-4", "X-Trace": "t"}"#,
        "--tools",
        r#"{"search": {}}"#,
    ]);
    let file = e.file();
    let (_, cfg) = config_by_name(&file, "team");
    let local = &cfg["mcp_config"][0];
    assert_eq!(
        local["config"],
        json!({"command": "npx", "args": ["-y", "@org/pkg"], "env": {"API_TOKEN": "tok-SECRET-1", "MODE": "fast"}})
    );
    assert_eq!(
        local["denied_tools"],
        json!(["rm*", {"name": "drop", "reason": "no"}])
    );
    assert_eq!(local["description"], "Local one");
    assert_eq!(local["input_guardrails_config"]["enabled"], false);
    let remote = &cfg["mcp_config"][1];
    assert_eq!(remote["config"]["transport"], "sse");
    assert_eq!(remote["tools"], json!({"search": {}}));

    // Shown with secrets masked whole, in every read command.
    for args in [
        vec![
            "config",
            "get-server",
            "--config-name",
            "team",
            "--server-name",
            "remote",
        ],
        vec![
            "config",
            "get-server",
            "--config-name",
            "team",
            "--server-name",
            "local",
        ],
        vec!["config", "get", "--config-name", "team"],
        vec!["config", "list-servers", "--config-name", "team"],
    ] {
        let v = e.ok(&args);
        let s = v.to_string();
        assert!(!s.contains("SECRET"), "{args:?}: {s}");
    }
    let local = e.ok(&[
        "config",
        "get-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
    ]);
    assert_eq!(
        local["config"]["env"],
        json!({"API_TOKEN": "****", "MODE": "fast"})
    );
    let got = e.ok(&["config", "get", "--config-id", &id]);
    assert_eq!(got["mcp_config_id"], id.as_str());
    assert_eq!(got["mcp_config"].as_array().unwrap().len(), 2);
    let servers = e.ok(&["config", "list-servers", "--config-name", "team"]);
    assert_eq!(servers[0]["command"], "npx");
    assert_eq!(servers[1]["tools"], 1);

    // Duplicates, bad JSON, both or neither transport: refused, file untouched.
    e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--server-command",
        "x",
    ]);
    e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "n",
        "--server-command",
        "x",
        "--env",
        "{nope",
    ]);
    e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "n",
    ]);
    e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "n",
        "--server-command",
        "x",
        "--server-url",
        "https://h/",
    ]);
    e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "n",
        "--server-command",
        "x",
        "--type",
        "http",
    ]);
    // The validator refuses what the gateway could not run, naming the JSON path.
    let err = e.fails(&[
        "config",
        "add-server",
        "--config-name",
        "team",
        "--server-name",
        "n",
        "--server-command",
        "x",
        "--env",
        r#"{"A": 5}"#,
    ]);
    assert!(err.contains("mcp_configs.") && err.contains("env"), "{err}");

    e.ok(&[
        "config",
        "update-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--args",
        "a,b",
        "--description",
        "changed",
    ]);
    let file = e.file();
    let (_, cfg) = config_by_name(&file, "team");
    assert_eq!(cfg["mcp_config"][0]["config"]["args"], json!(["a", "b"]));
    assert_eq!(cfg["mcp_config"][0]["description"], "changed");
    assert_eq!(
        cfg["mcp_config"][0]["config"]["env"]["API_TOKEN"],
        "tok-SECRET-1"
    );

    // Guardrail policies from text and from a file.
    let policy = json!({"enabled": true, "guardrail_name": "g1", "block": ["pii"]});
    e.ok(&[
        "config",
        "update-server-input-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--policy",
        &policy.to_string(),
    ]);
    let pf = e.home.path().join("out.json");
    std::fs::write(
        &pf,
        json!({"enabled": true, "guardrail_name": "g2", "block": []}).to_string(),
    )
    .unwrap();
    e.ok(&[
        "config",
        "update-server-output-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--policy-file",
        pf.to_str().unwrap(),
    ]);
    let both = e.ok(&[
        "config",
        "update-server-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "remote",
        "--input-policy",
        &policy.to_string(),
        "--output-policy-file",
        pf.to_str().unwrap(),
    ]);
    assert_eq!(both["updated"], json!(["input", "output"]));
    let file = e.file();
    let (_, cfg) = config_by_name(&file, "team");
    assert_eq!(cfg["mcp_config"][0]["input_guardrails_config"], policy);
    assert_eq!(
        cfg["mcp_config"][0]["output_guardrails_config"]["guardrail_name"],
        "g2"
    );
    assert_eq!(cfg["mcp_config"][1]["input_guardrails_config"], policy);
    assert_eq!(
        cfg["mcp_config"][1]["output_guardrails_config"]["guardrail_name"],
        "g2"
    );
    e.fails(&[
        "config",
        "update-server-input-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "local",
    ]);
    e.fails(&[
        "config",
        "update-server-input-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "local",
        "--policy",
        "{}",
        "--policy-file",
        pf.to_str().unwrap(),
    ]);
    e.fails(&[
        "config",
        "update-server-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "local",
    ]);
    e.fails(&[
        "config",
        "update-server-input-guardrails",
        "--config-name",
        "team",
        "--server-name",
        "ghost",
        "--policy",
        "{}",
    ]);

    // Copy, rename, search, export, import.
    let copied = e.ok(&[
        "config",
        "copy",
        "--source-config",
        "team",
        "--target-config",
        "team2",
    ]);
    assert_ne!(copied["mcp_config_id"], id.as_str());
    e.ok(&[
        "config",
        "rename",
        "--config-name",
        "team2",
        "--new-name",
        "team3",
    ]);
    let found = e.ok(&["config", "search", "--search-term", "TEAM"]);
    let names: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["mcp_config_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team", "team3"]);
    let by_server = e.ok(&["config", "search", "--search-term", "remot"]);
    assert!(by_server
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["match_type"] == "server_name"));
    let export = e.home.path().join("team.json");
    e.ok(&[
        "config",
        "export",
        "--config-name",
        "team",
        "--output-file",
        export.to_str().unwrap(),
    ]);
    let exported: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(exported["mcp_config_id"], id.as_str());
    assert_eq!(
        exported["config"]["mcp_config"][0]["config"]["env"]["API_TOKEN"],
        "tok-SECRET-1"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&export).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let imported = e.ok(&[
        "config",
        "import",
        "--input-file",
        export.to_str().unwrap(),
        "--config-name",
        "team4",
    ]);
    let file = e.file();
    let (new_id, cfg) = config_by_name(&file, "team4");
    assert_eq!(imported["mcp_config_id"], new_id.as_str());
    assert_eq!(cfg["mcp_config"], exported["config"]["mcp_config"]);
    e.fails(&[
        "config",
        "import",
        "--input-file",
        pf.to_str().unwrap(),
        "--config-name",
        "team5",
    ]);

    // Validate: exit 0 for a good config; list-projects; remove refused while in use.
    assert_eq!(
        e.ok(&["config", "validate", "--config-name", "team"])["valid"],
        true
    );
    let proj = e.ok(&["project", "create", "--project-name", "p"]);
    e.ok(&[
        "project",
        "assign-config",
        "--project-name",
        "p",
        "--config-name",
        "team",
    ]);
    let using = e.ok(&["config", "list-projects", "--config-name", "team"]);
    assert_eq!(
        using,
        json!([{"project_id": proj["project_id"], "project_name": "p", "users": 0}])
    );
    let err = e.fails(&["config", "remove", "--config-name", "team"]);
    assert!(err.contains("used by projects"), "{err}");
    e.ok(&["config", "remove", "--config-name", "team3"]);
    assert!(e.file()["mcp_configs"]
        .as_object()
        .unwrap()
        .values()
        .all(|c| c["mcp_config_name"] != "team3"));

    // Servers out.
    e.ok(&[
        "config",
        "remove-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
    ]);
    e.fails(&[
        "config",
        "remove-server",
        "--config-name",
        "team",
        "--server-name",
        "local",
    ]);
    let r = e.ok(&["config", "remove-all-servers", "--config-name", "team4"]);
    assert_eq!(r["removed"], 2);
    let file = e.file();
    assert_eq!(config_by_name(&file, "team4").1["mcp_config"], json!([]));
    assert_eq!(
        config_by_name(&file, "team").1["mcp_config"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn config_validate_reports_problems_with_their_path_and_exits_1() {
    let e = Env::generated();
    e.ok(&["config", "add", "--config-name", "bad"]);
    // Break the config by hand, as an editor would.
    let mut file = e.file();
    let (id, _) = config_by_name(&file, "bad");
    let id = id.clone();
    file["mcp_configs"][&id]["mcp_config"] =
        json!([{"server_name": "s", "config": {"command": 7}}]);
    std::fs::write(&e.config, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let out = e.run(&["config", "validate", "--config-name", "bad", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let issues = v["issues"].as_array().unwrap();
    assert!(
        !issues.is_empty() && issues.iter().all(|i| i.as_str().unwrap().contains(&id)),
        "{v}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
    // Every other command refuses the invalid file with the validator's message, file untouched.
    let err = e.fails(&["config", "add", "--config-name", "x"]);
    assert!(
        err.contains(&format!("mcp_configs.{id}.mcp_config[0]")),
        "{err}"
    );
    let err = e.fails(&["user", "list"]);
    assert!(err.contains("mcp_config[0]"), "{err}");
    // Malformed JSON: the position, nothing written.
    std::fs::write(&e.config, "{\n  \"projects\": [,\n}").unwrap();
    let err = e.fails(&["project", "create", "--project-name", "p"]);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn enkrypt_key_and_telemetry() {
    let e = Env::reference("01-generate-config.json");
    let v = e.ok(&["config", "get-enkrypt-api-key"]);
    assert_eq!(v["enkrypt_api_key"], "****");
    assert_eq!(v["placeholder"], true);
    let secret = "ek-live-SECRET-0123456789";
    let set = e.run(&["config", "set-enkrypt-api-key", "--api-key", secret]);
    assert!(set.status.success());
    assert!(!String::from_utf8_lossy(&set.stdout).contains("SECRET"));
    assert_eq!(e.file()["enkrypt_config"]["api_key"], secret);
    let out = e.run(&["config", "get-enkrypt-api-key", "--json"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("SECRET") && !shown.contains("ek-l"),
        "{shown}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&shown).unwrap()["placeholder"],
        false
    );

    let t = e.ok(&[
        "config",
        "configure-telemetry",
        "--enabled",
        "false",
        "--url",
        "http://otel:4317",
    ]);
    assert_eq!(t, json!({"enabled": false, "url": "http://otel:4317"}));
    let file = e.file();
    assert_eq!(
        file["plugins"]["telemetry"]["config"],
        json!({"enabled": false, "url": "http://otel:4317", "insecure": true})
    );
    e.fails(&["config", "configure-telemetry"]);

    // A file without a telemetry section: refused as by the reference.
    let g = Env::generated();
    let mut f = g.file();
    f.as_object_mut().unwrap().remove("plugins");
    if let Some(c) = f["common_mcp_gateway_config"].as_object_mut() {
        c.remove("enkrypt_telemetry");
    }
    std::fs::write(&g.config, serde_json::to_string_pretty(&f).unwrap()).unwrap();
    g.fails(&["config", "configure-telemetry", "--enabled", "true"]);
}

#[test]
fn project_group_lifecycle() {
    let e = Env::generated();
    let p = e.ok(&["project", "create", "--project-name", "alpha"]);
    let pid = p["project_id"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&pid));
    assert!(e
        .text(&["project", "create", "--project-name", "beta"])
        .starts_with("project_id: "));
    e.fails(&["project", "create", "--project-name", "alpha"]);
    assert_eq!(
        e.file()["projects"][&pid],
        json!({"project_name": "alpha", "mcp_config_id": null, "users": [], "created_at": e.file()["projects"][&pid]["created_at"]})
    );

    let u = e.ok(&["user", "create", "--email", "bob@example.com"]);
    let uid = u["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        e.ok(&[
            "project",
            "add-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["added"],
        true
    );
    assert_eq!(
        e.ok(&[
            "project",
            "add-user",
            "--project-id",
            &pid,
            "--user-id",
            &uid
        ])["added"],
        false
    );
    assert_eq!(e.file()["projects"][&pid]["users"], json!([uid]));
    let users = e.ok(&["project", "list-users", "--project-name", "alpha"]);
    assert_eq!(users[0]["email"], "bob@example.com");
    assert_eq!(users[0]["api_keys"], 0);

    let err = e.fails(&["project", "get-config", "--project-name", "alpha"]);
    assert!(err.contains("no assigned config"), "{err}");
    e.fails(&["project", "unassign-config", "--project-name", "alpha"]);
    e.ok(&["config", "add", "--config-name", "c1"]);
    let a = e.ok(&[
        "project",
        "assign-config",
        "--project-name",
        "alpha",
        "--config-name",
        "c1",
    ]);
    assert_eq!(a["replaced"], Value::Null);
    let file = e.file();
    let (cid, _) = config_by_name(&file, "c1");
    assert_eq!(file["projects"][&pid]["mcp_config_id"], cid.as_str());
    assert_eq!(
        e.ok(&["project", "get-config", "--project-id", &pid])["mcp_config_id"],
        cid.as_str()
    );

    let got = e.ok(&["project", "get", "--project-name", "alpha"]);
    assert_eq!(got["project_id"], pid.as_str());
    assert_eq!(got["mcp_config"]["mcp_config_name"], "c1");
    assert_eq!(got["users"][0]["user_id"], uid.as_str());
    assert_eq!(got["api_keys"], 0);
    let listed = e.ok(&["project", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3);

    let found = e.ok(&["project", "search", "--search-term", "BOB@"]);
    assert_eq!(
        found,
        json!([{"project_id": pid, "project_name": "alpha", "match_type": "user_email", "users": 1}])
    );

    let out = e.home.path().join("p.json");
    e.ok(&[
        "project",
        "export",
        "--project-name",
        "alpha",
        "--output-file",
        out.to_str().unwrap(),
    ]);
    let x: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(x["project_id"], pid.as_str());
    assert_eq!(x["config"]["mcp_config_name"], "c1");
    assert_eq!(x["users"][0]["email"], "bob@example.com");

    assert_eq!(
        e.ok(&[
            "project",
            "remove-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["removed"],
        true
    );
    assert_eq!(
        e.ok(&[
            "project",
            "remove-user",
            "--project-name",
            "alpha",
            "--email",
            "bob@example.com"
        ])["removed"],
        false
    );
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "alpha",
        "--email",
        "bob@example.com",
    ]);
    assert_eq!(
        e.ok(&["project", "remove-all-users", "--project-name", "alpha"])["removed"],
        1
    );
    assert_eq!(e.file()["projects"][&pid]["users"], json!([]));
    e.ok(&["project", "unassign-config", "--project-name", "alpha"]);
    assert_eq!(e.file()["projects"][&pid]["mcp_config_id"], Value::Null);

    e.ok(&["project", "remove", "--project-name", "alpha"]);
    assert!(e.file()["projects"].get(&pid).is_none());

    // Unknown names, missing identifiers.
    for args in [
        vec!["project", "get", "--project-name", "ghost"],
        vec!["project", "get"],
        vec![
            "project",
            "assign-config",
            "--project-name",
            "beta",
            "--config-name",
            "ghost",
        ],
        vec![
            "project",
            "add-user",
            "--project-name",
            "beta",
            "--email",
            "ghost@example.com",
        ],
        vec!["project", "add-user", "--project-name", "beta"],
        vec![
            "project",
            "remove",
            "--project-id",
            "00000000-0000-4000-8000-000000000000",
        ],
    ] {
        e.fails(&args);
    }
}

#[test]
fn user_group_lifecycle() {
    let e = Env::generated();
    let u = e.ok(&["user", "create", "--email", "carol@example.com"]);
    let uid = u["user_id"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&uid));
    assert!(e
        .text(&["user", "create", "--email", "dan@example.com"])
        .starts_with("user_id: "));
    let err = e.fails(&["user", "create", "--email", "not-an-email"]);
    assert!(err.contains("Invalid email"), "{err}");
    e.fails(&["user", "create", "--email", "carol@example.com"]);

    e.ok(&["project", "create", "--project-name", "gamma"]);
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "gamma",
        "--user-id",
        &uid,
    ]);
    let got = e.ok(&["user", "get", "--email", "carol@example.com"]);
    assert_eq!(got["user_id"], uid.as_str());
    assert_eq!(got["projects"][0]["project_name"], "gamma");
    assert_eq!(got["api_keys"], json!([]));
    let projects = e.ok(&["user", "list-projects", "--user-id", &uid]);
    assert_eq!(projects[0]["project_name"], "gamma");
    assert_eq!(projects[0]["api_keys"], 0);
    let all = e.ok(&["user", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let found = e.ok(&["user", "search", "--search-term", "GAMM"]);
    assert_eq!(
        found,
        json!([{"user_id": uid, "email": "carol@example.com", "match_type": "project_name", "api_keys": 0}])
    );

    let upd = e.ok(&[
        "user",
        "update",
        "--email",
        "carol@example.com",
        "--new-email",
        "carol@new.example.org",
    ]);
    assert_eq!(upd["old_email"], "carol@example.com");
    assert_eq!(e.file()["users"][&uid]["email"], "carol@new.example.org");
    e.fails(&[
        "user",
        "update",
        "--user-id",
        &uid,
        "--new-email",
        "dan@example.com",
    ]);
    e.fails(&["user", "update", "--user-id", &uid, "--new-email", "bad"]);

    // In a project: delete refused without --force, then cleaned up with it.
    let err = e.fails(&["user", "delete", "--user-id", &uid]);
    assert!(err.contains("--force"), "{err}");
    let d = e.ok(&["user", "delete", "--user-id", &uid, "--force"]);
    assert_eq!(d["removed_from_projects"][0]["project_name"], "gamma");
    let file = e.file();
    assert!(file["users"].get(&uid).is_none());
    assert!(file["projects"]
        .as_object()
        .unwrap()
        .values()
        .all(|p| !p["users"].as_array().unwrap().contains(&json!(uid))));
    e.ok(&["user", "delete", "--email", "dan@example.com"]);

    for args in [
        vec!["user", "get", "--email", "ghost@example.com"],
        vec!["user", "get"],
        vec!["user", "list-projects", "--user-id", "nope"],
        vec!["user", "delete", "--email", "ghost@example.com", "--force"],
    ] {
        e.fails(&args);
    }
}

/// Every `apikeys` map key of a reference file (the gateway keys themselves, legacy format).
fn gateway_keys(file: &Value) -> Vec<String> {
    file["apikeys"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn keys_are_counted_and_removed_but_never_shown() {
    let e = Env::reference("05-disable-api-key.json");
    let keys = gateway_keys(&e.file());
    assert_eq!(keys.len(), 4);
    let mut shown = String::new();
    for args in [
        vec!["user", "list"],
        vec!["user", "get", "--email", "alice@example.com"],
        vec!["user", "list-projects", "--email", "alice@example.com"],
        vec!["user", "search", "--search-term", "alice"],
        vec!["project", "list"],
        vec!["project", "get", "--project-name", "parity_project"],
        vec!["project", "list-users", "--project-name", "parity_project"],
        vec!["project", "remove", "--project-name", "parity_project"],
        vec!["user", "delete", "--email", "alice@example.com"],
        vec!["config", "get", "--config-name", "parity_config"],
        vec!["project", "get-config", "--project-name", "parity_project"],
    ] {
        for json in [true, false] {
            let mut a = args.clone();
            if json {
                a.push("--json");
            }
            let out = e.run(&a);
            shown.push_str(&String::from_utf8_lossy(&out.stdout));
            shown.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    for k in &keys {
        assert!(
            !shown.contains(&k[..8]),
            "a gateway key (or its start) was shown"
        );
    }
    for secret in ["QZ", "pwQZhunter2", "sk-QZlive"] {
        assert!(!shown.contains(secret), "{secret} shown");
    }

    let alice = e.ok(&["user", "get", "--email", "alice@example.com"]);
    let ks = alice["api_keys"].as_array().unwrap();
    assert_eq!(ks.len(), 3);
    assert_eq!(ks.iter().filter(|k| k["disabled"] == true).count(), 1);
    let p = e.ok(&["project", "get", "--project-name", "parity_project"]);
    assert_eq!(p["api_keys"], 2);

    // A project with keys: refused, then removed with its keys under --force.
    let err = e.fails(&["project", "remove", "--project-name", "parity_project"]);
    assert!(err.contains("2 API keys"), "{err}");
    let r = e.ok(&[
        "project",
        "remove",
        "--project-name",
        "parity_project",
        "--force",
    ]);
    assert_eq!(r["api_keys_removed"], 2);
    let file = e.file();
    assert_eq!(gateway_keys(&file).len(), 2);
    assert!(file["apikeys"]
        .as_object()
        .unwrap()
        .values()
        .all(|k| k["project_id"] != p["project_id"]));

    // A user with keys: refused, then deleted with their keys under --force.
    e.fails(&["user", "delete", "--email", "alice@example.com"]);
    let d = e.ok(&["user", "delete", "--email", "alice@example.com", "--force"]);
    assert_eq!(d["api_keys_removed"], 1);
    let file = e.file();
    assert_eq!(gateway_keys(&file), [keys[0].clone()]);
    // The result still loads: the default key works as before.
    assert_eq!(e.ok(&["project", "list"]).as_array().unwrap().len(), 2);
}

/// `new` holds everything `old` holds: each object key with an equal value, or (for objects
/// and lists) a value that holds the old one; a list may have grown at its end.
fn assert_contains(old: &Value, new: &Value, path: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let new_keys: Vec<&String> = n.keys().filter(|k| o.contains_key(*k)).collect();
            let old_keys: Vec<&String> = o.keys().collect();
            assert_eq!(new_keys, old_keys, "{path}: keys lost or reordered");
            for (k, v) in o {
                assert_contains(v, &n[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert!(n.len() >= o.len(), "{path}: list shrank");
            for (i, v) in o.iter().enumerate() {
                assert_contains(v, &n[i], &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(old, new, "{path}"),
    }
}

#[test]
fn a_reference_config_keeps_every_key_through_our_edits() {
    let e = Env::reference("05-disable-api-key.json");
    let before = e.file();
    e.ok(&["config", "add", "--config-name", "ours"]);
    e.ok(&[
        "config",
        "add-server",
        "--config-name",
        "parity_config",
        "--server-name",
        "added",
        "--server-command",
        "true",
    ]);
    e.ok(&["project", "create", "--project-name", "ours"]);
    e.ok(&["user", "create", "--email", "erin@example.com"]);
    e.ok(&[
        "project",
        "add-user",
        "--project-name",
        "ours",
        "--email",
        "erin@example.com",
    ]);
    e.ok(&[
        "project",
        "assign-config",
        "--project-name",
        "ours",
        "--config-name",
        "ours",
    ]);
    let after = e.file();
    assert_contains(&before, &after, "");
    // What we added is there too, and the text is still the reference's layout (2-space JSON).
    let (_, parity) = config_by_name(&after, "parity_config");
    assert_eq!(
        parity["mcp_config"].as_array().unwrap().last().unwrap()["server_name"],
        "added"
    );
    let text = std::fs::read_to_string(&e.config).unwrap();
    assert!(text.starts_with("{\n  \"admin_apikey\""), "{}", &text[..40]);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let e = Env::generated();
    e.ok(&["config", "add", "--config-name", "busy"]);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let home = e.home.path().to_path_buf();
            let config = e.config.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let name = format!("w{w}-s{i}");
                    let out = Command::new(bin())
                        .env("HOME", &home)
                        .arg("--config")
                        .arg(&config)
                        .args([
                            "config",
                            "add-server",
                            "--config-name",
                            "busy",
                            "--server-name",
                            &name,
                            "--server-command",
                            "true",
                        ])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{name}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let file = e.file();
    let (_, cfg) = config_by_name(&file, "busy");
    let mut names: Vec<String> = cfg["mcp_config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 400);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 400);
    let listed = e.ok(&["config", "list-servers", "--config-name", "busy"]);
    assert_eq!(listed.as_array().unwrap().len(), 400);
}
