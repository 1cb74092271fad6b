//! A thread's Lua state: Lua 5.1 with the libraries Redis 7.0 loads (base, table, string,
//! math, and cjson, bit, cmsgpack, struct), the sandbox of `sandbox.lua`, and the scripts and
//! functions compiled so far.
//!
//! Each thread that runs scripts has its own state (scripts run one at a time, under the
//! engine's exclusive gate, so nothing is shared between them but [`Scripts`]); what it
//! compiled is dropped when the script cache is flushed or the server is another one, and its
//! functions are reloaded when the libraries change.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::BytesMut;
use mlua::{ffi, ChunkMode, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};
use protocol::Protocol;

use super::{api, conv};
use crate::state::scripts::{ScriptKind, Scripts};

const SANDBOX: &str = include_str!("sandbox.lua");

/// Instructions between two checks for SCRIPT KILL / FUNCTION KILL.
const HOOK_EVERY: u32 = 10_000;

/// A compiled function of a library.
pub(super) struct LoadedFunction {
    pub(super) func: Function,
}

/// What to run a function with.
pub(super) struct Call<'a> {
    /// `KEYS`.
    pub(super) keys: &'a [&'a [u8]],
    /// `ARGV`.
    pub(super) args: &'a [&'a [u8]],
    /// Also set `KEYS` and `ARGV` as globals (EVAL).
    pub(super) globals: bool,
    /// The script's name in errors (its SHA-1, or the function's name).
    pub(super) name: Option<&'a str>,
    /// The caller's protocol.
    pub(super) proto: Protocol,
}

/// One thread's Lua state.
pub(super) struct Vm {
    pub(super) lua: Lua,
    run: Function,
    real: Table,
    globals_mt: Table,
    load_env: Table,
    server: u64,
    epoch: u64,
    compiled: HashMap<String, Function>,
    generation: u64,
    pub(super) functions: HashMap<String, LoadedFunction>,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's Lua state for `scripts`' server (created on first use).
pub(super) fn with_vm<R>(scripts: &Scripts, f: impl FnOnce(&mut Vm) -> R) -> Result<R, String> {
    VM.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| "ERR scripts cannot run scripts".to_string())?;
        if slot.is_none() {
            *slot = Some(Vm::new().map_err(|e| format!("ERR {e}"))?);
        }
        let vm = slot.as_mut().ok_or("ERR no Lua state")?;
        if vm.server != scripts.id || vm.epoch != scripts.epoch() {
            vm.compiled.clear();
            vm.server = scripts.id;
            vm.epoch = scripts.epoch();
            vm.generation = u64::MAX;
        }
        Ok(f(vm))
    })
}

fn register(lua: &Lua, t: &Table, name: &str, f: Function) -> mlua::Result<()> {
    let _ = lua;
    t.raw_set(name, f)
}

