//! Policy resolution: a server's guardrail policy as written in the config (the reference's
//! `input_guardrails_config` / `output_guardrails_config` / `server_tools_guardrails_config`
//! and their 2.1 `*_policy` names) turned into what the pipeline runs.
//!
//! Rules:
//! - the remote stage runs when a remote provider is configured and the policy names a
//!   guardrail other than `local`; the local detectors always run first;
//! - a `block` name with a local detector runs locally; the list detectors (`policy_violation`,
//!   `topic_detector`, `toxicity`, `nsfw`, `bias`) run locally when `additional_config` gives
//!   them keywords or patterns, otherwise they are *remote-only*: left to the remote stage when
//!   there is one, and otherwise the policy fails closed with that reason (never skipped);
//! - an unknown name fails closed the same way unless the remote stage can take it;
//! - `pii` with `additional_config.pii_redaction` (input) redacts instead of blocking;
//! - `additional_config.pin_tools` (`warn` by default, or `block`) says what a changed tool
//!   definition does.
//!
//! A resolved [`Policy`] is built once per config (on load and on every reload) and shared.

use serde_json::{Map, Value};

use super::detect::{builtin, Detector, DetectorSet, Limits, Lists};
use crate::config::{GuardrailPolicy, GuardrailProvider};

/// Which side of a call a policy guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Tool arguments, before the upstream is called.
    Input,
    /// Tool results, before the caller sees them.
    Output,
    /// Tool names, descriptions and schemas, at discovery.
    Registration,
}

impl Direction {
    /// `input`, `output` or `registration`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
            Direction::Registration => "registration",
        }
    }
}

/// What a changed tool definition does (`additional_config.pin_tools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PinMode {
    /// Reported in discovery, the cache status and the logs (the default).
    #[default]
    Warn,
    /// Reported, and the tool is neither offered nor callable.
    Block,
}

/// A policy ready to run.
#[derive(Debug)]
pub struct Policy {
    /// The side it guards.
    pub direction: Direction,
    /// `guardrail_name` / `policy_name`.
    pub name: Option<String>,
    /// The remote stage runs after the local detectors pass.
    pub remote: bool,
    /// The `block` list as written (what the remote verdict is read against).
    pub block: Vec<String>,
    /// Local detectors whose findings block.
    pub local: DetectorSet,
    /// Keyword and pattern lists of the list detectors.
    pub lists: Lists,
    /// Sponge limits.
    pub limits: Limits,
    /// Input: PII is replaced by placeholders before the upstream sees it, and restored in
    /// the result.
    pub pii_redaction: bool,
    /// Output: secrets are masked instead of blocking (`additional_config.mask_secrets`).
    pub mask_secrets: bool,
    /// Output warnings from the remote provider.
    pub relevancy: bool,
    /// Output warnings from the remote provider.
    pub adherence: bool,
    /// Output warnings from the remote provider.
    pub hallucination: bool,
    /// Changed tool definitions: warn or block.
    pub pin: PinMode,
    /// Why this policy cannot run as written: every call it guards is refused with this.
    pub fail_closed: Option<String>,
    /// What an operator should know (shown at start and in the health report).
    pub notes: Vec<String>,
}

fn flag(additional: &Map<String, Value>, key: &str) -> bool {
    match additional.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(o)) => o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        _ => false,
    }
}

/// The list detectors, which need keyword lists (locally) or a model (remotely).
const LIST_DETECTORS: [Detector; 5] = [
    Detector::PolicyViolation,
    Detector::TopicDetector,
    Detector::Toxicity,
    Detector::Nsfw,
    Detector::Bias,
];

