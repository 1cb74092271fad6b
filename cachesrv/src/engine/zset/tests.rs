//! The sorted set against a simple model through random operations, with the memory figure
//! checked after each step and the listpack -> skiplist conversion crossed.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// The model: member -> score, ordered on demand.
fn ordered(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// What the structure's memory must come back to: a fresh set with the same encoding and
/// members, built by inserts (capacities may differ, so compare the entry bytes only).
fn entry_bytes(z: &ZSetValue) -> usize {
    z.iter().map(|(m, _)| alloc_size(12 + m.len())).sum()
}

#[derive(Debug, Clone)]
enum Op {
    Add(u16, i16),
    Rem(u16),
    RemRange(u16, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..400, -50i16..50).prop_map(|(m, s)| Op::Add(m, s)),
        2 => (0u16..400).prop_map(Op::Rem),
        1 => (0u16..300, 0u16..20).prop_map(|(a, n)| Op::RemRange(a, n)),
    ]
}

fn member(i: u16) -> Vec<u8> {
    // Some members are longer than the 64-byte listpack limit.
    if i % 97 == 96 {
        vec![b'L'; 70 + usize::from(i % 5)]
    } else {
        format!("m{i}").into_bytes()
    }
}

fn check(z: &ZSetValue, model: &BTreeMap<Vec<u8>, f64>) {
    let want = ordered(model);
    assert_eq!(z.len(), want.len());
    let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
    assert_eq!(got, want);
    let back: Vec<(Vec<u8>, f64)> = z.iter().rev().map(|(m, s)| (m.to_vec(), s)).collect();
    assert!(back.iter().rev().eq(want.iter()));
    for (rank, (m, s)) in want.iter().enumerate().step_by(7) {
        assert_eq!(z.score(m), Some(*s));
        assert_eq!(z.rank(m), Some(rank));
        assert_eq!(
            z.get(rank).map(|(a, b)| (a.to_vec(), b)),
            Some((m.clone(), *s))
        );
        let n = z.partition_point(|_, x| x < *s);
        assert_eq!(n, want.iter().position(|e| e.1 >= *s).unwrap_or(want.len()));
    }
    let mid = want.len() / 3;
    let sub: Vec<Vec<u8>> = z.range(mid, mid + 9).map(|(m, _)| m.to_vec()).collect();
    let exp: Vec<Vec<u8>> = want.iter().skip(mid).take(9).map(|e| e.0.clone()).collect();
    assert_eq!(sub, exp);
    assert_eq!(z.entry_heap, entry_bytes(z));
    assert!(z.mem_usage() >= z.entry_heap);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn behaves_like_a_sorted_map(ops in proptest::collection::vec(op(), 1..700)) {
        let lim = ZLimits::default();
        let mut z = ZSetValue::new();
        let mut model = BTreeMap::new();
        let mut was_skiplist = false;
        for o in ops {
            match o {
                Op::Add(i, s) => {
                    let m = member(i);
                    let s = f64::from(s) / 4.0;
                    if i % 2 == 0 {
                        prop_assert_eq!(z.insert(&m, s, lim), model.insert(m, s));
                    } else {
                        // The two-step form the commands use after their own lookup.
                        match z.score(&m) {
                            None => z.insert_absent(&m, s, lim),
                            Some(old) => z.update_score(&m, old, s),
                        }
                        model.insert(m, s);
                    }
                }
                Op::Rem(m) => {
                    let m = member(m);
                    prop_assert_eq!(z.remove(&m), model.remove(&m));
                }
                Op::RemRange(a, n) => {
                    let want = ordered(&model);
                    let (a, n) = (usize::from(a), usize::from(n));
                    let end = (a + n).min(want.len());
                    for e in want.iter().take(end).skip(a) {
                        model.remove(&e.0);
                    }
                    prop_assert_eq!(z.remove_range(a, a + n), end.saturating_sub(a));
                }
            }
            if was_skiplist {
                prop_assert_eq!(z.encoding(), "skiplist");
            }
            was_skiplist = z.encoding() == "skiplist";
            let expect_listpack = !was_skiplist;
            if expect_listpack {
                prop_assert!(z.len() <= lim.entries);
            }
            check(&z, &model);
        }
    }
}

#[test]
fn encoding_converts_past_the_limits() {
    let lim = ZLimits::default();
    let mut z = ZSetValue::new();
    for i in 0..128 {
        z.insert(format!("m{i}").as_bytes(), f64::from(i), lim);
    }
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"m0", 5.0, lim);
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"one-more", 1.0, lim);
    assert_eq!(z.encoding(), "skiplist");
    z.remove(b"one-more");
    assert_eq!(z.encoding(), "skiplist");
    let mut z = ZSetValue::new();
    z.insert(&[b'x'; 65], 1.0, lim);
    assert_eq!(z.encoding(), "skiplist");
    let small = ZLimits {
        entries: 2,
        value: 64,
    };
    let mut z = ZSetValue::new();
    z.insert(b"a", 1.0, small);
    z.insert(b"b", 1.0, small);
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"c", 1.0, small);
    assert_eq!(z.encoding(), "skiplist");
}

#[test]
fn large_sets_keep_order_memory_and_return_to_empty() {
    let lim = ZLimits::default();
    let mut z = ZSetValue::new();
    let n = 20_000u32;
    // Scores in a scrambled order exercise splits in the middle of runs.
    for i in 0..n {
        let k = (i * 7919) % n;
        z.insert(format!("member:{k}").as_bytes(), f64::from(k % 1000), lim);
    }
    assert_eq!(z.len(), n as usize);
    let mut prev: Option<(Vec<u8>, f64)> = None;
    for (m, s) in z.iter() {
        if let Some((pm, ps)) = &prev {
            assert!(*ps < s || (*ps == s && pm.as_slice() < m));
        }
        prev = Some((m.to_vec(), s));
    }
    for i in 0..n {
        let m = format!("member:{i}");
        let r = z.rank(m.as_bytes()).expect("present");
        assert_eq!(z.get(r).map(|e| e.0), Some(m.as_bytes()));
    }
    assert_eq!(z.entry_heap, entry_bytes(&z));
    for i in (0..n).step_by(2) {
        assert!(z.remove(format!("member:{i}").as_bytes()).is_some());
    }
    assert_eq!(z.len(), n as usize / 2);
    assert_eq!(z.remove_range(0, usize::MAX), n as usize / 2);
    assert!(z.is_empty());
    assert_eq!(z.entry_heap, 0);
}

#[test]
fn negative_zero_reads_as_zero_in_a_listpack() {
    let lim = ZLimits::default();
    let mut z = ZSetValue::new();
    z.insert(b"a", -0.0, lim);
    assert!(z.score(b"a").is_some_and(|s| s.is_sign_positive()));
}

#[test]
fn equal_scores_order_by_member_across_runs() {
    let lim = ZLimits::default();
    let mut z = ZSetValue::new();
    let n = 5000u32;
    for i in 0..n {
        let k = (i * 7919) % n;
        z.insert(format!("m{k:05}").as_bytes(), 0.0, lim);
    }
    for i in (0..n).step_by(3) {
        assert_eq!(z.remove(format!("m{i:05}").as_bytes()), Some(0.0));
    }
    let members: Vec<Vec<u8>> = z.iter().map(|(m, _)| m.to_vec()).collect();
    let mut sorted = members.clone();
    sorted.sort();
    assert_eq!(members, sorted);
    for (rank, m) in members.iter().enumerate().step_by(97) {
        assert_eq!(z.rank(m), Some(rank));
    }
    assert_eq!(z.entry_heap, entry_bytes(&z));
}
