//! RESP encoders that write straight into a `BytesMut`.
//!
//! [`RespWrite`] is the server's reply encoder: each method appends one complete RESP element
//! (or an aggregate header) to the buffer, formatting integers on the stack, so encoding a reply
//! never allocates beyond growing the output buffer. Methods that differ between RESP2 and RESP3
//! take the connection's [`Protocol`] and degrade the way Redis 7 does (maps become flat arrays,
//! doubles become bulk strings, booleans become integers, nulls become `$-1`/`*-1`).
//!
//! [`encode_command`] writes a client command as an array of bulk strings.

use bytes::{BufMut, BytesMut};

use crate::frame::{Frame, Protocol};

/// Appends RESP elements to a buffer.
pub trait RespWrite {
    /// `+s\r\n`. `s` must not contain CR or LF.
    fn write_simple(&mut self, s: &[u8]);
    /// `+OK\r\n`.
    fn write_ok(&mut self);
    /// `-msg\r\n`; `msg` includes its code, e.g. `ERR syntax error`. CR and LF become spaces,
    /// as Redis does.
    fn write_error(&mut self, msg: &[u8]);
    /// `:n\r\n`.
    fn write_integer(&mut self, n: i64);
    /// `$len\r\nbytes\r\n`.
    fn write_bulk(&mut self, b: &[u8]);
    /// A null bulk: `$-1\r\n` (RESP2) or `_\r\n` (RESP3).
    fn write_null(&mut self, proto: Protocol);
    /// A null array: `*-1\r\n` (RESP2) or `_\r\n` (RESP3).
    fn write_null_array(&mut self, proto: Protocol);
    /// `*n\r\n`.
    fn write_array_len(&mut self, n: usize);
    /// `%n\r\n` (RESP3) or `*2n\r\n` (RESP2).
    fn write_map_len(&mut self, n: usize, proto: Protocol);
    /// `~n\r\n` (RESP3) or `*n\r\n` (RESP2).
    fn write_set_len(&mut self, n: usize, proto: Protocol);
    /// `>n\r\n` (RESP3) or `*n\r\n` (RESP2).
    fn write_push_len(&mut self, n: usize, proto: Protocol);
    /// `,d\r\n` (RESP3) or a bulk string (RESP2), in Redis's `%.17g` form.
    fn write_double(&mut self, d: f64, proto: Protocol);
    /// `#t\r\n`/`#f\r\n` (RESP3) or `:1\r\n`/`:0\r\n` (RESP2).
    fn write_bool(&mut self, b: bool, proto: Protocol);
    /// `=len\r\nfmt:text\r\n` (RESP3) or a bulk string of `text` (RESP2).
    fn write_verbatim(&mut self, format: &[u8; 3], text: &[u8], proto: Protocol);
    /// Any frame, in its own wire form (RESP3 types are written as RESP3).
    fn write_frame(&mut self, f: &Frame);
}

#[inline]
fn put_len(buf: &mut BytesMut, prefix: u8, n: u64) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    buf.reserve(s.len() + 3);
    buf.put_u8(prefix);
    buf.put_slice(s.as_bytes());
    buf.put_slice(b"\r\n");
}

impl RespWrite for BytesMut {
    #[inline]
    fn write_simple(&mut self, s: &[u8]) {
        self.reserve(s.len() + 3);
        self.put_u8(b'+');
        self.put_slice(s);
        self.put_slice(b"\r\n");
    }

    #[inline]
    fn write_ok(&mut self) {
        self.put_slice(b"+OK\r\n");
    }

    fn write_error(&mut self, msg: &[u8]) {
        self.reserve(msg.len() + 3);
        self.put_u8(b'-');
        if memchr::memchr2(b'\r', b'\n', msg).is_some() {
            for &c in msg {
                self.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
            }
        } else {
            self.put_slice(msg);
        }
        self.put_slice(b"\r\n");
    }

    #[inline]
    fn write_integer(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.reserve(s.len() + 3);
        self.put_u8(b':');
        self.put_slice(s.as_bytes());
        self.put_slice(b"\r\n");
    }

    #[inline]
    fn write_bulk(&mut self, data: &[u8]) {
        let mut b = itoa::Buffer::new();
        let s = b.format(data.len());
        self.reserve(s.len() + data.len() + 5);
        self.put_u8(b'$');
        self.put_slice(s.as_bytes());
        self.put_slice(b"\r\n");
        self.put_slice(data);
        self.put_slice(b"\r\n");
    }

