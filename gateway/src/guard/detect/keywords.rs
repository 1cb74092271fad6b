//! The list detectors: `keyword_detector` and the list-based `policy_violation`,
//! `topic_detector`, `toxicity`, `nsfw` and `bias`.
//!
//! Mirrors the reference product's keyword detector (a banned-keyword list matched
//! case-insensitively on word boundaries, with a built-in list applied to tool
//! registration) and gives the other list detectors a local form: whatever keywords and
//! regular expressions the policy's `additional_config` lists for them. A list detector
//! with nothing configured cannot run locally (it is remote-only): see
//! [`Lists::configured`].
//!
//! Invariants: compiled once per policy. All keywords of all list detectors share one
//! Aho-Corasick automaton over the normalised text (lower case, look-alikes folded,
//! invisible chars removed) holding each keyword's first word, mapped to the keywords
//! (and their detectors) that start with it; the following words are then matched
//! across any run of spaces, `-` or `_`, and word boundaries are checked after the match (not for scripts written without spaces, such
//! as Chinese or Thai). All regular expressions share one `RegexSet` over the original
//! text, with the individual regex run only for the ones that matched. Bad regular
//! expressions are reported as errors naming the detector and the pattern.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value};

use super::text::{Class, Norm};
use super::{Detector, DetectorSet};

/// The list detectors, in the order their configuration is read.
const LIST_DETECTORS: [Detector; 6] = [
    Detector::KeywordDetector,
    Detector::PolicyViolation,
    Detector::TopicDetector,
    Detector::Toxicity,
    Detector::Nsfw,
    Detector::Bias,
];

/// The reference product's banned keywords for tool registration (tool names and
/// descriptions).
const REGISTRATION_KEYWORDS: [&str; 21] = [
    "exec",
    "shell",
    "eval",
    "run_code",
    "destroy",
    "wipe",
    "kill",
    "terminate",
    "exploit",
    "hack",
    "crack",
    "bypass",
    "override",
    "escalate",
    "sudo",
    "chmod",
    "chown",
    "mcp.json",
    "claude_desktop_config.json",
    "enkrypt_mcp_config.json",
    ".env",
];

/// Size limit of one compiled user regex (and of the set).
const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// The keywords that start with one automaton pattern (their first word).
#[derive(Debug, Clone)]
struct KwPat {
    bound_start: bool,
    alts: Vec<KwAlt>,
}

/// One keyword: the words after the first (matched across any run of spaces, `-` or
/// `_`), its detectors, and whether its end needs a word boundary.
#[derive(Debug, Clone)]
struct KwAlt {
    rest: Vec<String>,
    dets: DetectorSet,
    bound_end: bool,
}

/// A searcher for the first occurrence of any keyword's first word.
#[derive(Debug, Clone)]
enum First {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl First {
    /// The start of the leftmost occurrence of a pattern in `hay`.
    fn find(&self, hay: &str) -> Option<usize> {
        match self {
            First::Packed(p) => p.find(hay).map(|m| m.start()),
            First::Automaton(a) => a.find(hay).map(|m| m.start()),
        }
    }
}

/// Configurable lists from a policy's `additional_config` (compiled once per policy,
/// reused for every call).
#[derive(Debug, Clone)]
pub struct Lists {
    ac: Option<AhoCorasick>,
    /// The same patterns, leftmost-first, to find the first occurrence fast (the
    /// overlapping search has only a weak prefilter), so a text with none is passed over
    /// quickly: a vector searcher when the patterns allow one (up to 64 of them).
    first: Option<First>,
    pats: Vec<KwPat>,
    set: Option<RegexSet>,
    regexes: Vec<(Regex, Detector)>,
    configured: DetectorSet,
}

impl Default for Lists {
    fn default() -> Self {
        Lists::empty()
    }
}

/// Keywords and regexes collected from a configuration before compiling.
#[derive(Default)]
struct Entries {
    keywords: Vec<(Detector, String)>,
    regexes: Vec<(Detector, String, String)>,
}

fn strings_of(v: &Value, what: &str, out: &mut Vec<String>) -> Result<(), String> {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                match e {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(format!("{what}[{i}] must be a string")),
                }
            }
        }
        Value::Null => {}
        _ => return Err(format!("{what} must be a string or a list of strings")),
    }
    Ok(())
}

