//! `redis.call` and `redis.pcall` as Lua C functions working on the Lua stack directly: the
//! arguments are read from it and the reply is pushed onto it, converted as Redis converts
//! replies (see [`super::conv`]). Being C functions, `return redis.call(...)` keeps the
//! script's frame (a Lua function there would be a tail call, losing the error's line).
//!
//! On failure `redis.call` raises the error table (marked with the metatable that the
//! sandbox's `pcall` recognises); `redis.pcall` returns it.
//!
//! Every Rust value that owns memory is dropped before `lua_error` is called. The only other
//! way out of these functions without returning is an allocation failure inside Lua.

use std::ffi::{c_char, c_int};

use mlua::ffi;

use super::api::{execute, format_g, with_state};

/// The registry key of the metatable that marks `redis.call`'s raised errors.
pub(super) const CALL_ERROR_KEY: &std::ffi::CStr = c"cachesrv.callerr";

/// Deeper replies are cut (the C stack and Lua's stack are bounded).
const MAX_DEPTH: usize = 200;

/// `redis.call(...)`.
///
/// # Safety
/// Called by Lua only, as a C function.
pub(super) unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    call(state, true)
}

/// `redis.pcall(...)`.
///
/// # Safety
/// Called by Lua only, as a C function.
pub(super) unsafe extern "C-unwind" fn redis_pcall(state: *mut ffi::lua_State) -> c_int {
    call(state, false)
}

unsafe fn push_str(state: *mut ffi::lua_State, s: &[u8]) {
    ffi::lua_pushlstring(state, s.as_ptr().cast::<c_char>(), s.len());
}

/// Pushes `{err = msg}`.
unsafe fn push_error(state: *mut ffi::lua_State, msg: &[u8]) {
    ffi::lua_createtable(state, 0, 1);
    push_str(state, b"err");
    push_str(state, msg);
    ffi::lua_rawset(state, -3);
}

unsafe fn call(state: *mut ffi::lua_State, raise: bool) -> c_int {
    let failed = match run(state) {
        Err(msg) => {
            ffi::lua_settop(state, 0);
            push_error(state, msg.as_bytes());
            true
        }
        Ok(()) => {
            ffi::lua_settop(state, 0);
            let pushed = with_state(|st| {
                let mut pos = 0;
                push_reply(state, &st.out, &mut pos, 0);
                let failed = st.out.first() == Some(&b'-');
                st.out.clear();
                failed
            });
            match pushed {
                Some(failed) => failed,
                None => {
                    push_error(state, b"ERR redis.call is not available here");
                    true
                }
            }
        }
    };
    if failed && raise {
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, CALL_ERROR_KEY.as_ptr());
        ffi::lua_setmetatable(state, -2);
        ffi::lua_error(state);
    }
    1
}

/// Reads the arguments and runs the command; its reply is left in the script state's buffer.
unsafe fn run(state: *mut ffi::lua_State) -> Result<(), &'static str> {
    let n = ffi::lua_gettop(state);
    if n == 0 {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    let outcome = with_state(|st| {
        st.args.clear();
        st.bounds.clear();
        for i in 1..=n {
            let start = st.args.len();
            match ffi::lua_type(state, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(state, i, &mut len);
                    if !p.is_null() {
                        st.args
                            .extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
                    }
                }
                ffi::LUA_TNUMBER => {
                    let v = ffi::lua_tonumber(state, i);
                    st.args.extend_from_slice(format_g(v, 17).as_bytes());
                }
                _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
            }
            st.bounds.push((start, st.args.len()));
        }
        execute(st)
    });
    outcome.unwrap_or(Err("ERR redis.call is not available here"))
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = (*pos).min(buf.len());
    let end = buf[start..]
        .iter()
        .position(|&c| c == b'\r')
        .map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
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

/// Wraps the value on top of the stack in `{key = value}`.
unsafe fn wrap(state: *mut ffi::lua_State, key: &[u8]) {
    ffi::lua_createtable(state, 0, 1);
    push_str(state, key);
    ffi::lua_pushvalue(state, -3);
    ffi::lua_rawset(state, -3);
    ffi::lua_remove(state, -2);
}

/// Pushes one reply frame of `buf` at `*pos` as a Lua value.
unsafe fn push_reply(state: *mut ffi::lua_State, buf: &[u8], pos: &mut usize, depth: usize) {
    ffi::lua_checkstack(state, 8);
    let Some(&kind) = buf.get(*pos) else {
        ffi::lua_pushboolean(state, 0);
        return;
    };
    *pos += 1;
    let head = line(buf, pos);
    match kind {
        b':' => ffi::lua_pushnumber(state, int(head) as f64),
        b'$' => match int(head) {
            n if n < 0 => ffi::lua_pushboolean(state, 0),
            n => push_str(state, bulk(buf, pos, n)),
        },
        b'+' => {
            push_str(state, head);
            wrap(state, b"ok");
        }
        b'-' => {
            push_str(state, head);
            wrap(state, b"err");
        }
        b'*' | b'>' => {
            let n = int(head);
            if n < 0 {
                return ffi::lua_pushboolean(state, 0);
            }
            ffi::lua_createtable(state, n.min(1 << 16) as c_int, 0);
            for i in 0..n {
                elem(state, buf, pos, depth);
                ffi::lua_rawseti_(state, -2, (i + 1) as c_int);
            }
        }
        b'%' | b'~' => {
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..int(head) {
                elem(state, buf, pos, depth);
                if kind == b'%' {
                    elem(state, buf, pos, depth);
                } else {
                    ffi::lua_pushboolean(state, 1);
                }
                if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
                    ffi::lua_settop(state, -3);
                } else {
                    ffi::lua_rawset(state, -3);
                }
            }
            wrap(state, if kind == b'%' { b"map" } else { b"set" });
        }
        b'_' => ffi::lua_pushnil(state),
        b'#' => ffi::lua_pushboolean(state, c_int::from(head == b"t")),
        b',' => {
            let d = std::str::from_utf8(head)
                .ok()
                .and_then(|s| match s {
                    "inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    _ => s.parse().ok(),
                })
                .unwrap_or(f64::NAN);
            ffi::lua_pushnumber(state, d);
            wrap(state, b"double");
        }
        b'(' => {
            push_str(state, head);
            wrap(state, b"big_number");
        }
        b'=' => {
            let body = bulk(buf, pos, int(head));
            let (format, text) = if body.len() >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            ffi::lua_createtable(state, 0, 2);
            push_str(state, b"format");
            push_str(state, format);
            ffi::lua_rawset(state, -3);
            push_str(state, b"string");
            push_str(state, text);
            ffi::lua_rawset(state, -3);
            wrap(state, b"verbatim_string");
        }
        _ => ffi::lua_pushboolean(state, 0),
    }
}

unsafe fn elem(state: *mut ffi::lua_State, buf: &[u8], pos: &mut usize, depth: usize) {
    if depth >= MAX_DEPTH {
        ffi::lua_pushboolean(state, 0);
        return;
    }
    push_reply(state, buf, pos, depth + 1);
}
