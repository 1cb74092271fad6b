//! Load harness for the gateway: `tools/call` through the gateway against the same upstream
//! called directly, interleaved in one run; the gateway's CPU time per call; cached
//! `tools/list` and `enkrypt_discover_all_tools` latency with the embedded cache and with an
//! external `redis-server`; start-to-first-request time.
//!
//! Run: `cargo build --release -p gateway -p benches && target/release/gateway_load`
//! (environment: `ROUNDS` (5), `CALLS` per client per round (1000)).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::{
    bin, cpu_secs, env_usize, pct, start_gateway, us, wait_port, write_config, Mcp, Proc, KEY,
};
use serde_json::{json, Value};

/// `clients` concurrent sessions, each making `calls` echo calls; latencies and wall time.
async fn load(target: &[Mcp], tool: &str, calls: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = target
        .iter()
        .cloned()
        .map(|m| {
            let tool = tool.to_string();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let t = Instant::now();
                    let r = m.call(&tool, json!({ "message": "ping" })).await;
                    lat.push(t.elapsed());
                    debug_assert!(r.get("result").is_some(), "{r}");
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let wall = start.elapsed();
    all.sort();
    (all, wall)
}

/// The bench config: one server, `demo`, at `upstream_url`.
fn demo_config(dir: &Path, upstream_url: &str, common: Value) -> PathBuf {
    write_config(
        dir,
        "cfg.json",
        json!([{ "server_name": "demo", "config": { "url": upstream_url, "transport": "streamable-http" }, "tools": {} }]),
        common,
    )
}

async fn latency_of(m: &Mcp, body: Value, n: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = m.send(body.clone()).await;
        v.push(t.elapsed());
        assert!(r.get("result").is_some(), "{r}");
    }
    v.sort();
    v
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = env_usize("ROUNDS", 5);
    let calls: usize = env_usize("CALLS", 1000);
    let dir = std::env::temp_dir().join(format!("gateway-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");

    // The upstream: our demo server's echo tool over streamable HTTP, or with
    // UPSTREAM_EVERYTHING=<path to mcp-server-everything> the npm reference server's.
    let up_port = testkit::free_port();
    let _upstream = Proc(match std::env::var("UPSTREAM_EVERYTHING") {
        Ok(path) => Command::new(path)
            .arg("streamableHttp")
            .env("PORT", up_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server-everything"),
        Err(_) => Command::new(bin())
            .args(["demo-server", "--port", &up_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo server"),
    });
    wait_port(up_port);
    let up_url = format!("http://127.0.0.1:{up_port}/mcp");
    let up_pid = _upstream.0.id();
    let me = std::process::id();

    let cfg = demo_config(&dir, &up_url, json!({}));
    let mut starts = Vec::new();
    for _ in 0..5 {
        let (_g, _, t) = start_gateway(&cfg);
        starts.push(t);
    }
    starts.sort();
    let (gw, gw_port, _) = start_gateway(&cfg);
    let gw_url = format!("http://127.0.0.1:{gw_port}/mcp/");
    let gw_pid = gw.0.id();
    // PROFILE=list|ping|call|direct, PROFILE_N requests per client, PROFILE_CLIENTS clients:
    // only that load, with the gateway's CPU per request (for profiling the gateway).
    if let Ok(what) = std::env::var("PROFILE") {
        let n: usize = env_usize("PROFILE_N", 5000);
        let clients: usize = env_usize("PROFILE_CLIENTS", 1);
        eprintln!("gateway pid {gw_pid}");
        let (url, key) = if what == "direct" {
            (up_url.as_str(), None)
        } else {
            (gw_url.as_str(), Some(KEY))
        };
        let body = match what.as_str() {
            "list" => json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
            "ping" => json!({ "jsonrpc": "2.0", "id": 2, "method": "ping" }),
            _ => {
                // PROFILE_MSG_BYTES: the size of the echoed message (default: "ping").
                let msg = std::env::var("PROFILE_MSG_BYTES")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .map_or_else(|| "ping".to_string(), |n| "x".repeat(n));
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo", "arguments": { "message": msg } } })
            }
        };
        let mut sessions = Vec::new();
        for _ in 0..clients {
            sessions.push(Mcp::open(url, key).await);
        }
        std::thread::sleep(Duration::from_millis(env_usize("PROFILE_WAIT_MS", 0) as u64));
        let before = cpu_secs(gw_pid);
        let t = Instant::now();
        let tasks: Vec<_> = sessions
            .into_iter()
            .map(|m| {
                let body = body.clone();
                tokio::spawn(async move { latency_of(&m, body, n).await })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let wall = t.elapsed();
        all.sort();
        let total = (n * clients) as f64;
        println!(
            "{what}: p50 {:.0} us, p99 {:.0} us, {:.0}/s, gateway CPU {:.1} us/request",
            us(pct(&all, 0.5)),
            us(pct(&all, 0.99)),
            total / wall.as_secs_f64(),
            (cpu_secs(gw_pid) - before) * 1e6 / total
        );
        return;
    }

    println!("## tools/call echo: the gateway against the upstream called directly ({rounds} interleaved rounds, {calls} calls per client per round)\n");
    println!("| clients | direct p50 us | gateway p50 us | added p50 us | direct p99 us | gateway p99 us | added p99 us | direct calls/s | gateway calls/s | ratio | gateway CPU us/call |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // CPU per call of the other two processes, direct / through the gateway (printed after).
    let mut others = Vec::new();
    for clients in [1usize, 16] {
        let mut direct_sessions = Vec::new();
        let mut gw_sessions = Vec::new();
        for _ in 0..clients {
            direct_sessions.push(Mcp::open(&up_url, None).await);
            gw_sessions.push(Mcp::open(&gw_url, Some(KEY)).await);
        }
        // Warm up both paths (connections, discovery, caches).
        load(&direct_sessions, "echo", 50).await;
        load(&gw_sessions, "echo", 50).await;
        let (mut d_all, mut g_all) = (Vec::new(), Vec::new());
        let (mut d_wall, mut g_wall) = (Duration::ZERO, Duration::ZERO);
        let mut g_cpu = 0.0;
        // (client, upstream) CPU seconds: direct, through the gateway.
        let (mut d_other, mut g_other) = ((0.0, 0.0), (0.0, 0.0));
        for _ in 0..rounds {
            let (c0, u0) = (cpu_secs(me), cpu_secs(up_pid));
            let (l, w) = load(&direct_sessions, "echo", calls).await;
            d_other.0 += cpu_secs(me) - c0;
            d_other.1 += cpu_secs(up_pid) - u0;
            d_all.extend(l);
            d_wall += w;
            let (before, c0, u0) = (cpu_secs(gw_pid), cpu_secs(me), cpu_secs(up_pid));
            let (l, w) = load(&gw_sessions, "echo", calls).await;
            g_cpu += cpu_secs(gw_pid) - before;
            g_other.0 += cpu_secs(me) - c0;
            g_other.1 += cpu_secs(up_pid) - u0;
            g_all.extend(l);
            g_wall += w;
        }
        d_all.sort();
        g_all.sort();
        let n = (rounds * calls * clients) as f64;
        let (d50, g50, d99, g99) = (
            pct(&d_all, 0.5),
            pct(&g_all, 0.5),
            pct(&d_all, 0.99),
            pct(&g_all, 0.99),
        );
        let (dt, gt) = (n / d_wall.as_secs_f64(), n / g_wall.as_secs_f64());
        println!(
            "| {clients} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} |",
            us(d50), us(g50), us(g50) - us(d50), us(d99), us(g99), us(g99) - us(d99), dt, gt, gt / dt, g_cpu * 1e6 / n
        );
        others.push((clients, d_other, g_other, n));
    }
    println!("\nCPU per call of the load client and of the upstream, called directly / through the gateway:\n");
    println!("| clients | client us/call | upstream us/call |");
    println!("| ---: | ---: | ---: |");
    for (clients, d, g, n) in others {
        println!(
            "| {clients} | {:.1} / {:.1} | {:.1} / {:.1} |",
            d.0 * 1e6 / n,
            g.0 * 1e6 / n,
            d.1 * 1e6 / n,
            g.1 * 1e6 / n
        );
    }

    // Cached discovery: embedded cache, then an external redis-server.
    println!("\n## cached tools/list and enkrypt_discover_all_tools (one client, 2000 requests each, after a warm-up)\n");
    println!("| cache | tools/list p50 us | p99 us | enkrypt_discover_all_tools p50 us | p99 us |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let disc = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "enkrypt_discover_all_tools", "arguments": { "server_name": "demo" } } });
    let m = Mcp::open(&gw_url, Some(KEY)).await;
    latency_of(&m, list.clone(), 100).await;
    let l = latency_of(&m, list.clone(), 2000).await;
    let d = latency_of(&m, disc.clone(), 2000).await;
    println!(
        "| embedded | {:.0} | {:.0} | {:.0} | {:.0} |",
        us(pct(&l, 0.5)),
        us(pct(&l, 0.99)),
        us(pct(&d, 0.5)),
        us(pct(&d, 0.99))
    );
    drop(gw);
    let redis = testkit::RedisServer::start(Some("bench-redis-pw"));
    let ext_dir = dir.join("ext");
    std::fs::create_dir_all(&ext_dir).expect("dir");
    let ext = demo_config(
        &ext_dir,
        &up_url,
        json!({ "enkrypt_mcp_use_external_cache": true, "enkrypt_cache_host": "127.0.0.1", "enkrypt_cache_port": redis.port, "enkrypt_cache_password": "bench-redis-pw" }),
    );
    let (gw2, port2, _) = start_gateway(&ext);
    let m = Mcp::open(&format!("http://127.0.0.1:{port2}/mcp/"), Some(KEY)).await;
    latency_of(&m, list.clone(), 100).await;
    let l = latency_of(&m, list, 2000).await;
    let d = latency_of(&m, disc, 2000).await;
    println!(
        "| external redis-server | {:.0} | {:.0} | {:.0} | {:.0} |",
        us(pct(&l, 0.5)),
        us(pct(&l, 0.99)),
        us(pct(&d, 0.5)),
        us(pct(&d, 0.99))
    );
    drop(gw2);

    println!("\n## start to first served request (GET /health answered), 5 starts\n");
    println!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        starts[0].as_secs_f64() * 1e3,
        starts[2].as_secs_f64() * 1e3,
        starts[4].as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