impl Entries {
    fn read(&mut self, additional: &Map<String, Value>) -> Result<(), String> {
        for d in LIST_DETECTORS {
            let Some(cfg) = additional.get(d.name()) else {
                continue;
            };
            let cfg = match cfg {
                Value::Object(o) => o,
                // A bare list is taken as keywords.
                Value::Array(_) => {
                    let mut kws = Vec::new();
                    strings_of(cfg, &format!("additional_config.{}", d.name()), &mut kws)?;
                    self.keywords.extend(kws.into_iter().map(|k| (d, k)));
                    continue;
                }
                _ => continue,
            };
            let mut kw_fields: Vec<&str> = vec!["keywords"];
            match d {
                Detector::KeywordDetector => kw_fields.push("banned_keywords"),
                Detector::TopicDetector => kw_fields.extend(["topic", "topics"]),
                _ => {}
            }
            for field in kw_fields {
                if let Some(v) = cfg.get(field) {
                    let mut kws = Vec::new();
                    strings_of(
                        v,
                        &format!("additional_config.{}.{field}", d.name()),
                        &mut kws,
                    )?;
                    self.keywords.extend(kws.into_iter().map(|k| (d, k)));
                }
            }
            if let Some(v) = cfg.get("regexes") {
                let mut res = Vec::new();
                let what = format!("additional_config.{}.regexes", d.name());
                strings_of(v, &what, &mut res)?;
                for (i, r) in res.into_iter().enumerate() {
                    self.regexes.push((d, r, format!("{what}[{i}]")));
                }
            }
        }
        Ok(())
    }

    fn compile(self) -> Result<Lists, String> {
        let mut configured = DetectorSet::empty();
        // Keywords: normalised, de-duplicated, each mapped to its detectors.
        let mut norm = Norm::default();
        let mut patterns: Vec<String> = Vec::new();
        let mut pats: Vec<KwPat> = Vec::new();
        for (d, kw) in self.keywords {
            norm.build(&kw, &Class::of(&kw), true);
            let k = norm.buf.trim();
            if k.is_empty() {
                continue;
            }
            configured = configured.with(d);
            let mut words = k.split_whitespace();
            let Some(first) = words.next() else { continue };
            let rest: Vec<String> = words.map(str::to_string).collect();
            let last = k.chars().next_back().unwrap_or(' ');
            let alt = KwAlt {
                rest,
                dets: DetectorSet::empty().with(d),
                bound_end: is_word(last) && !is_unspaced(last),
            };
            match patterns.iter().position(|p| p == first) {
                Some(i) => match pats[i].alts.iter_mut().find(|a| a.rest == alt.rest) {
                    Some(a) => a.dets = a.dets.with(d),
                    None => pats[i].alts.push(alt),
                },
                None => {
                    let c0 = first.chars().next().unwrap_or(' ');
                    pats.push(KwPat {
                        bound_start: is_word(c0) && !is_unspaced(c0),
                        alts: vec![alt],
                    });
                    patterns.push(first.to_string());
                }
            }
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .match_kind(kind)
                .build(&patterns)
                .map_err(|e| format!("keyword lists: {e}"))
        };
        let (ac, first) = if patterns.is_empty() {
            (None, None)
        } else {
            let packed = aho_corasick::packed::Config::new()
                .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                .builder()
                .extend(&patterns)
                .build();
            let first = match packed {
                Some(p) => First::Packed(p),
                None => First::Automaton(build(MatchKind::LeftmostFirst)?),
            };
            (Some(build(MatchKind::Standard)?), Some(first))
        };
        // Regexes: each compiled alone (for spans and precise errors), then as one set.
        let mut regexes = Vec::new();
        let mut sources = Vec::new();
        for (d, src, what) in self.regexes {
            if src.is_empty() {
                continue;
            }
            let re = RegexBuilder::new(&src)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    format!(
                        "{what} ({}): invalid regular expression {src:?}: {e}",
                        d.name()
                    )
                })?;
            configured = configured.with(d);
            regexes.push((re, d));
            sources.push(src);
        }
        let set = if sources.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&sources)
                    .size_limit(REGEX_SIZE_LIMIT.saturating_mul(4))
                    .build()
                    .map_err(|e| format!("list detector regexes: {e}"))?,
            )
        };
        Ok(Lists {
            ac,
            first,
            pats,
            set,
            regexes,
            configured,
        })
    }
}

