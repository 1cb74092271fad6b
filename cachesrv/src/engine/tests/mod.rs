//! Engine-wide tests: strings, TTL, LRU/LFU, accounting, SCAN, WATCH, collections; eviction
//! policies in `eviction`, threads in `concurrency`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::*;

const T0: u64 = 1_700_000_000_000;

pub(super) fn engine_with(config: EngineConfig) -> (Arc<Engine>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (Arc::new(Engine::with_clock(config, clock.clone())), clock)
}

pub(super) fn engine() -> (Arc<Engine>, Arc<ManualClock>) {
    engine_with(EngineConfig::default())
}

pub(super) fn set(e: &Engine, db: usize, key: &[u8], val: &[u8], ttl: Ttl) {
    let r = e
        .db_unproven(db)
        .and_then(|d| d.with_key(key, Access::WRITE, |k| k.put_str(val, ttl)));
    assert_eq!(r, Ok(()));
}

pub(super) fn get(e: &Engine, db: usize, key: &[u8]) -> Option<Vec<u8>> {
    e.db_unproven(db).ok()?.with_key(key, Access::READ, |k| {
        k.as_str().ok().flatten().map(<[u8]>::to_vec)
    })
}

pub(super) fn exists_quiet(e: &Engine, key: &[u8]) -> bool {
    e.db_unproven(0)
        .map(|d| d.with_key(key, Access::WRITE.no_touch().no_stats(), |k| k.exists()))
        .unwrap_or(false)
}

pub(super) fn del(e: &Engine, db: usize, key: &[u8]) -> bool {
    e.db_unproven(db)
        .map(|d| d.with_key(key, Access::WRITE, |k| k.delete()))
        .unwrap_or(false)
}

mod block_model;
mod concurrency;
mod eviction;

use eviction::fill;

#[test]
fn strings_types_and_encodings() {
    let (e, _) = engine();
    set(&e, 0, b"k", b"12345", Ttl::Clear);
    assert_eq!(get(&e, 0, b"k").as_deref(), Some(&b"12345"[..]));
    let d = e.db_unproven(0).expect("db 0");
    d.with_key(b"k", Access::READ, |k| {
        assert_eq!(k.kind(), Some(Kind::Str));
        assert_eq!(k.value().map(|v| v.type_name()), Some("string"));
        assert_eq!(k.value().map(|v| v.encoding()), Some("int"));
        assert_eq!(k.as_hash(), Err(EngineError::WrongType));
    });
    set(&e, 0, b"k", &[b'x'; 45], Ttl::Clear);
    d.with_key(b"k", Access::READ, |k| {
        assert_eq!(k.value().map(|v| v.encoding()), Some("raw"))
    });
    assert!(e.db_unproven(16).is_err());
    assert_eq!(
        EngineError::WrongType.to_string(),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        Oom.to_string(),
        "OOM command not allowed when used memory > 'maxmemory'."
    );
}

#[test]
fn incr_append_setrange() {
    let (e, _) = engine();
    let d = e.db_unproven(0).expect("db");
    assert_eq!(d.with_key(b"n", Access::WRITE, |k| k.incr_by(5)), Ok(5));
    assert_eq!(d.with_key(b"n", Access::WRITE, |k| k.incr_by(-15)), Ok(-10));
    assert_eq!(d.with_key(b"n", Access::WRITE, |k| k.incr_by(1)), Ok(-9));
    set(&e, 0, b"m", b"9223372036854775807", Ttl::Clear);
    assert_eq!(
        d.with_key(b"m", Access::WRITE, |k| k.incr_by(1)),
        Err(EngineError::Overflow)
    );
    set(&e, 0, b"z", b"007", Ttl::Clear);
    assert_eq!(
        d.with_key(b"z", Access::WRITE, |k| k.incr_by(1)),
        Err(EngineError::NotInteger)
    );
    assert_eq!(
        d.with_key(b"a", Access::WRITE, |k| k.append(b"hello")),
        Ok(5)
    );
    assert_eq!(
        d.with_key(b"a", Access::WRITE, |k| k.append(b" world")),
        Ok(11)
    );
    assert_eq!(get(&e, 0, b"a").as_deref(), Some(&b"hello world"[..]));
    assert_eq!(
        d.with_key(b"a", Access::WRITE, |k| k.set_range(6, b"WORLD!!")),
        Ok(13)
    );
    assert_eq!(get(&e, 0, b"a").as_deref(), Some(&b"hello WORLD!!"[..]));
    assert_eq!(
        d.with_key(b"r", Access::WRITE, |k| k.set_range(3, b"x")),
        Ok(4)
    );
    assert_eq!(get(&e, 0, b"r").as_deref(), Some(&b"\0\0\0x"[..]));
    assert_eq!(
        d.with_key(b"none", Access::WRITE, |k| k.set_range(3, b"")),
        Ok(0)
    );
    assert!(!exists_quiet(&e, b"none"));
    assert_eq!(
        d.with_key(b"big", Access::WRITE, |k| k.set_range(MAX_STRING, b"x")),
        Err(EngineError::TooLarge)
    );
}

