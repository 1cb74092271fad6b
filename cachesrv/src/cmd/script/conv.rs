//! Redis's conversions between replies and Lua values, both ways.
//!
//! Reply -> Lua (what `redis.call` returns): integer -> number, bulk -> string, null bulk and
//! null array -> `false`, array -> table, status -> `{ok=...}`, error -> `{err=...}`; under
//! `redis.setresp(3)` also map -> `{map={...}}`, set -> `{set={k=true}}`, null -> `nil`,
//! boolean -> boolean, double -> `{double=n}`, big number -> `{big_number=s}`, verbatim ->
//! `{verbatim_string={format=..., string=...}}`.
//!
//! Lua -> reply (what a script returns): number -> integer (truncated), string -> bulk,
//! `true` -> `:1`, `false` and `nil` -> null (booleans after `redis.setresp(3)`), tables with
//! `err`, `ok`, `double`, `big_number`, `map`, `set` or `verbatim_string` fields -> those
//! types, other tables -> arrays up to their first `nil`.

use bytes::BytesMut;
use mlua::{Lua, Table, Value};
use protocol::{Protocol, RespWrite};

/// Deeper replies are cut (Lua's C stack is bounded).
const MAX_DEPTH: usize = 200;

/// Converts the reply in `buf` (one complete frame written by a command handler) to a Lua
/// value.
pub(super) fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut pos = 0;
    parse(lua, buf, &mut pos, 0)
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let end = buf[start.min(buf.len())..]
        .iter()
        .position(|&c| c == b'\r')
        .map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start.min(end)..end]
}

fn int(s: &[u8]) -> i64 {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn bulk<'a>(buf: &'a [u8], pos: &mut usize, len: i64) -> &'a [u8] {
    let start = (*pos).min(buf.len());
    let end = (start + len.max(0) as usize).min(buf.len());
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn single(lua: &Lua, key: &str, v: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

fn parse(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    let Some(&kind) = buf.get(*pos) else {
        return Ok(Value::Boolean(false));
    };
    *pos += 1;
    let head = line(buf, pos);
    Ok(match kind {
        b':' => Value::Number(int(head) as f64),
        b'$' => match int(head) {
            n if n < 0 => Value::Boolean(false),
            n => Value::String(lua.create_string(bulk(buf, pos, n))?),
        },
        b'+' => single(lua, "ok", lua.create_string(head)?)?,
        b'-' => single(lua, "err", lua.create_string(head)?)?,
        b'*' | b'>' => {
            let n = int(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n.min(1 << 16) as usize, 0)?;
            for i in 0..n {
                let v = elem(lua, buf, pos, depth)?;
                t.raw_set(i + 1, v)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..int(head) {
                let k = elem(lua, buf, pos, depth)?;
                let v = elem(lua, buf, pos, depth)?;
                if k != Value::Nil {
                    t.raw_set(k, v)?;
                }
            }
            single(lua, "map", t)?
        }
        b'~' => {
            let t = lua.create_table()?;
            for _ in 0..int(head) {
                let k = elem(lua, buf, pos, depth)?;
                if k != Value::Nil {
                    t.raw_set(k, true)?;
                }
            }
            single(lua, "set", t)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let d = std::str::from_utf8(head)
                .ok()
                .and_then(|s| match s {
                    "inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    _ => s.parse().ok(),
                })
                .unwrap_or(f64::NAN);
            single(lua, "double", d)?
        }
        b'(' => single(lua, "big_number", lua.create_string(head)?)?,
        b'=' => {
            let body = bulk(buf, pos, int(head));
            let (format, text) = if body.len() >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("format", lua.create_string(format)?)?;
            t.raw_set("string", lua.create_string(text)?)?;
            single(lua, "verbatim_string", t)?
        }
        _ => Value::Boolean(false),
    })
}

fn elem(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth >= MAX_DEPTH {
        return Err(mlua::Error::runtime("reached lua stack limit"));
    }
    parse(lua, buf, pos, depth + 1)
}

/// Writes what a script returned as the reply, for a client speaking `proto`; booleans follow
/// the script's own protocol (`redis.setresp`), as in Redis.
pub(super) fn lua_to_reply(out: &mut BytesMut, v: &Value, proto: Protocol, script: Protocol) {
    write(out, v, proto, script, 0);
}

fn text(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(super::api::number_text(*n).into_bytes()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn write(out: &mut BytesMut, v: &Value, proto: Protocol, script: Protocol, depth: usize) {
    match v {
        Value::String(s) => out.write_bulk(&s.as_bytes()),
        Value::Number(n) => out.write_integer(*n as i64),
        Value::Integer(n) => out.write_integer(*n),
        Value::Boolean(b) => match (script, proto) {
            (Protocol::Resp2, _) if *b => out.write_integer(1),
            (Protocol::Resp2, _) => out.write_null(proto),
            (Protocol::Resp3, _) => out.write_bool(*b, proto),
        },
        Value::Table(t) if depth < MAX_DEPTH => write_table(out, t, proto, script, depth),
        _ => out.write_null(proto),
    }
}

fn write_table(out: &mut BytesMut, t: &Table, proto: Protocol, script: Protocol, depth: usize) {
    let field = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        return out.write_error(&e.as_bytes());
    }
    if let Value::String(s) = field("ok") {
        let s = s.as_bytes();
        let clean: Vec<u8> = s
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        return out.write_simple(&clean);
    }
    if let Value::Number(d) = field("double") {
        return out.write_double(d, proto);
    }
    if let Some(b) = text(&field("big_number")) {
        return match proto {
            Protocol::Resp2 => out.write_bulk(&b),
            Protocol::Resp3 => {
                out.extend_from_slice(b"(");
                out.extend_from_slice(&b);
                out.extend_from_slice(b"\r\n");
            }
        };
    }
    if let Value::Table(m) = field("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.write_map_len(pairs.len(), proto);
        for (k, v) in &pairs {
            write(out, k, proto, script, depth + 1);
            write(out, v, proto, script, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.write_set_len(keys.len(), proto);
        for k in &keys {
            write(out, k, proto, script, depth + 1);
        }
        return;
    }
    if let Value::Table(vs) = field("verbatim_string") {
        let format = vs.raw_get::<Value>("format").ok().and_then(|f| text(&f));
        let s = vs.raw_get::<Value>("string").ok().and_then(|f| text(&f));
        if let (Some(f), Some(s)) = (format, s) {
            if let Ok(f3) = <[u8; 3]>::try_from(&f[..]) {
                return out.write_verbatim(&f3, &s, proto);
            }
        }
    }
    let mut items = Vec::new();
    let mut i = 1;
    loop {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
        i += 1;
    }
    out.write_array_len(items.len());
    for v in &items {
        write(out, v, proto, script, depth + 1);
    }
}
