//! Redis's conversions between replies and Lua values, both ways.
//!
//! This file writes Lua values as replies; [`super::rawcall`] pushes replies as Lua values.
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
use mlua::{Table, Value};
use protocol::{Protocol, RespWrite};

/// Deeper tables are written as nulls.
const MAX_DEPTH: usize = 200;

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
