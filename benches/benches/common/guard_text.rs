//! The guardrail benches' input: ordinary developer text (prose, code, paths, URLs, SQL),
//! `ascii` or with some French and Chinese words, that no detector flags.

use gateway::config::{GuardrailPolicy, GuardrailProvider};
use gateway::guard::policy::{Direction, Policy};
use gateway::guard::redact::Redactions;
use gateway::guard::Guard;
use serde_json::{json, Map, Value};

/// Words and fragments of ordinary developer text.
pub const WORDS: &[&str] = &[
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
pub fn text(n: usize, ascii: bool) -> String {
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
pub fn args(n: usize, seq: u64, ascii: bool) -> Value {
    json!({
        "path": "src/service/router.rs",
        "line": 120,
        "query": "where is the tool index rebuilt",
        "seq": seq,
        "content": text(n.saturating_sub(100), ascii),
    })
}

/// A policy with every local detector on (and `schema` on input), with a keyword list.
pub fn all_detectors(direction: Direction) -> Policy {
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

/// The tool schema of [`args`].
pub fn schema() -> Value {
    json!({ "type": "object", "properties": {
        "path": { "type": "string" }, "line": { "type": "integer" }, "query": { "type": "string" },
        "seq": { "type": "integer" }, "content": { "type": "string" } }, "required": ["path"] })
}

/// A guard with every local detector on, both ways, and what a call needs.
pub struct Guarded {
    pub rt: tokio::runtime::Runtime,
    pub guard: Guard,
    pub input: Policy,
    pub output: Policy,
    pub schema: Value,
}

impl Guarded {
    pub fn new() -> Self {
        let input = all_detectors(Direction::Input);
        let output = all_detectors(Direction::Output);
        assert!(input.fail_closed.is_none() && output.fail_closed.is_none());
        Guarded {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            guard: Guard::default(),
            input,
            output,
            schema: schema(),
        }
    }

    /// The input stage over `a`, then the output stage over a result echoing its `content`;
    /// returns the checked result. Panics if either blocks (the text is ordinary).
    pub fn call(&self, a: &Value) -> Value {
        let checked = self
            .rt
            .block_on(self.guard.check_input(&self.input, Some(&self.schema), a));
        assert!(!checked.verdict.blocked, "{:?}", checked.verdict.reason);
        let mut result =
            json!({ "content": [{ "type": "text", "text": a["content"] }], "isError": false });
        let v = self.rt.block_on(self.guard.check_output(
            Some(&self.output),
            &mut result,
            &Redactions::default(),
            a,
        ));
        assert!(!v.blocked, "{:?}", v.reason);
        result
    }
}