impl Policy {
    /// Resolves a policy as written. A disabled policy resolves to `None`.
    pub fn resolve(
        written: &GuardrailPolicy,
        direction: Direction,
        provider: &GuardrailProvider,
    ) -> Option<Policy> {
        if !written.enabled {
            return None;
        }
        let additional = &written.additional_config;
        let name = written.policy_name.clone();
        let remote = provider.remote_enabled()
            && name
                .as_deref()
                .is_some_and(|n| !n.trim().is_empty() && !n.trim().eq_ignore_ascii_case("local"));
        let mut notes = Vec::new();
        let mut fail: Vec<String> = Vec::new();
        let lists = match direction {
            Direction::Registration => Lists::registration(additional),
            _ => Lists::from_additional_config(additional),
        };
        let lists = match lists {
            Ok(l) => l,
            Err(e) => {
                fail.push(format!("additional_config: {e}"));
                Lists::empty()
            }
        };
        let configured = lists.configured();
        let local_capable = builtin().with(Detector::KeywordDetector);
        let mut local = DetectorSet::empty();
        for raw in &written.block {
            let Some(d) = Detector::parse(raw.trim()) else {
                if remote {
                    notes.push(format!(
                        "'{raw}' is not a local detector: the remote stage checks it"
                    ));
                } else {
                    fail.push(format!(
                        "'{raw}' is not a detector this gateway knows, and no remote guardrail provider is configured"
                    ));
                }
                continue;
            };
            if LIST_DETECTORS.contains(&d) && !configured.contains(d) {
                if remote {
                    notes.push(format!(
                        "'{raw}' is remote-only here (no additional_config.{raw}.keywords): the remote stage checks it"
                    ));
                } else {
                    fail.push(format!(
                        "'{raw}' is remote-only (it needs a model, or keywords in additional_config.{raw}.keywords) and no remote guardrail provider is configured"
                    ));
                }
                continue;
            }
            if d == Detector::Schema && direction == Direction::Output {
                notes.push("'schema' applies to tool arguments only".to_string());
                continue;
            }
            if local_capable.contains(d) || configured.contains(d) {
                local = local.with(d);
            }
        }
        let pii_redaction = direction == Direction::Input && flag(additional, "pii_redaction");
        if pii_redaction && local.contains(Detector::Pii) {
            notes.push("pii is redacted (pii_redaction), not blocked".to_string());
        }
        let (relevancy, adherence, hallucination) = if direction == Direction::Output {
            (
                flag(additional, "relevancy"),
                flag(additional, "adherence"),
                flag(additional, "hallucination"),
            )
        } else {
            (false, false, false)
        };
        if (relevancy || adherence || hallucination) && !provider.remote_enabled() {
            notes.push(
                "relevancy, adherence and hallucination are remote-only warnings: skipped without a remote provider"
                    .to_string(),
            );
        }
        let pin = match additional.get("pin_tools").and_then(Value::as_str) {
            Some(m) if m.eq_ignore_ascii_case("block") => PinMode::Block,
            Some(m) if m.eq_ignore_ascii_case("warn") => PinMode::Warn,
            Some(other) => {
                notes.push(format!(
                    "pin_tools '{other}' is not warn or block: warn is used"
                ));
                PinMode::Warn
            }
            None => PinMode::Warn,
        };
        Some(Policy {
            direction,
            name,
            remote,
            block: written.block.clone(),
            local,
            lists,
            limits: Limits::from_additional_config(additional),
            pii_redaction,
            mask_secrets: direction == Direction::Output && flag(additional, "mask_secrets"),
            relevancy: relevancy && provider.remote_enabled(),
            adherence: adherence && provider.remote_enabled(),
            hallucination: hallucination && provider.remote_enabled(),
            pin,
            fail_closed: (!fail.is_empty()).then(|| fail.join("; ")),
            notes,
        })
    }

    /// The detectors that block, PII left out when it is redacted instead.
    pub fn blocking(&self) -> DetectorSet {
        if self.pii_redaction {
            self.local.without(Detector::Pii)
        } else {
            self.local
        }
    }
}

/// The policies of one server, resolved once per config.
#[derive(Debug, Default)]
pub struct ServerPolicies {
    /// Input policy.
    pub input: Option<Policy>,
    /// Output policy.
    pub output: Option<Policy>,
    /// Registration checks of its tools (the mcp_config's `common_overrides`, else the
    /// server's `tool_guardrails_config` / `tool_guardrails_policy`).
    pub registration: Option<Policy>,
    /// How changed tool definitions of this server are treated.
    pub pin: PinMode,
}

impl ServerPolicies {
    /// Resolves a server's input, output and registration policies (the mcp_config's, else the
    /// server's own 2.1 `tool_guardrails_policy`). The pin mode is taken from the first
    /// policy that sets it: the server's tool policy, its input policy, then the mcp_config's
    /// registration policy.
    pub fn resolve(
        server: &crate::config::ServerConfig,
        registration: Option<&GuardrailPolicy>,
        provider: &GuardrailProvider,
    ) -> ServerPolicies {
        let input = server
            .input_guardrails
            .as_ref()
            .and_then(|p| Policy::resolve(p, Direction::Input, provider));
        let output = server
            .output_guardrails
            .as_ref()
            .and_then(|p| Policy::resolve(p, Direction::Output, provider));
        let pin = [
            server.tool_guardrails.as_ref(),
            server.input_guardrails.as_ref(),
            registration,
        ]
        .into_iter()
        .flatten()
        .find_map(|p| match p.additional_config.get("pin_tools")?.as_str()? {
            m if m.eq_ignore_ascii_case("block") => Some(PinMode::Block),
            _ => Some(PinMode::Warn),
        })
        .unwrap_or_default();
        // 2.2 keeps the registration policy in the mcp_config's common_overrides; a 2.1 file
        // has it on the server (`tool_guardrails_policy`).
        let registration = registration
            .or(server.tool_guardrails.as_ref())
            .filter(|_| server.enable_tool_guardrails)
            .and_then(|p| Policy::resolve(p, Direction::Registration, provider));
        ServerPolicies {
            input,
            output,
            registration,
            pin,
        }
    }

