//! The embedded cache's read path: what a cached tool list costs the gateway.
//!
//! - `engine_direct`: the engine's own read of a 4 KB string under the shared gate, the clock
//!   refreshed (what the gateway did by hand before it became an in-process client);
//! - `runner_get`: `GET` through [`cachesrv::cmd::Runner`] (the dispatcher: lookup, arity,
//!   auth, memory check, stats, the reply encoded and decoded), the path the gateway uses;
//! - `cache_get_tools`: the gateway's `Cache::get_tools` hit on its embedded cache (the GET, the
//!   comparison with the memoised bytes, the shared parsed value).
//!
//! Run: `cargo bench -p benches --bench embedded -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use cachesrv::cmd::Runner;
use cachesrv::engine::Access;
use cachesrv::Config;
use criterion::{criterion_group, criterion_main, Criterion};
use gateway::cache::{Cache, ToolsKey};
use gateway::config::{CommonConfig, Secret};
use serde_json::{json, Value};

fn tools(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "name": format!("tool_{i}"), "description": "Reads a file of the project and returns its text.",
                "inputSchema": { "type": "object", "properties": { "path": { "type": "string" } } } })
        })
        .collect();
    json!({ "server_name": "demo", "tools": tools })
}

fn bench(c: &mut Criterion) {
    let value = serde_json::to_vec(&tools(25)).expect("json");
    let shared = cachesrv::cmd::shared(Config::from_args(&["--save", ""]).expect("config"));
    let mut r = Runner::internal(shared.clone());
    r.run(&[&b"SET"[..], b"k", &value]);

    let mut g = c.benchmark_group("embedded_read");
    g.bench_function("engine_direct", |b| {
        b.iter(|| {
            shared.clock.refresh();
            let entered = shared.engine.enter();
            let db = entered.db(0).expect("db 0");
            let n = db.with_key(black_box(b"k"), Access::READ, |k| {
                k.as_str().ok().flatten().map_or(0, |v| v.len())
            });
            black_box(n)
        })
    });
    g.bench_function("runner_get", |b| {
        b.iter(|| {
            let reply = r.call(&[&b"GET"[..], black_box(b"k")]);
            black_box(reply.len())
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let common = CommonConfig {
        embedded_cache_port: 0,
        embedded_cache_password: Some(Secret::new("bench-pw")),
        ..CommonConfig::default()
    };
    let cache = rt.block_on(Cache::new(&common)).expect("embedded cache");
    let key = ToolsKey::new("bench-config", "demo");
    rt.block_on(cache.put_tools(&key, &tools(25), None))
        .expect("put");
    g.bench_function("cache_get_tools", |b| {
        b.iter(|| {
            let v = rt
                .block_on(cache.get_tools(black_box(&key)))
                .expect("get")
                .expect("hit");
            black_box(v["tools"].as_array().map_or(0, Vec::len))
        })
    });
    g.finish();
    rt.block_on(cache.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
