//! The `struct` library as Redis embeds it (Roberto Ierusalimschy's struct 0.2): `pack`,
//! `unpack` and `size` over format strings of `>` `<` `=` (byte order), `!n` (alignment),
//! `x` (padding), `b B h H l L T i I[n]` (integers), `f d` (floats), `c[n]` (fixed strings)
//! and `s` (zero-terminated strings).

use mlua::{Lua, MultiValue, Table, Value};

use super::bit::{lib_error, lib_fn, number};

#[derive(Clone, Copy)]
struct State {
    little: bool,
    align: usize,
}

enum Item {
    Pad,
    Int { size: usize, signed: bool },
    Float,
    Double,
    Chars(usize),
    Zstr,
}

/// A size after an option: None without digits; sizes past `INT_MAX` are refused as the C
/// library refuses them.
fn digits(fmt: &[u8], i: &mut usize) -> mlua::Result<Option<usize>> {
    let start = *i;
    let mut n: u64 = 0;
    while *i < fmt.len() && fmt[*i].is_ascii_digit() {
        n = n * 10 + u64::from(fmt[*i] - b'0');
        if n > i32::MAX as u64 {
            return Err(lib_error("integral size overflow".into()));
        }
        *i += 1;
    }
    Ok((*i > start).then_some(n as usize))
}

/// The next item of `fmt` from `*i` (changing `st` for order and alignment options).
fn next_item(fmt: &[u8], i: &mut usize, st: &mut State, fname: &str) -> mlua::Result<Option<Item>> {
    while *i < fmt.len() {
        let c = fmt[*i];
        *i += 1;
        let item = match c {
            b' ' => continue,
            b'>' => {
                st.little = false;
                continue;
            }
            b'<' | b'=' => {
                st.little = true;
                continue;
            }
            b'!' => {
                st.align = digits(fmt, i)?.unwrap_or(8);
                continue;
            }
            b'x' => Item::Pad,
            b'b' => Item::Int {
                size: 1,
                signed: true,
            },
            b'B' => Item::Int {
                size: 1,
                signed: false,
            },
            b'h' => Item::Int {
                size: 2,
                signed: true,
            },
            b'H' => Item::Int {
                size: 2,
                signed: false,
            },
            b'l' => Item::Int {
                size: 8,
                signed: true,
            },
            b'L' | b'T' => Item::Int {
                size: 8,
                signed: false,
            },
            b'i' | b'I' => {
                let size = digits(fmt, i)?.unwrap_or(4);
                if size > 8 {
                    return Err(lib_error(format!(
                        "integral size {size} is larger than limit of 8"
                    )));
                }
                Item::Int {
                    size,
                    signed: c == b'i',
                }
            }
            b'f' => Item::Float,
            b'd' => Item::Double,
            b'c' => Item::Chars(digits(fmt, i)?.unwrap_or(1)),
            b's' => Item::Zstr,
            other => {
                return Err(lib_error(format!(
                    "bad argument #1 to '{fname}' (invalid format option '{}')",
                    other as char
                )))
            }
        };
        return Ok(Some(item));
    }
    Ok(None)
}

fn item_size(item: &Item) -> usize {
    match item {
        Item::Pad | Item::Zstr => 1,
        Item::Int { size, .. } => *size,
        Item::Float => 4,
        Item::Double => 8,
        Item::Chars(n) => *n,
    }
}

fn padding(len: usize, item: &Item, st: &State) -> usize {
    let size = match item {
        Item::Int { size, .. } => *size,
        Item::Float => 4,
        Item::Double => 8,
        _ => return 0,
    };
    let align = size.min(st.align.max(1));
    if align <= 1 || !align.is_power_of_two() {
        return 0;
    }
    (align - (len & (align - 1))) & (align - 1)
}

