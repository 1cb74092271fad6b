//! Guardrails: checks on tool inputs and outputs, before and after the upstream call, and on
//! tool definitions at discovery.
//!
//! The pipeline of one guarded call (driven by [`crate::router`]):
//! 1. input: PII redaction when the policy asks for it, then the local detectors
//!    ([`detect`], one pass per family over every string of the arguments), then, only when
//!    they pass and the policy names a remote guardrail, the remote provider ([`remote`]).
//!    In the default (synchronous) mode the verdict is final before the upstream is called: a
//!    blocked call never reaches it.
//! 2. output: every content block's text, embedded resources' text and `structuredContent`
//!    are checked the same way, on the result as the upstream wrote it (placeholders
//!    included); a blocked result is withheld; otherwise placeholders are restored.
//! 3. registration: tool names, descriptions and schemas are checked at discovery
//!    (`common_overrides.server_tools_guardrails_config`), and every definition is pinned
//!    ([`pin`]); a blocked tool is neither offered nor callable.
//!
//! Policies are resolved once per config ([`policy`]); a policy that cannot run as written
//! (a remote-only detector and no remote provider, a bad pattern) fails closed with its
//! reason. The remote stage fails closed on any failure unless
//! `enkrypt_guardrails_fail_open` says otherwise. Verdicts for identical inputs are cached in
//! process for [`VERDICT_TTL`]. Reports carry detector names, kinds and spans, never the
//! sensitive values themselves.

pub mod detect;
pub mod pin;
pub mod policy;
pub mod recent;
pub mod redact;
pub mod remote;
mod screen;
pub mod stats;

pub use screen::Screen;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::GuardrailProvider;
use detect::schema::CompiledSchema;
use detect::{scan_text, scan_value, secret_spans, Detector, DetectorSet, Finding};
use pin::PinChange;
use policy::{Direction, Policy};
use redact::Redactions;
use remote::{Mode, RemoteProvider, RemoteSettings};
use stats::Stats;

/// How long a verdict is reused for an identical input.
pub const VERDICT_TTL: Duration = Duration::from_secs(30);
/// Most verdicts kept.
const VERDICT_CAP: usize = 4096;

/// One detection in a report: which detector, what it found and where; never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// The detector's `block` name.
    pub detector: String,
    /// What was found (`email`, `instruction_override`, `aws_access_key`, ...).
    pub kind: String,
    /// JSON pointer of the string it was found in.
    pub path: String,
    /// Byte span in that string.
    pub start: usize,
    /// End of the span.
    pub end: usize,
    /// `local` or `remote`.
    pub source: &'static str,
}

impl Detection {
    fn local(f: &Finding, prefix: &str) -> Detection {
        Detection {
            detector: f.detector.name().to_string(),
            kind: f.kind.to_string(),
            path: format!("{prefix}{}", f.path),
            start: f.start,
            end: f.end,
            source: "local",
        }
    }