#[test]
fn lazy_expiry_with_manual_clock() {
    let (e, clock) = engine();
    set(&e, 0, b"t", b"v", Ttl::At(T0 + 1000));
    set(&e, 0, b"p", b"v", Ttl::Clear);
    assert_eq!(e.db_unproven(0).map(|d| d.info().expires), Ok(1));
    clock.advance(1000);
    assert!(
        get(&e, 0, b"t").is_some(),
        "expires strictly after the deadline"
    );
    clock.advance(1);
    assert!(get(&e, 0, b"t").is_none());
    let st = e.stats();
    assert_eq!(st.expired_keys, 1);
    assert_eq!((st.keyspace_hits, st.keyspace_misses), (1, 1));
    assert_eq!(e.db_unproven(0).map(|d| d.dbsize()), Ok(1));
    e.reset_stats();
    assert_eq!(e.stats(), EngineStats::default());

    // KEEPTTL, expiry set/clear, TTL kept by INCR and APPEND.
    set(&e, 0, b"k", b"1", Ttl::At(T0 + 10_000));
    let d = e.db_unproven(0).expect("db");
    d.with_key(b"k", Access::WRITE, |k| {
        assert_eq!(k.incr_by(1), Ok(2));
        assert_eq!(k.append(b"0"), Ok(2));
        assert_eq!(k.expire_at(), Some(T0 + 10_000));
        assert!(k.put_str(b"v2", Ttl::Keep).is_ok());
        assert_eq!(k.expire_at(), Some(T0 + 10_000));
        assert!(k.set_expire_at(None));
        assert_eq!(k.expire_at(), None);
        assert!(k.put_str(b"v3", Ttl::At(T0 + 5)).is_ok());
        assert_eq!(k.expire_at(), Some(T0 + 5));
        assert!(k.put_str(b"v4", Ttl::Clear).is_ok());
        assert_eq!(k.expire_at(), None);
    });
}

#[test]
fn active_expiry_finds_a_ttl_key_among_many_persistent_ones() {
    let (e, clock) = engine();
    let d = e.db_unproven(0).expect("db");
    let d0 = e.db_unproven(0).expect("db");
    for i in 0..1_000_000u32 {
        let _ = d0.with_key(format!("p:{i}").as_bytes(), Access::WRITE, |k| {
            k.put_str(b"v", Ttl::Clear)
        });
    }
    for i in 0..5_000u32 {
        set(
            &e,
            0,
            format!("long:{i}").as_bytes(),
            b"v",
            Ttl::At(T0 + 3_600_000),
        );
    }
    set(&e, 0, b"short", b"v", Ttl::At(T0 + 1_000));
    // hz = 10 for 2 s: 20 calls, 100 ms apart, 25 ms budget each.
    let mut gone_after = None;
    for tick in 1..=20 {
        clock.advance(100);
        e.active_expire_cycle(Duration::from_millis(25));
        if d.info().expires == 5_000 {
            gone_after = Some(tick * 100);
            break;
        }
    }
    let ms = gone_after.expect("the key expired by the active cycle within 2 s");
    assert!(ms <= 2_000);
    assert_eq!(e.stats().expired_keys, 1);
    assert_eq!(d.dbsize(), 1_005_000);
    assert!(d.info().avg_ttl > 3_000_000);
}

#[test]
fn active_expiry_repeats_while_many_expired_and_resumes() {
    let (e, clock) = engine_with(EngineConfig {
        databases: 2,
        shards_per_db: 4,
        ..EngineConfig::default()
    });
    for i in 0..10_000u32 {
        set(&e, 1, format!("k{i}").as_bytes(), b"v", Ttl::At(T0 + 10));
    }
    clock.advance(100);
    // A zero budget stops after one sample of the first shard with work; the next calls resume
    // there and drain it while more than 25% of each sample is expired.
    let first = e.active_expire_cycle(Duration::ZERO);
    assert!(first > 0 && first < 10_000, "{first}");
    let mut total = first;
    for _ in 0..100 {
        total += e.active_expire_cycle(Duration::from_millis(50));
        if total == 10_000 {
            break;
        }
    }
    assert_eq!(total, 10_000);
    assert_eq!(e.db_unproven(1).map(|d| d.dbsize()), Ok(0));
    assert_eq!(e.used_memory(), 0);
}

