use super::*;

fn parse_all(input: &[u8], auth: bool) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut buf = input.to_vec();
    let mut p = RequestParser::new(ParserLimits::default());
    let mut off = 0;
    let mut out = vec![];
    while off < buf.len() {
        match p.parse(&mut buf[off..], auth)? {
            Parsed::Complete(n) => {
                out.push(p.args(&buf[off..]).iter().map(<[u8]>::to_vec).collect());
                off += n;
            }
            Parsed::Incomplete => break,
        }
    }
    Ok(out)
}

fn strs(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_and_inline() {
    let r = parse_all(
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nSET a \"b c\"\r\nPING\n",
        true,
    )
    .unwrap();
    assert_eq!(
        r,
        vec![
            strs(&["GET", "k"]),
            strs(&["SET", "a", "b c"]),
            strs(&["PING"])
        ]
    );
}

/// The raw bytes of each request of `input`, as [`Args::raw`] gives them.
fn raws(input: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut buf = input.to_vec();
    let mut p = RequestParser::new(ParserLimits::default());
    let (mut off, mut out) = (0, vec![]);
    while let Ok(Parsed::Complete(n)) = p.parse(&mut buf[off..], true) {
        out.push(p.args(&buf[off..]).raw().map(<[u8]>::to_vec));
        off += n;
    }
    out
}

#[test]
fn raw_bytes_of_requests_parsed_whole() {
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
    let mut input = set.to_vec();
    // Other bytes where Redis skips a separator unchecked (after an argument, after a count's
    // or a length's `\r`): parsed, but not their own encoding. Then an inline command.
    input.extend_from_slice(b"*1\r\n$4\r\nPINGxx*1\rx$4\r\nPING\r\n*1\r\n$4\rxPING\r\nPING\r\n");
    input.extend_from_slice(set);
    assert_eq!(
        raws(&input),
        vec![
            Some(set.to_vec()),
            None,
            None,
            None,
            None,
            Some(set.to_vec())
        ]
    );
    // A request read in pieces (the general path) has none.
    let mut p = RequestParser::new(ParserLimits::default());
    let mut buf = set.to_vec();
    assert_eq!(p.parse(&mut buf[..6], true), Ok(Parsed::Incomplete));
    assert_eq!(p.parse(&mut buf, true), Ok(Parsed::Complete(set.len())));
    assert_eq!(p.args(&buf).raw(), None);
    assert_eq!(p.args(&buf).len(), 3);
}

#[test]
fn inline_escapes() {
    let r = parse_all(b"SET k \"a\\x41\\n\\\"\" 'it\\'s'\r\n", true).unwrap();
    assert_eq!(
        r,
        vec![vec![
            b"SET".to_vec(),
            b"k".to_vec(),
            b"aA\n\"".to_vec(),
            b"it's".to_vec()
        ]]
    );
    assert_eq!(
        parse_all(b"  \r\n", true).unwrap(),
        vec![Vec::<Vec<u8>>::new()]
    );
    assert_eq!(
        parse_all(b"SET \"a\r\n", true),
        Err(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(
        parse_all(b"SET \"a\"b\r\n", true),
        Err(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(
        parse_all(b"SET 'a\r\n", true),
        Err(ProtocolError::UnbalancedQuotes)
    );
    // Everything after a NUL is ignored, as with Redis's C string.
    assert_eq!(
        parse_all(b"GET a\0junk\r\n", true).unwrap(),
        vec![strs(&["GET", "a"])]
    );
}

#[test]
fn errors_match_redis() {
    use ProtocolError::*;
    assert_eq!(parse_all(b"*x\r\n", true), Err(InvalidMultibulkLength));
    assert_eq!(
        parse_all(b"*4611686018427387904\r\n", true),
        Err(InvalidMultibulkLength)
    );
    assert_eq!(parse_all(b"*1\r\n$-1\r\n", true), Err(InvalidBulkLength));
    assert_eq!(
        parse_all(b"*1\r\n$4611686018427387904\r\n", true),
        Err(InvalidBulkLength)
    );
    assert_eq!(parse_all(b"*1\r\n:1\r\n", true), Err(ExpectedDollar(b':')));
    assert_eq!(parse_all(b"*11\r\n", false), Err(UnauthenticatedMultibulk));
    assert_eq!(
        parse_all(b"*1\r\n$16385\r\n", false),
        Err(UnauthenticatedBulk)
    );
    assert_eq!(
        parse_all(&vec![b'a'; 64 * 1024 + 1], true),
        Err(TooBigInline)
    );
    assert_eq!(
        ExpectedDollar(b'x').reply(),
        b"ERR Protocol error: expected '$', got 'x'".to_vec()
    );
    assert_eq!(parse_all(b"*0\r\n*-1\r\n", true).unwrap().len(), 2);
}

#[test]
fn resumes_without_rescanning() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    let mut buf = Vec::new();
    let mut p = RequestParser::new(ParserLimits::default());
    for (i, &b) in input.iter().enumerate() {
        buf.push(b);
        let r = p.parse(&mut buf, true).unwrap();
        if i + 1 < input.len() {
            assert_eq!(r, Parsed::Incomplete, "at byte {i}");
        } else {
            assert_eq!(r, Parsed::Complete(input.len()));
        }
    }
    assert_eq!(
        p.args(&buf).iter().collect::<Vec<_>>(),
        vec![&b"SET"[..], b"k", b"hello"]
    );
}

/// Feeds `input` in chunks ending at `cuts`, as reads would deliver it; every outcome in
/// order (arguments of each request, the error that ends the stream).
fn outcomes(
    input: &[u8],
    cuts: &[usize],
    auth: bool,
    limits: ParserLimits,
    general_only: bool,
) -> Vec<Result<Vec<Vec<u8>>, ProtocolError>> {
    let mut p = RequestParser::new(limits);
    p.general_only = general_only;
    let mut buf = Vec::new();
    let mut off = 0;
    let mut out = Vec::new();
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort_unstable();
    let mut fed = 0;
    for end in ends {
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        while off < buf.len() {
            match p.parse(&mut buf[off..], auth) {
                Ok(Parsed::Complete(n)) => {
                    out.push(Ok(p.args(&buf[off..]).iter().map(<[u8]>::to_vec).collect()));
                    off += n;
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fn request_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let arg = proptest::collection::vec(any::<u8>(), 0..24);
    let request = proptest::collection::vec(arg, 1..6).prop_map(|args| {
        let mut r = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            r.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            r.extend_from_slice(&a);
            r.extend_from_slice(b"\r\n");
        }
        r
    });
    // Valid requests, then a few bytes overwritten with protocol-ish or random ones.
    let edit = (
        any::<usize>(),
        prop::sample::select(b"*$\r\n0123456789-+ x".to_vec()),
    );
    (
        proptest::collection::vec(request, 1..5),
        proptest::collection::vec(edit, 0..4),
    )
        .prop_map(|(reqs, edits)| {
            let mut b: Vec<u8> = reqs.concat();
            for (at, byte) in edits {
                let i = at % b.len();
                b[i] = byte;
            }
            b
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn whole_request_path_parses_as_the_general_path(
        input in request_bytes(),
        cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..4),
        auth in proptest::prelude::any::<bool>(),
        small_limits in proptest::prelude::any::<bool>(),
    ) {
        let limits = if small_limits {
            ParserLimits { max_bulk: 8, max_multibulk: 3, unauth_max_multibulk: 2, unauth_max_bulk: 4, ..ParserLimits::default() }
        } else {
            ParserLimits::default()
        };
        let fast = outcomes(&input, &cuts, auth, limits, false);
        let general = outcomes(&input, &cuts, auth, limits, true);
        proptest::prop_assert_eq!(fast, general);
    }
}
