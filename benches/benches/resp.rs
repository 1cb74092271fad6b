//! Request parsing and reply encoding: ours against `redis-protocol` on the same bytes.
//!
//! Batches of 1, 16 and 128 `GET` and `SET` commands, as a pipelining client sends them.
//! Throughput is in commands (elements) per second. Run: `cargo bench -p benches --bench resp`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use protocol::{encode_command, Parsed, ParserLimits, RequestParser, RespWrite};
use redis_protocol::resp2::{decode, encode, types::BytesFrame};

const BATCHES: [usize; 3] = [1, 16, 128];

fn requests(cmd: &str, n: usize) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let value = [b'v'; 16];
    for i in 0..n {
        let key = format!("key:{i:012}");
        if cmd == "GET" {
            encode_command(&mut buf, &[&b"GET"[..], key.as_bytes()]);
        } else {
            encode_command(&mut buf, &[&b"SET"[..], key.as_bytes(), &value]);
        }
    }
    buf.to_vec()
}

fn parse(c: &mut Criterion) {
    for cmd in ["GET", "SET"] {
        let mut g = c.benchmark_group(format!("parse/{cmd}"));
        for n in BATCHES {
            let input = requests(cmd, n);
            g.throughput(Throughput::Elements(n as u64));
            let mut parser = RequestParser::new(ParserLimits::default());
            let mut buf = input.clone();
            g.bench_function(format!("ours/{n}"), |b| {
                b.iter(|| {
                    let mut off = 0;
                    let mut args = 0;
                    while let Ok(Parsed::Complete(len)) = parser.parse(&mut buf[off..], true) {
                        let a = parser.args(&buf[off..]);
                        args += a.len();
                        black_box(a.at(1));
                        off += len;
                    }
                    assert_eq!(off, buf.len());
                    black_box(args)
                })
            });
            g.bench_function(format!("redis-protocol-range/{n}"), |b| {
                b.iter(|| {
                    let mut off = 0;
                    let mut frames = 0;
                    while let Ok(Some((frame, len))) = decode::decode_range(&input[off..]) {
                        black_box(&frame);
                        frames += 1;
                        off += len;
                    }
                    assert_eq!(off, input.len());
                    black_box(frames)
                })
            });
            g.bench_function(format!("redis-protocol-bytes-mut/{n}"), |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&input[..]),
                    |buf| {
                        let mut frames = 0;
                        while let Ok(Some((frame, _, _))) = decode::decode_bytes_mut(buf) {
                            black_box(&frame);
                            frames += 1;
                        }
                        black_box(frames)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

fn encode_replies(c: &mut Criterion) {
    let value = Bytes::from_static(b"vvvvvvvvvvvvvvvv");
    for cmd in ["GET", "SET"] {
        let mut g = c.benchmark_group(format!("encode/{cmd}"));
        for n in BATCHES {
            g.throughput(Throughput::Elements(n as u64));
            let mut out = BytesMut::with_capacity(64 * 1024);
            g.bench_function(format!("ours/{n}"), |b| {
                b.iter(|| {
                    out.clear();
                    for _ in 0..n {
                        if cmd == "GET" {
                            out.write_bulk(&value);
                        } else {
                            out.write_ok();
                        }
                    }
                    black_box(out.len())
                })
            });
            let mut out = BytesMut::with_capacity(64 * 1024);
            g.bench_function(format!("redis-protocol/{n}"), |b| {
                b.iter(|| {
                    out.clear();
                    for _ in 0..n {
                        let f = if cmd == "GET" {
                            BytesFrame::BulkString(value.clone())
                        } else {
                            BytesFrame::SimpleString(Bytes::from_static(b"OK"))
                        };
                        let _ = encode::extend_encode(&mut out, &f, false);
                    }
                    black_box(out.len())
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, parse, encode_replies);
criterion_main!(benches);
