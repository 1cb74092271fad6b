//! Authentication cost against the number of keys in the config: `resolve_key` (what every
//! request's authentication does: one hash, one lookup, one constant-time comparison) with 10
//! and 10 000 keys, stored as keyed hashes (`apikey_hashes`) or in the reference's plain-text
//! form (`apikeys`); the key asked for is the middle one.
//!
//! Run: `cargo bench -p benches --bench auth -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gateway::config::keystore;
use serde_json::{json, Map, Value};

/// A config with `n` keys (hashed or plain) at `dir`; returns it loaded and the middle key.
fn config(dir: &Path, n: usize, hashed: bool) -> (gateway::config::GatewayConfig, String) {
    let path = dir.join(format!("cfg-{n}-{hashed}.json"));
    let secret = keystore::load_or_create_secret(&path).expect("secret");
    let mut plain = Map::new();
    let mut hashes = Map::new();
    let mut middle = String::new();
    for i in 0..n {
        let (key, id) = keystore::new_key().expect("key");
        if i == n / 2 {
            middle = key.clone();
        }
        let fields = json!({ "project_id": "p1", "user_id": "u1" });
        if hashed {
            let mut f = fields;
            f["key_hash"] = json!(keystore::to_hex(&secret.hash(&key)));
            hashes.insert(id, f);
        } else {
            plain.insert(key, fields);
        }
    }
    let cfg = json!({
        "mcp_configs": { "c1": { "mcp_config_name": "bench", "mcp_config": [] } },
        "projects": { "p1": { "project_name": "bench", "mcp_config_id": "c1", "users": ["u1"] } },
        "users": { "u1": { "email": "bench@example.com" } },
        "apikeys": Value::Object(plain),
        "apikey_hashes": Value::Object(hashes),
    });
    std::fs::write(&path, serde_json::to_vec(&cfg).expect("json")).expect("write");
    let loaded = gateway::config::load(&path).expect("valid");
    (loaded.config, middle)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let mut g = c.benchmark_group("resolve_key");
    for hashed in [true, false] {
        for n in [10usize, 10_000] {
            let (cfg, key) = config(dir.path(), n, hashed);
            let label = if hashed { "hashed" } else { "plain" };
            g.bench_with_input(BenchmarkId::new(label, n), &key, |b, key| {
                b.iter(|| {
                    let r = cfg.resolve_key(black_box(key)).expect("resolves");
                    black_box(r.project.id.len())
                })
            });
            let wrong = format!("{}x", &key[..key.len() - 1]);
            g.bench_with_input(
                BenchmarkId::new(format!("{label}_unknown"), n),
                &wrong,
                |b, key| b.iter(|| black_box(cfg.resolve_key(black_box(key)).is_err())),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
