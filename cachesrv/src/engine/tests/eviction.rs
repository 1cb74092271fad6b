//! Eviction policies under `maxmemory`, and the limit holding under concurrent writers.

use super::*;

pub(super) fn fill(e: &Engine, prefix: &str, n: usize, ttl: impl Fn(usize) -> Ttl) {
    for i in 0..n {
        set(e, 0, format!("{prefix}{i}").as_bytes(), &[b'v'; 64], ttl(i));
    }
}

fn survivors(e: &Engine, prefix: &str, range: std::ops::Range<usize>) -> usize {
    range
        .filter(|i| exists_quiet(e, format!("{prefix}{i}").as_bytes()))
        .count()
}

fn small_engine(policy: EvictionPolicy) -> (Arc<Engine>, Arc<ManualClock>) {
    engine_with(EngineConfig {
        databases: 2,
        shards_per_db: 4,
        policy,
        ..EngineConfig::default()
    })
}

#[test]
fn noeviction_refuses_over_the_limit() {
    let (e, _) = small_engine(EvictionPolicy::NoEviction);
    fill(&e, "k", 100, |_| Ttl::Clear);
    assert_eq!(e.ensure_memory(), Ok(()), "no limit set");
    e.set_maxmemory(e.used_memory() - 1);
    assert_eq!(e.ensure_memory(), Err(Oom));
    assert_eq!(e.db_unproven(0).map(|d| d.dbsize()), Ok(100));
    e.set_maxmemory(e.used_memory());
    assert_eq!(e.ensure_memory(), Ok(()));
}

#[test]
fn allkeys_lru_keeps_the_recently_used_set() {
    let (e, clock) = small_engine(EvictionPolicy::AllKeysLru);
    fill(&e, "cold", 900, |_| Ttl::Clear);
    fill(&e, "hot", 100, |_| Ttl::Clear);
    clock.advance(60_000);
    for i in 0..100 {
        get(&e, 0, format!("hot{i}").as_bytes());
    }
    let target = e.used_memory() / 2;
    e.set_maxmemory(target);
    assert_eq!(e.ensure_memory(), Ok(()));
    assert!(e.used_memory() <= target);
    assert!(survivors(&e, "hot", 0..100) >= 95);
    assert!(e.stats().evicted_keys >= 400);
}

#[test]
fn allkeys_lfu_keeps_the_frequently_used_set() {
    let (e, _) = small_engine(EvictionPolicy::AllKeysLfu);
    fill(&e, "cold", 900, |_| Ttl::Clear);
    fill(&e, "hot", 100, |_| Ttl::Clear);
    for _ in 0..50 {
        for i in 0..100 {
            get(&e, 0, format!("hot{i}").as_bytes());
        }
    }
    let target = e.used_memory() / 2;
    e.set_maxmemory(target);
    assert_eq!(e.ensure_memory(), Ok(()));
    assert!(e.used_memory() <= target);
    assert!(survivors(&e, "hot", 0..100) >= 95);
}

#[test]
fn volatile_lru_only_evicts_keys_with_ttl_then_ooms() {
    let (e, _) = small_engine(EvictionPolicy::VolatileLru);
    fill(&e, "p", 200, |_| Ttl::Clear);
    fill(&e, "v", 200, |_| Ttl::At(T0 + 3_600_000));
    e.set_maxmemory(e.used_memory() * 3 / 4);
    assert_eq!(e.ensure_memory(), Ok(()));
    assert_eq!(survivors(&e, "p", 0..200), 200);
    assert!(survivors(&e, "v", 0..200) < 200);
    e.set_maxmemory(e.used_memory() / 4);
    assert_eq!(e.ensure_memory(), Err(Oom));
    assert_eq!(survivors(&e, "p", 0..200), 200);
    assert_eq!(survivors(&e, "v", 0..200), 0);
}

#[test]
fn volatile_lfu_and_random_policies() {
    for policy in [EvictionPolicy::VolatileLfu, EvictionPolicy::VolatileRandom] {
        let (e, _) = small_engine(policy);
        fill(&e, "p", 100, |_| Ttl::Clear);
        fill(&e, "v", 100, |_| Ttl::At(T0 + 3_600_000));
        e.set_maxmemory(e.used_memory() * 3 / 4);
        assert_eq!(e.ensure_memory(), Ok(()), "{policy}");
        assert_eq!(survivors(&e, "p", 0..100), 100, "{policy}");
        assert!(survivors(&e, "v", 0..100) < 100, "{policy}");
    }
    let (e, _) = small_engine(EvictionPolicy::AllKeysRandom);
    fill(&e, "k", 400, |_| Ttl::Clear);
    let target = e.used_memory() / 3;
    e.set_maxmemory(target);
    assert_eq!(e.ensure_memory(), Ok(()));
    assert!(e.used_memory() <= target);
    assert!(e.stats().evicted_keys > 200);
}

#[test]
fn volatile_ttl_evicts_nearest_expiry_first() {
    let (e, _) = small_engine(EvictionPolicy::VolatileTtl);
    fill(&e, "v", 200, |i| Ttl::At(T0 + 1_000 * (i as u64 + 1)));
    e.set_maxmemory(e.used_memory() / 2);
    assert_eq!(e.ensure_memory(), Ok(()));
    let near = survivors(&e, "v", 0..40);
    let far = survivors(&e, "v", 160..200);
    assert!(near <= 5, "near survivors {near}");
    assert!(far >= 35, "far survivors {far}");
}

#[test]
fn eviction_signals_watchers_and_policy_switches_at_run_time() {
    let (e, _) = small_engine(EvictionPolicy::NoEviction);
    fill(&e, "k", 50, |_| Ttl::Clear);
    let tokens: Vec<_> = (0..50)
        .map(|i| e.watch(0, format!("k{i}").as_bytes()).expect("watch"))
        .collect();
    e.set_policy(EvictionPolicy::AllKeysRandom);
    e.set_samples(10);
    assert_eq!(e.samples(), 10);
    e.set_maxmemory(1);
    assert_eq!(
        e.ensure_memory(),
        Ok(()),
        "everything evicted: 0 bytes <= 1"
    );
    assert_eq!(e.db_unproven(0).map(|d| d.dbsize()), Ok(0));
    assert!(tokens.iter().all(|t| e.is_dirty(t)));
    assert_eq!(e.used_memory(), 0);
}

#[test]
fn concurrent_writers_stay_within_maxmemory() {
    let (e, _) = engine_with(EngineConfig {
        policy: EvictionPolicy::AllKeysLru,
        maxmemory: 300_000,
        ..EngineConfig::default()
    });
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                let d = e.db_unproven(t % 2).expect("db");
                for i in 0..5_000 {
                    let _g = e.shared();
                    assert_eq!(e.ensure_memory(), Ok(()));
                    let key = format!("t{t}:{i}");
                    let r = d.with_key(key.as_bytes(), Access::WRITE, |k| {
                        k.put_str(&[b'x'; 100], Ttl::Clear)
                    });
                    assert_eq!(r, Ok(()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    // Each thread may have written once after the last check: 4 entries plus table growth.
    assert!(e.used_memory() <= 300_000 + 4 * 1024, "{}", e.used_memory());
    assert!(e.stats().evicted_keys > 10_000);
}
