//! Functions: FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL, FCALL and FCALL_RO.
//!
//! A library is Lua code starting with `#!lua name=<lib>` that calls
//! `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
//! callback=..., flags={...}, description=...}` when loaded. The libraries' code is kept in
//! [`Scripts`](crate::state::Scripts); each thread's Lua state loads it again when the
//! libraries changed. Functions run as EVAL scripts do (atomically, `-BUSY`, FUNCTION KILL),
//! with errors named after the function and `@user_function`.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Value};

use super::super::flags::*;
use super::super::keys::help;
use super::super::util::eq;
use super::super::{unknown_subcommand, OuterCtx, OwnGateHandler};
use super::vm::{LoadedFunction, Vm};
use super::{api, kill, run, split_keys, Target};
use crate::engine::glob_match;
use crate::state::scripts::{FunctionDef, Library, ScriptKind, FN_FLAGS, FN_NO_WRITES};
use crate::state::Shared;

/// A function registered while loading a library.
pub(crate) struct Registered {
    name: String,
    func: Function,
    flags: u32,
    description: Option<Bytes>,
}

pub(super) fn register(
    add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), OwnGateHandler),
) {
    add("fcall", -3, 0, (0, 0, 0), fcall);
    add("fcall_ro", -3, READONLY, (0, 0, 0), fcall_ro);
    add("function", -2, 0, (0, 0, 0), function);
    for (name, arity) in [
        ("function|load", -3),
        ("function|list", -2),
        ("function|delete", 3),
        ("function|flush", -2),
        ("function|dump", 2),
        ("function|restore", -3),
        ("function|stats", 2),
        ("function|kill", 2),
        ("function|help", 2),
    ] {
        add(name, arity, 0, (0, 0, 0), function);
    }
}

fn err(msg: &str) -> mlua::Error {
    mlua::Error::runtime(msg)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

const NAME_RULES: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// `redis.register_function`, while a library loads.
pub(super) fn register_function(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, 0u32, None);
    let positional = args.len() == 2;
    match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return Err(err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key =
                    match &k {
                        Value::String(s) => s.to_string_lossy(),
                        _ => return Err(err(
                            "named argument key given to redis.register_function is not a string",
                        )),
                    };
                match key.as_str() {
                    "function_name" => name = Some(v),
                    "callback" => callback = Some(v),
                    "description" => match v {
                        Value::String(s) => description = Some(Bytes::from(s.as_bytes().to_vec())),
                        _ => return Err(err("description argument given to redis.register_function must be a string")),
                    },
                    "flags" => {
                        let Value::Table(ft) = v else {
                            return Err(err("flags argument to redis.register_function must be a table representing function flags"));
                        };
                        for f in ft.sequence_values::<Value>() {
                            let f = match f? {
                                Value::String(s) => s.to_string_lossy(),
                                _ => return Err(err("unknown flag given")),
                            };
                            match FN_FLAGS.iter().find(|(n, _)| *n == f) {
                                Some((_, bit)) => flags |= bit,
                                None => return Err(err("unknown flag given")),
                            }
                        }
                    }
                    _ => return Err(err("unknown argument given to redis.register_function")),
                }
            }
        }
        2 => {
            name = args.front().cloned();
            callback = args.get(1).cloned();
        }
        _ => return Err(err("wrong number of arguments to redis.register_function")),
    }
    let name = match name {
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(Value::Integer(i)) => i.to_string(),
        Some(Value::Number(n)) => super::api::number_text(n),
        _ => {
            return Err(err(
                "function_name argument given to redis.register_function must be a string",
            ))
        }
    };
    let Some(Value::Function(func)) = callback else {
        return Err(err(if positional {
            "second argument to redis.register_function must be a function"
        } else {
            "callback argument given to redis.register_function must be a function"
        }));
    };
    if !valid_name(&name) {
        return Err(err(NAME_RULES));
    }
    let added = api::with_state(|st| match st.registering.as_mut() {
        None => Err(err(
            "redis.register_function can only be called on FUNCTION LOAD command",
        )),
        Some(list) if list.iter().any(|r| r.name == name) => {
            Err(err("Function already exists in the library"))
        }
        Some(list) => {
            list.push(Registered {
                name,
                func,
                flags,
                description,
            });
            Ok(())
        }
    });
    added.unwrap_or_else(|| {
        Err(err(
            "redis.register_function can only be called on FUNCTION LOAD command",
        ))
    })
}

/// Splits `#!lua name=<lib>` from a library's code. Err: Redis's error.
fn metadata(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).to_string();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let invalid = || "ERR Invalid library metadata".to_string();
    if parts.next() != Some("lua") {
        return Err(invalid());
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) if name.is_none() => name = Some(n.to_string()),
            _ => return Err(invalid()),
        }
    }
    let name = name.ok_or_else(invalid)?;
    if !valid_name(&name) {
        return Err(format!("ERR {NAME_RULES}"));
    }
    Ok(name)
}