/// Matches the words after a keyword's first word, each preceded by at least one
/// space, tab, newline, `-` or `_`; returns the end of the match.
fn match_rest(hay: &str, mut pos: usize, rest: &[String]) -> Option<usize> {
    let b = hay.as_bytes();
    for w in rest {
        let start = pos;
        while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r' | b'-' | b'_') {
            pos += 1;
        }
        if pos == start || !hay[pos..].starts_with(w.as_str()) {
            return None;
        }
        pos += w.len();
    }
    Some(pos)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Scripts written without spaces between words: no word-boundary check there.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x3040..=0x30FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

impl Lists {
    /// From `additional_config`: for each list detector (`keyword_detector`,
    /// `policy_violation`, `topic_detector`, `toxicity`, `nsfw`, `bias`) the object
    /// `additional_config.<detector>` may hold `keywords: [..]` and `regexes: [..]`;
    /// aliases: `keyword_detector.banned_keywords`, `topic_detector.topic` / `topics`
    /// (a single string is taken as a one-item list; a bare list as keywords). Keywords
    /// match case-insensitively on word boundaries; regexes use the `regex` crate's
    /// syntax on the original text. A bad regex is an error naming the detector, the
    /// list position and the pattern.
    pub fn from_additional_config(additional: &Map<String, Value>) -> Result<Lists, String> {
        let mut e = Entries::default();
        e.read(additional)?;
        e.compile()
    }

    /// No lists: every list detector is remote-only.
    pub fn empty() -> Lists {
        Lists {
            ac: None,
            first: None,
            pats: Vec::new(),
            set: None,
            regexes: Vec::new(),
            configured: DetectorSet::empty(),
        }
    }

    /// The lists the reference product applies to tool registration (names and
    /// descriptions only): `keyword_detector` with its banned list (exec, shell, eval,
    /// run_code, destroy, wipe, kill, terminate, exploit, hack, crack, bypass, override,
    /// escalate, sudo, chmod, chown, mcp.json, claude_desktop_config.json,
    /// enkrypt_mcp_config.json, .env), plus whatever `additional_config` adds.
    pub fn registration(additional: &Map<String, Value>) -> Result<Lists, String> {
        let mut e = Entries::default();
        e.keywords.extend(
            REGISTRATION_KEYWORDS
                .iter()
                .map(|k| (Detector::KeywordDetector, (*k).to_string())),
        );
        e.read(additional)?;
        e.compile()
    }

    /// Which list detectors have something configured (a list detector with nothing
    /// configured cannot run locally: it is "remote-only").
    pub fn configured(&self) -> DetectorSet {
        self.configured
    }

