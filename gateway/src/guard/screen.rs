//! Screening of discovered tools: registration checks (tool names, descriptions and schemas
//! under the mcp_config's `server_tools_guardrails_config`, locally then remotely in one
//! batch) and tool pins kept in the cache. The result of a server's last screening is kept
//! while discovery hands back the same entry; a tool it blocks is neither offered nor
//! callable.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::pin::{self, PinChange};
use super::policy::{Direction, PinMode, Policy, ServerPolicies};
use super::{blocking_detectors, summarize, Detection, Guard};

/// What a screening of one server's tool list found: tools kept from clients and why, and
/// tools whose definition changed since first seen.
#[derive(Debug, Default)]
pub struct Screen {
    /// Tool name -> why it is not offered (registration check or pin block).
    pub blocked: HashMap<String, String>,
    /// Changed definitions.
    pub pin_changes: Vec<PinChange>,
}

impl Guard {
    /// Screens a server's tool list: registration checks under the server's registration
    /// policy (when enabled), and pins kept in `cache`. Memoized per server while discovery
    /// hands back the same entry.
    pub async fn screen(
        &self,
        cache: &crate::cache::Cache,
        (config_id, server): (&str, &str),
        policies: &ServerPolicies,
        entry: &Arc<Value>,
        tools: &[&Value],
    ) -> Arc<Screen> {
        let (registration, pin_mode) = (policies.registration.as_ref(), policies.pin);
        let k = (config_id.to_string(), server.to_string());
        if let Some(s) = self.screens.get(&k) {
            if Arc::ptr_eq(&s.0, entry) {
                return s.1.clone();
            }
        }
        let mut screen = Screen::default();
        if let Some(p) = registration {
            self.screen_registration(p, tools, &mut screen).await;
        }
        self.screen_pins(cache, config_id, server, pin_mode, tools, &mut screen)
            .await;
        let screen = Arc::new(screen);
        self.screens.insert(k, (entry.clone(), screen.clone()));
        screen
    }

    async fn screen_registration(&self, p: &Policy, tools: &[&Value], screen: &mut Screen) {
        if let Some(why) = &p.fail_closed {
            self.stats.fail_closed();
            for t in tools {
                if let Some(n) = t.get("name").and_then(Value::as_str) {
                    screen.blocked.insert(
                        n.to_string(),
                        format!("registration guardrails cannot run and fail closed: {why}"),
                    );
                }
            }
            return;
        }
        let mut passed: Vec<(&str, String)> = Vec::new();
        for t in tools {
            let Some(n) = t.get("name").and_then(Value::as_str) else {
                continue;
            };
            let findings = self.local_scan(p, p.local, t, None);
            if findings.is_empty() {
                if p.remote {
                    passed.push((n, t.to_string()));
                }
                self.stats.check(Direction::Registration, &[]);
            } else {
                self.stats
                    .check(Direction::Registration, &blocking_detectors(&findings));
                let ds: Vec<Detection> = findings.iter().map(|f| Detection::local(f, "")).collect();
                screen.blocked.insert(
                    n.to_string(),
                    format!("blocked by registration guardrails: {}", summarize(&ds)),
                );
            }
        }
        if passed.is_empty() || !p.remote {
            return;
        }
        let texts: Vec<String> = passed.iter().map(|(_, t)| t.clone()).collect();
        let verdicts = match self.remote() {
            Some(r) => r
                .batch_detect(p.name.as_deref().unwrap_or_default(), &texts, &p.block)
                .await
                .map_err(|e| e.to_string()),
            None => Err("the remote guardrail provider is unavailable".to_string()),
        };
        match verdicts {
            Ok(vs) => {
                self.stats.remote(true);
                for ((n, _), v) in passed.iter().zip(vs.iter()) {
                    if v.blocked() {
                        self.stats.remote_block(Direction::Registration);
                        screen.blocked.insert(
                            n.to_string(),
                            format!(
                                "blocked by registration guardrails: {} (remote)",
                                v.flagged.join(", ")
                            ),
                        );
                    }
                }
            }
            Err(e) => {
                self.stats.remote(false);
                if *self.fail_open.read() {
                    self.stats.fail_open_pass();
                    tracing::warn!(error = %e, "remote registration check failed: tools offered (fail open)");
                } else {
                    for (n, _) in &passed {
                        screen.blocked.insert(
                            n.to_string(),
                            format!("remote registration check failed (fail closed): {e}"),
                        );
                    }
                }
            }
        }
    }

