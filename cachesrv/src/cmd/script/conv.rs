//! Redis's conversions between replies and Lua values, both ways. This file writes the value a
//! script returned as a reply, reading it from the Lua stack; [`super::rawcall`] pushes
//! replies onto the stack for `redis.call`.
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

use std::ffi::c_int;

use bytes::BytesMut;
use mlua::ffi;
use protocol::{Protocol, RespWrite};

use super::api::{format_g, number_text};

/// Deeper tables are written as nulls.
const MAX_DEPTH: usize = 200;

/// The special fields of a reply table, in the order Redis checks them.
const FIELDS: [&[u8]; 7] = [
    b"err",
    b"ok",
    b"double",
    b"big_number",
    b"map",
    b"set",
    b"verbatim_string",
];

/// Where the table of [`FIELDS`] is kept in the registry.
const FIELDS_KEY: &std::ffi::CStr = c"cachesrv.fields";

/// Writes Lua values as replies: the protocols, and where the field names were pushed.
pub(super) struct Writer {
    /// The caller's protocol.
    pub(super) proto: Protocol,
    /// The script's own (`redis.setresp`), which decides how booleans are written.
    pub(super) script: Protocol,
    /// Stack index of the table of [`FIELDS`].
    fields: c_int,
}

unsafe fn bytes<'a>(state: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(state, idx, &mut len);
    if p.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(p.cast::<u8>(), len)
}

/// The string or number at `idx` as text (Lua's `tostring` of a number).
unsafe fn text(state: *mut ffi::lua_State, idx: c_int) -> Option<Vec<u8>> {
    match ffi::lua_type(state, idx) {
        ffi::LUA_TSTRING => Some(bytes(state, idx).to_vec()),
        ffi::LUA_TNUMBER => Some(number_text(ffi::lua_tonumber(state, idx)).into_bytes()),
        _ => None,
    }
}

