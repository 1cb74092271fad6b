//! Threads: no lost update, no deadlock across multi-key locks, EXEC atomicity.

use super::*;

#[test]
fn concurrent_increments_lose_no_update() {
    let (e, _) = engine();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    let _g = e.shared();
                    let r = e
                        .db_unproven(0)
                        .and_then(|d| d.with_key(b"counter", Access::WRITE, |k| k.incr_by(1)));
                    assert!(r.is_ok());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(get(&e, 0, b"counter").as_deref(), Some(&b"40000"[..]));
}

#[test]
fn concurrent_multi_key_transfers_do_not_deadlock_or_lose_value() {
    let (e, _) = engine_with(EngineConfig {
        shards_per_db: 8,
        ..EngineConfig::default()
    });
    let keys: Vec<String> = (0..16).map(|i| format!("acct:{i}")).collect();
    for k in &keys {
        set(&e, 0, k.as_bytes(), b"1000", Ttl::Clear);
    }
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let e = e.clone();
            let keys = keys.clone();
            std::thread::spawn(move || {
                for i in 0..3_000usize {
                    let a = &keys[(i * 7 + t) % 16];
                    let b = &keys[(i * 3 + t * 5 + 1) % 16];
                    let (da, db) = if i % 5 == 0 { (1, 0) } else { (0, 0) };
                    let mut g = e
                        .lock_keys(&[(db, b.as_bytes()), (da, a.as_bytes()), (0, a.as_bytes())])
                        .expect("lock");
                    let _ = g.key(2, Access::WRITE).map(|mut k| k.incr_by(-1));
                    let _ = g.key(0, Access::WRITE).map(|mut k| k.incr_by(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let total: i64 = keys
        .iter()
        .map(|k| {
            get(&e, 0, k.as_bytes())
                .and_then(|v| parse_i64_strict(&v))
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, 16_000);
}

#[test]
fn exec_gate_gives_atomicity_across_threads() {
    let (e, _) = engine();
    set(&e, 0, b"a", b"0", Ttl::Clear);
    set(&e, 0, b"b", b"0", Ttl::Clear);
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let _x = e.exclusive();
                    let d = e.db_unproven(0).expect("db");
                    let _ = d.with_key(b"a", Access::WRITE, |k| k.incr_by(1));
                    let _ = d.with_key(b"b", Access::WRITE, |k| k.incr_by(1));
                }
            })
        })
        .collect();
    for _ in 0..2_000 {
        let _g = e.shared();
        assert_eq!(get(&e, 0, b"a"), get(&e, 0, b"b"));
    }
    for w in writers {
        w.join().expect("thread");
    }
}