    fn remote(detector: &str) -> Detection {
        Detection {
            detector: detector.to_string(),
            kind: detector.to_string(),
            path: String::new(),
            start: 0,
            end: 0,
            source: "remote",
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    /// True when the call (or result) is stopped.
    pub blocked: bool,
    /// Why, in one line (detector names and kinds), when blocked.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What was found.
    pub detections: Vec<Detection>,
    /// Warnings that do not block (remote relevancy/adherence/hallucination, fail-open
    /// passes, masked secrets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The remote stage's sanitized details, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Value>,
}

impl Verdict {
    fn refused(why: &str) -> Verdict {
        Verdict {
            blocked: true,
            reason: format!("the guardrail policy cannot run and fails closed: {why}"),
            ..Verdict::default()
        }
    }

    /// The report for `enkrypt_policy_detections` (`is_safe`, the detections, warnings).
    pub fn report(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("is_safe".into(), Value::Bool(!self.blocked));
        }
        v
    }
}

/// The outcome of the input stage.
#[derive(Debug)]
pub struct InputChecked {
    /// The arguments to send instead of the call's, when redaction replaced PII by
    /// placeholders.
    pub args: Option<Value>,
    /// The call's placeholders.
    pub redactions: Redactions,
    /// The verdict.
    pub verdict: Verdict,
}

struct CachedVerdict {
    at: Instant,
    verdict: Verdict,
}

/// The guard: shared by every call; holds counters, the remote provider, compiled schemas,
/// cached verdicts and the last screening of each server.
pub struct Guard {
    /// Counters.
    pub stats: Stats,
    remote: RwLock<Option<(RemoteKey, Arc<RemoteProvider>)>>,
    fail_open: RwLock<bool>,
    verdicts: Mutex<HashMap<(usize, u8, u64, usize), CachedVerdict>>,
    hasher: std::collections::hash_map::RandomState,
    schemas: DashMap<String, Arc<Result<CompiledSchema, String>>>,
    screens: DashMap<(String, String), (Arc<Value>, Arc<Screen>)>,
    /// Tools whose definition changed, by (mcp_config, server, tool).
    pub pin_changes: DashMap<(String, String, String), PinChange>,
    /// The last blocks and redactions.
    pub recent: recent::Recent,
}

#[derive(PartialEq)]
struct RemoteKey {
    base_url: String,
    api_key: String,
    timeout: Duration,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("remote", &self.remote.read().is_some())
            .finish()
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            stats: Stats::default(),
            remote: RwLock::new(None),
            fail_open: RwLock::new(false),
            verdicts: Mutex::new(HashMap::new()),
            hasher: std::collections::hash_map::RandomState::new(),
            schemas: DashMap::new(),
            screens: DashMap::new(),
            pin_changes: DashMap::new(),
            recent: recent::Recent::default(),
        }
    }
}

