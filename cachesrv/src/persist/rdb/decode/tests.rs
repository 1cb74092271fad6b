use super::*;
use crate::engine::ValueRef;
use crate::persist::rdb::encode::Encoder;

fn roundtrip(v: &Value, compress: bool) -> Value {
    let mut e = Encoder::new(compress);
    let p = e.dump_payload(v.as_ref());
    restore_payload(&p).expect("valid payload")
}

fn sample_values() -> Vec<Value> {
    let mut out = vec![
        Value::Str(b"hello".to_vec()),
        Value::Str(b"12345".to_vec()),
        Value::Str(b"-9223372036854775808".to_vec()),
        Value::Str(vec![b'z'; 5000]),
        Value::Str(Vec::new()),
    ];
    let mut small_list = ListValue::new();
    for i in 0..10 {
        small_list.push_back(format!("e{i}").as_bytes());
    }
    small_list.push_back(b"42");
    out.push(Value::List(small_list));
    let mut big_list = ListValue::new();
    for i in 0..5000 {
        big_list.push_back(format!("element-{i}-{}", "x".repeat(i % 90)).as_bytes());
    }
    big_list.push_back(&vec![b'q'; 20_000]);
    out.push(Value::List(big_list));
    let mut small_hash = HashValue::new();
    small_hash.insert(b"f1", b"v1");
    small_hash.insert(b"n", b"77");
    out.push(Value::Hash(small_hash));
    let mut big_hash = HashValue::new();
    for i in 0..1000 {
        big_hash.insert(
            format!("field{i}").as_bytes(),
            format!("value{i}").as_bytes(),
        );
    }
    out.push(Value::Hash(big_hash));
    let mut ints = SetValue::new();
    for i in [-70000i64, -5, 0, 3, 1 << 40] {
        ints.insert(i.to_string().as_bytes());
    }
    out.push(Value::Set(ints));
    let mut strs = SetValue::new();
    for i in 0..600 {
        strs.insert(format!("m{i}").as_bytes());
    }
    out.push(Value::Set(strs));
    out
}

#[test]
fn every_type_roundtrips_with_and_without_compression() {
    for v in sample_values() {
        if matches!(&v, Value::Str(s) if s.is_empty()) {
            assert_eq!(roundtrip(&v, true), v);
            continue;
        }
        assert_eq!(roundtrip(&v, true), v, "{}", v.encoding());
        assert_eq!(roundtrip(&v, false), v, "{}", v.encoding());
    }
}

#[test]
fn list_order_is_kept() {
    let mut l = ListValue::new();
    for i in 0..3000 {
        l.push_back(i.to_string().as_bytes());
    }
    let back = roundtrip(&Value::List(l.clone()), true);
    let Value::List(b) = back else {
        panic!("a list")
    };
    assert!(b.iter().eq(l.iter()));
}

#[test]
fn payload_errors_are_redis_errors() {
    let mut e = Encoder::new(true);
    let p = e.dump_payload(ValueRef::Str(b"hello"));
    let mut bad = p.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(
        restore_payload(&bad).unwrap_err().reply(),
        "ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(
        restore_payload(b"short").unwrap_err(),
        PayloadError::VersionOrChecksum
    );
    // A newer RDB version.
    let mut newer = p[..p.len() - 10].to_vec();
    newer.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64(0, &newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        restore_payload(&newer).unwrap_err(),
        PayloadError::VersionOrChecksum
    );
    // A valid footer over garbage.
    let mut garbage = vec![200u8, 1, 2, 3];
    garbage.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &garbage);
    garbage.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        restore_payload(&garbage).unwrap_err().reply(),
        "ERR Bad data format"
    );
}

#[test]
fn truncated_values_never_panic() {
    let mut e = Encoder::new(true);
    for v in sample_values() {
        let mut out = Vec::new();
        e.write_value(&mut out, v.as_ref());
        for cut in 0..out.len().min(300) {
            let mut r = Reader::new(&out[1..cut.max(1)]);
            let _ = read_value(&mut r, out[0]);
        }
        // Flip bytes one at a time in the first 200 bytes.
        for i in 1..out.len().min(200) {
            let mut m = out.clone();
            m[i] ^= 0x5A;
            let mut r = Reader::new(&m[1..]);
            let _ = read_value(&mut r, m[0]);
        }
    }
}

#[test]
fn zsets_load_and_bad_ones_are_refused() {
    // ZSET_2 with one member "a" scored 1.5.
    let mut data = vec![1u8, 1, b'a'];
    data.extend_from_slice(&1.5f64.to_le_bytes());
    let mut r = Reader::new(&data);
    let Value::ZSet(z) = read_value(&mut r, types::ZSET_2).expect("zset") else {
        panic!("a sorted set")
    };
    assert_eq!(z.score(b"a"), Some(1.5));
    assert_eq!(z.encoding(), "listpack");
    assert_eq!(r.remaining(), 0);
    // The same member twice, and a NaN score: corrupt.
    let mut dup = vec![2u8];
    for _ in 0..2 {
        dup.extend_from_slice(&[1, b'a']);
        dup.extend_from_slice(&1.0f64.to_le_bytes());
    }
    assert!(read_value(&mut Reader::new(&dup), types::ZSET_2).is_err());
    let mut nan = vec![1u8, 1, b'a'];
    nan.extend_from_slice(&f64::NAN.to_le_bytes());
    assert!(read_value(&mut Reader::new(&nan), types::ZSET_2).is_err());
}

#[test]
fn old_encodings_load() {
    // A list as RDB_TYPE_LIST, a set as RDB_TYPE_SET, a hash as RDB_TYPE_HASH.
    let data = [2u8, 1, b'a', 0xC0, 5];
    let mut r = Reader::new(&data);
    let Value::List(l) = read_value(&mut r, types::LIST).expect("list") else {
        panic!("a list")
    };
    assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"5"]);
    let data = [1u8, 1, b'f', 1, b'v'];
    let mut r = Reader::new(&data);
    let Value::Hash(h) = read_value(&mut r, types::HASH).expect("hash") else {
        panic!("a hash")
    };
    assert_eq!(h.get(b"f"), Some(&b"v"[..]));
    let dup = [2u8, 1, b'x', 1, b'x'];
    let mut r = Reader::new(&dup);
    assert!(read_value(&mut r, types::SET).is_err());
}

#[test]
fn strings_read_into_a_scratch_buffer_as_owned_ones() {
    let long = "abc".repeat(40);
    let noise: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
    let inputs: [&[u8]; 7] = [
        b"",
        b"x",
        b"12345",
        b"-7",
        b"4294967296",
        long.as_bytes(),
        &noise,
    ];
    let mut enc = Encoder::new(true);
    let mut data = Vec::new();
    for s in inputs {
        enc.write_string(&mut data, s);
    }
    let mut scratch = b"stale".to_vec();
    let mut r = Reader::new(&data);
    for s in inputs {
        assert_eq!(r.string_into(&mut scratch).expect("valid"), s);
    }
    assert_eq!(r.remaining(), 0);
    // Cut anywhere inside, the last string is reported as truncated.
    for cut in 0..data.len() {
        let mut r = Reader::new(&data[..cut]);
        let mut n = 0;
        while r.string_into(&mut scratch).is_ok() {
            n += 1;
        }
        assert!(n < inputs.len(), "cut at {cut}");
    }
}