#[test]
fn lru_clock_and_no_touch() {
    let (e, clock) = engine();
    set(&e, 0, b"a", b"1", Ttl::Clear);
    set(&e, 0, b"b", b"1", Ttl::Clear);
    clock.advance(10_000);
    get(&e, 0, b"a");
    let d = e.db_unproven(0).expect("db");
    let idle = |k: &[u8]| d.with_key(k, Access::READ.no_touch(), |k| k.idle_ms());
    assert_eq!(idle(b"a"), Some(0));
    assert_eq!(idle(b"b"), Some(10_000));
    clock.advance(3_000);
    assert_eq!(
        idle(b"b"),
        Some(13_000),
        "no-touch reads leave the clock alone"
    );
}

#[test]
fn lfu_counter_starts_at_five_grows_and_decays() {
    let (e, clock) = engine_with(EngineConfig {
        policy: EvictionPolicy::AllKeysLfu,
        ..EngineConfig::default()
    });
    set(&e, 0, b"hot", b"1", Ttl::Clear);
    set(&e, 0, b"cold", b"1", Ttl::Clear);
    let d = e.db_unproven(0).expect("db");
    let freq = |k: &[u8]| d.with_key(k, Access::READ.no_touch(), |k| k.lfu_freq());
    // The SET itself is an access (like Redis's lookupKeyWrite before overwrite) only when the
    // key exists; a new key starts at LFU_INIT_VAL.
    assert_eq!(freq(b"cold"), Some(LFU_INIT_VAL));
    for _ in 0..1000 {
        get(&e, 0, b"hot");
    }
    let hot = freq(b"hot").unwrap_or(0);
    assert!(hot > 10, "{hot}");
    clock.advance(3 * 60_000);
    assert_eq!(
        freq(b"hot"),
        Some(hot - 3),
        "one decrement per decay period"
    );
    assert_eq!(freq(b"cold"), Some(LFU_INIT_VAL - 3));
}