/// A one-line summary of detections: `injection_attack (instruction_override at /text)`.
pub fn summarize(detections: &[Detection]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for d in detections {
        let s = if d.source == "remote" {
            format!("{} (remote)", d.detector)
        } else if d.path.is_empty() {
            format!("{} ({})", d.detector, d.kind)
        } else {
            format!("{} ({} at {})", d.detector, d.kind, d.path)
        };
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    if seen.len() > 8 {
        let more = seen.len() - 8;
        seen.truncate(8);
        seen.push(format!("and {more} more"));
    }
    seen.join(", ")
}

fn blocking_detectors(findings: &[Finding]) -> Vec<Detector> {
    let mut v: Vec<Detector> = findings.iter().map(|f| f.detector).collect();
    v.sort();
    v.dedup();
    v
}

impl Guard {
    /// Applies the provider settings of a (re)loaded config: the remote client is rebuilt
    /// only when its settings changed; verdicts and screenings are forgotten.
    pub fn configure(&self, provider: &GuardrailProvider, timeout: Duration) {
        *self.fail_open.write() = provider.fail_open;
        self.verdicts.lock().clear();
        self.screens.clear();
        let key = provider.remote_enabled().then(|| RemoteKey {
            base_url: provider.base_url.clone(),
            api_key: provider
                .api_key
                .as_ref()
                .map(|k| k.expose().to_string())
                .unwrap_or_default(),
            timeout,
        });
        let mut slot = self.remote.write();
        match key {
            None => *slot = None,
            Some(k) => {
                if slot.as_ref().is_some_and(|(old, _)| *old == k) {
                    return;
                }
                let settings = RemoteSettings {
                    base_url: k.base_url.clone(),
                    api_key: k.api_key.clone(),
                    timeout: k.timeout,
                };
                match RemoteProvider::new(settings) {
                    Ok(p) => *slot = Some((k, Arc::new(p))),
                    Err(e) => {
                        tracing::error!(error = %e, "remote guardrail provider unavailable: remote policies fail closed");
                        *slot = None;
                    }
                }
            }
        }
    }

    fn remote(&self) -> Option<Arc<RemoteProvider>> {
        self.remote.read().as_ref().map(|(_, p)| p.clone())
    }

    /// The verdict cache's key: the policy, the direction, and a keyed (per-process random)
    /// hash of the value with its string bytes counted, computed without serializing it.
    fn cache_key(&self, policy: &Policy, dir: Direction, value: &Value) -> (usize, u8, u64, usize) {
        use std::hash::{Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        let mut bytes = 0usize;
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::Null => 0u8.hash(&mut h),
                Value::Bool(b) => (1u8, *b).hash(&mut h),
                Value::Number(n) => (2u8, n).hash(&mut h),
                Value::String(s) => {
                    bytes += s.len();
                    (3u8, s).hash(&mut h);
                }
                Value::Array(a) => {
                    (4u8, a.len()).hash(&mut h);
                    stack.extend(a.iter().rev());
                }
                Value::Object(o) => {
                    (5u8, o.len()).hash(&mut h);
                    for (k, v) in o.iter().rev() {
                        bytes += k.len();
                        k.hash(&mut h);
                        stack.push(v);
                    }
                }
            }
        }
        (
            policy as *const Policy as usize,
            dir as u8,
            h.finish(),
            bytes,
        )
    }

    fn cached(&self, key: &(usize, u8, u64, usize)) -> Option<Verdict> {
        let map = self.verdicts.lock();
        let c = map.get(key)?;
        (c.at.elapsed() < VERDICT_TTL).then(|| c.verdict.clone())
    }

    fn remember(&self, key: (usize, u8, u64, usize), verdict: &Verdict) {
        let mut map = self.verdicts.lock();
        if map.len() >= VERDICT_CAP {
            map.retain(|_, c| c.at.elapsed() < VERDICT_TTL);
            if map.len() >= VERDICT_CAP {
                map.clear();
            }
        }
        map.insert(
            key,
            CachedVerdict {
                at: Instant::now(),
                verdict: verdict.clone(),
            },
        );
    }

    fn schema(&self, schema: &Value) -> Arc<Result<CompiledSchema, String>> {
        let text = schema.to_string();
        let key = crate::config::keys::md5_hex(&[text.as_bytes()]);
        if let Some(c) = self.schemas.get(&key) {
            return c.clone();
        }
        let c = Arc::new(CompiledSchema::compile(schema));
        if self.schemas.len() > 4096 {
            self.schemas.clear();
        }
        self.schemas.insert(key, c.clone());
        c
    }

    /// Runs the local detectors of `policy` over a value; findings of the blocking set.
    fn local_scan(
        &self,
        policy: &Policy,
        set: DetectorSet,
        value: &Value,
        schema: Option<&Value>,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        let scan_set = set.without(Detector::Schema);
        scan_value(
            value,
            scan_set,
            &policy.lists,
            &policy.limits,
            &mut findings,
        );
        if set.contains(Detector::Schema) {
            if let Some(schema) = schema {
                match &*self.schema(schema) {
                    Ok(c) => c.check(value, &mut findings),
                    Err(e) => {
                        tracing::warn!(error = %e, "a tool's inputSchema does not compile: schema check skipped")
                    }
                }
            }
        }
        for f in &findings {
            self.stats.finding(f.detector);
        }
        findings
    }

    /// The remote stage; `None` when it passes.
    async fn remote_stage(
        &self,
        policy: &Policy,
        mode: Mode,
        text: &str,
        verdict: &mut Verdict,
    ) -> bool {
        let Some(remote) = self.remote() else {
            // Resolved as remote but the client could not be built: fail closed.
            verdict.blocked = true;
            verdict.reason =
                "the remote guardrail provider is unavailable (fail closed)".to_string();
            self.stats.remote(false);
            return false;
        };
        let name = policy.name.as_deref().unwrap_or_default();
        match remote.detect(name, mode, text, &policy.block).await {
            Ok(v) => {
                self.stats.remote(true);
                verdict.remote = Some(Value::Object(v.details.clone()));
                if v.blocked() {
                    verdict.blocked = true;
                    verdict.detections = v.flagged.iter().map(|d| Detection::remote(d)).collect();
                    verdict.reason = summarize(&verdict.detections);
                    return false;
                }
                true
            }
            Err(e) => {
                self.stats.remote(false);
                if *self.fail_open.read() {
                    self.stats.fail_open_pass();
                    verdict.warnings.push(format!(
                        "remote guardrail check failed and was skipped (fail open): {e}"
                    ));
                    true
                } else {
                    verdict.blocked = true;
                    verdict.reason =
                        format!("the remote guardrail check failed (fail closed): {e}");
                    false
                }
            }
        }
    }

    /// The input stage for `args` under `policy`; `schema` is the tool's `inputSchema`.
    pub async fn check_input(
        &self,
        policy: &Policy,
        schema: Option<&Value>,
        args: &Value,
    ) -> InputChecked {
        let mut redactions = Redactions::default();
        if let Some(why) = &policy.fail_closed {
            self.stats.fail_closed();
            return InputChecked {
                args: None,
                redactions,
                verdict: Verdict::refused(why),
            };
        }
        let mut redacted = None;
        if policy.pii_redaction {
            let mut a = args.clone();
            redactions.redact(&mut a);
            self.stats.redacted(redactions.len());
            if !redactions.is_empty() {
                redacted = Some(a);
            }
        }
        let args = redacted.as_ref().unwrap_or(args);
        let key = self.cache_key(policy, Direction::Input, args);
        if let Some(verdict) = self.cached(&key) {
            self.stats.cache_hit();
            return InputChecked {
                args: redacted,
                redactions,
                verdict,
            };
        }
        let findings = self.local_scan(policy, policy.blocking(), args, schema);
        let mut verdict = Verdict::default();
        if !redactions.is_empty() {
            verdict
                .warnings
                .push(format!("redacted: {}", redactions.kinds().join(", ")));
        }
        let mut cacheable = true;
        if !findings.is_empty() {
            self.stats
                .check(Direction::Input, &blocking_detectors(&findings));
            verdict.blocked = true;
            verdict.detections = findings.iter().map(|f| Detection::local(f, "")).collect();
            verdict.reason = summarize(&verdict.detections);
        } else if policy.remote {
            let text = args.to_string();
            let passed = self
                .remote_stage(policy, Mode::Prompt, &text, &mut verdict)
                .await;
            cacheable = verdict.remote.is_some();
            if passed {
                self.stats.check(Direction::Input, &[]);
            } else if verdict.remote.is_some() {
                self.stats.remote_block(Direction::Input);
            }
        } else {
            self.stats.check(Direction::Input, &[]);
        }
        if cacheable {
            self.remember(key, &verdict);
        }
        InputChecked {
            args: redacted,
            redactions,
            verdict,
        }
    }

    /// The output stage: checks `result` (a `tools/call` result) under `policy`, masks
    /// secrets when the policy says so, and restores the call's placeholders when it passes.
    /// A blocked result must be withheld by the caller.
    pub async fn check_output(
        &self,
        policy: Option<&Policy>,
        result: &mut Value,
        redactions: &Redactions,
        request: &Value,
    ) -> Verdict {
        let Some(policy) = policy else {
            redactions.restore(result);
            return Verdict::default();
        };
        if let Some(why) = &policy.fail_closed {
            self.stats.fail_closed();
            return Verdict::refused(why);
        }
        let mut set = policy.local;
        if policy.mask_secrets && set.contains(Detector::Secrets) {
            set = set.without(Detector::Secrets);
            let masked = mask_secrets(result);
            for _ in 0..masked {
                self.stats.masked();
            }
        }
        let mut findings: Vec<Detection> = Vec::new();
        let mut scratch = Vec::new();
        let mut texts = String::new();
        if let Some(blocks) = result.get("content").and_then(Value::as_array) {
            for (i, b) in blocks.iter().enumerate() {
                for (ptr, text) in block_texts(b) {
                    scratch.clear();
                    scan_text(text, set, &policy.lists, &policy.limits, &mut scratch);
                    let prefix = format!("/content/{i}{ptr}");
                    findings.extend(scratch.iter().map(|f| Detection::local(f, &prefix)));
                    for f in &scratch {
                        self.stats.finding(f.detector);
                    }
                    if policy.remote {
                        if !texts.is_empty() {
                            texts.push('\n');
                        }
                        texts.push_str(text);
                    }
                }
            }
        }
        if let Some(sc) = result.get("structuredContent") {
            scratch.clear();
            scan_value(sc, set, &policy.lists, &policy.limits, &mut scratch);
            findings.extend(
                scratch
                    .iter()
                    .map(|f| Detection::local(f, "/structuredContent")),
            );
            for f in &scratch {
                self.stats.finding(f.detector);
            }
            if policy.remote && texts.is_empty() {
                texts = sc.to_string();
            }
        }
        let mut verdict = Verdict::default();
        if !findings.is_empty() {
            let mut ds: Vec<Detector> = findings
                .iter()
                .filter_map(|d| Detector::parse(&d.detector))
                .collect();
            ds.sort();
            ds.dedup();
            self.stats.check(Direction::Output, &ds);
            verdict.blocked = true;
            verdict.reason = summarize(&findings);
            verdict.detections = findings;
            return verdict;
        }
        if policy.remote {
            let passed = self
                .remote_stage(policy, Mode::Response, &texts, &mut verdict)
                .await;
            if !passed {
                if verdict.remote.is_some() {
                    self.stats.remote_block(Direction::Output);
                }
                return verdict;
            }
            self.warnings(policy, request, &texts, &mut verdict).await;
        }
        self.stats.check(Direction::Output, &[]);
        redactions.restore(result);
        verdict
    }

    /// Relevancy, adherence and hallucination: warnings, as in the reference.
    async fn warnings(&self, policy: &Policy, request: &Value, answer: &str, v: &mut Verdict) {
        let Some(remote) = self.remote() else {
            return;
        };
        let question = request.to_string();
        if policy.relevancy {
            match remote.relevancy(&question, answer).await {
                Ok(score) if score < 0.5 => {
                    v.warnings.push(format!("low relevancy score {score:.2}"))
                }
                Ok(_) => {}
                Err(e) => v.warnings.push(format!("relevancy check failed: {e}")),
            }
        }
        if policy.adherence {
            match remote.adherence(&question, answer).await {
                Ok(score) if score < 0.5 => {
                    v.warnings.push(format!("low adherence score {score:.2}"))
                }
                Ok(_) => {}
                Err(e) => v.warnings.push(format!("adherence check failed: {e}")),
            }
        }
        if policy.hallucination {
            match remote.hallucination(&question, answer, "").await {
                Ok(true) => v.warnings.push("possible hallucination".to_string()),
                Ok(false) => {}
                Err(e) => v.warnings.push(format!("hallucination check failed: {e}")),
            }
        }
    }

    /// The guard's state for the health and cache status reports; pin changes of the
    /// mcp_config `only` when given.
    pub fn to_json(&self, only: Option<&str>) -> Value {
        let changes: Vec<Value> = self
            .pin_changes
            .iter()
            .filter(|c| only.is_none_or(|o| o == c.key().0))
            .map(|c| serde_json::to_value(c.value()).unwrap_or(Value::Null))
            .collect();
        let mut v = self.stats.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "remote_provider".into(),
                json!(if self.remote.read().is_some() {
                    "configured"
                } else {
                    "none"
                }),
            );
            o.insert("fail_open".into(), json!(*self.fail_open.read()));
            o.insert("tool_pin_changes".into(), Value::Array(changes));
        }
        v
    }
}

