//! Config entries the reference gateway reads that this one must read the same way: projects
//! without an mcp_config, `denied_tools` objects and globs, `"type": "sse"`, the log level and
//! format, the cache lifetimes in hours or minutes, and the 2.1 and 2.2 spellings of the same
//! guardrail settings.

use gateway::config::{parse, GatewayConfig, ParseError};
use serde_json::{json, Value};

fn ok(text: &str) -> GatewayConfig {
    match parse(text) {
        Ok(l) => l.config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn issues(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected an invalid config:\n{text}"),
        Err(ParseError::Invalid(v)) => v.issues().iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected validation issues, got {e}"),
    }
}

fn one_server(server: Value) -> String {
    json!({ "mcp_configs": { "m": { "mcp_config": [server] } } }).to_string()
}
// ---------------------------------------------------------------------------------------------
// Projects without an mcp_config

#[test]
fn null_or_absent_mcp_config_id_means_no_servers() {
    let c = ok(r#"{
      "mcp_configs": {"m": {"mcp_config": [{"server_name": "s", "config": {"command": "x"}}]}},
      "projects": {"p": {"project_name": "new", "mcp_config_id": null, "users": ["u"]},
                   "q": {"project_name": "bare", "users": ["u"]}},
      "users": {"u": {}},
      "apikeys": {"key-null-0123456789": {"project_id": "p", "user_id": "u"},
                  "key-bare-0123456789": {"project_id": "q", "user_id": "u"}}
    }"#);
    for key in ["key-null-0123456789", "key-bare-0123456789"] {
        let r = c.resolve_key(key).expect("the key authenticates");
        assert!(r.mcp_config.servers.is_empty(), "{key}");
        assert_eq!(r.mcp_config_id(), "");
    }
    assert_eq!(
        issues(r#"{"projects": {"p": {"mcp_config_id": ""}}}"#),
        ["projects.p.mcp_config_id: must not be empty (null: no mcp_config yet)"]
    );
}

// ---------------------------------------------------------------------------------------------
// denied_tools

#[test]
fn denied_tools_take_names_globs_and_objects() {
    let c = ok(&one_server(json!({
        "server_name": "s", "config": {"command": "x"},
        "denied_tools": ["crash", "delete_*", "b?d", {"name": "add", "reason": "Not here", "description": "d"},
                         {"name": "rm[0-9]"}]
    })));
    let s = c.mcp_config("m").unwrap().server("s").unwrap();
    for denied in ["crash", "delete_repo", "delete_", "bad", "add", "rm1"] {
        assert!(!s.allows_tool(denied), "{denied}");
    }
    for allowed in [
        "crashed",
        "undelete_repo",
        "Delete_repo",
        "bard",
        "adds",
        "rmx",
        "echo",
    ] {
        assert!(s.allows_tool(allowed), "{allowed}");
    }
}

#[test]
fn deny_all_spares_only_the_allow_list() {
    let c = ok(&one_server(json!({
        "server_name": "s", "config": {"command": "x"},
        "tools": {"search": {}, "read": {}}, "denied_tools": ["*"]
    })));
    let s = c.mcp_config("m").unwrap().server("s").unwrap();
    assert!(s.allows_tool("search") && s.allows_tool("read"));
    assert!(!s.allows_tool("write"));
}

#[test]
fn bad_denied_entries_name_their_paths() {
    let p = "mcp_configs.m.mcp_config[0].denied_tools";
    assert_eq!(
        issues(&one_server(json!({
            "server_name": "s", "config": {"command": "x"},
            "denied_tools": [true, {"reason": "no name"}, {"name": ""}, {"name": "x", "reason": 3}]
        }))),
        [
            format!("{p}[0]: expected a tool name, a glob pattern or {{\"name\", \"reason\", \"description\"}}, got true"),
            format!("{p}[1].name: missing"),
            format!("{p}[2].name: must not be empty"),
            format!("{p}[3].reason: expected a string, got 3"),
        ]
    );
}