    /// True when any check runs on calls (input or output).
    pub fn guarded(&self) -> bool {
        self.input.is_some() || self.output.is_some()
    }

    /// Operator notes and fail-closed reasons of every policy, as `direction: text` lines.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in [&self.input, &self.output, &self.registration]
            .into_iter()
            .flatten()
        {
            if let Some(why) = &p.fail_closed {
                out.push(format!("{}: fails closed: {why}", p.direction.as_str()));
            }
            for n in &p.notes {
                out.push(format!("{}: {n}", p.direction.as_str()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use serde_json::json;

    fn policy(v: Value) -> GuardrailPolicy {
        GuardrailPolicy {
            enabled: v["enabled"].as_bool().unwrap_or(true),
            policy_name: v["guardrail_name"].as_str().map(String::from),
            block: v["block"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            additional_config: v["additional_config"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn remote() -> GuardrailProvider {
        GuardrailProvider {
            provider: "enkrypt".into(),
            api_key: Some(Secret::new("k")),
            base_url: "http://127.0.0.1:1".into(),
            fail_open: false,
        }
    }

    #[test]
    fn disabled_policy_resolves_to_none() {
        let p = policy(json!({"enabled": false, "block": ["pii"]}));
        assert!(Policy::resolve(&p, Direction::Input, &GuardrailProvider::default()).is_none());
    }

    #[test]
    fn remote_only_detectors_fail_closed_without_a_provider() {
        let p =
            policy(json!({"guardrail_name": "Sample", "block": ["injection_attack", "toxicity"]}));
        let r = Policy::resolve(&p, Direction::Input, &GuardrailProvider::default()).unwrap();
        assert!(!r.remote);
        let why = r.fail_closed.expect("fails closed");
        assert!(
            why.contains("toxicity") && why.contains("remote-only"),
            "{why}"
        );
        assert!(r.local.contains(Detector::InjectionAttack));
    }

    #[test]
    fn remote_only_detectors_go_to_the_remote_stage() {
        let p = policy(
            json!({"guardrail_name": "Sample", "block": ["injection_attack", "toxicity", "made_up"]}),
        );
        let r = Policy::resolve(&p, Direction::Input, &remote()).unwrap();
        assert!(r.remote && r.fail_closed.is_none());
        assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    }

    #[test]
    fn local_name_never_calls_the_remote_provider() {
        let p = policy(json!({"guardrail_name": "local", "block": ["pii"]}));
        let r = Policy::resolve(&p, Direction::Input, &remote()).unwrap();
        assert!(!r.remote);
    }

    #[test]
    fn keyword_lists_make_list_detectors_local() {
        let p = policy(
            json!({"block": ["toxicity"], "additional_config": {"toxicity": {"keywords": ["idiot"]}}}),
        );
        let r = Policy::resolve(&p, Direction::Input, &GuardrailProvider::default()).unwrap();
        assert!(r.fail_closed.is_none(), "{:?}", r.fail_closed);
        assert!(r.local.contains(Detector::Toxicity));
    }

    #[test]
    fn unknown_names_fail_closed_without_a_provider() {
        let p = policy(json!({"block": ["pii", "injection_atack"]}));
        let r = Policy::resolve(&p, Direction::Input, &GuardrailProvider::default()).unwrap();
        assert!(r.fail_closed.unwrap().contains("injection_atack"));
    }

    #[test]
    fn redaction_takes_pii_out_of_the_blocking_set() {
        let p = policy(
            json!({"block": ["pii", "secrets"], "additional_config": {"pii_redaction": true}}),
        );
        let r = Policy::resolve(&p, Direction::Input, &GuardrailProvider::default()).unwrap();
        assert!(r.pii_redaction);
        assert!(!r.blocking().contains(Detector::Pii));
        assert!(r.blocking().contains(Detector::Secrets));
    }
}