    /// Reports keyword (`"keyword"`) and regex (`"pattern"`) matches for the list
    /// detectors in `set`. `norm` must hold the normalised form of `text`.
    pub(crate) fn scan(
        &self,
        text: &str,
        norm: &Norm,
        set: DetectorSet,
        hit: &mut dyn FnMut(Detector, &'static str, usize, usize),
    ) {
        let want = set.intersection(self.configured);
        if want.is_empty() {
            return;
        }
        if let (Some(ac), Some(first)) = (&self.ac, &self.first) {
            let hay = norm.buf.as_str();
            // No occurrence starts before the leftmost one.
            let overlapping = first
                .find(hay)
                .map(|from| {
                    ac.find_overlapping_iter(aho_corasick::Input::new(hay).span(from..hay.len()))
                })
                .into_iter()
                .flatten();
            for m in overlapping {
                let Some(p) = self.pats.get(m.pattern().as_usize()) else {
                    continue;
                };
                if p.bound_start {
                    if let Some(prev) = hay[..m.start()].chars().next_back() {
                        if is_word(prev) && !is_unspaced(prev) {
                            continue;
                        }
                    }
                }
                for alt in &p.alts {
                    let dets = alt.dets.intersection(want);
                    if dets.is_empty() {
                        continue;
                    }
                    let Some(end) = match_rest(hay, m.end(), &alt.rest) else {
                        continue;
                    };
                    if alt.bound_end {
                        if let Some(next) = hay[end..].chars().next() {
                            if is_word(next) && !is_unspaced(next) {
                                continue;
                            }
                        }
                    }
                    let (s, e) = (norm.orig(m.start()), norm.orig(end));
                    for d in dets.iter() {
                        hit(d, "keyword", s, e);
                    }
                }
            }
        }
        if let Some(set) = &self.set {
            for i in set.matches(text).iter() {
                if let Some((re, d)) = self.regexes.get(i) {
                    if want.contains(*d) {
                        if let Some(m) = re.find(text) {
                            hit(*d, "pattern", m.start(), m.end());
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Map<String, Value> {
        serde_json::from_str(s).unwrap_or_default()
    }

    fn hits(l: &Lists, text: &str) -> Vec<(Detector, &'static str, String)> {
        let mut n = Norm::default();
        n.build(text, &Class::of(text), false);
        let mut v = Vec::new();
        l.scan(text, &n, DetectorSet::all(), &mut |d, k, s, e| {
            v.push((d, k, text[s..e].to_string()))
        });
        v
    }

    #[test]
    fn keywords_on_word_boundaries_case_insensitive() {
        let l = Lists::from_additional_config(&cfg(
            r#"{"keyword_detector": {"banned_keywords": ["Project Falcon", "exec"]},
                "topic_detector": {"topic": "crypto trading"},
                "toxicity": {"keywords": ["idiot"]}}"#,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            l.configured(),
            DetectorSet::empty()
                .with(Detector::KeywordDetector)
                .with(Detector::TopicDetector)
                .with(Detector::Toxicity)
        );
        let h = hits(&l, "Status of PROJECT FALCON? and Crypto Trading tips");
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[0],
            (
                Detector::KeywordDetector,
                "keyword",
                "PROJECT FALCON".into()
            )
        );
        assert_eq!(h[1].0, Detector::TopicDetector);
        assert!(hits(&l, "executive summary; execute it").is_empty());
        assert_eq!(hits(&l, "please exec it").len(), 1);
        assert_eq!(hits(&l, "you ＩＤＩＯＴ").len(), 1);
        assert_eq!(hits(&l, "id\u{200b}iot").len(), 1);
        assert_eq!(hits(&l, "the project   falcon and project-falcon").len(), 2);
    }

    #[test]
    fn same_keyword_in_two_detectors() {
        let l = Lists::from_additional_config(&cfg(
            r#"{"nsfw": {"keywords": ["xyzzy"]}, "bias": {"keywords": ["XYZZY"]}}"#,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let h = hits(&l, "a xyzzy b");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn unspaced_scripts_skip_boundaries() {
        let l = Lists::from_additional_config(&cfg(r#"{"topic_detector": {"topics": ["赌博"]}}"#))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hits(&l, "我们讨论赌博网站").len(), 1);
    }

    #[test]
    fn regexes_and_errors() {
        let l = Lists::from_additional_config(&cfg(
            r#"{"policy_violation": {"regexes": ["(?i)\\binternal[- ]only\\b", "ticket-\\d{4}"]}}"#,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let h = hits(&l, "This is INTERNAL-ONLY, see ticket-1234");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].1, "pattern");
        let err = Lists::from_additional_config(&cfg(
            r#"{"toxicity": {"regexes": ["ok", "(unclosed"]}}"#,
        ))
        .err()
        .unwrap_or_default();
        assert!(err.contains("toxicity"), "{err}");
        assert!(err.contains("(unclosed"), "{err}");
        assert!(err.contains("regexes[1]"), "{err}");
        let err = Lists::from_additional_config(&cfg(r#"{"nsfw": {"keywords": [1]}}"#))
            .err()
            .unwrap_or_default();
        assert!(err.contains("nsfw.keywords[0]"), "{err}");
    }

    #[test]
    fn registration_defaults() {
        let l = Lists::registration(&Map::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            l.configured(),
            DetectorSet::empty().with(Detector::KeywordDetector)
        );
        assert_eq!(hits(&l, "Runs a shell command").len(), 1);
        assert_eq!(hits(&l, "reads the .env file").len(), 1);
        assert_eq!(hits(&l, "edit ~/.cursor/mcp.json").len(), 1);
        assert!(hits(&l, "Returns the weather forecast for a city").is_empty());
        assert!(hits(&l, "an environment variable").is_empty());
        assert!(Lists::empty().configured().is_empty());
    }
}
