//! Guardrail CPU per call with every local detector on: the input stage over a tool call's
//! arguments, and input plus the output stage over a result echoing them, for 1 KB, 10 KB and
//! 100 KB of ordinary developer text (prose, code, paths, URLs, SQL), `mixed` with some
//! French and Chinese words, `ascii` without: nothing is flagged, so every detector scans
//! everything. Each call's arguments differ (a counter), so the verdict cache never answers;
//! building them is not timed.
//! Also the detectors alone (`scan_value`), input side.
//!
//! Run: `cargo bench -p benches --bench guard -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use gateway::config::{GuardrailPolicy, GuardrailProvider};
use gateway::guard::detect::{scan_value, Detector, Limits};
use gateway::guard::policy::{Direction, Policy};
use gateway::guard::redact::Redactions;
use gateway::guard::Guard;
use serde_json::{json, Map, Value};

/// Words and fragments of ordinary developer text.
const WORDS: &[&str] = &[
    "the",
    "parser",
    "reads",
    "whole",
    "request",
    "before",
    "dispatching",
    "it",
    "and",
    "then",
    "writes",
    "reply",
    "buffer",
    "once",
    "per",
    "turn",
    "see",
    "src/router.rs",
    "docs/usage.md",
    "fn",
    "main()",
    "{",
    "}",
    "let",
    "v:",
    "Vec<u32>",
    "=",
    "(0..10).filter(|x|",
    "x",
    "%",
    "2",
    "==",
    "0).collect();",
    "SELECT",
    "name,",
    "count(*)",
    "FROM",
    "orders",
    "WHERE",
    "id",
    ">",
    "GROUP",
    "BY",
    "if",
    "(a",
    "&&",
    "b)",
    "return",
    "null;",
    "def",
    "handler(event):",
    "json",
    "https://github.com/example/project/releases",
    "v2.4.1",
    "commit",
    "3f2a9c1e",
    "fix",
    "off-by-one",
    "ring",
    "buffer",
    "(closes",
    "#421)",
    "les",
    "tests",
    "passent",
    "maintenant",
    "测试",
    "现在",
    "通过",
    "了",
    "tokio",
    "async",
    "await",
    "Result<()>",
    "Ok(())",
    "//",
    "TODO:",
    "refactor",
    "cache",
    "entry",
    "ttl",
    "expires",
    "at",
    "2024-05-01T10:00:00Z",
    "user_id",
    "42",
    "README",
    "install",
    "cargo",
    "build",
    "--release",
    "npm",
    "test",
    "|",
    "grep",
    "error",
];

/// Ordinary text of about `n` bytes, made of varied lines (no long exact repetition, which
/// the sponge detector would rightly flag); with `ascii`, the non-ASCII words are left out.
fn text(n: usize, ascii: bool) -> String {
    let mut s = String::with_capacity(n + 64);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut col = 0;
    while s.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w = WORDS[(x % WORDS.len() as u64) as usize];
        if ascii && !w.is_ascii() {
            continue;
        }
        s.push_str(w);
        col += w.len() + 1;
        if col > 72 {
            s.push('\n');
            col = 0;
        } else {
            s.push(' ');
        }
    }
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Arguments of about `n` bytes: a few fields, most of the size in one text.
fn args(n: usize, seq: u64, ascii: bool) -> Value {
    json!({
        "path": "src/service/router.rs",
        "line": 120,
        "query": "where is the tool index rebuilt",
        "seq": seq,
        "content": text(n.saturating_sub(100), ascii),
    })
}

fn all(direction: Direction) -> Policy {
    let mut block: Vec<String> = benches::LOCAL_DETECTORS
        .iter()
        .map(|s| s.to_string())
        .collect();
    if direction == Direction::Input {
        block.push("schema".into());
    }
    let mut additional = Map::new();
    additional.insert(
        "keyword_detector".into(),
        json!({ "keywords": ["project-zebra", "codename-orca", "internal-only"] }),
    );
    let p = GuardrailPolicy {
        enabled: true,
        policy_name: Some("local".into()),
        block,
        additional_config: additional,
    };
    Policy::resolve(&p, direction, &GuardrailProvider::default()).expect("enabled")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let guard = Guard::default();
    let input = all(Direction::Input);
    let output = all(Direction::Output);
    assert!(input.fail_closed.is_none() && output.fail_closed.is_none());
    let schema = json!({ "type": "object", "properties": {
        "path": { "type": "string" }, "line": { "type": "integer" }, "query": { "type": "string" },
        "seq": { "type": "integer" }, "content": { "type": "string" } }, "required": ["path"] });

    let set = input.local.without(Detector::Schema);
    let lists = &input.lists;
    let limits = Limits::from_additional_config(&Map::new());
    for (label, ascii) in [("mixed", false), ("ascii", true)] {
        let mut g = c.benchmark_group(format!("detectors_scan_value_{label}"));
        for size in [1024usize, 10 * 1024, 100 * 1024] {
            g.throughput(Throughput::Bytes(size as u64));
            let a = args(size, 1, ascii);
            g.bench_with_input(BenchmarkId::new("input", size), &a, |b, a| {
                let mut out = Vec::new();
                b.iter(|| {
                    out.clear();
                    scan_value(black_box(a), set, lists, &limits, &mut out);
                    assert!(out.is_empty(), "{out:?}");
                })
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("guard_call_{label}"));
        for size in [1024usize, 10 * 1024, 100 * 1024] {
            g.throughput(Throughput::Bytes(size as u64));
            let mut seq = 0u64;
            let base = args(size, 0, ascii);
            let mut next = || {
                seq += 1;
                let mut a = base.clone();
                a["seq"] = json!(seq);
                a
            };
            g.bench_function(BenchmarkId::new("input", size), |b| {
                b.iter_batched(
                    &mut next,
                    |a| {
                        let checked = rt.block_on(guard.check_input(&input, Some(&schema), &a));
                        assert!(!checked.verdict.blocked, "{:?}", checked.verdict.reason);
                        black_box(checked)
                    },
                    BatchSize::SmallInput,
                )
            });
            g.bench_function(BenchmarkId::new("input+output", size), |b| {
                b.iter_batched(
                    &mut next,
                    |a| {
                        let checked = rt.block_on(guard.check_input(&input, Some(&schema), &a));
                        assert!(!checked.verdict.blocked, "{:?}", checked.verdict.reason);
                        let mut result = json!({ "content": [{ "type": "text", "text": a["content"] }], "isError": false });
                        let v = rt.block_on(guard.check_output(
                            Some(&output),
                            &mut result,
                            &Redactions::default(),
                            &a,
                        ));
                        assert!(!v.blocked, "{:?}", v.reason);
                        black_box(result)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
