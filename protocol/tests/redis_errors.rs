//! The request parser's protocol errors are byte-identical to a real Redis 7's replies.
//!
//! Each malformed request is sent to `redis-server` over a raw socket; Redis answers with an
//! error and closes the connection. Our parser, fed the same bytes, must produce the same reply.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use protocol::{Parsed, ParserLimits, RequestParser};
use testkit::RedisServer;

fn redis_reply(port: u16, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(input).unwrap();
    let mut out = vec![];
    let _ = s.read_to_end(&mut out);
    out
}

fn our_reply(input: &[u8], authenticated: bool) -> Vec<u8> {
    let mut buf = input.to_vec();
    let mut p = RequestParser::new(ParserLimits::default());
    let mut off = 0;
    let mut out = vec![];
    loop {
        match p.parse(&mut buf[off..], authenticated) {
            Ok(Parsed::Complete(n)) => {
                // Only empty requests are used here: they get no reply.
                assert!(p.args(&buf[off..]).is_empty());
                off += n;
            }
            Ok(Parsed::Incomplete) => return out,
            Err(e) => {
                out.push(b'-');
                out.extend(e.reply());
                out.extend(b"\r\n");
                return out;
            }
        }
    }
}

const CASES: &[&[u8]] = &[
    b"*abc\r\n",
    b"*3000000000\r\n",
    b"*4611686018427387904\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$abc\r\n",
    b"*1\r\n$4611686018427387904\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n:12\r\n",
    b"*2\r\n*1\r\n",
    b"\"unbalanced\r\n",
    b"'unbalanced\r\n",
    b"\"closed\"x\r\n",
    b"*0\r\n*-1\r\n*x\r\n",
];

#[test]
fn protocol_errors_match_redis() {
    let srv = RedisServer::start(None);
    for &case in CASES {
        assert_eq!(
            String::from_utf8_lossy(&our_reply(case, true)),
            String::from_utf8_lossy(&redis_reply(srv.port, case)),
            "input {:?}",
            String::from_utf8_lossy(case)
        );
    }
    let big_inline = vec![b'a'; 64 * 1024 + 10];
    assert_eq!(
        our_reply(&big_inline, true),
        redis_reply(srv.port, &big_inline)
    );
    let mut big_count = b"*".to_vec();
    big_count.extend(vec![b'1'; 64 * 1024 + 10]);
    assert_eq!(
        our_reply(&big_count, true),
        redis_reply(srv.port, &big_count)
    );
}

#[test]
fn unauthenticated_limits_match_redis() {
    let srv = RedisServer::start(Some("pw"));
    for case in [&b"*11\r\n"[..], b"*1\r\n$16385\r\n"] {
        assert_eq!(
            String::from_utf8_lossy(&our_reply(case, false)),
            String::from_utf8_lossy(&redis_reply(srv.port, case)),
            "input {:?}",
            String::from_utf8_lossy(case)
        );
    }
}
