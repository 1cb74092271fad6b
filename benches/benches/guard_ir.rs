//! A fixed number of guarded calls, as the guard bench's `input+output` runs them, for
//! counting instructions with callgrind (a count does not move with the machine's load,
//! unlike a time). `benches/scripts/guard_ir.sh` runs it twice and prints instructions
//! per call. Build: `cargo bench -p benches --bench guard_ir --no-run`.
//!
//! Env: `SIZE` (argument bytes, default 102400), `CALLS` (default 20), `TEXT` (`ascii` or
//! `mixed`, default ascii).

#[path = "common/guard_text.rs"]
mod guard_text;

use guard_text::{args, Guarded};
use serde_json::json;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let size = env("SIZE", 100 * 1024);
    let calls = env("CALLS", 20);
    let ascii = std::env::var("TEXT").map_or(true, |t| t != "mixed");
    let g = Guarded::new();
    let base = args(size, 0, ascii);
    // One call outside the count would still be counted: warm everything up first, so
    // the difference of two runs is `calls` steady-state calls.
    gateway::guard::detect::warm_up();
    for seq in 1..=calls as u64 {
        let mut a = base.clone();
        a["seq"] = json!(seq);
        let result = g.call(&a);
        std::hint::black_box(result);
    }
}
