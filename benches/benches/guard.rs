//! Guardrail CPU per call with every local detector on: the input stage over a tool call's
//! arguments, and input plus the output stage over a result echoing them, for 1 KB, 10 KB and
//! 100 KB of ordinary developer text (prose, code, paths, URLs, SQL), `mixed` with some
//! French and Chinese words, `ascii` without: nothing is flagged, so every detector scans
//! everything. Each call's arguments differ (a counter), so the verdict cache never answers;
//! building them is not timed.
//! Also the detectors alone (`scan_value`), input side.
//!
//! Run: `cargo bench -p benches --bench guard -- --warm-up-time 1 --measurement-time 3`

#[path = "common/guard_text.rs"]
mod guard_text;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use gateway::guard::detect::{scan_value, Detector, Limits};
use guard_text::{args, Guarded};
use serde_json::{json, Map};

fn bench(c: &mut Criterion) {
    let guarded = Guarded::new();
    let (rt, guard, input, schema) = (&guarded.rt, &guarded.guard, &guarded.input, &guarded.schema);

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
                        let checked = rt.block_on(guard.check_input(input, Some(schema), &a));
                        assert!(!checked.verdict.blocked, "{:?}", checked.verdict.reason);
                        black_box(checked)
                    },
                    BatchSize::SmallInput,
                )
            });
            g.bench_function(BenchmarkId::new("input+output", size), |b| {
                b.iter_batched(
                    &mut next,
                    |a| black_box(guarded.call(&a)),
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
