//! Corpus test for the local guardrail detectors (`gateway::guard::detect`).
//!
//! `guard_corpus/attacks.jsonl` holds attack tool calls (prompt injection in several
//! styles and languages, tool poisoning, role spoofing, hidden Unicode, encoded payloads,
//! exfiltration links, command injection, path traversal, secrets, PII, SSRF, sponge
//! input, schema violations, configured keywords); `guard_corpus/benign.jsonl` holds
//! ordinary developer tool calls that a naive detector would flag (code, SQL, shell
//! commands, project paths, public URLs, prose, non-English text, commit messages,
//! configs, hashes and ids, versions and numbers, markdown, logs). One JSON object a
//! line: `{"category", "tool", "args", "schema"?, "note"}`.
//!
//! Every case's `args` is scanned with all built-in detectors, the list detectors
//! configured below, and the case's schema when it has one. An attack is caught when
//! anything is found; a benign case is a false positive when anything is found. The test
//! prints a table per category and fails when the catch rate is below 95 % or the
//! false-positive rate above 2 %.

use std::collections::BTreeMap;

use gateway::guard::detect::{
    builtin, scan_value, CompiledSchema, Detector, Finding, Limits, Lists,
};
use serde_json::Value;

const ATTACKS: &str = include_str!("guard_corpus/attacks.jsonl");
const BENIGN: &str = include_str!("guard_corpus/benign.jsonl");

/// The policy configuration the corpus is written against: lists for the `keyword`
/// cases, and a 64 KiB size limit so the oversized case stays small in the repository.
const ADDITIONAL_CONFIG: &str = r#"{
    "keyword_detector": {"banned_keywords": ["Project Nightingale", "acme-internal"]},
    "policy_violation": {"regexes": ["(?i)\\bconfidential\\s*-\\s*do\\s+not\\s+distribute\\b"]},
    "topic_detector": {"topics": ["crypto trading"]},
    "toxicity": {"keywords": ["idiot", "moron"]},
    "sponge_attack": {"max_bytes": 65536}
}"#;

struct Case {
    line: usize,
    category: String,
    note: String,
    args: Value,
    schema: Option<Value>,
}

fn load(text: &str) -> Vec<Case> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("corpus line {}: {e}", i + 1));
            Case {
                line: i + 1,
                category: v["category"].as_str().unwrap_or("?").to_string(),
                note: v["note"].as_str().unwrap_or("").to_string(),
                args: v["args"].clone(),
                schema: v.get("schema").cloned(),
            }
        })
        .collect()
}

fn scan(case: &Case, lists: &Lists, limits: &Limits) -> Vec<Finding> {
    let set = builtin().union(lists.configured());
    let mut out = Vec::new();
    scan_value(&case.args, set, lists, limits, &mut out);
    if let Some(schema) = &case.schema {
        let compiled = CompiledSchema::compile(schema)
            .unwrap_or_else(|e| panic!("corpus line {}: schema: {e}", case.line));
        compiled.check(&case.args, &mut out);
    }
    out
}

fn describe(f: &[Finding]) -> String {
    let mut kinds: Vec<String> = f
        .iter()
        .map(|f| format!("{}:{}@{}", f.detector.name(), f.kind, f.path))
        .collect();
    kinds.dedup();
    kinds.truncate(4);
    kinds.join(", ")
}

#[derive(Default)]
struct Tally {
    hit: usize,
    total: usize,
}

#[test]
fn corpus_catch_and_false_positive_rates() {
    let additional: serde_json::Map<String, Value> =
        serde_json::from_str(ADDITIONAL_CONFIG).unwrap_or_else(|e| panic!("config: {e}"));
    let lists = Lists::from_additional_config(&additional).unwrap_or_else(|e| panic!("{e}"));
    let limits = Limits::from_additional_config(&additional);
    assert!(lists.configured().contains(Detector::KeywordDetector));

    let attacks = load(ATTACKS);
    let benign = load(BENIGN);
    assert!(attacks.len() >= 250, "only {} attack cases", attacks.len());
    assert!(benign.len() >= 250, "only {} benign cases", benign.len());

    let mut per_attack: BTreeMap<String, Tally> = BTreeMap::new();
    let mut missed = Vec::new();
    for c in &attacks {
        let f = scan(c, &lists, &limits);
        let t = per_attack.entry(c.category.clone()).or_default();
        t.total += 1;
        if f.is_empty() {
            missed.push(format!("  line {} [{}] {}", c.line, c.category, c.note));
        } else {
            t.hit += 1;
        }
    }
    let mut per_benign: BTreeMap<String, Tally> = BTreeMap::new();
    let mut false_pos = Vec::new();
    for c in &benign {
        let f = scan(c, &lists, &limits);
        let t = per_benign.entry(c.category.clone()).or_default();
        t.total += 1;
        if !f.is_empty() {
            t.hit += 1;
            false_pos.push(format!(
                "  line {} [{}] {}: {}",
                c.line,
                c.category,
                c.note,
                describe(&f)
            ));
        }
    }

    println!("\nattacks                     caught / total");
    for (cat, t) in &per_attack {
        println!("  {cat:<26} {:>4} / {:<4}", t.hit, t.total);
    }
    println!("\nbenign                      flagged / total");
    for (cat, t) in &per_benign {
        println!("  {cat:<26} {:>4} / {:<4}", t.hit, t.total);
    }
    let caught: usize = per_attack.values().map(|t| t.hit).sum();
    let flagged: usize = per_benign.values().map(|t| t.hit).sum();
    let catch_rate = caught as f64 / attacks.len() as f64;
    let fp_rate = flagged as f64 / benign.len() as f64;
    println!(
        "\noverall: caught {caught}/{} ({:.1} %), false positives {flagged}/{} ({:.1} %)",
        attacks.len(),
        catch_rate * 100.0,
        benign.len(),
        fp_rate * 100.0
    );
    if !missed.is_empty() {
        println!("\nmissed attacks:\n{}", missed.join("\n"));
    }
    if !false_pos.is_empty() {
        println!("\nfalse positives:\n{}", false_pos.join("\n"));
    }
    assert!(
        catch_rate >= 0.95,
        "catch rate {:.1} % < 95 %",
        catch_rate * 100.0
    );
    assert!(
        fp_rate <= 0.02,
        "false-positive rate {:.1} % > 2 %",
        fp_rate * 100.0
    );
}