impl Vm {
    fn new() -> mlua::Result<Vm> {
        // SAFETY: the debug library is loaded only for the sandbox's error handler, which
        // keeps `debug.getinfo`; the sandbox removes `debug` from the globals.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let globals = lua.globals();
        globals.raw_set("bit", super::bit::library(&lua)?)?;
        globals.raw_set("cjson", super::cjson::library(&lua)?)?;
        globals.raw_set("cmsgpack", super::cmsgpack::library(&lua)?)?;
        globals.raw_set("struct", super::structlib::library(&lua)?)?;
        let r = lua.create_table()?;
        // SAFETY: both are Lua C functions that keep Lua's stack discipline (rawcall.rs).
        let (call, pcall) = unsafe {
            (
                lua.create_c_function(super::rawcall::redis_call)?,
                lua.create_c_function(super::rawcall::redis_pcall)?,
            )
        };
        register(&lua, &r, "call", call)?;
        register(&lua, &r, "pcall", pcall)?;
        let callerr = lua.create_table()?;
        lua.set_named_registry_value(
            super::rawcall::CALL_ERROR_KEY.to_str().unwrap_or_default(),
            callerr.clone(),
        )?;
        r.raw_set("callerr_mt", callerr)?;
        register(&lua, &r, "sha1hex", lua.create_function(api::sha1hex)?)?;
        register(&lua, &r, "log", lua.create_function(api::log)?)?;
        register(&lua, &r, "setresp", lua.create_function(api::setresp)?)?;
        register(&lua, &r, "set_repl", lua.create_function(api::set_repl)?)?;
        register(
            &lua,
            &r,
            "acl_check_cmd",
            lua.create_function(api::acl_check_cmd)?,
        )?;
        register(&lua, &r, "errmsg", lua.create_function(api::errmsg)?)?;
        register(&lua, &r, "random", lua.create_function(api::random)?)?;
        register(
            &lua,
            &r,
            "randomseed",
            lua.create_function(api::randomseed)?,
        )?;
        register(
            &lua,
            &r,
            "register_function",
            lua.create_function(super::function::register_function)?,
        )?;
        r.raw_set("version", super::super::server::REDIS_VERSION)?;
        r.raw_set("version_num", version_num())?;
        let (proxy, run, real, globals_mt, load_env): (Table, Function, Table, Table, Table) = lua
            .load(SANDBOX)
            .set_name("=[redis]")
            .set_mode(ChunkMode::Text)
            .call(r)?;
        lua.set_globals(proxy)?;
        // Global: coroutines a script creates run under the same hook.
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_, _| match api::kill_requested() {
                Some(ScriptKind::Eval) => Err(mlua::Error::runtime(
                    "Script killed by user with SCRIPT KILL...",
                )),
                Some(ScriptKind::Function) => Err(mlua::Error::runtime(
                    "Script killed by user with FUNCTION KILL...",
                )),
                None => Ok(VmState::Continue),
            },
        )?;
        Ok(Vm {
            lua,
            run,
            real,
            globals_mt,
            load_env,
            server: 0,
            epoch: 0,
            compiled: HashMap::new(),
            generation: u64::MAX,
            functions: HashMap::new(),
        })
    }

    /// Compiles `body` as the script `sha` (cached). Err: Redis's compile error.
    pub(super) fn script(&mut self, sha: &str, body: &[u8]) -> Result<Function, String> {
        if let Some(f) = self.compiled.get(sha) {
            return Ok(f.clone());
        }
        let f = self
            .compile(body, "@user_script")
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        self.compiled.insert(sha.to_string(), f.clone());
        Ok(f)
    }

    /// Compiles a chunk; Err: Lua's message.
    pub(super) fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(name)
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// Whether the functions of `generation` are loaded.
    pub(super) fn functions_current(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// Records the functions of `generation`.
    pub(super) fn set_functions(&mut self, generation: u64, f: HashMap<String, LoadedFunction>) {
        self.functions = f;
        self.generation = generation;
    }

    /// Runs `f(keys, args)` under the error handler; EVAL scripts also see `KEYS` and `ARGV`
    /// as globals. What it returned is written into `out` as the reply for a client speaking
    /// `proto`; an error is returned formatted as Redis formats it (with `name`: `... script:
    /// <name>, on <source>:<line>.`; without: the error alone).
    pub(super) fn run(
        &self,
        f: &Function,
        call: &Call<'_>,
        out: &mut BytesMut,
    ) -> mlua::Result<Result<(), String>> {
        let mut error = None;
        // SAFETY: the closure keeps Lua's stack discipline; it runs in a protected call, and
        // the script's own errors are caught by the sandbox's xpcall.
        unsafe {
            self.lua
                .exec_raw::<()>((self.run.clone(), f.clone(), self.real.clone()), |state| {
                    let base = ffi::lua_gettop(state) - 2;
                    ffi::lua_checkstack(state, 16);
                    push_array(state, call.keys);
                    push_array(state, call.args);
                    if call.globals {
                        for (key, idx) in [(c"KEYS", base + 3), (c"ARGV", base + 4)] {
                            ffi::lua_pushstring(state, key.as_ptr());
                            ffi::lua_pushvalue(state, idx);
                            ffi::lua_rawset(state, base + 2);
                        }
                    }
                    for idx in [base, base + 1, base + 3, base + 4] {
                        ffi::lua_pushvalue(state, idx);
                    }
                    ffi::lua_call(state, 3, 2);
                    if call.globals {
                        // Functions do not see an EVAL's KEYS and ARGV.
                        for key in [c"KEYS", c"ARGV"] {
                            ffi::lua_pushstring(state, key.as_ptr());
                            ffi::lua_pushnil(state);
                            ffi::lua_rawset(state, base + 2);
                        }
                    }
                    let value = ffi::lua_gettop(state);
                    if ffi::lua_toboolean(state, value - 1) != 0 {
                        let w = conv::Writer::new(state, call.proto, api::script_proto());
                        w.write(state, value, out);
                    } else {
                        error = Some(conv::error_text(state, value, call.name));
                    }
                    ffi::lua_settop(state, 0);
                })?;
        }
        Ok(error.map_or(Ok(()), Err))
    }

    /// Runs a library's code with the registration API as `redis` (FUNCTION LOAD). Err (inner):
    /// the error.
    pub(super) fn load_library(&self, f: &Function) -> mlua::Result<Result<(), String>> {
        self.globals_mt.raw_set("__index", self.load_env.clone())?;
        let mut out = BytesMut::new();
        let call = Call {
            keys: &[],
            args: &[],
            globals: false,
            name: None,
            proto: Protocol::Resp2,
        };
        let r = self.run(f, &call, &mut out);
        self.globals_mt.raw_set("__index", self.real.clone())?;
        r
    }

    /// Bytes the state uses.
    pub(super) fn memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// Pushes a table of `items` as Lua strings.
unsafe fn push_array(state: *mut ffi::lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(state, items.len().min(1 << 20) as i32, 0);
    for (i, v) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, v.as_ptr().cast(), v.len());
        ffi::lua_rawseti_(state, -2, (i + 1) as i32);
    }
}

/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
fn version_num() -> i64 {
    let mut n = 0i64;
    for part in super::super::server::REDIS_VERSION.split('.') {
        n = (n << 8) | part.parse::<i64>().unwrap_or(0);
    }
    n
}