/// The texts of one content block, with their pointers inside the block: `text` blocks,
/// embedded resources' `text`, and resource links' names and descriptions. Binary data
/// (images, audio, blobs) is not text and is not scanned.
fn block_texts(b: &Value) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    match b.get("type").and_then(Value::as_str) {
        Some("text") => {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                out.push(("/text", t));
            }
        }
        Some("resource") => {
            if let Some(t) = b.pointer("/resource/text").and_then(Value::as_str) {
                out.push(("/resource/text", t));
            }
        }
        Some("resource_link") => {
            for (p, k) in [
                ("/uri", "uri"),
                ("/name", "name"),
                ("/description", "description"),
            ] {
                if let Some(t) = b.get(k).and_then(Value::as_str) {
                    out.push((p, t));
                }
            }
        }
        Some("image") | Some("audio") => {}
        _ => {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                out.push(("/text", t));
            }
        }
    }
    out
}

/// Masks every secret in a result's strings as `[REDACTED:<kind>]`; the number masked.
fn mask_secrets(result: &mut Value) -> usize {
    let mut n = 0;
    let mut spans = Vec::new();
    redact::each_string_mut(result, |s| {
        spans.clear();
        secret_spans(s, &mut spans);
        n += redact::replace_spans(s, &spans, |kind, _| format!("[REDACTED:{kind}]"));
    });
    n
}
