//! The `cmsgpack` library as Redis embeds it (lua-cmsgpack 0.4): `pack(...)` concatenates
//! each value's MessagePack encoding; `unpack(s)` returns every value in `s`;
//! `unpack_one(s [, offset])` and `unpack_limit(s, limit [, offset])` return the offset after
//! what they read, then the values.
//!
//! Encoding as lua-cmsgpack: integral numbers in the smallest integer format, other numbers as
//! float32 when exact and float64 otherwise, strings as fixstr/str8/str16/str32, tables whose
//! keys are exactly 1..n as arrays and others as maps; at most 16 levels (deeper: nil).

use mlua::{Lua, MultiValue, Table, Value};

use super::bit::{lib_error, lib_fn};

const MAX_NESTING: usize = 16;

fn len_header(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) {
    if n < fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(m16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() && n == n.trunc() && n.abs() < 9.2e18 {
        let i = n as i64;
        if i >= 0 {
            match i {
                0..=127 => out.push(i as u8),
                128..=0xff => out.extend_from_slice(&[0xcc, i as u8]),
                0x100..=0xffff => {
                    out.push(0xcd);
                    out.extend_from_slice(&(i as u16).to_be_bytes());
                }
                0x1_0000..=0xffff_ffff => {
                    out.push(0xce);
                    out.extend_from_slice(&(i as u32).to_be_bytes());
                }
                _ => {
                    out.push(0xcf);
                    out.extend_from_slice(&(i as u64).to_be_bytes());
                }
            }
        } else if i >= -32 {
            out.push(i as i8 as u8);
        } else if i >= -128 {
            out.extend_from_slice(&[0xd0, i as i8 as u8]);
        } else if i >= -32768 {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        } else if i >= -(1 << 31) {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    } else if f64::from(n as f32) == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `Some(n)` when the table's keys are exactly 1..n.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let mut count = 0usize;
    let mut max = 0f64;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n != n.trunc() {
            return Ok(None);
        }
        max = max.max(n);
        count += 1;
    }
    Ok((max as usize == count).then_some(count))
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() < 32 {
                out.push(0xa0 | b.len() as u8);
            } else if b.len() <= 0xff {
                out.extend_from_slice(&[0xd9, b.len() as u8]);
            } else {
                len_header(out, b.len(), 0xa0, 0, 0xda, 0xdb);
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => match array_len(t)? {
            Some(n) => {
                len_header(out, n, 0x90, 16, 0xdc, 0xdd);
                for i in 1..=n {
                    encode(out, &t.raw_get::<Value>(i)?, depth + 1)?;
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> = t.pairs().collect::<mlua::Result<_>>()?;
                len_header(out, pairs.len(), 0x80, 16, 0xde, 0xdf);
                for (k, v) in &pairs {
                    encode(out, k, depth + 1)?;
                    encode(out, v, depth + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

fn missing() -> mlua::Error {
    lib_error("Missing bytes in input.".into())
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let b = self.s.get(self.pos..self.pos + n).ok_or_else(missing)?;
        self.pos += n;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let c = *self.take(1)?.first().ok_or_else(missing)?;
        Ok(match c {
            0x00..=0x7f => Value::Number(f64::from(c)),
            0xe0..=0xff => Value::Number(f64::from(c as i8)),
            0x80..=0x8f => self.map(lua, usize::from(c & 0x0f))?,
            0x90..=0x9f => self.array(lua, usize::from(c & 0x0f))?,
            0xa0..=0xbf => self.string(lua, usize::from(c & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(lua, n)?
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.string(lua, n)?
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.string(lua, n)?
            }
            0xca => Value::Number(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => Value::Number(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Number(self.uint(1)? as f64),
            0xcd => Value::Number(self.uint(2)? as f64),
            0xce => Value::Number(self.uint(4)? as f64),
            0xcf => Value::Number(self.uint(8)? as f64),
            0xd0 => Value::Number(f64::from(self.uint(1)? as u8 as i8)),
            0xd1 => Value::Number(f64::from(self.uint(2)? as u16 as i16)),
            0xd2 => Value::Number(f64::from(self.uint(4)? as u32 as i32)),
            0xd3 => Value::Number(self.uint(8)? as i64 as f64),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(lua, n)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(lua, n)?
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(lua, n)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(lua, n)?
            }
            _ => return Err(lib_error("Bad data format in input.".into())),
        })
    }

    fn string(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let b = self.take(n)?;
        Ok(Value::String(lua.create_string(b)?))
    }

    fn array(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(n.min(1 << 16), 0)?;
        for i in 1..=n {
            let v = self.value(lua)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.value(lua)?;
            let v = self.value(lua)?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}

fn bytes_arg(args: &MultiValue, name: &str) -> mlua::Result<Vec<u8>> {
    match args.front() {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        other => Err(lib_error(format!(
            "bad argument #1 to '{name}' (string expected, got {})",
            other.map_or("no value", Value::type_name)
        ))),
    }
}

fn index_arg(args: &MultiValue, i: usize) -> usize {
    match args.get(i) {
        Some(Value::Integer(n)) => (*n).max(0) as usize,
        Some(Value::Number(n)) => n.max(0.0) as usize,
        _ => 0,
    }
}

/// Decodes up to `limit` values (0: all) from `offset`: (offset after them, values).
fn unpack_some(lua: &Lua, s: &[u8], limit: usize, offset: usize) -> mlua::Result<MultiValue> {
    let mut r = Reader { s, pos: offset };
    let mut out = MultiValue::new();
    while r.pos < s.len() && (limit == 0 || out.len() < limit) {
        out.push_back(r.value(lua)?);
    }
    let next = if r.pos >= s.len() { -1 } else { r.pos as i64 };
    out.push_front(Value::Number(next as f64));
    Ok(out)
}

/// The `cmsgpack` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lib_fn(lua, |lua, args: MultiValue| {
            if args.is_empty() {
                return Err(lib_error("MessagePack pack needs input.".into()));
            }
            let mut out = Vec::new();
            for a in &args {
                encode(&mut out, a, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lib_fn(lua, |lua, args: MultiValue| {
            let s = bytes_arg(&args, "unpack")?;
            let mut v = unpack_some(lua, &s, 0, 0)?;
            v.pop_front();
            Ok(v)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lib_fn(lua, |lua, args: MultiValue| {
            let s = bytes_arg(&args, "unpack_one")?;
            unpack_some(lua, &s, 1, index_arg(&args, 1))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lib_fn(lua, |lua, args: MultiValue| {
            let s = bytes_arg(&args, "unpack_limit")?;
            unpack_some(lua, &s, index_arg(&args, 1), index_arg(&args, 2))
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}