impl Writer {
    /// Pushes the table of field names, creating it in the registry the first time (call
    /// inside a protected call, before [`Writer::write`]).
    pub(super) unsafe fn new(
        state: *mut ffi::lua_State,
        proto: Protocol,
        script: Protocol,
    ) -> Writer {
        ffi::lua_checkstack(state, 8);
        if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, FIELDS_KEY.as_ptr()) != ffi::LUA_TTABLE
        {
            ffi::lua_settop(state, -2);
            ffi::lua_createtable(state, FIELDS.len() as c_int, 0);
            for (i, f) in FIELDS.iter().enumerate() {
                ffi::lua_pushlstring(state, f.as_ptr().cast(), f.len());
                ffi::lua_rawseti_(state, -2, i as c_int + 1);
            }
            ffi::lua_pushvalue(state, -1);
            ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, FIELDS_KEY.as_ptr());
        }
        let fields = ffi::lua_gettop(state);
        Writer {
            proto,
            script,
            fields,
        }
    }

    /// Writes the value at stack index `idx`.
    pub(super) unsafe fn write(&self, state: *mut ffi::lua_State, idx: c_int, out: &mut BytesMut) {
        self.value(state, ffi::lua_absindex(state, idx), out, 0);
    }

    unsafe fn value(
        &self,
        state: *mut ffi::lua_State,
        idx: c_int,
        out: &mut BytesMut,
        depth: usize,
    ) {
        match ffi::lua_type(state, idx) {
            ffi::LUA_TSTRING => out.write_bulk(bytes(state, idx)),
            ffi::LUA_TNUMBER => out.write_integer(ffi::lua_tonumber(state, idx) as i64),
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(state, idx) != 0;
                match self.script {
                    Protocol::Resp2 if b => out.write_integer(1),
                    Protocol::Resp2 => out.write_null(self.proto),
                    Protocol::Resp3 => out.write_bool(b, self.proto),
                }
            }
            ffi::LUA_TTABLE if depth < MAX_DEPTH => self.table(state, idx, out, depth),
            _ => out.write_null(self.proto),
        }
    }

    /// Pushes `t[FIELDS[i]]`; its type.
    unsafe fn field(&self, state: *mut ffi::lua_State, t: c_int, i: usize) -> c_int {
        ffi::lua_checkstack(state, 4);
        ffi::lua_rawgeti_(state, self.fields, i as c_int + 1);
        ffi::lua_rawget_(state, t);
        ffi::lua_type(state, -1)
    }

    unsafe fn table(&self, state: *mut ffi::lua_State, t: c_int, out: &mut BytesMut, depth: usize) {
        let pop = |state| ffi::lua_settop(state, -2);
        if self.field(state, t, 0) == ffi::LUA_TSTRING {
            out.write_error(bytes(state, -1));
            return pop(state);
        }
        pop(state);
        if self.field(state, t, 1) == ffi::LUA_TSTRING {
            let clean: Vec<u8> = bytes(state, -1)
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect();
            out.write_simple(&clean);
            return pop(state);
        }
        pop(state);
        if self.field(state, t, 2) == ffi::LUA_TNUMBER {
            out.write_double(ffi::lua_tonumber(state, -1), self.proto);
            return pop(state);
        }
        pop(state);
        if let Some(b) = (self.field(state, t, 3) != ffi::LUA_TNIL)
            .then(|| text(state, -1))
            .flatten()
        {
            match self.proto {
                Protocol::Resp2 => out.write_bulk(&b),
                Protocol::Resp3 => {
                    out.extend_from_slice(b"(");
                    out.extend_from_slice(&b);
                    out.extend_from_slice(b"\r\n");
                }
            }
            return pop(state);
        }
        pop(state);
        for (i, is_map) in [(4, true), (5, false)] {
            if self.field(state, t, i) == ffi::LUA_TTABLE {
                let m = ffi::lua_gettop(state);
                let n = count_pairs(state, m);
                if is_map {
                    out.write_map_len(n, self.proto);
                } else {
                    out.write_set_len(n, self.proto);
                }
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, m) != 0 {
                    let top = ffi::lua_gettop(state);
                    self.value(state, top - 1, out, depth + 1);
                    if is_map {
                        self.value(state, top, out, depth + 1);
                    }
                    pop(state);
                }
                return pop(state);
            }
            pop(state);
        }
        if self.field(state, t, 6) == ffi::LUA_TTABLE {
            let v = ffi::lua_gettop(state);
            ffi::lua_getfield_(state, v, c"format".as_ptr());
            ffi::lua_getfield_(state, v, c"string".as_ptr());
            let format = text(state, -2);
            let s = text(state, -1);
            ffi::lua_settop(state, v);
            if let (Some(f), Some(s)) = (format, s) {
                if let Ok(f3) = <[u8; 3]>::try_from(&f[..]) {
                    out.write_verbatim(&f3, &s, self.proto);
                    return pop(state);
                }
            }
        }
        pop(state);
        let mut n = 0;
        loop {
            ffi::lua_rawgeti_(state, t, n + 1);
            let nil = ffi::lua_type(state, -1) == ffi::LUA_TNIL;
            pop(state);
            if nil {
                break;
            }
            n += 1;
        }
        out.write_array_len(n as usize);
        for i in 1..=n {
            ffi::lua_rawgeti_(state, t, i);
            let top = ffi::lua_gettop(state);
            self.value(state, top, out, depth + 1);
            pop(state);
        }
    }
}

unsafe fn count_pairs(state: *mut ffi::lua_State, t: c_int) -> usize {
    let mut n = 0;
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, t) != 0 {
        n += 1;
        ffi::lua_settop(state, -2);
    }
    n
}

/// `<err> script: <name>, on <source>:<line>.` from the error handler's table at `idx` (only
/// `<err>` without a name).
pub(super) unsafe fn error_text(
    state: *mut ffi::lua_State,
    idx: c_int,
    name: Option<&str>,
) -> String {
    let idx = ffi::lua_absindex(state, idx);
    if ffi::lua_type(state, idx) != ffi::LUA_TTABLE {
        let t = text(state, idx).unwrap_or_default();
        return format!("ERR {}", String::from_utf8_lossy(&t));
    }
    let get = |key: &std::ffi::CStr| {
        ffi::lua_getfield_(state, idx, key.as_ptr());
        let v = match ffi::lua_type(state, -1) {
            ffi::LUA_TNUMBER => Some(format_g(ffi::lua_tonumber(state, -1), 14).into_bytes()),
            _ => text(state, -1),
        };
        ffi::lua_settop(state, -2);
        v.map(|v| String::from_utf8_lossy(&v).to_string())
    };
    let err = get(c"err").unwrap_or_else(|| "ERR unknown error".into());
    let Some(name) = name else {
        return err;
    };
    match (get(c"source"), get(c"line")) {
        (Some(s), Some(l)) => format!("{err} script: {name}, on {s}:{l}."),
        _ => format!("{err} script: {name}"),
    }
}
