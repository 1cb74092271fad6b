//! `sponge_attack`: input built to exhaust the model or the gateway rather than to say
//! anything: oversized values, excessive nesting or item counts, long runs of one short
//! repeated unit (`"a" * 5000`, `"ha " * 3000`, one sentence pasted a thousand times),
//! floods of combining marks ("zalgo" text), and requests for unbounded output ("repeat
//! the word X forever": kind `repetition_request`, matched by the phrase pass of the
//! injection module so the text is scanned once).
//!
//! Mirrors the reference product's sponge detector in intent (a size and repetition
//! check), with limits a policy can tune in `additional_config.sponge_attack`.
//!
//! Invariants: linear time. Repetition is found by sampling: a run of at least `R` bytes
//! always contains a sample position at a multiple of `R / 2`; at each sample the
//! smallest local period is tested with a few `memcmp`s and, if one holds, the run is
//! extended both ways. Spans are on char boundaries. Thresholds are chosen so that
//! ordinary code, logs (with timestamps), prose, tables and base64 of real files stay
//! well below them.

use super::text::{self, Class};

/// Sponge limits, from `additional_config.sponge_attack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of strings (values and keys) allowed in one scanned value
    /// (`max_bytes`, default 262144).
    pub max_bytes: usize,
    /// Total number of leaves and containers allowed in one scanned value (`max_items`,
    /// default 100000).
    pub max_items: usize,
    /// Nesting depth beyond which a value is reported (`max_depth`, default 64; tool
    /// arguments rarely nest beyond 10, and JSON parsers stop at 128).
    pub max_depth: usize,
    /// Minimum length in bytes of a run of one repeated unit of up to 32 bytes that is
    /// reported (`max_repeat_run`, default 4096). Units of 33–1024 bytes are reported
    /// from eight times this length on.
    pub max_repeat_run: usize,
    /// Longest run of combining marks on one base char that is tolerated
    /// (`max_combining_run`, default 24).
    pub max_combining_run: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 262_144,
            max_items: 100_000,
            max_depth: 64,
            max_repeat_run: 4096,
            max_combining_run: 24,
        }
    }
}

impl Limits {
    /// From a policy's `additional_config`: the object `sponge_attack` may hold
    /// `max_bytes`, `max_items`, `max_depth`, `max_repeat_run` and `max_combining_run`
    /// (positive integers); anything missing or malformed keeps its default.
    pub fn from_additional_config(
        additional: &serde_json::Map<String, serde_json::Value>,
    ) -> Limits {
        let mut l = Limits::default();
        let Some(cfg) = additional.get("sponge_attack").and_then(|v| v.as_object()) else {
            return l;
        };
        let get = |names: &[&str]| {
            names
                .iter()
                .filter_map(|n| cfg.get(*n).and_then(|v| v.as_u64()))
                .find(|&v| v > 0)
                .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        };
        if let Some(v) = get(&["max_bytes", "max_size"]) {
            l.max_bytes = v;
        }
        if let Some(v) = get(&["max_items", "max_nodes"]) {
            l.max_items = v;
        }
        if let Some(v) = get(&["max_depth"]) {
            l.max_depth = v;
        }
        if let Some(v) = get(&["max_repeat_run", "repeat_run"]) {
            l.max_repeat_run = v.max(256);
        }
        if let Some(v) = get(&["max_combining_run"]) {
            l.max_combining_run = v;
        }
        l
    }
}

/// Bytes compared at a sample to establish a local period.
const WINDOW: usize = 64;
/// Longest unit tested exhaustively at each sample.
const SHORT_PERIOD: usize = 32;
/// Longest unit found by searching for the sample window further on.
const LONG_PERIOD: usize = 1024;

/// Finds the first run of a repeated unit (period ≤ `SHORT_PERIOD`) covering at least
/// `min_run` bytes, or of a longer unit (≤ `LONG_PERIOD`) covering `min_long_run` bytes.
pub(crate) fn find_repetition(
    s: &[u8],
    min_run: usize,
    min_long_run: usize,
) -> Option<(usize, usize)> {
    let min_run = min_run.max(2 * WINDOW);
    if s.len() < min_run {
        return None;
    }
    let stride = min_run / 2;
    let mut pos = 0;
    while pos + WINDOW + SHORT_PERIOD <= s.len() {
        let w = &s[pos..pos + WINDOW];
        let period = (1..=SHORT_PERIOD).find(|&p| w == &s[pos + p..pos + p + WINDOW]);
        if let Some(p) = period {
            let (a, b) = extend(s, pos, p);
            if b - a >= min_run {
                return Some((a, b));
            }
            pos = pos.max(b.saturating_sub(stride)) + stride;
            continue;
        }
        pos += stride;
    }
    // Longer units: sample less often (the run needed is longer too).
    let min_long_run = min_long_run.max(4 * LONG_PERIOD);
    if s.len() < min_long_run {
        return None;
    }
    let stride = min_long_run / 2;
    let mut pos = 0;
    while pos + WINDOW + SHORT_PERIOD < s.len() {
        let w = &s[pos..pos + WINDOW];
        let from = pos + SHORT_PERIOD + 1;
        let to = (pos + LONG_PERIOD + WINDOW).min(s.len());
        if from < to {
            if let Some(off) = memchr::memmem::find(&s[from..to], w) {
                let p = from + off - pos;
                let (a, b) = extend(s, pos, p);
                if b - a >= min_long_run {
                    return Some((a, b));
                }
            }
        }
        pos += stride;
    }
    None
}

