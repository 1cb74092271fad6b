//! The `/metrics` page: rendering it with 1 000 tools holding a series each (plus every other
//! series of the gateway), and the cost of recording one tool call into a resolved handle.
//!
//! Run: `cargo bench -p benches --bench metrics -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gateway::histogram::Histogram;
use gateway::telemetry::render::{render, CacheFigures, Scrape, UpstreamFigures};
use gateway::telemetry::tools::{Outcome, ToolTable, TransportLabel};

/// A table of `tools` tools over 10 servers, each called a few times.
fn table(tools: usize) -> ToolTable {
    let t = ToolTable::with_cap(tools);
    for i in 0..tools {
        let server = format!("server-{}", i % 10);
        let h = t.handle(&server, &format!("tool_{i}"), TransportLabel::Stdio);
        for j in 0..5u64 {
            h.record(Outcome::Ok, Duration::from_micros(300 * (j + 1)));
        }
        h.record(Outcome::Error, Duration::from_millis(40));
    }
    t
}

fn scrape(t: &ToolTable) -> Scrape {
    let h = Histogram::default();
    h.observe(Duration::from_micros(200));
    Scrape {
        tools: t.series(),
        tool_labels: t.distinct(),
        upstreams: (0..10)
            .map(|i| UpstreamFigures {
                server: format!("server-{i}"),
                up: true,
                connects: 1,
                failures: 0,
                restarts: 0,
            })
            .collect(),
        cache: Some(CacheFigures {
            hits: 10,
            misses: 2,
            entries: Some([10, 1, 1]),
            used_memory: Some(1 << 20),
            maxmemory: Some(0),
            durations: ["get", "mget", "set", "del", "scan", "ping"]
                .into_iter()
                .map(|op| (op, h.snapshot()))
                .collect(),
            ..CacheFigures::default()
        }),
        ..Scrape::default()
    }
}

fn bench(c: &mut Criterion) {
    let t = table(1000);
    let page = render(scrape(&t));
    eprintln!(
        "page with 1000 tools: {} bytes, {} lines",
        page.len(),
        page.lines().count()
    );
    // The same, in CPU time of this thread (the machine is shared: wall time includes waiting
    // for a core).
    let cpu = |f: &mut dyn FnMut()| {
        let thread_cpu = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid timespec for the call to fill.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
        };
        let n = 300;
        let t0 = thread_cpu();
        for _ in 0..n {
            f();
        }
        (thread_cpu() - t0) / n as f64
    };
    let per = cpu(&mut || {
        black_box(render(scrape(&t)));
    });
    eprintln!(
        "render with 1000 tools: {:.3} ms of thread CPU per page (mean of 300)",
        per * 1e3
    );
    // What a scrape does: read the table, then write the page.
    c.bench_function("metrics_render_1000_tools", |b| {
        b.iter(|| black_box(render(scrape(&t))))
    });
    let h = t.handle("server-1", "tool_1", TransportLabel::Stdio);
    c.bench_function("metrics_record_call", |b| {
        b.iter(|| {
            h.record(
                black_box(Outcome::Ok),
                black_box(Duration::from_micros(700)),
            )
        })
    });
    c.bench_function("metrics_resolve_handle", |b| {
        b.iter(|| black_box(t.handle("server-1", black_box("tool_1"), TransportLabel::Stdio)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