/// Loads one library's code in `vm` (a script state must be entered): its functions.
fn load(vm: &Vm, code: &[u8]) -> Result<Vec<Registered>, String> {
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    let body = &code[end..];
    let f = vm
        .compile(body, "@user_function")
        .map_err(|e| format!("ERR Error compiling function: {e}"))?;
    api::begin_registering();
    let r = vm.load_library(&f);
    let registered = api::end_registering();
    match r {
        Err(e) => Err(format!("ERR Error registering functions: ERR {e}")),
        Ok(Err(msg)) => Err(format!("ERR Error registering functions: {msg}")),
        Ok(Ok(())) if registered.is_empty() => Err("ERR No functions registered".into()),
        Ok(Ok(())) => Ok(registered),
    }
}

/// The compiled function `name`, (re)loading the libraries in `vm` if they changed.
pub(super) fn lookup(vm: &mut Vm, shared: &Shared, name: &str) -> Result<Function, String> {
    let generation = shared.scripts.generation();
    if !vm.functions_current(generation) {
        let mut all = HashMap::new();
        for lib in shared.scripts.libraries().values() {
            for r in load(vm, &lib.code)? {
                all.insert(r.name, LoadedFunction { func: r.func });
            }
        }
        vm.set_functions(generation, all);
    }
    vm.functions
        .get(name)
        .map(|f| f.func.clone())
        .ok_or_else(|| "ERR Function not found".to_string())
}

fn fcall_generic(ctx: &mut OuterCtx<'_>, a: &[&[u8]], ro: bool) {
    let Some((keys, args)) = split_keys(ctx, a, "ERR Bad number of keys provided") else {
        return;
    };
    let name = String::from_utf8_lossy(a[1]).to_string();
    let Some((_, def)) = ctx.shared.scripts.function(&name) else {
        return ctx.err("ERR Function not found");
    };
    let no_writes = def.flags & FN_NO_WRITES != 0;
    if ro && !no_writes {
        return ctx.err("ERR Can not execute a script with write flag using *_ro command.");
    }
    run(ctx, Target::Function(&name), keys, args, ro || no_writes);
}

fn fcall(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    fcall_generic(ctx, a, false);
}

fn fcall_ro(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    fcall_generic(ctx, a, true);
}

/// Checks `code` as a new library (replacing one of the same name if `replace`) and adds it.
fn load_command(ctx: &mut OuterCtx<'_>, code: &[u8], replace: bool) -> Result<String, String> {
    let lib_name = metadata(code)?;
    let shared = ctx.shared;
    let mut libs = shared.scripts.libraries();
    if libs.contains_key(&lib_name) && !replace {
        return Err(format!("ERR Library '{lib_name}' already exists"));
    }
    let _entered = api::enter(shared, ctx.sess.db, ScriptKind::Function, true);
    let registered = super::vm::with_vm(&shared.scripts, |vm| load(vm, code))??;
    let mut functions = BTreeMap::new();
    for r in registered {
        let taken = libs
            .values()
            .any(|l| l.name != lib_name && l.functions.contains_key(&r.name));
        if taken {
            return Err(format!("ERR Function {} already exists", r.name));
        }
        functions.insert(
            r.name.clone(),
            FunctionDef {
                name: r.name,
                description: r.description,
                flags: r.flags,
            },
        );
    }
    libs.insert(
        lib_name.clone(),
        Library {
            name: lib_name.clone(),
            code: Bytes::copy_from_slice(code),
            functions,
        },
    );
    shared.scripts.set_libraries(libs);
    Ok(lib_name)
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
];

