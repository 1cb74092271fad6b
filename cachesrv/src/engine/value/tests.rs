//! Tests of the value types: integer parsing, encodings, and the hash, set and list values.

use super::*;

#[test]
fn strict_integer_parsing_matches_string2ll() {
    assert_eq!(parse_i64_strict(b"0"), Some(0));
    assert_eq!(parse_i64_strict(b"-1"), Some(-1));
    assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"007",
        b"+1",
        b" 1",
        b"1 ",
        b"1a",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"123456789012345678901",
    ] {
        assert_eq!(parse_i64_strict(bad), None, "{bad:?}");
    }
}

#[test]
fn string_encodings() {
    assert_eq!(str_encoding(b"12345"), "int");
    assert_eq!(str_encoding(b"012"), "embstr");
    assert_eq!(str_encoding(&[b'a'; 44]), "embstr");
    assert_eq!(str_encoding(&[b'a'; 45]), "raw");
}

#[test]
fn hash_encoding_converts_once() {
    let mut h = HashValue::new();
    for i in 0..128 {
        h.insert(format!("f{i}").as_bytes(), b"v");
    }
    assert_eq!(h.encoding(), "listpack");
    h.insert(b"one-more", b"v");
    assert_eq!(h.encoding(), "hashtable");
    h.remove(b"one-more");
    assert_eq!(h.encoding(), "hashtable");
    let mut h2 = HashValue::new();
    h2.insert(b"f", &[b'x'; 65]);
    assert_eq!(h2.encoding(), "hashtable");
}

#[test]
fn set_encoding_transitions() {
    let mut s = SetValue::new();
    for i in 0..512 {
        s.insert(i.to_string().as_bytes());
    }
    assert_eq!(s.encoding(), "intset");
    s.insert(b"512");
    assert_eq!(s.encoding(), "hashtable");

    let mut s = SetValue::new();
    s.insert(b"1");
    assert_eq!(s.encoding(), "intset");
    s.insert(b"a");
    assert_eq!(s.encoding(), "listpack");
    s.insert(&[b'z'; 65]);
    assert_eq!(s.encoding(), "hashtable");
}

#[test]
fn list_encoding_follows_size() {
    let mut l = ListValue::new();
    for _ in 0..128 {
        l.push_back(b"x");
    }
    assert_eq!(l.encoding(), "listpack");
    l.push_front(b"y");
    assert_eq!(l.encoding(), "quicklist");
    l.pop_front();
    assert_eq!(l.encoding(), "listpack");
}

#[test]
fn collection_memory_returns_to_empty() {
    let empty_h = HashValue::new().mem_usage();
    let mut h = HashValue::new();
    for i in 0..1000 {
        h.insert(format!("field{i}").as_bytes(), &vec![b'v'; i % 100]);
    }
    h.insert(b"field1", b"changed-length-value");
    for i in 0..1000 {
        h.remove(format!("field{i}").as_bytes());
    }
    assert!(h.is_empty());
    h.modify(|m| m.shrink_to_fit());
    assert_eq!(h.mem_usage(), empty_h);

    let mut l = ListValue::new();
    let empty_l = l.mem_usage();
    for i in 0..300 {
        l.push_back(&vec![b'a'; i]);
    }
    l.set(5, b"short");
    l.insert(3, b"ins");
    l.retain_range(10, 20);
    assert_eq!(l.len(), 10);
    while l.pop_back().is_some() {}
    l.modify(|d| d.shrink_to_fit());
    assert_eq!(l.mem_usage(), empty_l);
}

#[test]
fn list_range_and_retain() {
    let mut l = ListValue::new();
    for i in 0..10u8 {
        l.push_back(&[b'0' + i]);
    }
    let r: Vec<&[u8]> = l.range(2, 5).collect();
    assert_eq!(r, vec![&b"2"[..], b"3", b"4"]);
    l.retain_range(8, 100);
    assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"8"[..], b"9"]);
    l.retain_range(5, 1);
    assert!(l.is_empty());
}