#[test]
fn accounting_returns_to_start_after_deleting_everything() {
    let (e, clock) = engine();
    assert_eq!(e.used_memory(), 0);
    let d = e.db_unproven(0).expect("db");
    let d3 = e.db_unproven(3).expect("db");
    for i in 0..3000usize {
        let key = format!("key:{i}");
        let k = key.as_bytes();
        let ttl = if i % 3 == 0 {
            Ttl::At(T0 + 100_000)
        } else {
            Ttl::Clear
        };
        match i % 6 {
            0 | 1 => set(&e, 0, k, &vec![b'x'; i % 300], ttl),
            2 => {
                let r = d.with_key(k, Access::WRITE, |k| {
                    k.update_hash(true, |h| {
                        for f in 0..(i % 40) {
                            h.insert(format!("f{f}").as_bytes(), &vec![b'v'; f * 3]);
                        }
                        h.insert(b"always", b"there");
                    })
                });
                assert!(matches!(r, Ok(Some(()))));
            }
            3 => {
                let _ = d.with_key(k, Access::WRITE, |k| {
                    k.update_set(true, |s| {
                        for m in 0..(i % 700) {
                            s.insert(m.to_string().as_bytes());
                        }
                        s.insert(b"member");
                    })
                });
            }
            4 => {
                let _ = d3.with_key(k, Access::WRITE, |k| {
                    k.update_list(true, |l| {
                        for m in 0..(i % 200) {
                            l.push_back(&vec![b'l'; m]);
                        }
                        l.push_front(b"head");
                    })
                });
            }
            5 if i % 12 == 5 => {
                let lim = crate::engine::ZLimits::default();
                let _ = d.with_key(k, Access::WRITE, |k| {
                    k.update_zset(true, |z| {
                        for m in 0..(i % 300) {
                            z.insert(format!("m{m}").as_bytes(), (m % 7) as f64, lim);
                        }
                        z.insert(b"member", 1.5, lim);
                    })
                });
            }
            _ => {
                let _ = d.with_key(k, Access::WRITE, |k| k.incr_by(i as i64));
            }
        }
    }
    let peak = e.used_memory();
    assert!(peak > 3000 * 32);
    // In-place modifications of every kind.
    for i in 0..3000usize {
        let key = format!("key:{i}");
        let k = key.as_bytes();
        let db = if i % 6 == 4 { d3 } else { d };
        db.with_key(k, Access::WRITE, |k| match k.kind() {
            Some(Kind::Str) => {
                if i % 2 == 0 {
                    let _ = k.append(b"-appended-");
                } else {
                    let _ = k.set_range(i % 50, b"overwrite");
                }
                k.set_expire_at(if i % 4 == 0 { None } else { Some(T0 + 5_000) });
            }
            Some(Kind::Hash) => {
                let _ = k.update_hash(false, |h| {
                    h.remove(b"f1");
                    h.insert(b"new", &[b'n'; 80]);
                    h.insert(b"always", b"changed-length");
                });
                k.set_expire_at(Some(T0 + 50));
            }
            Some(Kind::Set) => {
                let _ = k.update_set(false, |s| {
                    s.remove(b"1");
                    s.pop_random();
                    s.insert(&[b's'; 70]);
                });
            }
            Some(Kind::List) => {
                let _ = k.update_list(false, |l| {
                    l.pop_back();
                    l.set(0, b"a-longer-head-element");
                    l.insert(0, b"x");
                    l.retain_range(0, 50);
                });
            }
            Some(Kind::ZSet) => {
                let lim = crate::engine::ZLimits::default();
                let _ = k.update_zset(false, |z| {
                    z.remove(b"m1");
                    z.insert(b"m2", 100.0, lim);
                    z.insert(&[b'z'; 70], 2.0, lim);
                    z.remove_range(0, 3);
                });
            }
            None => {}
        });
    }
    // Rename half the keys through multi-key locking, across databases for some.
    for i in (0..3000usize).step_by(2) {
        let src = format!("key:{i}");
        let dst = format!("renamed:{i}");
        let sdb = if i % 6 == 4 { 3 } else { 0 };
        let ddb = if i % 10 == 0 { 5 } else { sdb };
        let mut g = e
            .lock_keys(&[(sdb, src.as_bytes()), (ddb, dst.as_bytes())])
            .expect("lock");
        let taken = g.key(0, Access::WRITE).and_then(|mut k| {
            let ttl = k.expire_at();
            k.take().map(|v| (v, ttl))
        });
        if let Some((v, ttl)) = taken {
            let ttl = ttl.map_or(Ttl::Clear, Ttl::At);
            let r = g.key(1, Access::WRITE).map(|mut k| k.put(v, ttl));
            assert_eq!(r, Some(Ok(())));
        }
    }
    // Let the hashes' TTL pass; expire some lazily and some actively.
    clock.advance(100);
    e.active_expire_cycle(Duration::from_millis(5));
    let mut names = Vec::new();
    for db in [0usize, 3, 5] {
        e.db_unproven(db)
            .expect("db")
            .keys(b"*", |k, _| names.push((db, k.to_vec())));
    }
    assert!(names.len() < 3000, "expired hashes are not listed");
    for (db, k) in names {
        assert!(del(&e, db, &k));
    }
    // The expired hashes are still held until touched; reading them reclaims them lazily.
    for i in 0..3000usize {
        for db in [0usize, 3, 5] {
            for name in [format!("key:{i}"), format!("renamed:{i}")] {
                assert!(get(&e, db, name.as_bytes()).is_none());
            }
        }
    }
    for db in 0..16 {
        assert_eq!(e.db_unproven(db).map(|d| d.dbsize()), Ok(0), "db {db}");
    }
    assert_eq!(e.used_memory(), 0, "peak was {peak}");

    // And FLUSHALL from a populated state.
    fill(&e, "again", 1000, |_| Ttl::Clear);
    assert_eq!(e.flush_all(), 1000);
    assert_eq!(e.used_memory(), 0);
}

#[test]
fn entry_cost_of_a_14_byte_key_with_a_100_byte_value() {
    let (e, _) = engine();
    set(&e, 0, b"key:0000000001", &[b'v'; 100], Ttl::Clear);
    assert_eq!(
        e.db_unproven(0)
            .ok()
            .and_then(|d| d.memory_usage(b"key:0000000001")),
        Some(128 + ENTRY_TABLE_OVERHEAD)
    );
    del(&e, 0, b"key:0000000001");
    let n = 100_000u32;
    for i in 0..n {
        set(
            &e,
            0,
            format!("key:{i:010}").as_bytes(),
            &[b'v'; 100],
            Ttl::Clear,
        );
    }
    let per_key = e.used_memory() as f64 / f64::from(n);
    assert!(
        (136.0..=152.0).contains(&per_key),
        "{per_key} bytes per key"
    );
}

