//! Config entries the reference gateway reads that this one must read the same way: projects
//! without an mcp_config, `denied_tools` objects and globs, `"type": "sse"`, the log level and
//! format, the cache lifetimes in hours or minutes, and the 2.1 and 2.2 spellings of the same
//! guardrail settings.

use gateway::config::{parse, GatewayConfig, ParseError};

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
