//! The `bit` library with LuaBitOp 1.0's semantics: numbers are taken modulo 2^32 (rounded
//! as LuaBitOp rounds them) and results are signed 32-bit integers.

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

/// An error of a library function, to be located by [`lib_fn`].
pub(super) fn lib_error(msg: String) -> mlua::Error {
    mlua::Error::runtime(format!("\u{1}{msg}"))
}

/// A library function whose errors read as a C library's `luaL_error` ones: prefixed with the
/// position of the Lua code that called it (`user_script:3: `), none when called from C (such
/// as directly by `pcall`).
pub(super) fn lib_fn<R: IntoLuaMulti>(
    lua: &Lua,
    f: impl Fn(&Lua, MultiValue) -> mlua::Result<R> + 'static,
) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        f(lua, args).map_err(|e| match e {
            mlua::Error::RuntimeError(m) if m.starts_with('\u{1}') => {
                let at = lua
                    .inspect_stack(1, |d| {
                        let s = d.source();
                        if s.what == "C" {
                            return None;
                        }
                        Some(format!("{}:{}: ", s.short_src?, d.current_line()?))
                    })
                    .flatten()
                    .unwrap_or_default();
                mlua::Error::RuntimeError(format!("{at}{}", &m[1..]))
            }
            other => other,
        })
    })
}

fn arg_error(n: usize, name: &str, got: Option<&Value>) -> mlua::Error {
    let got = got.map_or("no value", Value::type_name);
    lib_error(format!(
        "bad argument #{n} to '{name}' (number expected, got {got})"
    ))
}

/// A number argument, as `luaL_checknumber` takes it.
pub(super) fn number(args: &MultiValue, i: usize, name: &str) -> mlua::Result<f64> {
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| parse_lua_number(s.trim()))
            .ok_or_else(|| arg_error(i + 1, name, args.get(i))),
        other => Err(arg_error(i + 1, name, other)),
    }
}

fn parse_lua_number(s: &str) -> Option<f64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    s.parse().ok()
}

/// LuaBitOp's conversion: add 2^52 + 2^51 and keep the low 32 bits of the mantissa.
fn tobit(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

fn bit(args: &MultiValue, i: usize, name: &str) -> mlua::Result<u32> {
    number(args, i, name).map(tobit)
}

fn out(b: u32) -> f64 {
    f64::from(b as i32)
}

fn fold(args: &MultiValue, name: &str, f: fn(u32, u32) -> u32) -> mlua::Result<f64> {
    let mut acc = bit(args, 0, name)?;
    for i in 1..args.len() {
        acc = f(acc, bit(args, i, name)?);
    }
    Ok(out(acc))
}

fn shift(args: &MultiValue, name: &str, f: fn(u32, u32) -> u32) -> mlua::Result<f64> {
    let x = bit(args, 0, name)?;
    let n = bit(args, 1, name)? & 31;
    Ok(out(f(x, n)))
}

/// The `bit` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "tobit",
        lib_fn(lua, |_, a: MultiValue| Ok(out(bit(&a, 0, "tobit")?)))?,
    )?;
    t.raw_set(
        "bnot",
        lib_fn(lua, |_, a: MultiValue| Ok(out(!bit(&a, 0, "bnot")?)))?,
    )?;
    t.raw_set(
        "band",
        lib_fn(lua, |_, a: MultiValue| fold(&a, "band", |x, y| x & y))?,
    )?;
    t.raw_set(
        "bor",
        lib_fn(lua, |_, a: MultiValue| fold(&a, "bor", |x, y| x | y))?,
    )?;
    t.raw_set(
        "bxor",
        lib_fn(lua, |_, a: MultiValue| fold(&a, "bxor", |x, y| x ^ y))?,
    )?;
    t.raw_set(
        "lshift",
        lib_fn(lua, |_, a: MultiValue| shift(&a, "lshift", |x, n| x << n))?,
    )?;
    t.raw_set(
        "rshift",
        lib_fn(lua, |_, a: MultiValue| shift(&a, "rshift", |x, n| x >> n))?,
    )?;
    t.raw_set(
        "arshift",
        lib_fn(lua, |_, a: MultiValue| {
            shift(&a, "arshift", |x, n| ((x as i32) >> n) as u32)
        })?,
    )?;
    t.raw_set(
        "rol",
        lib_fn(lua, |_, a: MultiValue| shift(&a, "rol", u32::rotate_left))?,
    )?;
    t.raw_set(
        "ror",
        lib_fn(lua, |_, a: MultiValue| shift(&a, "ror", u32::rotate_right))?,
    )?;
    t.raw_set(
        "bswap",
        lib_fn(lua, |_, a: MultiValue| {
            Ok(out(bit(&a, 0, "bswap")?.swap_bytes()))
        })?,
    )?;
    t.raw_set(
        "tohex",
        lib_fn(lua, |_, a: MultiValue| {
            let x = bit(&a, 0, "tohex")?;
            let n = if a.len() > 1 && !matches!(a.get(1), Some(Value::Nil)) {
                tobit(number(&a, 1, "tohex")?) as i32
            } else {
                8
            };
            let upper = n < 0;
            let n = n.unsigned_abs().min(8) as usize;
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_and_rounds_as_luabitop() {
        assert_eq!(tobit(2f64.powi(32) + 5.0) as i32, 5);
        assert_eq!(tobit(-1.0) as i32, -1);
        assert_eq!(tobit(0xffff_ffffu32 as f64) as i32, -1);
        assert_eq!(tobit(1.5) as i32, 2);
        assert_eq!(tobit(2.5) as i32, 2);
    }
}
