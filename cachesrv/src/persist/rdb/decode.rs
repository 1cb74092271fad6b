//! Reading values in the RDB format, as Redis 7.0's `rdbLoadObject` does, including every
//! older encoding it accepts.
//!
//! [`Reader`] walks a byte slice: lengths, strings (raw, integer-encoded, LZF) and raw bytes;
//! every read is bounds-checked and reports the offset of a problem. [`read_value`] reads one
//! value of a given RDB type into an engine [`Value`]; [`restore_payload`] checks and reads a
//! `DUMP` payload.
//!
//! Sorted sets of every RDB type (`ZSET`, `ZSET_2`, `ZSET_ZIPLIST`, `ZSET_LISTPACK`) load into
//! the encoding Redis would pick (`zset_value`).

use std::borrow::Cow;

use super::compact::{for_each_intset, for_each_ziplist, for_each_zipmap};
use super::crc64::crc64;
use super::listpack::{self, Elem, Malformed};
use super::{lzf, types, RdbError, RDB_VERSION};
use crate::engine::{HashValue, ListValue, SetValue, Value, ZLimits, ZSetValue};

/// A cursor over RDB bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    complete: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`, which holds everything there is to read.
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            complete: true,
        }
    }

    /// A reader of a window of a longer input: a count larger than what the window holds is
    /// reported as [`RdbError::Truncated`] (more data may follow), not as corruption.
    pub fn partial(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            complete: false,
        }
    }

    /// The current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// A [`RdbError::Corrupt`] at the current offset.
    pub fn corrupt(&self, what: impl Into<String>) -> RdbError {
        RdbError::Corrupt {
            at: self.pos,
            what: what.into(),
        }
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, RdbError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(RdbError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(RdbError::Truncated(self.data.len()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length or a special-encoding marker: `(value, true)` for the `11xxxxxx` forms.
    pub fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3F), false),
            1 => (u64::from(b & 0x3F) << 8 | u64::from(self.u8()?), false),
            2 => match b {
                0x80 => (u64::from(u32::from_be_bytes(self.array()?)), false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => return Err(self.corrupt(format!("unknown length encoding {b:#04x}"))),
            },
            _ => (u64::from(b & 0x3F), true),
        })
    }

    /// A plain length.
    pub fn read_len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (l, false) => Ok(l),
            (_, true) => Err(self.corrupt("encoded value where a length was expected")),
        }
    }

    /// A length that counts items of at least one byte each: bounded by what is left.
    fn count(&mut self) -> Result<usize, RdbError> {
        let n = self.read_len()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ if !self.complete => Err(RdbError::Truncated(self.data.len())),
            _ => Err(self.corrupt(format!("length {n} exceeds the data"))),
        }
    }

    /// A string: raw (borrowed), integer-encoded or LZF-compressed.
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>, RdbError> {
        let (l, enc) = self.len_or_enc()?;
        if !enc {
            let n = usize::try_from(l).map_err(|_| self.corrupt("string too long"))?;
            return Ok(Cow::Borrowed(self.take(n)?));
        }
        let v: i64 = match l {
            0 => i64::from(i8::from_le_bytes(self.array()?)),
            1 => i64::from(i16::from_le_bytes(self.array()?)),
            2 => i64::from(i32::from_le_bytes(self.array()?)),
            3 => {
                let (at, data, len) = self.lzf_header()?;
                return lzf::decompress(data, len)
                    .map(Cow::Owned)
                    .map_err(|_| RdbError::Corrupt {
                        at,
                        what: "invalid LZF data".into(),
                    });
            }
            _ => return Err(self.corrupt(format!("unknown string encoding {l}"))),
        };
        Ok(Cow::Owned(v.to_string().into_bytes()))
    }
}

impl<'a> Reader<'a> {
    /// An LZF string's lengths and compressed bytes (after its encoding byte): the offset of
    /// the data (for errors), the data, the decompressed length.
    fn lzf_header(&mut self) -> Result<(usize, &'a [u8], usize), RdbError> {
        let clen = self.read_len()?;
        let len = self.read_len()?;
        let (Ok(clen), Ok(len)) = (usize::try_from(clen), usize::try_from(len)) else {
            return Err(self.corrupt("LZF length out of range"));
        };
        let at = self.pos;
        Ok((at, self.take(clen)?, len))
    }

