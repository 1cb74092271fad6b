//! Property tests: frames and requests survive encoding and decoding through random chunk
//! boundaries; hostile bytes give errors, never a crash or a hang.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::{
    DecodeError, DecodeLimits, Decoder, Frame, Parsed, ParserLimits, RequestParser, RespWrite,
};

fn line_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |c| *c != b'\r' && *c != b'\n'),
        0..16,
    )
    .prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        line_bytes().prop_map(Frame::Simple),
        line_bytes().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob().prop_map(Frame::Bulk),
        Just(Frame::Null),
        any::<bool>().prop_map(Frame::Boolean),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Frame::Double),
        Just(Frame::Double(f64::INFINITY)),
        "[1-9][0-9]{0,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        (any::<[u8; 3]>(), blob()).prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Push),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

/// Feeds `bytes` to `step` in chunks cut at `cuts` (positions modulo the length).
fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_roundtrip_through_any_chunking(frames in proptest::collection::vec(frame(), 1..6),
                                             cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        let mut wire = BytesMut::new();
        for f in &frames {
            wire.write_frame(f);
        }
        let mut dec = Decoder::new(DecodeLimits::default());
        let mut buf = BytesMut::new();
        let mut got = vec![];
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn requests_roundtrip_through_any_chunking(reqs in proptest::collection::vec(
                                                   proptest::collection::vec(blob(), 1..6), 1..6),
                                               cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        let mut wire = BytesMut::new();
        for r in &reqs {
            protocol::encode_command(&mut wire, r);
        }
        let mut parser = RequestParser::new(ParserLimits::default());
        let mut buf: Vec<u8> = vec![];
        let mut got: Vec<Vec<Bytes>> = vec![];
        let mut start = 0;
        for c in chunks(&wire, &cuts) {
            buf.extend_from_slice(&c);
            while let Parsed::Complete(n) = parser.parse(&mut buf[start..], true).unwrap() {
                got.push(parser.args(&buf[start..]).iter().map(Bytes::copy_from_slice).collect());
                start += n;
            }
        }
        prop_assert_eq!(start, buf.len());
        prop_assert_eq!(got, reqs);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512),
                            cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut dec = Decoder::new(DecodeLimits::default());
        let mut buf = BytesMut::new();
        'outer: for c in chunks(&data, &cuts) {
            buf.extend_from_slice(&c);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
        let mut parser = RequestParser::new(ParserLimits::default());
        let mut owned = data.clone();
        let mut start = 0;
        while start < owned.len() {
            match parser.parse(&mut owned[start..], false) {
                Ok(Parsed::Complete(n)) => start += n,
                Ok(Parsed::Incomplete) | Err(_) => break,
            }
        }
    }
}

#[test]
fn hundred_thousand_nested_arrays() {
    let deep = b"*1\r\n".repeat(100_000);
    let mut buf = BytesMut::from(&deep[..]);
    assert_eq!(
        Decoder::new(DecodeLimits::default()).decode(&mut buf),
        Err(DecodeError::TooDeep(128))
    );
    // The request parser only accepts flat arrays: a nested one is "expected '$'".
    let mut req = deep.clone();
    let err = RequestParser::new(ParserLimits::default())
        .parse(&mut req, true)
        .unwrap_err();
    assert_eq!(
        err.reply(),
        b"ERR Protocol error: expected '$', got '*'".to_vec()
    );
}

#[test]
fn huge_declared_lengths_are_refused_without_allocating() {
    for input in [
        &b"$4611686018427387904\r\n"[..],
        b"!4611686018427387904\r\n",
    ] {
        let mut buf = BytesMut::from(input);
        assert_eq!(
            Decoder::new(DecodeLimits::default()).decode(&mut buf),
            Err(DecodeError::TooLarge)
        );
    }
    let mut req = b"*1\r\n$4611686018427387904\r\n".to_vec();
    let err = RequestParser::new(ParserLimits::default())
        .parse(&mut req, true)
        .unwrap_err();
    assert_eq!(
        err.reply(),
        b"ERR Protocol error: invalid bulk length".to_vec()
    );
    // A negative count is an empty request, as in Redis.
    let mut req = b"*-5\r\n".to_vec();
    let mut p = RequestParser::new(ParserLimits::default());
    assert_eq!(p.parse(&mut req, true), Ok(Parsed::Complete(5)));
    assert!(p.args(&req).is_empty());
}