fn function(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    let sub = a[1];
    if eq(sub, "load") {
        let (code, replace) = match a.len() {
            3 => (a[2], false),
            4 if eq(a[2], "replace") => (a[3], true),
            _ => {
                let opt = String::from_utf8_lossy(a[2]);
                return ctx.err(&format!("ERR Unknown option given: {opt}"));
            }
        };
        match load_command(ctx, code, replace) {
            Ok(name) => {
                super::super::aof::log_now(ctx, a);
                ctx.bulk(name.as_bytes())
            }
            Err(e) => ctx.err(&e),
        }
    } else if eq(sub, "list") {
        list(ctx, a);
    } else if eq(sub, "delete") {
        let name = String::from_utf8_lossy(a[2]).to_string();
        let mut libs = ctx.shared.scripts.libraries();
        if libs.remove(&name).is_none() {
            return ctx.err("ERR Library not found");
        }
        ctx.shared.scripts.set_libraries(libs);
        super::super::aof::log_now(ctx, a);
        ctx.ok();
    } else if eq(sub, "flush") {
        if a.len() > 3 || (a.len() == 3 && !eq(a[2], "sync") && !eq(a[2], "async")) {
            return ctx.err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        }
        ctx.shared.scripts.set_libraries(BTreeMap::new());
        super::super::aof::log_now(ctx, a);
        ctx.ok();
    } else if eq(sub, "dump") {
        let payload = super::dump::dump(&ctx.shared.scripts.libraries());
        ctx.bulk(&payload);
    } else if eq(sub, "restore") {
        restore(ctx, a);
    } else if eq(sub, "stats") {
        stats(ctx);
    } else if eq(sub, "kill") {
        kill(ctx, ScriptKind::Function);
    } else if eq(sub, "help") {
        help(ctx, FUNCTION_HELP);
    } else {
        unknown_subcommand(ctx, "function", sub);
    }
}

fn list(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 2;
    while i < a.len() {
        if eq(a[i], "withcode") && !with_code {
            with_code = true;
        } else if eq(a[i], "libraryname") && pattern.is_none() {
            let Some(p) = a.get(i + 1) else {
                return ctx.err("ERR library name argument was not given");
            };
            pattern = Some(*p);
            i += 1;
        } else {
            let arg = String::from_utf8_lossy(a[i]);
            return ctx.err(&format!("ERR Unknown argument {arg}"));
        }
        i += 1;
    }
    let libs: Vec<Library> = ctx
        .shared
        .scripts
        .libraries()
        .into_values()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes(), true)))
        .collect();
    ctx.array(libs.len());
    for lib in &libs {
        ctx.map(if with_code { 4 } else { 3 });
        ctx.bulk(b"library_name");
        ctx.bulk(lib.name.as_bytes());
        ctx.bulk(b"engine");
        ctx.bulk(b"LUA");
        ctx.bulk(b"functions");
        ctx.array(lib.functions.len());
        for f in lib.functions.values() {
            ctx.map(3);
            ctx.bulk(b"name");
            ctx.bulk(f.name.as_bytes());
            ctx.bulk(b"description");
            match &f.description {
                Some(d) => ctx.bulk(d),
                None => ctx.null(),
            }
            ctx.bulk(b"flags");
            let names: Vec<&str> = FN_FLAGS
                .iter()
                .filter(|(_, bit)| f.flags & bit != 0)
                .map(|(n, _)| *n)
                .collect();
            ctx.set(names.len());
            for n in names {
                ctx.simple(n);
            }
        }
        if with_code {
            ctx.bulk(b"library_code");
            ctx.bulk(&lib.code);
        }
    }
}

fn stats(ctx: &mut OuterCtx<'_>) {
    let scripts = &ctx.shared.scripts;
    ctx.map(2);
    ctx.bulk(b"running_script");
    match scripts.running.function() {
        None => ctx.null(),
        Some((name, ms)) => {
            ctx.map(3);
            ctx.bulk(b"name");
            ctx.bulk(name.as_bytes());
            ctx.bulk(b"command");
            ctx.array(2);
            ctx.bulk(b"fcall");
            ctx.bulk(name.as_bytes());
            ctx.bulk(b"duration_ms");
            ctx.int(ms as i64);
        }
    }
    let (libraries, functions, _) = scripts.function_counts();
    ctx.bulk(b"engines");
    ctx.map(1);
    ctx.bulk(b"LUA");
    ctx.map(2);
    ctx.bulk(b"libraries_count");
    ctx.int(libraries as i64);
    ctx.bulk(b"functions_count");
    ctx.int(functions as i64);
}

fn restore(ctx: &mut OuterCtx<'_>, a: &[&[u8]]) {
    let policy =
        match a.get(3) {
            None => "append",
            Some(p) if a.len() == 4 && eq(p, "append") => "append",
            Some(p) if a.len() == 4 && eq(p, "replace") => "replace",
            Some(p) if a.len() == 4 && eq(p, "flush") => "flush",
            Some(_) => return ctx.err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let Some(codes) = super::dump::parse(a[2]) else {
        return ctx.err("ERR DUMP payload version or checksum are wrong");
    };
    let scripts = &ctx.shared.scripts;
    let before = scripts.libraries();
    if policy == "flush" {
        scripts.set_libraries(BTreeMap::new());
    }
    for code in codes {
        if let Err(e) = load_command(ctx, &code, policy == "replace") {
            ctx.shared.scripts.set_libraries(before);
            return ctx.err(&e);
        }
    }
    super::super::aof::log_now(ctx, a);
    ctx.ok();
}
