//! The server-side request parser: what `redis-server` accepts, byte for byte.
//!
//! Two request forms, chosen by the first byte as Redis does: `*` starts an array of bulk
//! strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what clients send); anything else is an inline
//! command (`GET k\r\n`, what `nc` and `telnet` send), split with `sdssplitargs` rules (double
//! quotes with `\n`, `\xHH`... escapes, single quotes with `\'`).
//!
//! Invariants:
//! - Arguments are ranges into the caller's buffer: nothing is copied. Inline escapes are
//!   resolved in place (an unescaped argument is never longer than its source).
//! - Incremental: a request split over any number of reads parses exactly as one read would,
//!   and work already done is not repeated (the parser keeps its position between calls).
//! - Bounded: no length a peer declares is used to allocate; counts and lengths are checked
//!   against [`ParserLimits`] before anything is kept, and the errors are Redis 7's own
//!   (`ERR Protocol error: ...`), after which Redis closes the connection.

use std::ops::Range;

use memchr::memchr;

use crate::number::parse_i64;

/// Limits the parser enforces; the defaults are Redis 7's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest inline request, and longest `*`/`$` count line (`PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub max_inline: usize,
    /// Largest bulk argument (`proto-max-bulk-len`, 512 MiB).
    pub max_bulk: usize,
    /// Most arguments in one request (Redis 7: `INT_MAX`).
    pub max_multibulk: usize,
    /// Most arguments from a client that must authenticate and has not (Redis: 10).
    pub unauth_max_multibulk: usize,
    /// Largest bulk from a client that must authenticate and has not (Redis: 16 384).
    pub unauth_max_bulk: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_inline: 64 * 1024,
            max_bulk: 512 * 1024 * 1024,
            max_multibulk: i32::MAX as usize,
            unauth_max_multibulk: 10,
            unauth_max_bulk: 16 * 1024,
        }
    }
}

/// A malformed request. [`ProtocolError::reply`] is the exact error Redis 7 sends before it
/// closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*` count not a number, or out of range.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$` length not a number, negative, or over `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// An array element that does not start with `$`.
    #[error("expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// An inline request with an unterminated quote, or a closing quote not followed by space.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline request longer than `max_inline` without a newline.
    #[error("too big inline request")]
    TooBigInline,
    /// A `*` line longer than `max_inline`.
    #[error("too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$` line longer than `max_inline`.
    #[error("too big bulk count string")]
    TooBigBulkCount,
    /// More than `unauth_max_multibulk` arguments before authentication.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulk,
    /// A bulk over `unauth_max_bulk` bytes before authentication.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulk,
}

impl ProtocolError {
    /// The reply Redis 7 sends, without the leading `-` and trailing CRLF, e.g.
    /// `ERR Protocol error: invalid bulk length`.
    pub fn reply(&self) -> Vec<u8> {
        let mut v = b"ERR Protocol error: ".to_vec();
        match self {
            // Redis prints the raw byte with %c.
            ProtocolError::ExpectedDollar(c) => {
                v.extend_from_slice(b"expected '$', got '");
                v.push(*c);
                v.push(b'\'');
            }
            other => v.extend_from_slice(other.to_string().as_bytes()),
        }
        v
    }
}

/// The outcome of one [`RequestParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of this many bytes; read it with [`RequestParser::args`]. It may have no
    /// arguments (`*0`, `*-1`, a blank inline line): Redis ignores such a request.
    Complete(usize),
    /// More bytes are needed. The parser keeps its progress: call again with the same buffer
    /// start once more bytes have been appended.
    Incomplete,
}

/// The arguments of a parsed request, borrowed from the read buffer.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [Range<usize>],
    /// Length of the request when it was parsed whole (see [`Args::raw`]), or 0.
    whole: usize,
}

impl<'a> Args<'a> {
    /// The number of arguments, command name included.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when the request had no arguments.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|r| &self.buf[r.clone()])
    }

    /// Argument `i`; panics when out of range (check [`Args::len`] first).
    #[inline]
    pub fn at(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }

    /// The request's bytes as the client sent them, when they are exactly the RESP encoding of
    /// its arguments and it was parsed in one pass: an array of bulk strings whose count and
    /// lengths are short numbers without leading zeros, every line and argument ended by
    /// `\r\n`. `None` otherwise (an inline command, a request read in pieces, other bytes
    /// where Redis skips a separator unchecked). A log of commands can copy these bytes
    /// instead of encoding the arguments.
    #[inline]
    pub fn raw(&self) -> Option<&'a [u8]> {
        (self.whole > 0).then(|| &self.buf[..self.whole])
    }

    /// Every argument in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |r| &buf[r.clone()])
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Parses requests out of a connection's read buffer. One parser per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: ParserLimits,
    args: Vec<Range<usize>>,
    /// Offset (from the request start) where parsing resumes.
    pos: usize,
    /// Bulk strings still to read in the current array; 0 before its header.
    remaining: usize,
    /// Declared length of the bulk whose `$` line was read but whose data is pending.
    bulk: Option<usize>,
    /// The last call returned `Complete`: the next call starts a new request.
    done: bool,
    /// Length of the last request when it was parsed whole (see [`Args::raw`]), or 0.
    whole: usize,
    /// Tests only: skip [`RequestParser::parse_whole`], to compare it with the general path.
    #[cfg(test)]
    general_only: bool,
}

