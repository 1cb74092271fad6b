//! The client-side reply decoder: RESP2 and RESP3, incremental, bounded.
//!
//! Decoding runs in two passes over the buffered bytes. The *scan* walks the frame iteratively
//! (an explicit stack, no recursion) to find where one whole frame ends, checking every line,
//! length and the nesting depth against [`DecodeLimits`]; when the bytes run out it keeps its
//! place, so a large reply arriving over many reads is scanned once in total. Only a complete,
//! validated frame is then *built*: its bytes are split off the buffer and bulk strings are
//! zero-copy slices of them. Because the build pass only sees frames the scan accepted, its
//! recursion depth is bounded by `max_depth` and no declared length is used to allocate beyond
//! the bytes actually received.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::Frame;
use crate::number::parse_i64;

/// Bounds on what a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes).
    pub max_depth: usize,
    /// Largest bulk, blob error or verbatim string.
    pub max_bulk: usize,
    /// Longest simple line (simple string, error, number).
    pub max_line: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: 128,
            max_bulk: 512 * 1024 * 1024,
            max_line: 64 * 1024 * 1024,
        }
    }
}

/// A reply that breaks the protocol; the connection cannot continue after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An unknown type byte.
    #[error("invalid RESP type byte 0x{0:02x}")]
    InvalidType(u8),
    /// A length or count that is not a number, or out of range.
    #[error("invalid length in RESP frame")]
    InvalidLength,
    /// Aggregates nested deeper than `max_depth`.
    #[error("RESP frame nested deeper than {0}")]
    TooDeep(usize),
    /// A bulk over `max_bulk` or a line over `max_line`.
    #[error("RESP frame too large")]
    TooLarge,
    /// A malformed scalar (integer, double, boolean, null, or a missing CRLF).
    #[error("malformed RESP {0}")]
    Malformed(&'static str),
}

/// Incremental decoder state for one connection.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: DecodeLimits,
    /// Offset reached by the scan of the current (incomplete) frame.
    offset: usize,
    /// Remaining children per open aggregate; the flag marks an attribute (whose completion
    /// does not count as an element of its parent).
    stack: Vec<(u64, bool)>,
    /// Whether a scan is in progress.
    scanning: bool,
}

