//! Local (offline) guardrail detectors: the checks a policy's `block` list names, run on
//! tool-call arguments before the upstream call and on tool results after it.
//!
//! Role: mirror, without a network round trip, the detectors of the reference guardrail
//! product (`injection_attack`, `pii`, `secrets`, `keyword_detector`, `sponge_attack`,
//! `policy_violation`, `topic_detector`, `toxicity`, `nsfw`, `bias`) and add the
//! gateway's own (`command_injection`, `path_traversal`, `ssrf`, `schema`). The list
//! detectors (`keyword_detector`, `policy_violation`, `topic_detector`, `toxicity`,
//! `nsfw`, `bias`) run locally only with lists from the policy's `additional_config`;
//! without one they are remote-only.
//!
//! Invariants:
//! - Pure functions over text and JSON: no I/O, no global mutable state (compiled
//!   automata live in `OnceLock` statics or in a policy's [`Lists`]).
//! - No panics on any input; JSON is walked with an explicit stack (no recursion).
//! - Linear time: every pattern is a finite automaton (`regex`, `aho-corasick`) or a
//!   hand-written scanner, each family behind a cheap prefilter.
//! - The four regex families (injection phrases, command patterns, PII identifiers,
//!   exfiltration links) are first searched as one automaton (`gate.rs`): only a text it
//!   matches gets their own regexes, which find and name the matches.
//! - A [`Finding`] never holds the matched text: only the detector, a kind, the JSON
//!   pointer of the leaf and a byte span (always on char boundaries of that leaf).
//! - Encoded runs (base64, hex, `%XX`, escapes, Unicode tags) are decoded once and the
//!   decoded text re-checked by the injection, command, path and SSRF detectors; a hit
//!   there is reported by that detector with kind `"encoded_payload"` and the span of
//!   the encoded run.
//! - At most [`MAX_FINDINGS`] findings per scan call and [`MAX_FINDINGS_PER_LEAF`] per
//!   leaf: a finding is a reason to block, not an inventory (use [`pii_spans`] /
//!   [`secret_spans`] for redaction, which are complete).
//! - Object keys are scanned like values; strings of at most 8 identifier bytes (most
//!   keys) are only checked by configured lists.
//!
//! Finding kinds, per detector (each family file documents its rules and decisions):
//! - `injection_attack`: `instruction_override`, `jailbreak`, `concealment`,
//!   `prompt_extraction`, `tool_poisoning`, `data_exfiltration`, `indirect_injection`,
//!   `role_spoofing`, `hidden_unicode`, `exfiltration_link`, `encoded_payload`.
//! - `pii`: `email`, `phone`, `payment_card`, `iban`, `us_ssn`, `uk_nino`, `in_aadhaar`,
//!   `in_pan`, `es_dni`, `ip_address`.
//! - `secrets`: `aws_access_key`, `aws_secret_key`, `github_token`, `gitlab_token`,
//!   `slack_token`, `slack_webhook`, `stripe_key`, `google_api_key`,
//!   `google_oauth_token`, `openai_api_key`, `anthropic_api_key`, `npm_token`,
//!   `pypi_token`, `huggingface_token`, `sendgrid_key`, `digitalocean_token`,
//!   `shopify_token`, `databricks_token`, `age_secret_key`, `vault_token`,
//!   `postman_key`, `grafana_token`, `linear_key`, `square_token`, `sentry_token`,
//!   `mailgun_key`, `telegram_bot_token`, `azure_storage_key`, `private_key`, `jwt`,
//!   `url_credentials`, `bearer_token`, `basic_auth`, `password`, `high_entropy_secret`.
//! - `sponge_attack`: `oversized`, `deep_nesting`, `repetition`, `combining_flood`,
//!   `repetition_request`.
//! - `command_injection`: `shell_chain`, `reverse_shell`, `download_execute`,
//!   `encoded_command`, `destructive_command`, `shell_redirect`, `command_substitution`,
//!   `command_exfiltration`, `argument_injection`, `interpreter_exec`,
//!   `sql_command_exec`, `jndi_injection`, `template_injection`, `encoded_payload`.
//! - `path_traversal`: `traversal`, `sensitive_path`, `encoded_payload`.
//! - `ssrf`: `metadata_endpoint`, `loopback`, `link_local`, `private_network`,
//!   `obfuscated_ip`, `file_url`, `dangerous_scheme`, `encoded_payload`.
//! - list detectors: `keyword`, `pattern`; `schema`: `schema_violation`.