#[test]
fn scan_returns_every_stable_key_under_inserts_and_deletes() {
    let (e, _) = engine_with(EngineConfig {
        shards_per_db: 8,
        ..EngineConfig::default()
    });
    let d = e.db_unproven(0).expect("db");
    for i in 0..3000 {
        set(&e, 0, format!("stable:{i}").as_bytes(), b"v", Ttl::Clear);
        set(&e, 0, format!("temp:{i}").as_bytes(), b"v", Ttl::Clear);
    }
    let mut seen = HashSet::new();
    let mut cursor = 0;
    let mut round = 0;
    loop {
        cursor = d.scan(cursor, 10, |k, _| {
            seen.insert(k.to_vec());
        });
        for j in 0..20 {
            set(
                &e,
                0,
                format!("new:{round}:{j}").as_bytes(),
                b"v",
                Ttl::Clear,
            );
        }
        for j in 0..10 {
            del(
                &e,
                0,
                format!("temp:{}", (round * 10 + j) % 3000).as_bytes(),
            );
        }
        round += 1;
        if cursor == 0 {
            break;
        }
        assert!(round < 100_000, "scan must terminate");
    }
    let missing = (0..3000)
        .filter(|i| !seen.contains(format!("stable:{i}").as_bytes()))
        .count();
    assert_eq!(missing, 0);
}

#[test]
fn scan_keys_randomkey_and_info() {
    let (e, clock) = engine();
    let d = e.db_unproven(2).expect("db");
    for i in 0..500 {
        set(
            &e,
            2,
            format!("enkrypt:tools:{i}").as_bytes(),
            b"v",
            Ttl::Clear,
        );
        set(
            &e,
            2,
            format!("other:{i}").as_bytes(),
            b"v",
            Ttl::At(T0 + 10),
        );
    }
    let mut n = 0;
    d.keys(b"enkrypt:tools:*", |k, v| {
        assert!(k.starts_with(b"enkrypt:tools:"));
        assert_eq!(v.type_name(), "string");
        n += 1;
    });
    assert_eq!(n, 500);
    let mut lit = 0;
    d.keys(b"other:7", |_, _| lit += 1);
    assert_eq!(lit, 1);
    assert_eq!(
        d.info(),
        KeyspaceInfo {
            keys: 1000,
            expires: 500,
            avg_ttl: 0
        }
    );
    clock.advance(11);
    let mut all = 0;
    let mut c = 0;
    loop {
        c = d.scan(c, 1000, |_, _| all += 1);
        if c == 0 {
            break;
        }
    }
    assert_eq!(all, 500, "expired keys are not returned");
    for _ in 0..50 {
        let k = d.random_key().expect("a live key");
        assert!(k.starts_with(b"enkrypt:tools:"));
    }
    assert!(e.db_unproven(3).expect("db").random_key().is_none());
}

#[test]
fn swapdb_move_and_flush() {
    let (e, _) = engine();
    set(&e, 0, b"a", b"zero", Ttl::Clear);
    set(&e, 1, b"b", b"one", Ttl::At(T0 + 100_000));
    let used = e.used_memory();
    let t = e.watch(0, b"a").expect("watch");
    assert_eq!(e.swap_db(0, 1), Ok(()));
    assert!(e.is_dirty(&t));
    assert_eq!(get(&e, 0, b"b").as_deref(), Some(&b"one"[..]));
    assert_eq!(get(&e, 1, b"a").as_deref(), Some(&b"zero"[..]));
    assert_eq!(e.used_memory(), used);
    assert_eq!(e.swap_db(0, 99), Err(EngineError::DbIndex));

    // MOVE b from db 0 to db 7, keeping its TTL.
    let mut g = e.lock_keys(&[(0, b"b"), (7, b"b")]).expect("lock");
    let moved = g.key(0, Access::WRITE).and_then(|mut k| {
        let ttl = k.expire_at();
        k.take().map(|v| (v, ttl))
    });
    if let Some((v, ttl)) = moved {
        let r = g
            .key(1, Access::WRITE)
            .map(|mut k| k.put(v, ttl.map_or(Ttl::Clear, Ttl::At)));
        assert_eq!(r, Some(Ok(())));
    }
    drop(g);
    assert!(get(&e, 0, b"b").is_none());
    let d7 = e.db_unproven(7).expect("db");
    assert_eq!(
        d7.with_key(b"b", Access::READ, |k| k.expire_at()),
        Some(T0 + 100_000)
    );
    assert_eq!(d7.flush(), 1);
    assert_eq!(e.db_unproven(1).map(|d| d.flush()), Ok(1));
    assert_eq!(e.used_memory(), 0);
}