fn text_arg(args: &MultiValue, i: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(super::api::number_text(*n).into_bytes()),
        other => Err(lib_error(format!(
            "bad argument #{} to '{fname}' (string expected, got {})",
            i + 1,
            other.map_or("no value", Value::type_name)
        ))),
    }
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let fmt = text_arg(&args, 0, "pack")?;
    let mut st = State {
        little: true,
        align: 1,
    };
    let (mut i, mut arg) = (0, 1);
    let mut out = Vec::new();
    while let Some(item) = next_item(&fmt, &mut i, &mut st, "pack")? {
        out.resize(out.len() + padding(out.len(), &item, &st), 0);
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, .. } => {
                let n = number(&args, arg, "pack")? as i64 as u64;
                arg += 1;
                let bytes = n.to_le_bytes();
                if st.little {
                    out.extend_from_slice(&bytes[..size]);
                } else {
                    out.extend(bytes[..size].iter().rev());
                }
            }
            Item::Float | Item::Double => {
                let n = number(&args, arg, "pack")?;
                arg += 1;
                let bytes = if matches!(item, Item::Float) {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if st.little {
                    out.extend_from_slice(&bytes);
                } else {
                    out.extend(bytes.iter().rev());
                }
            }
            Item::Chars(n) => {
                let s = text_arg(&args, arg, "pack")?;
                arg += 1;
                let n = if n == 0 { s.len() } else { n };
                if s.len() < n {
                    return Err(lib_error(format!(
                        "bad argument #{arg} to 'pack' (string too short)"
                    )));
                }
                out.extend_from_slice(&s[..n]);
            }
            Item::Zstr => {
                let s = text_arg(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&s);
                out.push(0);
            }
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let fmt = text_arg(&args, 0, "unpack")?;
    let data = text_arg(&args, 1, "unpack")?;
    let mut pos = match args.get(2) {
        None | Some(Value::Nil) => 0,
        _ => (number(&args, 2, "unpack")? as i64 - 1).max(0) as usize,
    };
    let mut st = State {
        little: true,
        align: 1,
    };
    let mut i = 0;
    let mut out = MultiValue::new();
    let mut last_number = 0usize;
    let short = || lib_error("bad argument #2 to 'unpack' (data string too short)".into());
    while let Some(item) = next_item(&fmt, &mut i, &mut st, "unpack")? {
        pos += padding(pos, &item, &st);
        let size = match item {
            Item::Chars(0) => last_number,
            ref other => item_size(other),
        };
        match item {
            Item::Pad => {}
            Item::Int { size, signed } => {
                let b = data.get(pos..pos.saturating_add(size)).ok_or_else(short)?;
                let mut v: u64 = 0;
                for k in 0..size {
                    let byte = if st.little { b[size - 1 - k] } else { b[k] };
                    v = (v << 8) | u64::from(byte);
                }
                let n = if signed && size < 8 && v >> (size * 8 - 1) & 1 == 1 {
                    (v | (!0u64 << (size * 8))) as i64 as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                last_number = n.max(0.0) as usize;
                out.push_back(Value::Number(n));
            }
            Item::Float | Item::Double => {
                let b = data.get(pos..pos.saturating_add(size)).ok_or_else(short)?;
                let mut bytes = b.to_vec();
                if !st.little {
                    bytes.reverse();
                }
                let n = if size == 4 {
                    f64::from(f32::from_le_bytes(bytes.try_into().unwrap_or([0; 4])))
                } else {
                    f64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
                };
                out.push_back(Value::Number(n));
            }
            Item::Chars(_) => {
                let b = data.get(pos..pos.saturating_add(size)).ok_or_else(short)?;
                out.push_back(Value::String(lua.create_string(b)?));
            }
            Item::Zstr => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| lib_error("unfinished string in data".into()))?;
                out.push_back(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
                continue;
            }
        }
        pos = pos.saturating_add(size);
    }
    out.push_back(Value::Number((pos + 1) as f64));
    Ok(out)
}

fn size(_: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let fmt = text_arg(&args, 0, "size")?;
    let mut st = State {
        little: true,
        align: 1,
    };
    let (mut i, mut total) = (0, 0usize);
    while let Some(item) = next_item(&fmt, &mut i, &mut st, "size")? {
        let unsized_option = match item {
            Item::Zstr => Some("s"),
            Item::Chars(0) => Some("c0"),
            _ => None,
        };
        if let Some(o) = unsized_option {
            return Err(lib_error(format!(
                "bad argument #1 to 'size' (option '{o}' has no fixed size)"
            )));
        }
        total = total
            .saturating_add(padding(total, &item, &st))
            .saturating_add(item_size(&item));
    }
    Ok(total as f64)
}

/// The `struct` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lib_fn(lua, pack)?)?;
    t.raw_set("unpack", lib_fn(lua, unpack)?)?;
    t.raw_set("size", lib_fn(lua, size)?)?;
    Ok(t)
}
