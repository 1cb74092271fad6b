//! The `mcp_configs` section: mcp_configs, their servers (upstream, tool lists, guardrail
//! policies) and `common_overrides`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{describe, given, is_http_url, join, Validator, MCP_CONFIGS};
use crate::config::deny::DeniedTool;
use crate::config::model::{
    GuardrailPolicy, McpConfig, RemoteServer, RemoteTransport, ServerConfig, StdioServer,
    UpstreamConfig,
};

impl Validator {
    pub(super) fn mcp_config(&mut self, id: &str, val: &Value) -> Option<McpConfig> {
        let path = join(MCP_CONFIGS, id);
        if id.trim().is_empty() {
            self.err(path.clone(), "an mcp_config id must not be empty");
        }
        let Value::Object(obj) = val else {
            self.err(path, format!("expected an object, got {}", describe(val)));
            return None;
        };
        let before = self.issues.len();
        let name = self.opt_string(obj, &path, "mcp_config_name");
        let list_path = join(&path, "mcp_config");
        let mut servers = Vec::new();
        match given(obj, "mcp_config") {
            None => {}
            Some(Value::Array(items)) => {
                let mut seen: HashMap<&str, usize> = HashMap::new();
                for (i, item) in items.iter().enumerate() {
                    let spath = format!("{list_path}[{i}]");
                    let server = self.server(item, &spath);
                    let name = item.get("server_name").and_then(Value::as_str);
                    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
                        if let Some(first) = seen.get(name) {
                            self.err(
                                join(&spath, "server_name"),
                                format!(
                                    "duplicate server name {} (also at mcp_config[{first}])",
                                    describe(&Value::String(name.to_string()))
                                ),
                            );
                            continue;
                        }
                        seen.insert(name, i);
                    }
                    servers.extend(server);
                }
            }
            Some(other) => self.err(
                list_path,
                format!("expected a list of servers, got {}", describe(other)),
            ),
        }
        let tools_guardrails = self.object(obj, &path, "common_overrides").and_then(|o| {
            let p = join(&path, "common_overrides");
            self.policy(
                o,
                &p,
                "server_tools_guardrails_config",
                "server_tools_guardrails_policy",
            )
        });
        (self.issues.len() == before && !id.trim().is_empty()).then(|| McpConfig {
            id: id.to_string(),
            name,
            servers,
            tools_guardrails,
        })
    }

    fn server(&mut self, val: &Value, path: &str) -> Option<ServerConfig> {
        let Value::Object(obj) = val else {
            self.err(
                path.to_string(),
                format!("expected an object (a server), got {}", describe(val)),
            );
            return None;
        };
        let before = self.issues.len();
        let name = match given(obj, "server_name") {
            None => {
                self.err(
                    join(path, "server_name"),
                    "missing (every server needs a unique server_name)",
                );
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(join(path, "server_name"), "must not be empty");
                None
            }
            Some(Value::String(s)) if s.contains("__") => {
                self.err(
                    join(path, "server_name"),
                    format!(
                        "{} contains \"__\", which separates server and tool in namespaced tool names",
                        describe(&Value::String(s.clone()))
                    ),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.err(
                    join(path, "server_name"),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        };
        let description = self.opt_string(obj, path, "description");
        let upstream = match given(obj, "config") {
            None => {
                self.err(
                    join(path, "config"),
                    "missing (expected {\"command\": ...} for a stdio server or {\"url\": ...} for a remote one)",
                );
                None
            }
            Some(Value::Object(c)) => self.upstream(c, &join(path, "config")),
            Some(other) => {
                self.err(
                    join(path, "config"),
                    format!("expected an object, got {}", describe(other)),
                );
                None
            }
        };
        let tools = match given(obj, "tools") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|n| (n.to_string(), Value::Null))
                .collect(),
            Some(other) => {
                self.err(
                    join(path, "tools"),
                    format!(
                        "expected an object of tool names (empty = all tools), got {}",
                        describe(other)
                    ),
                );
                Map::new()
            }
        };
        let denied_tools = self.denied_tools(obj, path);
        let enable_tool_guardrails = self.bool_field(obj, path, "enable_tool_guardrails", true);
        let enable_server_info_validation =
            self.bool_field(obj, path, "enable_server_info_validation", false);
        let input_guardrails = self.policy(
            obj,
            path,
            "input_guardrails_config",
            "input_guardrails_policy",
        );
        let output_guardrails = self.policy(
            obj,
            path,
            "output_guardrails_config",
            "output_guardrails_policy",
        );
        let tool_guardrails = self.policy(
            obj,
            path,
            "tool_guardrails_config",
            "tool_guardrails_policy",
        );
        if self.issues.len() != before {
            return None;
        }
        Some(ServerConfig {
            name: name?,
            description,
            upstream: upstream?,
            tools,
            denied_tools,
            enable_tool_guardrails,
            enable_server_info_validation,
            input_guardrails,
            output_guardrails,
            tool_guardrails,
        })
    }

    /// `denied_tools`: each entry a tool name or glob pattern, or `{"name", "reason",
    /// "description"}` (what the reference's `config add-server --denied-tools` writes).
    fn denied_tools(&mut self, obj: &Map<String, Value>, parent: &str) -> Vec<DeniedTool> {
        let path = join(parent, "denied_tools");
        let items = match given(obj, "denied_tools") {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.err(
                    path,
                    format!(
                        "expected a list of tool names or patterns, got {}",
                        describe(other)
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            match item {
                Value::String(s) if s.is_empty() => self.err(ipath, "must not be empty"),
                Value::String(s) => out.push(DeniedTool::name(s.clone())),
                Value::Object(o) => {
                    let pattern = self.required_string(o, &ipath, "name");
                    let reason = self.opt_string(o, &ipath, "reason");
                    let description = self.opt_string(o, &ipath, "description");
                    if let Some(pattern) = pattern {
                        out.push(DeniedTool {
                            pattern,
                            reason,
                            description,
                        });
                    }
                }
                other => self.err(
                    ipath,
                    format!(
                        "expected a tool name, a glob pattern or {{\"name\", \"reason\", \"description\"}}, got {}",
                        describe(other)
                    ),
                ),
            }
        }
        out
    }

    fn upstream(&mut self, obj: &Map<String, Value>, path: &str) -> Option<UpstreamConfig> {
        let has_command = given(obj, "command").is_some();
        let has_url = given(obj, "url").is_some();
        match (has_command, has_url) {
            (true, true) => {
                self.err(
                    path.to_string(),
                    "has both \"command\" (stdio server) and \"url\" (remote server); keep one",
                );
                None
            }
            (false, false) => {
                self.err(
                    path.to_string(),
                    "expected \"command\" (stdio server) or \"url\" (remote server)",
                );
                None
            }
            (true, false) => {
                if let Some((val, t)) = server_type(obj) {
                    if t != "stdio" {
                        self.err(
                            join(path, "type"),
                            format!(
                                "expected \"stdio\" for a server with a command, got {}",
                                describe(val)
                            ),
                        );
                    }
                }
                let command = self.required_string(obj, path, "command");
                let args = self.string_list(obj, path, "args");
                let env = self.secret_string_map(obj, path, "env");
                Some(UpstreamConfig::Stdio(StdioServer {
                    command: command?,
                    args,
                    env,
                }))
            }
            (false, true) => {
                let url = match given(obj, "url") {
                    Some(Value::String(u)) if is_http_url(u) => Some(u.clone()),
                    Some(other) => {
                        self.err(
                            join(path, "url"),
                            format!(
                                "expected an http:// or https:// URL, got {}",
                                describe(other)
                            ),
                        );
                        None
                    }
                    None => None,
                };
                let headers = self.secret_string_map(obj, path, "headers");
                // "type" (the VS Code / Claude Desktop spelling, which the reference's
                // `config add-server --type` writes) gives the transport unless "transport" does.
                let by_type = match server_type(obj) {
                    None => Some(RemoteTransport::StreamableHttp),
                    Some((_, "http" | "streamable-http" | "streamable_http")) => {
                        Some(RemoteTransport::StreamableHttp)
                    }
                    Some((_, "sse")) => Some(RemoteTransport::Sse),
                    Some((val, _)) => {
                        self.err(
                            join(path, "type"),
                            format!(
                                "expected \"http\" or \"sse\" for a server with a url, got {}",
                                describe(val)
                            ),
                        );
                        None
                    }
                };
                let transport = match given(obj, "transport") {
                    None => by_type,
                    Some(val) => match val
                        .as_str()
                        .map(|s| s.trim().to_ascii_lowercase())
                        .as_deref()
                    {
                        Some("streamable-http" | "streamable_http" | "http") => {
                            Some(RemoteTransport::StreamableHttp)
                        }
                        Some("sse") => Some(RemoteTransport::Sse),
                        _ => {
                            self.err(
                                join(path, "transport"),
                                format!(
                                    "expected \"streamable-http\" or \"sse\", got {}",
                                    describe(val)
                                ),
                            );
                            None
                        }
                    },
                };
                by_type?;
                Some(UpstreamConfig::Remote(RemoteServer {
                    url: url?,
                    headers,
                    transport: transport?,
                }))
            }
        }
    }

    /// A guardrail policy under its newer name, else its older one.
    fn policy(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        newer: &str,
        older: &str,
    ) -> Option<GuardrailPolicy> {
        let key = if given(obj, newer).is_some() {
            newer
        } else {
            older
        };
        let p = self.object(obj, parent, key)?;
        let path = join(parent, key);
        let additional_config = self
            .object(p, &path, "additional_config")
            .cloned()
            .unwrap_or_default();
        // `guardrail_name` (2.2), else `policy_name` (2.1); an empty `guardrail_name` falls back
        // too, as the reference reads `guardrail_name or policy_name`.
        let guardrail_name = self.opt_string(p, &path, "guardrail_name");
        let old_name = self.opt_string(p, &path, "policy_name");
        let policy_name = match guardrail_name {
            Some(n) if !n.trim().is_empty() => Some(n),
            empty => old_name.or(empty),
        };
        Some(GuardrailPolicy {
            enabled: self.bool_field(p, &path, "enabled", false),
            policy_name,
            block: self.string_list(p, &path, "block"),
            additional_config,
        })
    }
}

/// A server config's `type`, as written and lower-cased (`""` when it is not a string, which
/// no accepted value matches).
fn server_type(obj: &Map<String, Value>) -> Option<(&Value, &'static str)> {
    let val = given(obj, "type")?;
    let t = match val
        .as_str()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("stdio") => "stdio",
        Some("http") => "http",
        Some("streamable-http") => "streamable-http",
        Some("streamable_http") => "streamable_http",
        Some("sse") => "sse",
        _ => "",
    };
    Some((val, t))
}