    /// A string as [`Reader::string`] reads it, without allocating: borrowed from the data
    /// when stored raw, else decoded into `scratch` (whose allocation is reused).
    pub fn string_into<'s>(&mut self, scratch: &'s mut Vec<u8>) -> Result<&'s [u8], RdbError>
    where
        'a: 's,
    {
        let start = self.pos;
        let (l, enc) = self.len_or_enc()?;
        if !enc {
            let n = usize::try_from(l).map_err(|_| self.corrupt("string too long"))?;
            return self.take(n);
        }
        if l != 3 {
            // Integer encodings: short, and rare in values.
            self.pos = start;
            let s = self.string()?;
            scratch.clear();
            scratch.extend_from_slice(&s);
            return Ok(scratch);
        }
        let (at, data, len) = self.lzf_header()?;
        lzf::decompress_into(data, len, scratch).map_err(|_| RdbError::Corrupt {
            at,
            what: "invalid LZF data".into(),
        })?;
        Ok(scratch)
    }
}

fn malformed(r: &Reader<'_>, m: Malformed) -> RdbError {
    r.corrupt(m.0)
}

fn dup(r: &Reader<'_>, what: &str) -> RdbError {
    r.corrupt(format!("duplicate {what}"))
}

/// Reads one value of RDB type `t`.
pub fn read_value(r: &mut Reader<'_>, t: u8) -> Result<Value, RdbError> {
    match t {
        types::STRING => Ok(Value::Str(r.string()?.into_owned())),
        types::LIST => {
            let n = r.count()?;
            let mut l = ListValue::new();
            for _ in 0..n {
                l.push_back(&r.string()?);
            }
            Ok(Value::List(l))
        }
        types::LIST_ZIPLIST => {
            let blob = r.string()?;
            let mut l = ListValue::new();
            for_each_ziplist(&blob, |e| {
                e.with_bytes(|b| l.push_back(b));
                Ok(())
            })
            .map_err(|m| malformed(r, m))?;
            Ok(Value::List(l))
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let n = r.count()?;
            let mut l = ListValue::new();
            for _ in 0..n {
                let container = if t == types::LIST_QUICKLIST_2 {
                    r.read_len()?
                } else {
                    2
                };
                let blob = r.string()?;
                let each = |e: Elem<'_>| {
                    e.with_bytes(|b| l.push_back(b));
                    Ok(())
                };
                let res = match (t, container) {
                    (types::LIST_QUICKLIST, _) => for_each_ziplist(&blob, each),
                    (_, 1) => {
                        l.push_back(&blob);
                        Ok(1)
                    }
                    (_, 2) => listpack::for_each(&blob, each),
                    _ => return Err(r.corrupt(format!("unknown quicklist container {container}"))),
                };
                res.map_err(|m| malformed(r, m))?;
            }
            Ok(Value::List(l))
        }
        types::SET => {
            let n = r.count()?;
            let mut s = SetValue::new();
            for _ in 0..n {
                if !s.insert(&r.string()?) {
                    return Err(dup(r, "set member"));
                }
            }
            Ok(Value::Set(s))
        }
        types::SET_INTSET => {
            let blob = r.string()?;
            let mut s = SetValue::new();
            for_each_intset(&blob, |v| {
                s.insert(itoa::Buffer::new().format(v).as_bytes());
                Ok(())
            })
            .map_err(|m| malformed(r, m))?;
            Ok(Value::Set(s))
        }
        types::SET_LISTPACK => {
            let blob = r.string()?;
            let mut s = SetValue::new();
            listpack::for_each(&blob, |e| {
                if e.with_bytes(|b| s.insert(b)) {
                    Ok(())
                } else {
                    Err(Malformed("duplicate set member"))
                }
            })
            .map_err(|m| malformed(r, m))?;
            Ok(Value::Set(s))
        }
        types::HASH => {
            let n = r.count()?;
            let mut h = HashValue::new();
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                if !h.insert(&f, &v) {
                    return Err(dup(r, "hash field"));
                }
            }
            Ok(Value::Hash(h))
        }
        types::HASH_ZIPMAP => {
            let blob = r.string()?;
            let mut h = HashValue::new();
            for_each_zipmap(&blob, |f, v| {
                if h.insert(f, v) {
                    Ok(())
                } else {
                    Err(Malformed("duplicate hash field"))
                }
            })
            .map_err(|m| malformed(r, m))?;
            Ok(Value::Hash(h))
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = r.string()?;
            let mut h = HashValue::new();
            let mut field: Option<Vec<u8>> = None;
            let each = |e: Elem<'_>| match field.take() {
                None => {
                    field = Some(e.to_bytes());
                    Ok(())
                }
                Some(f) => {
                    if e.with_bytes(|v| h.insert(&f, v)) {
                        Ok(())
                    } else {
                        Err(Malformed("duplicate hash field"))
                    }
                }
            };
            let res = if t == types::HASH_ZIPLIST {
                for_each_ziplist(&blob, each)
            } else {
                listpack::for_each(&blob, each)
            };
            let n = res.map_err(|m| malformed(r, m))?;
            if n % 2 != 0 {
                return Err(r.corrupt("hash with an odd number of elements"));
            }
            Ok(Value::Hash(h))
        }
        types::ZSET | types::ZSET_2 | types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let members = read_zset(r, t)?;
            zset_value(r, members)
        }
        types::MODULE_PRE_GA | types::MODULE_2 => Err(RdbError::Unsupported(
            "module values are not supported by cachesrv".into(),
        )),
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => Err(
            RdbError::Unsupported("streams are not supported by cachesrv".into()),
        ),
        _ => Err(r.corrupt(format!("unknown value type {t}"))),
    }
}