    #[inline]
    fn write_null(&mut self, proto: Protocol) {
        self.put_slice(match proto {
            Protocol::Resp2 => b"$-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    #[inline]
    fn write_null_array(&mut self, proto: Protocol) {
        self.put_slice(match proto {
            Protocol::Resp2 => b"*-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        });
    }

    #[inline]
    fn write_array_len(&mut self, n: usize) {
        put_len(self, b'*', n as u64);
    }

    fn write_map_len(&mut self, n: usize, proto: Protocol) {
        match proto {
            Protocol::Resp2 => put_len(self, b'*', 2 * n as u64),
            Protocol::Resp3 => put_len(self, b'%', n as u64),
        }
    }

    fn write_set_len(&mut self, n: usize, proto: Protocol) {
        match proto {
            Protocol::Resp2 => put_len(self, b'*', n as u64),
            Protocol::Resp3 => put_len(self, b'~', n as u64),
        }
    }

    fn write_push_len(&mut self, n: usize, proto: Protocol) {
        match proto {
            Protocol::Resp2 => put_len(self, b'*', n as u64),
            Protocol::Resp3 => put_len(self, b'>', n as u64),
        }
    }

    fn write_double(&mut self, d: f64, proto: Protocol) {
        let mut tmp = [0u8; 40];
        let s = format_double(d, &mut tmp);
        match proto {
            Protocol::Resp2 => self.write_bulk(s),
            Protocol::Resp3 => {
                self.reserve(s.len() + 3);
                self.put_u8(b',');
                self.put_slice(s);
                self.put_slice(b"\r\n");
            }
        }
    }

    fn write_bool(&mut self, b: bool, proto: Protocol) {
        self.put_slice(match (proto, b) {
            (Protocol::Resp2, true) => b":1\r\n",
            (Protocol::Resp2, false) => b":0\r\n",
            (Protocol::Resp3, true) => b"#t\r\n",
            (Protocol::Resp3, false) => b"#f\r\n",
        });
    }

    fn write_verbatim(&mut self, format: &[u8; 3], text: &[u8], proto: Protocol) {
        match proto {
            Protocol::Resp2 => self.write_bulk(text),
            Protocol::Resp3 => {
                put_len(self, b'=', text.len() as u64 + 4);
                self.reserve(text.len() + 6);
                self.put_slice(format);
                self.put_u8(b':');
                self.put_slice(text);
                self.put_slice(b"\r\n");
            }
        }
    }

    fn write_frame(&mut self, f: &Frame) {
        match f {
            Frame::Simple(s) => self.write_simple(s),
            Frame::Error(e) => self.write_error(e),
            Frame::Integer(n) => self.write_integer(*n),
            Frame::Bulk(b) => self.write_bulk(b),
            Frame::Null => self.write_null(Protocol::Resp3),
            Frame::Array(items) => {
                self.write_array_len(items.len());
                items.iter().for_each(|i| self.write_frame(i));
            }
            Frame::Map(pairs) => {
                self.write_map_len(pairs.len(), Protocol::Resp3);
                for (k, v) in pairs {
                    self.write_frame(k);
                    self.write_frame(v);
                }
            }
            Frame::Set(items) => {
                self.write_set_len(items.len(), Protocol::Resp3);
                items.iter().for_each(|i| self.write_frame(i));
            }
            Frame::Push(items) => {
                self.write_push_len(items.len(), Protocol::Resp3);
                items.iter().for_each(|i| self.write_frame(i));
            }
            Frame::Double(d) => self.write_double(*d, Protocol::Resp3),
            Frame::Boolean(b) => self.write_bool(*b, Protocol::Resp3),
            Frame::BigNumber(n) => {
                self.reserve(n.len() + 3);
                self.put_u8(b'(');
                self.put_slice(n);
                self.put_slice(b"\r\n");
            }
            Frame::Verbatim { format, text } => self.write_verbatim(format, text, Protocol::Resp3),
        }
    }
}

/// Formats a double the way Redis's RESP3 replies do: `inf`, `-inf`, `nan`, integral values
/// without a fraction, others in the shortest form that reads back to the same value.
pub fn format_double(d: f64, out: &mut [u8; 40]) -> &[u8] {
    let s: &[u8] = if d.is_nan() {
        b"nan"
    } else if d == f64::INFINITY {
        b"inf"
    } else if d == f64::NEG_INFINITY {
        b"-inf"
    } else if d.fract() == 0.0 && d.abs() < 1e17 {
        let mut b = itoa::Buffer::new();
        let s = b.format(d as i64).as_bytes();
        let n = s.len();
        out[..n].copy_from_slice(s);
        return &out[..n];
    } else {
        let mut b = ryu::Buffer::new();
        let s = b.format_finite(d).as_bytes();
        let n = s.len();
        out[..n].copy_from_slice(s);
        return &out[..n];
    };
    out[..s.len()].copy_from_slice(s);
    &out[..s.len()]
}

/// Appends a command as RESP: `*<n>\r\n` followed by one bulk string per argument.
pub fn encode_command<A: AsRef<[u8]>>(buf: &mut BytesMut, args: &[A]) {
    let total: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    buf.reserve(total + 16);
    buf.write_array_len(args.len());
    for a in args {
        buf.write_bulk(a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn wire_forms() {
        assert_eq!(enc(|b| b.write_ok()), b"+OK\r\n");
        assert_eq!(enc(|b| b.write_integer(-12)), b":-12\r\n");
        assert_eq!(enc(|b| b.write_bulk(b"")), b"$0\r\n\r\n");
        assert_eq!(enc(|b| b.write_error(b"ERR a\r\nb")), b"-ERR a  b\r\n");
        assert_eq!(enc(|b| b.write_map_len(2, Protocol::Resp2)), b"*4\r\n");
        assert_eq!(enc(|b| b.write_map_len(2, Protocol::Resp3)), b"%2\r\n");
        assert_eq!(enc(|b| b.write_null(Protocol::Resp2)), b"$-1\r\n");
        assert_eq!(enc(|b| b.write_null_array(Protocol::Resp2)), b"*-1\r\n");
        assert_eq!(enc(|b| b.write_double(1.5, Protocol::Resp3)), b",1.5\r\n");
        assert_eq!(
            enc(|b| b.write_double(3.0, Protocol::Resp2)),
            b"$1\r\n3\r\n"
        );
        assert_eq!(
            enc(|b| b.write_double(f64::NEG_INFINITY, Protocol::Resp3)),
            b",-inf\r\n"
        );
        assert_eq!(
            enc(|b| b.write_verbatim(b"txt", b"hi", Protocol::Resp3)),
            b"=6\r\ntxt:hi\r\n"
        );
        assert_eq!(
            enc(|b| encode_command(b, &["SET", "k", "v"])),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }
}
