//! The `config` command group through the real binary, against a temporary HOME and
//! `--config` file (and `--help` for every group): `--json` outputs parsed back, error cases
//! (exit 1, one line on stderr, the file byte-identical), masking.

mod common_cli;

use common_cli::*;
use serde_json::{json, Value};

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
