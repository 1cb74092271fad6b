//! The entry layout (`block.rs`: header, varint lengths, optional expiry and volatile-list
//! position, key, inline string or collection pointer in one allocation) against a plain model,
//! through random sequences of the operations the engine applies to an entry. After every step
//! each accessor reads what the model holds, and the block's size and memory accounting are
//! those of the layout for that content. Tests run with debug assertions, so the block's own
//! `debug_assert`s check every step too.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::super::block::{Block, Payload, LRU_MASK};
use super::super::memory::alloc_size;
use super::super::value::{HashValue, Kind, ListValue, SetValue, Value, ValueRef};

/// The content an entry holds, as plain data.
#[derive(Debug, Clone, PartialEq)]
enum Content {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    List(Vec<Vec<u8>>),
}

#[derive(Debug, Clone)]
enum Op {
    SetStr(Vec<u8>, Option<u64>),
    SetValue(Content, Option<u64>),
    SetExpire(Option<u64>),
    SetLru(u32),
    SetVolPos(u32),
    Resize(usize),
    Poke(usize, u8),
}

/// What the block must read back.
#[derive(Debug, Clone)]
struct Model {
    key: Vec<u8>,
    lru: u32,
    expire: Option<u64>,
    /// Meaningful while volatile (a persistent block reads 0).
    vol_pos: u32,
    content: Content,
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// String lengths around the one- and two-byte varint boundary (127/128) and beyond.
fn str_len() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..8, 120usize..136, 16_370usize..16_400]
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        prop::collection::btree_map(bytes(6), bytes(10), 1..6).prop_map(Content::Hash),
        prop::collection::btree_set(bytes(8), 1..6).prop_map(Content::Set),
        prop::collection::vec(bytes(8), 1..6).prop_map(Content::List),
    ]
}

fn expire() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), any::<u64>().prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (str_len(), any::<u8>(), expire()).prop_map(|(n, b, e)| Op::SetStr(vec![b; n], e)),
        (content(), expire()).prop_map(|(c, e)| Op::SetValue(c, e)),
        expire().prop_map(Op::SetExpire),
        any::<u32>().prop_map(Op::SetLru),
        any::<u32>().prop_map(Op::SetVolPos),
        str_len().prop_map(Op::Resize),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Op::Poke(i, b)),
    ]
}

fn to_value(c: &Content) -> Value {
    match c {
        Content::Str(s) => Value::Str(s.clone()),
        Content::Hash(m) => {
            let mut h = HashValue::new();
            for (f, v) in m {
                h.insert(f, v);
            }
            Value::Hash(h)
        }
        Content::Set(m) => {
            let mut s = SetValue::new();
            for e in m {
                s.insert(e);
            }
            Value::Set(s)
        }
        Content::List(l) => {
            let mut v = ListValue::new();
            for e in l {
                v.push_back(e);
            }
            Value::List(v)
        }
    }
}

fn read(v: ValueRef<'_>) -> Content {
    match v {
        ValueRef::Str(s) => Content::Str(s.to_vec()),
        ValueRef::Hash(h) => {
            Content::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
        }
        ValueRef::Set(s) => Content::Set(s.iter().map(<[u8]>::to_vec).collect()),
        ValueRef::List(l) => Content::List(l.iter().map(<[u8]>::to_vec).collect()),
        ValueRef::ZSet(_) => panic!("no sorted set in this model"),
    }
}

fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n > 0 {
        len += 1;
        n >>= 7;
    }
    len
}

/// The layout's size for the model's content: header, key length, string length, expiry and
/// position, key, then the string or an 8-byte collection pointer.
fn expected_total(m: &Model) -> usize {
    let (str_len, value_len) = match &m.content {
        Content::Str(s) => (varint_len(s.len()), s.len()),
        _ => (0, 8),
    };
    4 + varint_len(m.key.len())
        + str_len
        + if m.expire.is_some() { 12 } else { 0 }
        + m.key.len()
        + value_len
}

