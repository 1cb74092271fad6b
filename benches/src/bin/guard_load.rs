//! What guardrails add to a call through the gateway: the same upstream tool (the demo
//! server's `echo`) behind two servers of one gateway, `plain` (no policy) and `guarded`
//! (every local detector on input and output), called in interleaved rounds by one client
//! with the same argument (`MSG_BYTES` of ordinary developer text: prose, code, paths, a URL);
//! latency percentiles of each, the added p50, and the gateway's CPU per call of each.
//!
//! Run: `cargo build --release -p gateway -p benches && target/release/guard_load`
//! (environment: `ROUNDS` (5), `CALLS` per round (1000), `MSG_BYTES` (1024)).

use std::time::{Duration, Instant};

use benches::{
    cpu_secs, demo_upstream, env_usize, pct, start_gateway, us, write_config, Mcp, KEY,
    LOCAL_DETECTORS,
};
use serde_json::{json, Value};

/// Ordinary text of about `n` bytes: nothing a detector should flag.
fn message(n: usize) -> String {
    const PARTS: &[&str] = &[
        "Refactor the parser so that it reads the whole request before dispatching. ",
        "fn main() { let v: Vec<u32> = (0..10).filter(|x| x % 2 == 0).collect(); println!(\"{v:?}\"); } ",
        "See src/parser/mod.rs and docs/configuration.md for the details. ",
        "The release notes are at https://github.com/example/project/releases for version 2.4.1. ",
        "SELECT name, count(*) FROM orders WHERE created_at > '2024-01-01' GROUP BY name; ",
        "Les tests passent maintenant sur toutes les plateformes prises en charge. ",
    ];
    let mut s = String::with_capacity(n + 128);
    let mut i = 0;
    while s.len() < n {
        s.push_str(PARTS[i % PARTS.len()]);
        i += 1;
    }
    s.truncate(n);
    s
}

fn guarded_config(dir: &std::path::Path, upstream: &str) -> std::path::PathBuf {
    let server = |name: &str, guarded: bool| {
        let mut s = json!({ "server_name": name, "config": { "url": upstream, "transport": "streamable-http" }, "tools": {} });
        if guarded {
            let mut input = LOCAL_DETECTORS.to_vec();
            input.push("schema");
            s["input_guardrails_config"] = json!({ "enabled": true, "guardrail_name": "local", "block": input,
                "additional_config": { "keyword_detector": { "keywords": ["project-zebra", "codename-orca"] } } });
            s["output_guardrails_config"] = json!({ "enabled": true, "guardrail_name": "local", "block": LOCAL_DETECTORS,
                "additional_config": { "keyword_detector": { "keywords": ["project-zebra", "codename-orca"] } } });
        }
        s
    };
    write_config(
        dir,
        "guard-cfg.json",
        json!([server("plain", false), server("guarded", true)]),
        json!({}),
    )
}

async fn round(m: &Mcp, tool: &str, args: &Value, calls: usize, lat: &mut Vec<Duration>) {
    for _ in 0..calls {
        let t = Instant::now();
        let r = m.call(tool, args.clone()).await;
        lat.push(t.elapsed());
        let err = r.pointer("/result/isError").and_then(Value::as_bool) == Some(true);
        assert!(r.get("result").is_some() && !err, "{tool}: {r}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_usize("ROUNDS", 5);
    let calls = env_usize("CALLS", 1000);
    let bytes = env_usize("MSG_BYTES", 1024);
    let dir = std::env::temp_dir().join(format!("guard-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (_up, up_url) = demo_upstream();
    let cfg = guarded_config(&dir, &up_url);
    let (gw, port, _) = start_gateway(&cfg);
    let pid = gw.0.id();
    let m = Mcp::open(&format!("http://127.0.0.1:{port}/mcp/"), Some(KEY)).await;
    let args = json!({ "message": message(bytes) });
    // Warm up both paths (discovery, pooled sessions).
    let mut warm = Vec::new();
    round(&m, "plain__echo", &args, 50, &mut warm).await;
    round(&m, "guarded__echo", &args, 50, &mut warm).await;

    let (mut plain, mut guarded) = (Vec::new(), Vec::new());
    let (mut cpu_plain, mut cpu_guarded) = (0.0, 0.0);
    for _ in 0..rounds {
        let c0 = cpu_secs(pid);
        round(&m, "plain__echo", &args, calls, &mut plain).await;
        let c1 = cpu_secs(pid);
        round(&m, "guarded__echo", &args, calls, &mut guarded).await;
        let c2 = cpu_secs(pid);
        cpu_plain += c1 - c0;
        cpu_guarded += c2 - c1;
    }
    plain.sort();
    guarded.sort();
    let n = (rounds * calls) as f64;
    println!(
        "message {bytes} bytes, {rounds} rounds x {calls} calls, one client; gateway CPU from /proc (10 ms ticks)"
    );
    println!("| path | p50 us | p99 us | gateway CPU us/call |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| plain | {:.0} | {:.0} | {:.1} |",
        us(pct(&plain, 0.5)),
        us(pct(&plain, 0.99)),
        cpu_plain / n * 1e6
    );
    println!(
        "| guarded | {:.0} | {:.0} | {:.1} |",
        us(pct(&guarded, 0.5)),
        us(pct(&guarded, 0.99)),
        cpu_guarded / n * 1e6
    );
    println!(
        "added p50 {:.0} us, added CPU {:.1} us/call",
        us(pct(&guarded, 0.5)) - us(pct(&plain, 0.5)),
        (cpu_guarded - cpu_plain) / n * 1e6
    );
}