mod command;
mod gate;
mod injection;
mod keywords;
mod path;
mod pii;
pub mod schema;
mod secrets;
mod sponge;
mod ssrf;
mod text;

pub use keywords::Lists;
pub use schema::CompiledSchema;
pub use sponge::Limits;

use serde_json::Value;
use text::{Class, DecodeBufs, Encoding, Leaf, Norm, Visit};

/// A detector as named in a policy's `block` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// Prompt injection and tool poisoning: instruction overrides, role spoofing,
    /// hidden Unicode, encoded payloads, exfiltration links.
    InjectionAttack,
    /// Personal data: emails, phone numbers, payment cards, IBANs, national ids, IPs.
    Pii,
    /// Credentials: cloud and SaaS tokens, private keys, JWTs, assigned passwords.
    Secrets,
    /// Banned keywords / patterns from the policy.
    KeywordDetector,
    /// Oversized or repetitive input meant to exhaust the model or the gateway.
    SpongeAttack,
    /// Shell command chains, reverse shells, download-and-execute.
    CommandInjection,
    /// `../` escapes (plain or encoded) and sensitive file paths.
    PathTraversal,
    /// URLs to metadata endpoints, loopback, link-local or private addresses, `file:`.
    Ssrf,
    /// Tool arguments that violate the tool's `inputSchema`.
    Schema,
    /// List-based: policy violations (configured keywords / patterns).
    PolicyViolation,
    /// List-based: banned topics.
    TopicDetector,
    /// List-based: toxic terms.
    Toxicity,
    /// List-based: NSFW terms.
    Nsfw,
    /// List-based: biased terms.
    Bias,
}

impl Detector {
    /// Every detector, in declaration order.
    pub const ALL: [Detector; 14] = [
        Detector::InjectionAttack,
        Detector::Pii,
        Detector::Secrets,
        Detector::KeywordDetector,
        Detector::SpongeAttack,
        Detector::CommandInjection,
        Detector::PathTraversal,
        Detector::Ssrf,
        Detector::Schema,
        Detector::PolicyViolation,
        Detector::TopicDetector,
        Detector::Toxicity,
        Detector::Nsfw,
        Detector::Bias,
    ];