enum Step {
    /// A whole scalar ended at this offset.
    Done(usize),
    /// An aggregate header with this many children (after expansion of maps).
    Open(usize, u64, bool),
    Incomplete,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: DecodeLimits) -> Self {
        Decoder {
            limits,
            ..Default::default()
        }
    }

    /// Takes one whole frame off the front of `buf`, or `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(len) = self.scan(buf)? else {
            return Ok(None);
        };
        let mut bytes = buf.split_to(len).freeze();
        let frame = build(&mut bytes, 0, self.limits.max_depth)?;
        Ok(Some(frame))
    }

    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        if !self.scanning {
            self.offset = 0;
            self.stack.clear();
            self.scanning = true;
        }
        loop {
            let step = match self.step(buf, self.offset) {
                Ok(s) => s,
                Err(e) => {
                    self.scanning = false;
                    return Err(e);
                }
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Open(next, 0, is_attr) => {
                    self.offset = next;
                    if self.finish_element(is_attr) {
                        return Ok(Some(self.complete()));
                    }
                }
                Step::Open(next, n, is_attr) => {
                    if self.stack.len() >= self.limits.max_depth {
                        self.scanning = false;
                        return Err(DecodeError::TooDeep(self.limits.max_depth));
                    }
                    self.offset = next;
                    self.stack.push((n, is_attr));
                }
                Step::Done(next) => {
                    self.offset = next;
                    if self.finish_element(false) {
                        return Ok(Some(self.complete()));
                    }
                }
            }
        }
    }

    fn complete(&mut self) -> usize {
        self.scanning = false;
        self.offset
    }

    /// Records that an element ended; true when the top-level frame is complete.
    fn finish_element(&mut self, was_attr: bool) -> bool {
        if was_attr {
            // An attribute prefixes the element that follows; it is not an element itself.
            return false;
        }
        loop {
            let Some(top) = self.stack.last_mut() else {
                return true;
            };
            top.0 -= 1;
            if top.0 > 0 {
                return false;
            }
            let (_, is_attr) = self.stack.pop().unwrap_or((0, false));
            if is_attr {
                return false;
            }
        }
    }

    fn step(&self, buf: &[u8], at: usize) -> Result<Step, DecodeError> {
        let lim = self.limits;
        let Some(&ty) = buf.get(at) else {
            return Ok(Step::Incomplete);
        };
        let Some(cr) = find_crlf(buf, at + 1, lim.max_line)? else {
            return Ok(Step::Incomplete);
        };
        let line = &buf[at + 1..cr];
        let next = cr + 2;
        let fail = Err;
        match ty {
            b'+' | b'-' => Ok(Step::Done(next)),
            b':' => match parse_i64(line) {
                Some(_) => Ok(Step::Done(next)),
                None => fail(DecodeError::Malformed("integer")),
            },
            b'_' if line.is_empty() => Ok(Step::Done(next)),
            b'#' if line == b"t" || line == b"f" => Ok(Step::Done(next)),
            b',' if parse_double(line).is_some() => Ok(Step::Done(next)),
            b'(' if !line.is_empty() => Ok(Step::Done(next)),
            b'_' => fail(DecodeError::Malformed("null")),
            b'#' => fail(DecodeError::Malformed("boolean")),
            b',' => fail(DecodeError::Malformed("double")),
            b'(' => fail(DecodeError::Malformed("big number")),
            b'$' | b'!' | b'=' => {
                let len = match parse_i64(line) {
                    Some(-1) if ty == b'$' => return Ok(Step::Done(next)),
                    Some(n) if n >= 0 => n as u64,
                    _ => return fail(DecodeError::InvalidLength),
                };
                if len > lim.max_bulk as u64 {
                    return fail(DecodeError::TooLarge);
                }
                let end = next + len as usize;
                if buf.len() < end + 2 {
                    return Ok(Step::Incomplete);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return fail(DecodeError::Malformed("bulk terminator"));
                }
                if ty == b'=' && (len < 4 || buf[next + 3] != b':') {
                    return fail(DecodeError::Malformed("verbatim string"));
                }
                Ok(Step::Done(end + 2))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = match parse_i64(line) {
                    Some(-1) if ty == b'*' => return Ok(Step::Done(next)),
                    Some(n) if n >= 0 => n as u64,
                    _ => return fail(DecodeError::InvalidLength),
                };
                let n = if ty == b'%' || ty == b'|' {
                    match n.checked_mul(2) {
                        Some(n) => n,
                        None => return fail(DecodeError::InvalidLength),
                    }
                } else {
                    n
                };
                Ok(Step::Open(next, n, ty == b'|'))
            }
            other => fail(DecodeError::InvalidType(other)),
        }
    }
}

/// The `\r` of the first CRLF at or after `from`; `Ok(None)` when not yet buffered.
fn find_crlf(buf: &[u8], from: usize, max_line: usize) -> Result<Option<usize>, DecodeError> {
    let tail = buf.get(from..).unwrap_or(&[]);
    match memchr::memchr(b'\r', tail) {
        Some(i) if i > max_line => Err(DecodeError::TooLarge),
        Some(i) => match tail.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(from + i)),
            Some(_) => Err(DecodeError::Malformed("line terminator")),
        },
        None if tail.len() > max_line => Err(DecodeError::TooLarge),
        None => Ok(None),
    }
}

fn parse_double(line: &[u8]) -> Option<f64> {
    match line {
        b"inf" | b"+inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        b"nan" | b"-nan" => Some(f64::NAN),
        _ => std::str::from_utf8(line).ok()?.parse().ok(),
    }
}