/// Reads the members and scores of a sorted set of any of its RDB types.
fn read_zset(r: &mut Reader<'_>, t: u8) -> Result<Vec<(Vec<u8>, f64)>, RdbError> {
    let mut out = Vec::new();
    match t {
        types::ZSET | types::ZSET_2 => {
            let n = r.count()?;
            for _ in 0..n {
                let m = r.string()?.into_owned();
                let score = if t == types::ZSET_2 {
                    f64::from_le_bytes(r.array()?)
                } else {
                    match r.u8()? {
                        253 => f64::NAN,
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        l => {
                            let txt = r.take(l as usize)?;
                            std::str::from_utf8(txt)
                                .ok()
                                .and_then(|s| s.parse().ok())
                                .ok_or_else(|| r.corrupt("invalid sorted set score"))?
                        }
                    }
                };
                if score.is_nan() {
                    return Err(r.corrupt("sorted set score is not a number"));
                }
                out.push((m, score));
            }
        }
        _ => {
            let blob = r.string()?;
            let mut member: Option<Vec<u8>> = None;
            let each = |e: Elem<'_>| match member.take() {
                None => {
                    member = Some(e.to_bytes());
                    Ok(())
                }
                Some(m) => {
                    let score = match e {
                        Elem::Int(v) => v as f64,
                        Elem::Str(s) => std::str::from_utf8(s)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or(Malformed("invalid sorted set score"))?,
                    };
                    out.push((m, score));
                    Ok(())
                }
            };
            let res = if t == types::ZSET_ZIPLIST {
                for_each_ziplist(&blob, each)
            } else {
                listpack::for_each(&blob, each)
            };
            let n = res.map_err(|m| malformed(r, m))?;
            if n % 2 != 0 {
                return Err(r.corrupt("sorted set with an odd number of elements"));
            }
        }
    }
    Ok(out)
}

/// A sorted set read from RDB data, as an engine value: `listpack` or `skiplist` by the
/// default limits, as Redis converts on load. A NaN score or a member twice is corrupt data.
fn zset_value(r: &Reader<'_>, members: Vec<(Vec<u8>, f64)>) -> Result<Value, RdbError> {
    let lim = ZLimits::default();
    let max_len = members.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSetValue::with_hint(members.len(), max_len, lim);
    for (m, score) in members {
        if score.is_nan() {
            return Err(r.corrupt("a sorted set with a NaN score"));
        }
        if z.insert(&m, score, lim).is_some() {
            return Err(r.corrupt("a sorted set with a member twice"));
        }
    }
    Ok(Value::ZSet(z))
}

/// Why a `RESTORE` payload was refused; [`PayloadError::reply`] is Redis's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum mismatch.
    VersionOrChecksum,
    /// The value does not parse (or is of a type this server does not hold).
    BadFormat,
}

impl PayloadError {
    /// The error reply.
    pub fn reply(&self) -> &'static str {
        match self {
            PayloadError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            PayloadError::BadFormat => "ERR Bad data format",
        }
    }
}

/// Checks a `DUMP` payload's footer (RDB version, CRC64) and reads its value, as `RESTORE`
/// does (bytes after the value are ignored, as Redis ignores them).
pub fn restore_payload(p: &[u8]) -> Result<Value, PayloadError> {
    if p.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let body = &p[..p.len() - 10];
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&footer[2..]);
    if crc64(0, &p[..p.len() - 8]) != u64::from_le_bytes(c) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader::new(body);
    let t = r.u8().map_err(|_| PayloadError::BadFormat)?;
    let v = read_value(&mut r, t).map_err(|_| PayloadError::BadFormat)?;
    let empty = match &v {
        Value::Str(_) => false,
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    };
    if empty {
        return Err(PayloadError::BadFormat);
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
