//! Reading the API's replies: the flag rule of verdicts, scores, and the sanitizing of
//! detector details and error messages so that nothing echoing the checked text or the key
//! is kept (the rule is in the parent module's header).

use serde_json::{Map, Value};

use super::*;

/// Python-style truthiness, as the API's `error` field is read.
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|v| v != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
    }
}

pub(super) fn error_field(object: &Map<String, Value>) -> Option<&Value> {
    object.get("error").filter(|error| truthy(error))
}

/// Keeps the api key and the checked texts out of API-supplied messages.
pub(super) struct Scrub<'a> {
    pub(super) key: &'a str,
    pub(super) texts: &'a [&'a str],
}

impl Scrub<'_> {
    pub(super) fn api_error(&self, error: &Value) -> RemoteError {
        let raw = match error {
            Value::String(message) => Some(message.as_str()),
            Value::Object(members) => ["message", "detail", "error"]
                .iter()
                .find_map(|field| members.get(*field).and_then(Value::as_str)),
            _ => None,
        };
        let message = match raw {
            None => "no message given".to_owned(),
            Some(raw) => {
                let message = clip(raw.trim(), MAX_API_MESSAGE_CHARS);
                if message.is_empty() {
                    "no message given".to_owned()
                } else if self.key.len() >= 4 && message.contains(self.key) {
                    "message withheld: it quotes the api key".to_owned()
                } else if self.texts.iter().any(|text| quotes(&message, text)) {
                    "message withheld: it quotes the checked text".to_owned()
                } else {
                    message
                }
            }
        };
        RemoteError::Api(message)
    }
}

/// Whether `message` quotes `text`: holds it whole (when it is at least 4
/// characters long) or shares a run of [`ECHO_WINDOW`] characters with it.
pub(super) fn quotes(message: &str, text: &str) -> bool {
    let text = text.trim();
    if text.chars().count() < ECHO_WINDOW {
        return text.chars().count() >= 4 && message.contains(text);
    }
    let bounds: Vec<usize> = message
        .char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(message.len()))
        .collect();
    bounds
        .windows(ECHO_WINDOW + 1)
        .any(|w| text.contains(&message[w[0]..w[ECHO_WINDOW]]))
}