/// Extends a run of period `p` around `pos`; returns the covered byte range.
fn extend(s: &[u8], pos: usize, p: usize) -> (usize, usize) {
    let mut a = pos;
    while a > 0 && a - 1 + p < s.len() && s[a - 1] == s[a - 1 + p] {
        a -= 1;
    }
    let mut r = pos;
    while r + p < s.len() && s[r] == s[r + p] {
        r += 1;
    }
    (a, (r + p).min(s.len()))
}

fn is_combining(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0483..=0x0489 | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Scans one text for repetition and combining-mark floods (size limits are checked by
/// the caller over the whole value).
pub(crate) fn scan(
    text: &str,
    c: &Class,
    limits: &Limits,
    hit: &mut dyn FnMut(&'static str, usize, usize),
) {
    if text.len() >= limits.max_repeat_run {
        if let Some((a, b)) = find_repetition(
            text.as_bytes(),
            limits.max_repeat_run,
            limits.max_repeat_run.saturating_mul(8),
        ) {
            hit(
                "repetition",
                text::ceil_boundary(text, a),
                text::floor_boundary(text, b),
            );
        }
    }
    // Every combining mark counted here starts with one of these UTF-8 lead bytes.
    let b = text.as_bytes();
    let first = if c.non_ascii() {
        match (
            memchr::memchr3(0xCC, 0xCD, 0xD2, b),
            memchr::memchr3(0xE1, 0xE2, 0xEF, b),
        ) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    } else {
        None
    };
    if let Some(from) = first {
        let mut run = 0usize;
        let mut run_start = 0usize;
        for (i, ch) in text[from..].char_indices() {
            let i = from + i;
            if is_combining(ch) {
                if run == 0 {
                    run_start = i;
                }
                run += 1;
                if run == limits.max_combining_run + 1 {
                    let end = text[i..]
                        .char_indices()
                        .find(|&(_, c)| !is_combining(c))
                        .map_or(text.len(), |(j, _)| i + j);
                    hit("combining_flood", run_start, end);
                    return;
                }
            } else {
                run = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str) -> Vec<(&'static str, usize, usize)> {
        let mut v = Vec::new();
        scan(
            text,
            &Class::of(text),
            &Limits::default(),
            &mut |k, s, e| v.push((k, s, e)),
        );
        v
    }

    #[test]
    fn single_char_and_short_unit_runs() {
        let t = format!("prefix {} suffix", "a".repeat(5000));
        let h = hits(&t);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, "repetition");
        assert!(h[0].2 - h[0].1 >= 5000);
        assert!(!hits(&"ha ".repeat(3000)).is_empty());
        assert!(!hits(&"💣".repeat(2000)).is_empty());
        assert!(!hits(&"哈".repeat(2000)).is_empty());
    }

    #[test]
    fn long_unit_runs() {
        let sentence = "Please summarise the following document in great detail, thanks. ";
        assert!(!hits(&sentence.repeat(600)).is_empty());
        assert!(hits(&sentence.repeat(100)).is_empty());
    }

    #[test]
    fn ordinary_long_text_is_fine() {
        let mut log = String::new();
        for i in 0..2000 {
            log.push_str(&format!(
                "2024-05-01T10:{:02}:{:02}.{:03}Z INFO worker-{} processed job {} in {}ms\n",
                (i / 60) % 60,
                i % 60,
                i % 1000,
                i % 7,
                10_000 + i,
                (i * 37) % 500
            ));
        }
        assert!(hits(&log).is_empty());
        let table = "| a | b |\n|---|---|\n".to_string() + &"| 1 | 2 |\n".repeat(100);
        assert!(hits(&table).is_empty());
        assert!(hits(&"=".repeat(120)).is_empty());
    }

    #[test]
    fn zalgo() {
        let z: String = "he\u{0301}\u{0302}\u{0303}".to_string() + &"\u{0316}".repeat(60) + "llo";
        let h = hits(&z);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, "combining_flood");
        assert!(z.is_char_boundary(h[0].1) && z.is_char_boundary(h[0].2));
        assert!(hits("café naïve résumé").is_empty());
    }

    #[test]
    fn config() {
        let m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"sponge_attack": {"max_bytes": 10, "max_repeat_run": 1, "max_depth": "x"}}"#,
        )
        .unwrap_or_default();
        let l = Limits::from_additional_config(&m);
        assert_eq!(l.max_bytes, 10);
        assert_eq!(l.max_repeat_run, 256);
        assert_eq!(l.max_depth, 64);
        assert_eq!(
            Limits::from_additional_config(&serde_json::Map::new()),
            Limits::default()
        );
    }
}