    async fn screen_pins(
        &self,
        cache: &crate::cache::Cache,
        config_id: &str,
        server: &str,
        mode: PinMode,
        tools: &[&Value],
        screen: &mut Screen,
    ) {
        let named: Vec<(&str, String)> = tools
            .iter()
            .filter_map(|t| {
                let n = t.get("name").and_then(Value::as_str)?;
                Some((n, pin::definition_hash(t)))
            })
            .collect();
        if named.is_empty() {
            return;
        }
        let keys: Vec<String> = named
            .iter()
            .map(|(n, _)| crate::config::keys::tool_pin_key(config_id, server, n))
            .collect();
        let stored = match cache.get_pins(&keys).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, server, "tool pins unreadable: definitions not compared this time");
                return;
            }
        };
        let now = crate::meta::now_iso();
        for (((name, hash), key), old) in named.iter().zip(&keys).zip(stored) {
            match old
                .as_ref()
                .and_then(|o| pin::pinned_hash(o).map(str::to_string))
            {
                None => {
                    if let Err(e) = cache.put_pin(key, &pin::pin_value(hash, &now)).await {
                        tracing::warn!(error = %e, server, "a tool pin could not be stored");
                    }
                }
                Some(p) if p == *hash => {}
                Some(p) => {
                    let change = PinChange {
                        server: server.to_string(),
                        tool: name.to_string(),
                        pinned: p,
                        current: hash.clone(),
                        pinned_at: old
                            .as_ref()
                            .and_then(|o| o.get("pinned_at"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        blocked: mode == PinMode::Block,
                    };
                    let k = (config_id.to_string(), server.to_string(), name.to_string());
                    let first =
                        self.pin_changes.insert(k, change.clone()).as_ref() != Some(&change);
                    if first {
                        self.stats.pin_change();
                        tracing::warn!(
                            server,
                            tool = %name,
                            blocked = change.blocked,
                            "a tool's definition changed since it was first seen (pinned)"
                        );
                    }
                    if change.blocked {
                        screen.blocked.insert(
                            name.to_string(),
                            "its definition changed since it was first seen (tool pinning, pin_tools: block)"
                                .to_string(),
                        );
                    }
                    screen.pin_changes.push(change);
                }
            }
        }
    }

    /// Every screened server's tools with their status: `offered`, `changed` (the definition
    /// differs from its pin but is still offered) or `blocked` with the reason.
    pub fn tools_report(&self) -> Value {
        let mut out: Vec<Value> = self
            .screens
            .iter()
            .map(|e| {
                let ((config_id, server), (entry, screen)) = (e.key(), e.value());
                let tools: Vec<Value> = entry
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(|ts| {
                        ts.iter()
                            .filter_map(|t| t.get("name").and_then(Value::as_str))
                            .map(|name| {
                                if let Some(why) = screen.blocked.get(name) {
                                    serde_json::json!({"name": name, "status": "blocked", "reason": why})
                                } else if screen.pin_changes.iter().any(|c| c.tool == name) {
                                    serde_json::json!({"name": name, "status": "changed"})
                                } else {
                                    serde_json::json!({"name": name, "status": "offered"})
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({"mcp_config_id": config_id, "server": server, "tools": tools})
            })
            .collect();
        out.sort_by(|a, b| a["server"].as_str().cmp(&b["server"].as_str()));
        Value::Array(out)
    }

    /// Why a tool of a server is refused by its last screening, if it is.
    pub fn refused_tool(&self, config_id: &str, server: &str, tool: &str) -> Option<String> {
        if self.screens.is_empty() {
            return None;
        }
        let s = self
            .screens
            .get(&(config_id.to_string(), server.to_string()))?;
        s.1.blocked.get(tool).cloned()
    }
}