/// Builds a frame from bytes the scan accepted (so every length and terminator is valid and
/// the depth is bounded).
fn build(b: &mut Bytes, depth: usize, max_depth: usize) -> Result<Frame, DecodeError> {
    // The scan already enforced this; kept so the recursion is bounded on its own terms.
    if depth > max_depth {
        return Err(DecodeError::TooDeep(max_depth));
    }
    let ty = b[0];
    let cr = memchr::memchr(b'\r', b).ok_or(DecodeError::Malformed("line"))?;
    let line = b.slice(1..cr);
    b.advance(cr + 2);
    let count = || parse_i64(&line).ok_or(DecodeError::InvalidLength);
    let items = |b: &mut Bytes, n: usize| -> Result<Vec<Frame>, DecodeError> {
        // n <= remaining bytes / 3: every element takes at least three bytes.
        let mut v = Vec::with_capacity(n.min(b.len() / 3));
        for _ in 0..n {
            v.push(build(b, depth + 1, max_depth)?);
        }
        Ok(v)
    };
    Ok(match ty {
        b'+' => Frame::Simple(line),
        b'-' => Frame::Error(line),
        b':' => Frame::Integer(count()?),
        b'_' => Frame::Null,
        b'#' => Frame::Boolean(&line[..] == b"t"),
        b',' => Frame::Double(parse_double(&line).ok_or(DecodeError::Malformed("double"))?),
        b'(' => Frame::BigNumber(line),
        b'$' | b'!' | b'=' => {
            let n = count()?;
            if n < 0 {
                return Ok(Frame::Null);
            }
            let data = b.split_to(n as usize);
            b.advance(2);
            match ty {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(data),
                _ => Frame::Verbatim {
                    format: [data[0], data[1], data[2]],
                    text: data.slice(4..),
                },
            }
        }
        b'*' | b'~' | b'>' => {
            let n = count()?;
            if n < 0 {
                return Ok(Frame::Null);
            }
            let v = items(b, n as usize)?;
            match ty {
                b'*' => Frame::Array(v),
                b'~' => Frame::Set(v),
                _ => Frame::Push(v),
            }
        }
        b'%' => {
            let n = count()? as usize;
            let mut pairs = Vec::with_capacity(n.min(b.len() / 6));
            for _ in 0..n {
                let k = build(b, depth + 1, max_depth)?;
                let v = build(b, depth + 1, max_depth)?;
                pairs.push((k, v));
            }
            Frame::Map(pairs)
        }
        b'|' => {
            let n = count()? as usize;
            for _ in 0..2 * n {
                build(b, depth + 1, max_depth)?;
            }
            build(b, depth, max_depth)?
        }
        other => return Err(DecodeError::InvalidType(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(input: &[u8]) -> Result<Option<Frame>, DecodeError> {
        let mut buf = BytesMut::from(input);
        Decoder::new(DecodeLimits::default()).decode(&mut buf)
    }

    #[test]
    fn scalars_and_aggregates() {
        assert_eq!(dec(b"+OK\r\n").unwrap(), Some(Frame::Simple("OK".into())));
        assert_eq!(dec(b"$-1\r\n").unwrap(), Some(Frame::Null));
        assert_eq!(dec(b"*-1\r\n").unwrap(), Some(Frame::Null));
        assert_eq!(dec(b"*0\r\n").unwrap(), Some(Frame::Array(vec![])));
        assert_eq!(
            dec(b"%1\r\n+a\r\n:1\r\n").unwrap(),
            Some(Frame::Map(vec![(
                Frame::Simple("a".into()),
                Frame::Integer(1)
            )]))
        );
        assert_eq!(
            dec(b"|1\r\n+k\r\n+v\r\n:7\r\n").unwrap(),
            Some(Frame::Integer(7)),
            "attributes are dropped"
        );
        assert_eq!(
            dec(b"*2\r\n|1\r\n+k\r\n+v\r\n:7\r\n:8\r\n").unwrap(),
            Some(Frame::Array(vec![Frame::Integer(7), Frame::Integer(8)]))
        );
        assert_eq!(dec(b"*2\r\n:1\r\n").unwrap(), None);
    }

    #[test]
    fn hostile_inputs_fail_cleanly() {
        let deep = b"*1\r\n".repeat(100_000);
        assert_eq!(dec(&deep), Err(DecodeError::TooDeep(128)));
        assert_eq!(dec(b"$4611686018427387904\r\n"), Err(DecodeError::TooLarge));
        assert_eq!(dec(b"$-5\r\n"), Err(DecodeError::InvalidLength));
        assert_eq!(dec(b"*-2\r\n"), Err(DecodeError::InvalidLength));
        assert_eq!(dec(b"?\r\n"), Err(DecodeError::InvalidType(b'?')));
        // A declared count far beyond the bytes is just incomplete: nothing is allocated for it.
        assert_eq!(dec(b"*4611686018427387904\r\n:1\r\n").unwrap(), None);
    }
}