    /// The name used in a policy's `block` list.
    pub fn name(self) -> &'static str {
        match self {
            Detector::InjectionAttack => "injection_attack",
            Detector::Pii => "pii",
            Detector::Secrets => "secrets",
            Detector::KeywordDetector => "keyword_detector",
            Detector::SpongeAttack => "sponge_attack",
            Detector::CommandInjection => "command_injection",
            Detector::PathTraversal => "path_traversal",
            Detector::Ssrf => "ssrf",
            Detector::Schema => "schema",
            Detector::PolicyViolation => "policy_violation",
            Detector::TopicDetector => "topic_detector",
            Detector::Toxicity => "toxicity",
            Detector::Nsfw => "nsfw",
            Detector::Bias => "bias",
        }
    }

    /// The detector with that policy name (exact, lower case), if any.
    pub fn parse(name: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.name() == name)
    }

    #[inline]
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of detectors (a bit set); `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorSet(u32);

impl DetectorSet {
    /// The empty set.
    pub const fn empty() -> Self {
        DetectorSet(0)
    }

    /// Every detector.
    pub fn all() -> Self {
        Detector::ALL
            .into_iter()
            .fold(DetectorSet::empty(), DetectorSet::with)
    }

    /// This set plus `d`.
    #[must_use]
    pub fn with(self, d: Detector) -> Self {
        DetectorSet(self.0 | d.bit())
    }

    /// This set without `d`.
    #[must_use]
    pub fn without(self, d: Detector) -> Self {
        DetectorSet(self.0 & !d.bit())
    }

    /// Whether `d` is in the set.
    pub fn contains(self, d: Detector) -> bool {
        self.0 & d.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(self, other: DetectorSet) -> Self {
        DetectorSet(self.0 | other.0)
    }

    /// The intersection of two sets.
    #[must_use]
    pub fn intersection(self, other: DetectorSet) -> Self {
        DetectorSet(self.0 & other.0)
    }

    /// The detectors in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Detector> {
        Detector::ALL.into_iter().filter(move |d| self.contains(*d))
    }
}

impl FromIterator<Detector> for DetectorSet {
    fn from_iter<I: IntoIterator<Item = Detector>>(iter: I) -> Self {
        iter.into_iter()
            .fold(DetectorSet::empty(), DetectorSet::with)
    }
}

/// One finding. Never holds the matched text itself (sensitive values must not be
/// copied into reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The detector that fired.
    pub detector: Detector,
    /// What was found, e.g. `"email"`, `"payment_card"`, `"aws_access_key"`,
    /// `"instruction_override"`, `"encoded_payload"`, `"traversal"`, `"loopback"`,
    /// `"oversized"`, `"keyword"`, `"schema_violation"` (the module docs list them all).
    pub kind: &'static str,
    /// JSON pointer of the string leaf (`""` for a bare text); for an object key, the
    /// pointer of that member.
    pub path: String,
    /// Byte span in that leaf's text (for decoded payloads: the span of the encoded
    /// run; `0..0` for findings about the whole value, such as `oversized`).
    pub start: usize,
    /// End of the byte span (exclusive).
    pub end: usize,
}

/// At most this many findings are appended by one [`scan_value`] / [`scan_text`] call.
pub const MAX_FINDINGS: usize = 256;
/// At most this many findings are appended for one leaf.
pub const MAX_FINDINGS_PER_LEAF: usize = 32;

/// Detectors that can run locally with no configuration: `injection_attack`, `pii`,
/// `secrets`, `sponge_attack`, `command_injection`, `path_traversal`, `ssrf`, `schema`
/// (`schema` runs only when a schema is given, through [`CompiledSchema`]).
pub fn builtin() -> DetectorSet {
    [
        Detector::InjectionAttack,
        Detector::Pii,
        Detector::Secrets,
        Detector::SpongeAttack,
        Detector::CommandInjection,
        Detector::PathTraversal,
        Detector::Ssrf,
        Detector::Schema,
    ]
    .into_iter()
    .collect()
}

/// The list detectors (`keyword_detector`, `policy_violation`, `topic_detector`,
/// `toxicity`, `nsfw`, `bias`): local only with lists from [`Lists`], otherwise
/// remote-only.
pub fn list_detectors() -> DetectorSet {
    [
        Detector::KeywordDetector,
        Detector::PolicyViolation,
        Detector::TopicDetector,
        Detector::Toxicity,
        Detector::Nsfw,
        Detector::Bias,
    ]
    .into_iter()
    .collect()
}

/// Detectors that re-check decoded payloads.
fn decoding_detectors() -> DetectorSet {
    [
        Detector::InjectionAttack,
        Detector::CommandInjection,
        Detector::PathTraversal,
        Detector::Ssrf,
    ]
    .into_iter()
    .collect()
}

/// Strings of at most this many identifier bytes skip the built-in detectors (a token,
/// card, id or phone number needs more, or separators).
const SHORT_WORD: usize = 8;

/// The leaf findings are about: its first finding's index, JSON pointer and text.
#[derive(Clone, Copy)]
struct LeafAt<'a> {
    first: usize,
    path: &'a str,
    text: &'a str,
}

/// Where findings go: caps, de-duplication, span clamping.
struct Sink<'o> {
    out: &'o mut Vec<Finding>,
    base: usize,
}

impl Sink<'_> {
    fn full(&self) -> bool {
        self.out.len() - self.base >= MAX_FINDINGS
    }

    fn push(&mut self, at: &LeafAt<'_>, d: Detector, kind: &'static str, start: usize, end: usize) {
        let LeafAt {
            first: leaf_start,
            path,
            text,
        } = *at;
        if self.full() || self.out.len() - leaf_start >= MAX_FINDINGS_PER_LEAF {
            return;
        }
        let start = text::floor_boundary(text, start.min(text.len()));
        let end = text::ceil_boundary(text, end.clamp(start, text.len()));
        let dup = self.out[leaf_start..]
            .iter()
            .any(|f| f.detector == d && f.kind == kind && f.start == start && f.end == end);
        if !dup {
            self.out.push(Finding {
                detector: d,
                kind,
                path: path.to_string(),
                start,
                end,
            });
        }
    }

    fn push_whole(&mut self, path: &str, d: Detector, kind: &'static str) {
        if self.full() {
            return;
        }
        if !self.out[self.base..]
            .iter()
            .any(|f| f.detector == d && f.kind == kind && f.path == path)
        {
            self.out.push(Finding {
                detector: d,
                kind,
                path: path.to_string(),
                start: 0,
                end: 0,
            });
        }
    }
}

/// Per-call scanner state: scratch buffers reused across leaves.
struct Scanner<'a, 'o> {
    set: DetectorSet,
    lists: &'a Lists,
    limits: &'a Limits,
    sink: Sink<'o>,
    norm: Norm,
    norm2: Norm,
    dec: DecodeBufs,
    num: String,
    total_bytes: usize,
    items: usize,
    deep_reported: bool,
    /// Whether the combined gate may spare the regex families (off only in tests that
    /// compare both ways).
    gate: bool,
}

impl<'a, 'o> Scanner<'a, 'o> {
    fn new(
        set: DetectorSet,
        lists: &'a Lists,
        limits: &'a Limits,
        out: &'o mut Vec<Finding>,
    ) -> Self {
        let base = out.len();
        Scanner {
            set,
            lists,
            limits,
            sink: Sink { out, base },
            norm: Norm::default(),
            norm2: Norm::default(),
            dec: DecodeBufs::default(),
            num: String::new(),
            total_bytes: 0,
            items: 0,
            deep_reported: false,
            gate: true,
        }
    }

    fn scan_str(&mut self, path: &str, text: &str, key: Option<&str>) {
        self.total_bytes = self.total_bytes.saturating_add(text.len());
        self.items += 1;
        if text.is_empty() || self.sink.full() {
            return;
        }
        let mut c = Class::of_listing_runs(text, &mut self.dec);
        // Short identifier-like strings (most object keys, enum values) cannot carry any
        // built-in finding; only configured lists are checked on them.
        let word = text::cls::DIGIT
            | text::cls::UPPER
            | text::cls::LOWER
            | text::cls::UNDERSCORE
            | text::cls::DASH;
        let set = if text.len() <= SHORT_WORD && c.bits & !word == 0 {
            self.set.intersection(list_detectors())
        } else {
            self.set
        };
        if set.is_empty() {
            return;
        }
        let at = LeafAt {
            first: self.sink.out.len(),
            path,
            text,
        };
        let sink = &mut self.sink;
        let emit = |d: Detector| {
            move |sink: &mut Sink<'_>, kind: &'static str, s: usize, e: usize| {
                sink.push(&at, d, kind, s, e)
            }
        };

        if set.contains(Detector::SpongeAttack) {
            let f = emit(Detector::SpongeAttack);
            sponge::scan(text, &c, self.limits, &mut |k, s, e| f(sink, k, s, e));
        }
        let lists_active = !set.intersection(self.lists.configured()).is_empty();
        let phrases =
            set.contains(Detector::InjectionAttack) || set.contains(Detector::SpongeAttack);
        if phrases || lists_active {
            self.norm.build(text, &c, false);
        }
        // One search of the combined automaton instead of one per regex family; only
        // when it matches do the families run their own regexes.
        let raw_regexes = set.contains(Detector::CommandInjection)
            || set.contains(Detector::Pii)
            || set.contains(Detector::InjectionAttack);
        if raw_regexes && self.gate && text.len() >= GATE_MIN_LEN {
            c.quiet = gate::quiet(text, phrases && self.norm.case_only());
        }
        if phrases {
            let norm = &self.norm;
            injection::scan(text, norm, &c, false, &mut |k, s, e| {
                let d = if k == "repetition_request" {
                    Detector::SpongeAttack
                } else {
                    Detector::InjectionAttack
                };
                if set.contains(d) {
                    sink.push(&at, d, k, s, e);
                }
            });
        }
        if lists_active {
            self.lists.scan(text, &self.norm, set, &mut |d, k, s, e| {
                sink.push(&at, d, k, s, e)
            });
        }
        if set.contains(Detector::Pii) {
            let f = emit(Detector::Pii);
            pii::scan(text, &c, &mut |k, s, e| f(sink, k, s, e));
        }
        if set.contains(Detector::Secrets) {
            let f = emit(Detector::Secrets);
            secrets::scan(text, &c, &mut |k, s, e| f(sink, k, s, e));
            if let Some(key) = key {
                secrets::scan_member(key, text, &mut |k, s, e| f(sink, k, s, e));
            }
        }
        if set.contains(Detector::CommandInjection) {
            let f = emit(Detector::CommandInjection);
            command::scan(text, &c, &mut |k, s, e| f(sink, k, s, e));
        }
        if set.contains(Detector::PathTraversal) {
            let f = emit(Detector::PathTraversal);
            path::scan(text, &c, &mut |k, s, e| f(sink, k, s, e));
        }
        if set.contains(Detector::Ssrf) {
            let f = emit(Detector::Ssrf);
            ssrf::scan(text, &c, &mut |k, s, e| f(sink, k, s, e));
        }
        let dec_set = set.intersection(decoding_detectors());
        if !dec_set.is_empty() {
            let norm2 = &mut self.norm2;
            text::for_each_encoded(text, &c, &mut self.dec, &mut |decoded, enc, s, e| {
                for d in recheck_decoded(decoded, enc, dec_set, norm2).iter() {
                    sink.push(&at, d, "encoded_payload", s, e);
                }
            });
        }
    }

    fn scan_number(&mut self, path: &str, n: &serde_json::Number) {
        self.items += 1;
        if !self.set.contains(Detector::Pii) || self.sink.full() {
            return;
        }
        let v = match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u,
            (None, Some(i)) => i.unsigned_abs(),
            _ => return,
        };
        if v < 1_000_000_000_000 {
            return;
        }
        use std::fmt::Write as _;
        self.num.clear();
        let _ = write!(self.num, "{v}");
        let at = LeafAt {
            first: self.sink.out.len(),
            path,
            text: "",
        };
        let num = std::mem::take(&mut self.num);
        let c = Class::of(&num);
        let sink = &mut self.sink;
        pii::scan(&num, &c, &mut |k, _, _| {
            sink.push(&at, Detector::Pii, k, 0, 0)
        });
        self.num = num;
    }

    fn finish(mut self, root_path: &str) {
        if self.set.contains(Detector::SpongeAttack)
            && (self.total_bytes > self.limits.max_bytes || self.items > self.limits.max_items)
        {
            self.sink
                .push_whole(root_path, Detector::SpongeAttack, "oversized");
        }
    }
}

/// The kind of a combined-regex match: that of the first top-level group that took part
/// (`kinds[g - 1]` for group `g`), or `default`.
pub(crate) fn group_kind(
    caps: &regex::Captures<'_>,
    kinds: &[&'static str],
    default: &'static str,
) -> &'static str {
    (1..caps.len())
        .find(|&g| caps.get(g).is_some())
        .and_then(|g| kinds.get(g - 1).copied())
        .unwrap_or(default)
}

/// Texts shorter than this skip the gate: the families' own prefilters already cost less.
const GATE_MIN_LEN: usize = 64;

/// A family's text scanner: `(text, class, hit(kind, start, end))`.
type FamilyScan = fn(&str, &Class, &mut dyn FnMut(&'static str, usize, usize));

/// Re-checks one decoded payload; returns the detectors that matched. A loopback URL
/// that was only percent-encoded (an OAuth `redirect_uri=http%3A%2F%2Flocalhost...`
/// inside another URL's query) is not counted; other encodings of it are.
fn recheck_decoded(decoded: &str, enc: Encoding, set: DetectorSet, norm: &mut Norm) -> DetectorSet {
    let c = Class::of(decoded);
    let mut hit = DetectorSet::empty();
    if set.contains(Detector::InjectionAttack) {
        norm.build(decoded, &c, false);
        let mut found = false;
        injection::scan(decoded, norm, &c, true, &mut |k, _, _| {
            found |= k != "repetition_request";
        });
        if found {
            hit = hit.with(Detector::InjectionAttack);
        }
    }
    let mut check = |d: Detector, f: FamilyScan| {
        if set.contains(d) {
            let mut found = false;
            f(decoded, &c, &mut |_, _, _| found = true);
            if found {
                hit = hit.with(d);
            }
        }
    };
    check(Detector::CommandInjection, command::scan);
    check(Detector::PathTraversal, path::scan);
    if set.contains(Detector::Ssrf) {
        let mut found = false;
        ssrf::scan(decoded, &c, &mut |k, _, _| {
            found |= !(enc == Encoding::Percent && k == "loopback");
        });
        if found {
            hit = hit.with(Detector::Ssrf);
        }
    }
    hit
}

impl Visit for Scanner<'_, '_> {
    fn leaf(&mut self, path: &str, leaf: Leaf<'_>) {
        match leaf {
            Leaf::Str { text, key } => self.scan_str(path, text, key),
            Leaf::Key(k) => self.scan_str(path, k, None),
            Leaf::Num(n) => self.scan_number(path, n),
        }
    }

    fn container(&mut self, path: &str, depth: usize) {
        self.items += 1;
        if depth > self.limits.max_depth
            && !self.deep_reported
            && self.set.contains(Detector::SpongeAttack)
        {
            self.deep_reported = true;
            self.sink
                .push_whole(path, Detector::SpongeAttack, "deep_nesting");
        }
    }
}

/// Scans a JSON value (tool arguments, or a tool result's text/structured content):
/// every string leaf and every object key, recursively (with an explicit stack, so deep
/// input cannot overflow; nesting beyond `limits.max_depth` is reported as a
/// `sponge_attack` finding of kind `"deep_nesting"` and still scanned). Appends findings
/// for the detectors in `set`; `lists` supplies the list detectors, `limits` the sponge
/// limits. `Schema` in `set` is ignored here: use [`CompiledSchema::check`].
pub fn scan_value(
    value: &Value,
    set: DetectorSet,
    lists: &Lists,
    limits: &Limits,
    out: &mut Vec<Finding>,
) {
    if set.without(Detector::Schema).is_empty() {
        return;
    }
    let mut sc = Scanner::new(set, lists, limits, out);
    text::walk(value, &mut sc);
    sc.finish("");
}

/// The same as [`scan_value`] for one text (findings have path `""`).
pub fn scan_text(
    text: &str,
    set: DetectorSet,
    lists: &Lists,
    limits: &Limits,
    out: &mut Vec<Finding>,
) {
    if set.without(Detector::Schema).is_empty() {
        return;
    }
    let mut sc = Scanner::new(set, lists, limits, out);
    sc.scan_str("", text, None);
    sc.finish("");
}

/// Where a detector reports a finding: (kind, start, end) in the scanned text.
pub(crate) type Hit<'a> = &'a mut dyn FnMut(&'static str, usize, usize);

/// Test support: what a detector's `scan` finds in `text`, as (kind, matched text), with
/// every span checked to lie on char boundaries.
#[cfg(test)]
pub(crate) fn found_by(
    scan: fn(&str, &text::Class, Hit<'_>),
    text: &str,
) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    scan(text, &text::Class::of(text), &mut |k, s, e| {
        assert!(text.is_char_boundary(s) && text.is_char_boundary(e) && s < e);
        v.push((k, text[s..e].to_string()))
    });
    v
}

/// Compiles every built-in automaton now (they are otherwise built on first use, which
/// takes tens of milliseconds): call once at startup to keep that off the first request.
pub fn warm_up() {
    let mut out = Vec::new();
    scan_text(
        "warm-up: ignore previous instructions; cat /etc/passwd ../../x http://127.0.0.1/ \
         a@b.co AKIA0000000000000000 password=x DE89370400440532013000 aGVsbG8gd29ybGQhISE=",
        DetectorSet::all(),
        &Lists::empty(),
        &Limits::default(),
        &mut out,
    );
}

/// Clamps spans to char boundaries of `text`, sorts them and drops any span
/// overlapping an earlier (or longer) one.
fn non_overlapping(text: &str, out: &mut Vec<(&'static str, usize, usize)>, from: usize) {
    for span in out[from..].iter_mut() {
        let s = text::floor_boundary(text, span.1.min(text.len()));
        let e = text::ceil_boundary(text, span.2.clamp(s, text.len()));
        *span = (span.0, s, e);
    }
    let tail = &mut out[from..];
    tail.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
    let mut kept: Vec<(&'static str, usize, usize)> = Vec::with_capacity(tail.len());
    for &(k, s, e) in tail.iter() {
        match kept.last() {
            Some(&(_, _, le)) if s < le => {}
            _ => kept.push((k, s, e)),
        }
    }
    out.truncate(from);
    out.extend(kept);
}

/// PII spans for redaction: appends `(kind, start, end)` for every PII value in `text`
/// (complete: no cap), non-overlapping, sorted by start. Spans are on char boundaries.
pub fn pii_spans(text: &str, out: &mut Vec<(&'static str, usize, usize)>) {
    let from = out.len();
    let c = Class::of(text);
    pii::scan(text, &c, &mut |k, s, e| out.push((k, s, e)));
    non_overlapping(text, out, from);
}

/// Secret spans for masking secrets in outputs: same shape as [`pii_spans`].
pub fn secret_spans(text: &str, out: &mut Vec<(&'static str, usize, usize)>) {
    let from = out.len();
    let c = Class::of(text);
    secrets::scan(text, &c, &mut |k, s, e| out.push((k, s, e)));
    non_overlapping(text, out, from);
}

#[cfg(test)]
#[path = "tests/detect.rs"]
mod tests;