fn check(b: &Block, m: &Model) {
    assert_eq!(b.key(), &m.key[..]);
    assert_eq!(b.lru(), m.lru);
    assert_eq!(b.expire(), m.expire);
    assert_eq!(b.is_volatile(), m.expire.is_some());
    assert_eq!(b.vol_pos(), if m.expire.is_some() { m.vol_pos } else { 0 });
    let kind = match m.content {
        Content::Str(_) => Kind::Str,
        Content::Hash(_) => Kind::Hash,
        Content::Set(_) => Kind::Set,
        Content::List(_) => Kind::List,
    };
    assert_eq!(b.kind(), kind);
    assert_eq!(read(b.value()), m.content);
    assert_eq!(b.total_len(), expected_total(m));
    let collection = match b.value() {
        ValueRef::Str(_) => 0,
        ValueRef::Hash(h) => h.mem_usage(),
        ValueRef::Set(s) => s.mem_usage(),
        ValueRef::List(l) => l.mem_usage(),
        ValueRef::ZSet(z) => z.mem_usage(),
    };
    assert_eq!(b.mem_usage(), alloc_size(expected_total(m)) + collection);
}

/// Applies `op` to both; the model follows the block's documented rules.
fn apply(b: &mut Block, m: &mut Model, op: &Op) {
    let was_volatile = m.expire.is_some();
    match op {
        Op::SetStr(s, e) => {
            b.set_str(s, *e);
            // The position survives a rewrite that stays volatile.
            if !was_volatile {
                m.vol_pos = 0;
            }
            m.expire = *e;
            m.content = Content::Str(s.clone());
        }
        Op::SetValue(c, e) => {
            b.set_value(to_value(c), *e);
            if !was_volatile {
                m.vol_pos = 0;
            }
            m.expire = *e;
            m.content = c.clone();
        }
        Op::SetExpire(e) => {
            b.set_expire(*e);
            // Changing volatility moves the entry: its position starts again at 0 (the table
            // sets it).
            if was_volatile != e.is_some() {
                m.vol_pos = 0;
            }
            m.expire = *e;
        }
        Op::SetLru(l) => {
            b.set_lru(*l);
            m.lru = l & LRU_MASK;
        }
        Op::SetVolPos(p) => {
            b.set_vol_pos(*p);
            if was_volatile {
                m.vol_pos = *p;
            }
        }
        Op::Resize(n) => {
            b.resize_str(*n);
            if let Content::Str(s) = &mut m.content {
                s.resize(*n, 0);
            }
        }
        Op::Poke(i, byte) => {
            if let Some(s) = b.str_mut() {
                if !s.is_empty() {
                    let at = i % s.len();
                    s[at] = *byte;
                    if let Content::Str(ms) = &mut m.content {
                        ms[at] = *byte;
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn block_layout_follows_the_model(
        key in prop_oneof![bytes(8), bytes(200)],
        lru in any::<u32>(),
        first in str_len(),
        first_expire in expire(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let init = vec![b'x'; first];
        let mut b = Block::new(lru, &key, Payload::Str(&init), first_expire);
        let mut m = Model {
            key: key.clone(),
            lru: lru & LRU_MASK,
            expire: first_expire,
            vol_pos: 0,
            content: Content::Str(init),
        };
        check(&b, &m);
        for op in &ops {
            apply(&mut b, &mut m, op);
            check(&b, &m);
        }
        // The value leaves the block whole.
        let v = b.into_value();
        let out = match &v {
            Value::Str(s) => Content::Str(s.clone()),
            Value::Hash(h) => read(ValueRef::Hash(h)),
            Value::Set(s) => read(ValueRef::Set(s)),
            Value::List(l) => read(ValueRef::List(l)),
            Value::ZSet(_) => panic!("no sorted set in this model"),
        };
        prop_assert_eq!(out, m.content);
    }
}
