//! Load harness for the gateway's OpenTelemetry cost: two gateways on the same upstream, one
//! with telemetry off and one exporting to a live OTLP/HTTP receiver (in this process, answering
//! every export with 200), `tools/call` rounds interleaved between them; the gateways' CPU time
//! per call.
//!
//! Run: `cargo build --release -p gateway -p benches && target/release/otel_load`
//! (environment: `ROUNDS` (5), `CALLS` per client per round (1000); `AA=1` for the A/A
//! control: the second gateway has telemetry off too, so its ratio shows the noise; `SWAP=1`
//! starts the gateway with telemetry first; `PAIR=1` loads both gateways at the same time
//! instead of in turns, both pinned to core 0 and everything else to core 1, so the two share
//! whatever else the machine does); `BASE_BIN=<gateway binary>`: the first gateway is that
//! build with telemetry on too, so the ratio compares two builds' telemetry); `CLIENTS`: the
//! client counts to run, comma-separated (`1,16`); `METRICS_OFF=1`: the gateway without
//! telemetry has `/metrics` recording off too (`enkrypt_metrics_enabled: false`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::{
    bin, cpu_secs, env_usize, pct, start_gateway, start_gateway_bin, us, wait_port, write_config,
    Mcp, Proc, KEY,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Export requests and body bytes the receiver got.