#[test]
fn watch_signals_writes_deletes_expiry_and_flush() {
    let (e, clock) = engine();
    set(&e, 0, b"w", b"1", Ttl::Clear);
    set(&e, 0, b"x", b"1", Ttl::At(T0 + 1_000));
    let tw = e.watch(0, b"w").expect("watch");
    let tx = e.watch(0, b"x").expect("watch");
    let tmissing = e.watch(0, b"missing").expect("watch");
    assert!(!e.is_dirty(&tw) && !e.is_dirty(&tx) && !e.is_dirty(&tmissing));
    set(&e, 0, b"unrelated", b"1", Ttl::Clear);
    get(&e, 0, b"w");
    assert!(!e.is_dirty(&tw), "reads and other keys do not dirty");
    set(&e, 0, b"w", b"2", Ttl::Clear);
    assert!(e.is_dirty(&tw));
    clock.advance(1_001);
    assert!(
        e.is_dirty(&tx),
        "expired since WATCH even before anyone deletes it"
    );
    set(&e, 0, b"missing", b"now here", Ttl::Clear);
    assert!(e.is_dirty(&tmissing));
    let t2 = e.watch(0, b"w").expect("watch");
    e.db_unproven(0).map(|d| d.flush()).expect("db");
    assert!(e.is_dirty(&t2));
    // Hash mutation through the closure API signals too.
    let d = e.db_unproven(0).expect("db");
    let _ = d.with_key(b"h", Access::WRITE, |k| {
        k.update_hash(true, |h| h.insert(b"f", b"v"))
    });
    let th = e.watch(0, b"h").expect("watch");
    let _ = d.with_key(b"h", Access::WRITE, |k| {
        k.update_hash(false, |h| h.remove(b"f"))
    });
    assert!(e.is_dirty(&th));
    assert!(
        !d.with_key(b"h", Access::READ, |k| k.exists()),
        "emptied hash deleted"
    );
}

#[test]
fn collections_through_the_key_api() {
    let (e, _) = engine();
    let d = e.db_unproven(0).expect("db");
    let r = d.with_key(b"l", Access::WRITE, |k| {
        k.update_list(true, |l| {
            l.push_back(b"a");
            l.push_back(b"b");
            l.len()
        })
    });
    assert_eq!(r, Ok(Some(2)));
    d.with_key(b"l", Access::READ, |k| {
        assert_eq!(k.as_list().ok().flatten().map(|l| l.len()), Some(2));
        assert_eq!(k.value().map(|v| v.encoding()), Some("listpack"));
        assert_eq!(k.update_set(true, |_| ()), Err(EngineError::WrongType));
        assert_eq!(k.incr_by(1), Err(EngineError::WrongType));
        assert_eq!(k.append(b"x"), Err(EngineError::WrongType));
    });
    assert_eq!(
        d.with_key(b"nope", Access::WRITE, |k| k
            .update_list(false, |l| l.len())),
        Ok(None)
    );
    assert!(!d.with_key(b"nope", Access::WRITE, |k| k.exists()));
    // Replace a list by a string and back (SET over any type).
    set(&e, 0, b"l", b"str", Ttl::Clear);
    assert_eq!(get(&e, 0, b"l").as_deref(), Some(&b"str"[..]));
    let mut s = SetValue::new();
    s.insert(b"1");
    d.with_key(b"l", Access::WRITE, |k| {
        assert_eq!(k.put(Value::Set(s.clone()), Ttl::Clear), Ok(()));
        assert_eq!(k.value().map(|v| v.to_value()), Some(Value::Set(s.clone())));
    });
    d.with_key(b"l", Access::WRITE, |k| {
        assert_eq!(k.put(Value::List(ListValue::new()), Ttl::Clear), Ok(()));
        assert!(!k.exists(), "an empty collection deletes the key");
    });
    assert!(!del(&e, 0, b"l"));
    assert_eq!(e.used_memory(), 0);
}