impl RequestParser {
    /// A parser with these limits.
    pub fn new(limits: ParserLimits) -> Self {
        RequestParser {
            limits,
            args: Vec::with_capacity(8),
            ..Default::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ParserLimits {
        &self.limits
    }

    /// Changes the limits (e.g. after `CONFIG SET proto-max-bulk-len`).
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// The arguments of the request the last `Complete` returned. `buf` is the same buffer
    /// (same start) that was given to [`RequestParser::parse`].
    #[inline]
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        Args {
            buf,
            ranges: &self.args,
            whole: if self.done { self.whole } else { 0 },
        }
    }

    /// Bytes still needed before the current request can complete, when known (the pending
    /// bulk's data); lets a server reserve buffer space for a large argument in one go.
    pub fn pending_bulk_need(&self, buffered: usize) -> Option<usize> {
        self.bulk
            .map(|n| (self.pos + n + 2).saturating_sub(buffered))
    }

    /// Forgets any partial request (after an error the connection is closed anyway).
    pub fn reset(&mut self) {
        self.args.clear();
        self.pos = 0;
        self.remaining = 0;
        self.bulk = None;
        self.done = false;
        self.whole = 0;
    }

    /// Parses one request from `buf`, which starts where the request starts. `authenticated`
    /// is false while the client must still authenticate (stricter limits apply).
    pub fn parse(&mut self, buf: &mut [u8], authenticated: bool) -> Result<Parsed, ProtocolError> {
        if self.done {
            self.reset();
        }
        let Some(&first) = buf.first() else {
            return Ok(Parsed::Incomplete);
        };
        let r = if first == b'*' {
            self.parse_multibulk(buf, authenticated)
        } else {
            self.parse_inline(buf)
        };
        match r {
            Ok(Parsed::Complete(n)) => {
                self.done = true;
                Ok(Parsed::Complete(n))
            }
            Ok(Parsed::Incomplete) => Ok(Parsed::Incomplete),
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    fn parse_multibulk(
        &mut self,
        buf: &[u8],
        authenticated: bool,
    ) -> Result<Parsed, ProtocolError> {
        let lim = self.limits;
        #[cfg(test)]
        let fast = !self.general_only;
        #[cfg(not(test))]
        let fast = true;
        if self.pos == 0 && fast {
            if let Some(n) = self.parse_whole(buf, authenticated) {
                return Ok(Parsed::Complete(n));
            }
        }
        if self.pos == 0 {
            // `*<count>\r\n`; like Redis, the byte after '\r' is not checked.
            let Some(cr) = find_cr(buf, 1) else {
                if buf.len() > lim.max_inline {
                    return Err(ProtocolError::TooBigMultibulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let count = match parse_i64(&buf[1..cr]) {
                Some(n) if n <= lim.max_multibulk as i64 && n <= i32::MAX as i64 => n,
                _ => return Err(ProtocolError::InvalidMultibulkLength),
            };
            if !authenticated && count > lim.unauth_max_multibulk as i64 {
                return Err(ProtocolError::UnauthenticatedMultibulk);
            }
            self.pos = cr + 2;
            if count <= 0 {
                return Ok(Parsed::Complete(self.pos));
            }
            self.remaining = count as usize;
            // Reserve for small requests only: a declared count is not trusted.
            self.args.reserve(self.remaining.min(1024));
        }
        while self.remaining > 0 {
            let len = match self.bulk {
                Some(len) => len,
                None => {
                    let start = self.pos;
                    let Some(cr) = find_cr(buf, start) else {
                        if buf.len() - start > lim.max_inline {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(Parsed::Incomplete);
                    };
                    if cr + 1 >= buf.len() {
                        return Ok(Parsed::Incomplete);
                    }
                    if buf[start] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[start]));
                    }
                    let len = match parse_i64(&buf[start + 1..cr]) {
                        Some(n) if n >= 0 && n as u64 <= lim.max_bulk as u64 => n as usize,
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    if !authenticated && len > lim.unauth_max_bulk {
                        return Err(ProtocolError::UnauthenticatedBulk);
                    }
                    self.pos = cr + 2;
                    self.bulk = Some(len);
                    len
                }
            };
            // Data plus its CRLF, which Redis skips without checking.
            if buf.len() - self.pos < len + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.args.push(self.pos..self.pos + len);
            self.pos += len + 2;
            self.bulk = None;
            self.remaining -= 1;
        }
        Ok(Parsed::Complete(self.pos))
    }

    /// The common case in one pass with local state: a whole request already in `buf`, its
    /// count and lengths short plain numbers, every line and argument ended by `\r\n` (so
    /// its bytes are the encoding of its arguments). `None` (with nothing kept) for anything else,
    /// which the general path then parses, errors included; both accept exactly the same
    /// requests (a property test compares them).
    #[inline]
    fn parse_whole(&mut self, buf: &[u8], authenticated: bool) -> Option<usize> {
        let lim = &self.limits;
        let (count, mut p) = short_number(buf, 1)?;
        if count == 0
            || count > lim.max_multibulk
            || (!authenticated && count > lim.unauth_max_multibulk)
        {
            return None;
        }
        let max_bulk = if authenticated {
            lim.max_bulk
        } else {
            lim.max_bulk.min(lim.unauth_max_bulk)
        };
        for _ in 0..count {
            let whole = match buf.get(p) {
                Some(b'$') => short_number(buf, p + 1).and_then(|(len, start)| {
                    // Data plus its CRLF (which Redis skips without checking).
                    let end = start.checked_add(len)?;
                    match buf.get(end..)? {
                        [b'\r', b'\n', ..] if len <= max_bulk => Some((start, end)),
                        _ => None,
                    }
                }),
                _ => None,
            };
            let Some((start, end)) = whole else {
                self.args.clear();
                return None;
            };
            self.args.push(start..end);
            p = end + 2;
        }
        self.whole = p;
        Some(p)
    }

    fn parse_inline(&mut self, buf: &mut [u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > self.limits.max_inline {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let mut end = nl;
        if end > 0 && buf[end - 1] == b'\r' {
            end -= 1;
        }
        self.args.clear();
        split_args_in_place(&mut buf[..end], &mut self.args)?;
        Ok(Parsed::Complete(nl + 1))
    }
}

/// Splits one line into arguments with Redis's `sdssplitargs` rules (quotes and escapes), as
/// `redis-server` does for inline commands and config files.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut buf = line.to_vec();
    let mut ranges = Vec::new();
    split_args_in_place(&mut buf, &mut ranges)?;
    Ok(ranges.into_iter().map(|r| buf[r].to_vec()).collect())
}

/// `0`, or 1 to 9 digits without a leading zero, at `buf[from..]`, followed by `\r\n`: the
/// number and the offset after the `\n`. `None` for anything else, including what the general
/// path would take (any byte after the `\r`, as Redis does not check it) or refuse.
#[inline(always)]
fn short_number(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let digits = buf.get(from..)?;
    let first = digits.first()?.wrapping_sub(b'0');
    if first > 9 {
        return None;
    }
    let mut n = first as usize;
    let mut i = 1;
    if n != 0 {
        while let Some(&c) = digits.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n * 10 + d as usize;
            i += 1;
            if i == 10 {
                return None;
            }
        }
    }
    match digits.get(i..)? {
        [b'\r', b'\n', ..] => Some((n, from + i + 2)),
        _ => None,
    }
}

/// Position of the first `\r` at or after `from`.
#[inline]
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    // Count lines are short: a plain loop beats memchr's setup for them.
    let tail = buf.get(from..)?;
    let quick = tail.len().min(24);
    for (i, &c) in tail[..quick].iter().enumerate() {
        if c == b'\r' {
            return Some(from + i);
        }
    }
    memchr(b'\r', &tail[quick..]).map(|i| from + quick + i)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs` over `line`, writing unescaped arguments back into `line` and their
/// ranges into `out`. A NUL byte ends the line, as it does for the C string Redis splits.
fn split_args_in_place(line: &mut [u8], out: &mut Vec<Range<usize>>) -> Result<(), ProtocolError> {
    let n = line.iter().position(|&c| c == 0).unwrap_or(line.len());
    let at = |line: &[u8], i: usize| if i < n { line[i] } else { 0 };
    let mut p = 0;
    let mut w = 0;
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n {
            return Ok(());
        }
        let start = w;
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = at(line, p);
            if inq {
                if c == b'\\' && at(line, p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(line, p + 2)), hex_val(at(line, p + 3)))
                    {
                        line[w] = h * 16 + l;
                        w += 1;
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(line, p + 1) != 0 {
                    p += 1;
                    line[w] = match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    w += 1;
                } else if c == b'"' {
                    let next = at(line, p + 1);
                    if next != 0 && !is_space(next) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    line[w] = c;
                    w += 1;
                }
            } else if insq {
                if c == b'\\' && at(line, p + 1) == b'\'' {
                    p += 1;
                    line[w] = b'\'';
                    w += 1;
                } else if c == b'\'' {
                    let next = at(line, p + 1);
                    if next != 0 && !is_space(next) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    line[w] = c;
                    w += 1;
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => {
                        line[w] = c;
                        w += 1;
                    }
                }
            }
            p += 1;
        }
        out.push(start..w);
        // The separator that ended an unquoted argument is consumed by the space skip.
    }
}

#[cfg(test)]
mod tests;