#[derive(Default)]
struct Got {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// A minimal OTLP/HTTP receiver: reads each request (headers, `Content-Length` body) and
/// answers 200 with an empty body, on kept-alive connections.
async fn receiver(got: Arc<Got>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let got = got.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + 4 + len);
                    got.requests.fetch_add(1, Ordering::Relaxed);
                    got.bytes.fetch_add(len as u64, Ordering::Relaxed);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// `target.len()` concurrent sessions, each making `calls` echo calls; sorted latencies.
async fn load(target: &[Mcp], calls: usize) -> Vec<Duration> {
    let tasks: Vec<_> = target
        .iter()
        .cloned()
        .map(|m| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let t = Instant::now();
                    let r = m.call("echo", json!({ "message": "ping" })).await;
                    lat.push(t.elapsed());
                    assert!(r.get("result").is_some(), "{r}");
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    all
}

/// Pins every thread of process `pid` to the CPUs `cpus` (`taskset`).
fn pin(pid: u32, cpus: &str) {
    let ok = std::process::Command::new("taskset")
        .args(["-a", "-c", "-p", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "taskset could not pin {pid} to {cpus}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = env_usize("ROUNDS", 5);
    let calls: usize = env_usize("CALLS", 1000);
    let dir = std::env::temp_dir().join(format!("otel-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let up_port = testkit::free_port();
    let upstream = Proc(
        std::process::Command::new(bin())
            .args(["demo-server", "--port", &up_port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("demo server"),
    );
    wait_port(up_port);
    let got = Arc::new(Got::default());
    let otlp = receiver(got.clone()).await;
    let servers = json!([{ "server_name": "demo", "config": { "url": format!("http://127.0.0.1:{up_port}/mcp"), "transport": "streamable-http" }, "tools": {} }]);
    let aa = std::env::var("AA").is_ok_and(|v| v == "1");
    let base = std::env::var("BASE_BIN").ok().map(std::path::PathBuf::from);
    let telemetry = json!({ "enkrypt_telemetry": { "enabled": true, "url": format!("http://127.0.0.1:{otlp}") } });
    // METRICS_OFF=1: the gateway without telemetry records no `/metrics` either, so the
    // ratio is everything on against everything off.
    let metrics_off = std::env::var("METRICS_OFF").is_ok_and(|v| v == "1");
    let off_common = if base.is_some() {
        telemetry.clone()
    } else if metrics_off {
        json!({ "enkrypt_metrics_enabled": false })
    } else {
        json!({})
    };
    let off_cfg = write_config(&dir, "off.json", servers.clone(), off_common);
    let on_common = if aa { json!({}) } else { telemetry };
    let on_cfg = write_config(&dir, "on.json", servers, on_common);
    let off_bin = base.clone().unwrap_or_else(bin);
    // SWAP=1 starts the gateway with telemetry first (the A/A control shows whether the
    // start order alone moves the ratio).
    let swap = std::env::var("SWAP").is_ok_and(|v| v == "1");
    let ((off, off_port, _), (on, on_port, _)) = if swap {
        let on = start_gateway(&on_cfg);
        (start_gateway_bin(&off_bin, &off_cfg), on)
    } else {
        let off = start_gateway_bin(&off_bin, &off_cfg);
        (off, start_gateway(&on_cfg))
    };
    let (off_pid, on_pid) = (off.0.id(), on.0.id());
    let pair = std::env::var("PAIR").is_ok_and(|v| v == "1");
    if pair {
        pin(off_pid, "0");
        pin(on_pid, "0");
        pin(upstream.0.id(), "1");
        pin(std::process::id(), "1");
    }

    let what = if base.is_some() {
        "telemetry on in both: BASE_BIN (off columns) against this build (on columns)"
    } else if pair {
        if aa {
            "A/A control: telemetry off in both gateways, loaded at the same time"
        } else {
            "telemetry off against on (exporting to a live receiver), loaded at the same time"
        }
    } else if aa {
        "A/A control: telemetry off in both gateways"
    } else {
        "telemetry off against on (exporting to a live receiver)"
    };
    println!("## tools/call echo: {what}, {rounds} rounds, {calls} calls per client per round\n");
    println!("| clients | off p50 us | on p50 us | off p99 us | on p99 us | off CPU us/call | on CPU us/call | on / off |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let counts: Vec<usize> = std::env::var("CLIENTS")
        .unwrap_or_else(|_| "1,16".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("CLIENTS: client counts, comma-separated")
        })
        .collect();
    for clients in counts {
        let (mut s_off, mut s_on) = (Vec::new(), Vec::new());
        for _ in 0..clients {
            s_off.push(Mcp::open(&format!("http://127.0.0.1:{off_port}/mcp/"), Some(KEY)).await);
            s_on.push(Mcp::open(&format!("http://127.0.0.1:{on_port}/mcp/"), Some(KEY)).await);
        }
        load(&s_off, 50).await;
        load(&s_on, 50).await;
        let (mut l_off, mut l_on) = (Vec::new(), Vec::new());
        let (mut c_off, mut c_on) = (0.0, 0.0);
        for round in 0..rounds {
            if pair {
                let (b_off, b_on) = (cpu_secs(off_pid), cpu_secs(on_pid));
                let (a, b) = tokio::join!(load(&s_off, calls), load(&s_on, calls));
                let (d_off, d_on) = (cpu_secs(off_pid) - b_off, cpu_secs(on_pid) - b_on);
                eprintln!(
                    "{clients} clients, round {round}: on / off {:.3}",
                    d_on / d_off
                );
                c_off += d_off;
                c_on += d_on;
                l_off.extend(a);
                l_on.extend(b);
                continue;
            }
            // Alternate which gateway goes first, so neither always follows the other.
            for on_now in [round % 2 == 1, round % 2 == 0] {
                let (pid, sessions, lat, cpu) = if on_now {
                    (on_pid, &s_on, &mut l_on, &mut c_on)
                } else {
                    (off_pid, &s_off, &mut l_off, &mut c_off)
                };
                let before = cpu_secs(pid);
                lat.extend(load(sessions, calls).await);
                *cpu += cpu_secs(pid) - before;
            }
        }
        l_off.sort();
        l_on.sort();
        let n = (rounds * calls * clients) as f64;
        let (cpu_off, cpu_on) = (c_off * 1e6 / n, c_on * 1e6 / n);
        println!(
            "| {clients} | {:.0} | {:.0} | {:.0} | {:.0} | {cpu_off:.1} | {cpu_on:.1} | {:.3} |",
            us(pct(&l_off, 0.5)),
            us(pct(&l_on, 0.5)),
            us(pct(&l_off, 0.99)),
            us(pct(&l_on, 0.99)),
            cpu_on / cpu_off
        );
    }
    // The batch processor sends every 5 s: wait for the last batch before counting.
    tokio::time::sleep(Duration::from_secs(6)).await;
    println!(
        "\nreceiver: {} export requests, {} bytes",
        got.requests.load(Ordering::Relaxed),
        got.bytes.load(Ordering::Relaxed)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
