//! PII redaction and restoration, per call.
//!
//! Before the upstream is called, every PII value in the arguments' strings is replaced by a
//! placeholder `<PII:KIND:N>` (the same value gets the same placeholder within a call); after
//! the output checks, placeholders in the result are replaced by the originals. The mapping
//! lives in the call's own [`Redactions`], so two calls in flight never share placeholders,
//! and it is never logged, cached or sent anywhere.
//!
//! Output checks run on the result as the upstream wrote it (placeholders included) before
//! restoration: a placeholder coming back is not a leak.

use serde_json::Value;

use super::detect::pii_spans;

/// The placeholders of one call and the values they stand for.
#[derive(Default)]
pub struct Redactions {
    /// (placeholder, original), in order of first appearance.
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactions")
            .field("count", &self.pairs.len())
            .finish()
    }
}

/// Where placeholders begin.
const MARK: &str = "<PII:";

impl Redactions {
    /// How many distinct values were redacted.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The kinds redacted (for reports; never the values).
    pub fn kinds(&self) -> Vec<String> {
        self.pairs
            .iter()
            .map(|(p, _)| {
                p.trim_start_matches(MARK)
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            })
            .collect()
    }

    fn placeholder(&mut self, kind: &str, value: &str) -> String {
        if let Some((p, _)) = self.pairs.iter().find(|(_, v)| v == value) {
            return p.clone();
        }
        let p = format!(
            "{MARK}{}:{}>",
            kind.to_ascii_uppercase(),
            self.pairs.len() + 1
        );
        self.pairs.push((p.clone(), value.to_string()));
        p
    }

    /// Replaces every PII value in `value`'s strings (object keys left as they are) by its
    /// placeholder; placeholders are numbered in document order.
    pub fn redact(&mut self, value: &mut Value) {
        let mut spans = Vec::new();
        each_string_mut(value, |s| {
            spans.clear();
            pii_spans(s, &mut spans);
            replace_spans(s, &spans, |kind, v| self.placeholder(kind, v));
        });
    }

    fn restore_str(&self, s: &mut String) {
        if !s.contains(MARK) {
            return;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find(MARK) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match self
                .pairs
                .iter()
                .find(|(p, _)| tail.starts_with(p.as_str()))
            {
                Some((p, orig)) => {
                    out.push_str(orig);
                    rest = &tail[p.len()..];
                }
                None => {
                    out.push_str(MARK);
                    rest = &tail[MARK.len()..];
                }
            }
        }
        out.push_str(rest);
        *s = out;
    }

    /// Puts the originals back wherever a placeholder of this call appears in `value`'s
    /// strings.
    pub fn restore(&self, value: &mut Value) {
        if self.pairs.is_empty() {
            return;
        }
        each_string_mut(value, |s| self.restore_str(s));
    }
}

/// Calls `f` on every string value of `value` (object keys left as they are), in document
/// order.
pub(crate) fn each_string_mut(value: &mut Value, mut f: impl FnMut(&mut String)) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => f(s),
            Value::Array(a) => stack.extend(a.iter_mut().rev()),
            Value::Object(o) => stack.extend(o.values_mut().rev()),
            _ => {}
        }
    }
}

/// Replaces the `(kind, start, end)` spans of `s` (sorted; a span that overlaps the
/// previous one or is not on char boundaries is skipped) by what `with` returns for the
/// kind and the spanned text; the number replaced.
pub(crate) fn replace_spans(
    s: &mut String,
    spans: &[(&'static str, usize, usize)],
    mut with: impl FnMut(&'static str, &str) -> String,
) -> usize {
    if spans.is_empty() {
        return 0;
    }
    let mut out = String::with_capacity(s.len());
    let (mut at, mut n) = (0, 0);
    for &(kind, start, end) in spans {
        if start < at || end > s.len() || !s.is_char_boundary(start) || !s.is_char_boundary(end) {
            continue;
        }
        out.push_str(&s[at..start]);
        out.push_str(&with(kind, &s[start..end]));
        at = end;
        n += 1;
    }
    out.push_str(&s[at..]);
    *s = out;
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_hides_values_and_restores_them() {
        let mut args = json!({
            "to": "ada@lovelace-labs.io",
            "body": "Call +1 415 555 0134 or write to ada@lovelace-labs.io",
            "n": 3
        });
        let mut r = Redactions::default();
        r.redact(&mut args);
        let text = args.to_string();
        assert!(!text.contains("ada@lovelace-labs.io"), "{text}");
        assert!(text.contains("<PII:EMAIL:1>"), "{text}");
        // The same value gets the same placeholder.
        assert_eq!(text.matches("<PII:EMAIL:1>").count(), 2, "{text}");
        let mut result = json!({"content": [{"type": "text", "text": format!("sent to {}", args["to"].as_str().unwrap())}]});
        r.restore(&mut result);
        assert_eq!(result["content"][0]["text"], "sent to ada@lovelace-labs.io");
        assert!(format!("{r:?}").contains("count"));
        assert!(!format!("{r:?}").contains("ada@"));
    }

    #[test]
    fn unknown_placeholders_are_left_alone() {
        let r = Redactions::default();
        let mut v = json!("<PII:EMAIL:9> stays");
        r.restore(&mut v);
        assert_eq!(v, "<PII:EMAIL:9> stays");
        let mut r = Redactions::default();
        let mut a = json!("mail bob@harbor-freight.org");
        r.redact(&mut a);
        let mut v = json!("<PII:EMAIL:2> and <PII:EMAIL:1> and <PII:");
        r.restore(&mut v);
        assert_eq!(v, "<PII:EMAIL:2> and bob@harbor-freight.org and <PII:");
    }
}