/// Whether a summary value flags its detector: `1`, `true` or a non-empty
/// list.
pub(super) fn is_flagged(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// Reads one detect result (`{"summary", "details"}` or `{"error"}`).
pub(super) fn parse_verdict(
    result: &Value,
    text: &str,
    block: &[String],
    scrub: &Scrub<'_>,
) -> Result<RemoteVerdict, RemoteError> {
    let object = result
        .as_object()
        .ok_or_else(|| RemoteError::malformed("detect result is not a JSON object"))?;
    if let Some(error) = error_field(object) {
        return Err(scrub.api_error(error));
    }
    let summary = object
        .get("summary")
        .and_then(Value::as_object)
        .ok_or_else(|| RemoteError::malformed("detect result has no `summary` object"))?;
    let details = object.get("details").and_then(Value::as_object);
    let mut verdict = RemoteVerdict::default();
    let mut lowered: Option<String> = None;
    for name in block {
        if verdict.flagged.contains(name) || !summary.get(name).is_some_and(is_flagged) {
            continue;
        }
        let lowered = lowered.get_or_insert_with(|| text.to_lowercase());
        let sanitizer = Sanitizer { lowered };
        let detail = match details.and_then(|d| d.get(name)) {
            Some(Value::Object(members)) => sanitizer.object(members, 0, false),
            _ => Map::new(),
        };
        verdict.flagged.push(name.clone());
        verdict.details.insert(name.clone(), Value::Object(detail));
    }
    Ok(verdict)
}

/// Reads a score: top-level `score`, else `summary.<summary_field>`.
pub(super) fn read_score(
    reply: &Value,
    summary_field: &str,
    what: &str,
) -> Result<f64, RemoteError> {
    let object = reply
        .as_object()
        .ok_or_else(|| RemoteError::Malformed(format!("{what} reply is not a JSON object")))?;
    let found = object.get("score").or_else(|| {
        object
            .get("summary")
            .and_then(|summary| summary.get(summary_field))
    });
    let score = match found {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match score {
        Some(score) if score.is_finite() => Ok(score),
        _ => Err(RemoteError::Malformed(format!(
            "{what} reply has no numeric score"
        ))),
    }
}

/// Keys whose values carry checked text or matched content; always dropped.
pub(super) const TEXT_KEYS: &[&str] = &[
    "adherence_response",
    "answer",
    "anonymized_text",
    "atomic_facts",
    "content",
    "context",
    "debiased_text",
    "detected_counts",
    "detected_keywords",
    "entity",
    "evidence",
    "excerpt",
    "explanation",
    "highlight",
    "highlights",
    "input",
    "key",
    "keyword",
    "keywords",
    "llm_answer",
    "mapping",
    "masked_text",
    "match",
    "matched",
    "matched_text",
    "matches",
    "most_unsafe_content",
    "original",
    "original_text",
    "output",
    "phrase",
    "phrases",
    "prompt",
    "question",
    "quote",
    "reason",
    "reasoning",
    "redacted_text",
    "replacement",
    "request_text",
    "response",
    "response_text",
    "sentence",
    "sentences",
    "snippet",
    "snippets",
    "span",
    "spans",
    "substring",
    "text",
    "texts",
    "token",
    "tokens",
    "unsafe_content",
    "user_metadata",
    "value",
    "values",
    "violated_rules",
    "violating_policy",
    "word",
    "words",
];

/// Field names the API is known to use for scores, labels and flags; exempt
/// from the "does not occur in the text" test on keys.
pub(super) const KNOWN_KEYS: &[&str] = &[
    "attack",
    "bias",
    "bias_detected",
    "categories",
    "category",
    "compliance_mapping",
    "confidence",
    "copyright_ip",
    "count",
    "detected",
    "detected_attacks",
    "end",
    "entities",
    "entity_type",
    "flagged",
    "hate",
    "identity_attack",
    "identity_hate",
    "injection_attack",
    "insult",
    "ip_address",
    "keyword_detector",
    "label",
    "labels",
    "nsfw",
    "obscene",
    "on_topic",
    "p_injection",
    "p_jailbreak",
    "person",
    "pii",
    "policy_violation",
    "probability",
    "safe",
    "score",
    "scores",
    "secrets",
    "severe_toxicity",
    "severity",
    "sfw",
    "similarity_score",
    "sponge_attack",
    "sponge_attack_detected",
    "start",
    "system_prompt",
    "threat",
    "threshold",
    "topic_detector",
    "total",
    "toxicity",
    "type",
    "url",
];

pub(super) const MAX_DEPTH: usize = 6;
pub(super) const MAX_ITEMS: usize = 64;
pub(super) const LABEL_MAX_CHARS: usize = 64;
pub(super) const VENDOR_LABEL_MAX_CHARS: usize = 256;
pub(super) const KEY_MAX_BYTES: usize = 64;

/// Applies the detail sanitizing rule of the module documentation.
pub(super) struct Sanitizer<'a> {
    /// The checked text, lower-cased.
    pub(super) lowered: &'a str,
}

impl Sanitizer<'_> {
    pub(super) fn object(
        &self,
        members: &Map<String, Value>,
        depth: usize,
        vendor: bool,
    ) -> Map<String, Value> {
        let mut kept = Map::new();
        for (key, value) in members.iter().take(MAX_ITEMS) {
            if !self.key_allowed(key, vendor) {
                continue;
            }
            let vendor = vendor || key == "compliance_mapping";
            if let Some(value) = self.value(value, depth + 1, vendor) {
                kept.insert(key.clone(), value);
            }
        }
        kept
    }

    pub(super) fn value(&self, value: &Value, depth: usize, vendor: bool) -> Option<Value> {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => Some(value.clone()),
            Value::String(s) => self.string_allowed(s, vendor).then(|| value.clone()),
            Value::Array(items) if depth < MAX_DEPTH => Some(Value::Array(
                items
                    .iter()
                    .take(MAX_ITEMS)
                    .filter_map(|item| self.value(item, depth + 1, vendor))
                    .collect(),
            )),
            Value::Object(members) if depth < MAX_DEPTH => {
                Some(Value::Object(self.object(members, depth, vendor)))
            }
            _ => None,
        }
    }

    pub(super) fn key_allowed(&self, key: &str, vendor: bool) -> bool {
        let lower = key.to_ascii_lowercase();
        if TEXT_KEYS.contains(&lower.as_str()) || !identifier_shaped(key) {
            return false;
        }
        if vendor || KNOWN_KEYS.contains(&lower.as_str()) {
            return true;
        }
        digit_count(key) < 4 && !self.occurs(&lower)
    }

    pub(super) fn string_allowed(&self, s: &str, vendor: bool) -> bool {
        if is_probability(s) {
            return true;
        }
        let max = if vendor {
            VENDOR_LABEL_MAX_CHARS
        } else {
            LABEL_MAX_CHARS
        };
        if s.chars().count() > max || s.chars().any(char::is_control) {
            return false;
        }
        if !vendor && digit_count(s) >= 4 {
            return false;
        }
        !self.occurs(&s.to_lowercase())
    }

    /// Whether a lower-cased needle of 3 or more characters occurs in the text.
    pub(super) fn occurs(&self, needle: &str) -> bool {
        let needle = needle.trim();
        needle.chars().count() >= 3 && self.lowered.contains(needle)
    }
}

pub(super) fn identifier_shaped(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= KEY_MAX_BYTES
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn digit_count(s: &str) -> usize {
    s.chars().filter(char::is_ascii_digit).count()
}

/// A number in `[0, 1]` written as a string, as some detectors send scores.
pub(super) fn is_probability(s: &str) -> bool {
    let s = s.trim();
    s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && s.parse::<f64>()
            .is_ok_and(|v| v.is_finite() && (0.0..=1.0).contains(&v))
}
