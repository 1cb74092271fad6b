-- The sandbox every script runs in, as Redis 7.0 builds it: built once per Lua state, with
-- the real globals as its environment; it returns the read-only proxy that becomes the
-- globals, and the function that runs a script under the error handler.
--
-- `R` holds the functions written in Rust (redis.call's engine, sha1hex, log, setresp,
-- math.random...). The library tables and the globals are read-only proxies: writes raise
-- "Attempt to modify a readonly table", reads of unknown globals raise "Script attempted to
-- access nonexistent global variable".
local R = ...
local real = _G
local error_, type_, tostring_, select_ = error, type, tostring, select
local pcall_, xpcall_, next_, pairs_, ipairs_ = pcall, xpcall, next, pairs, ipairs
local rawget_, rawset_, setmt, getmt = rawget, rawset, setmetatable, getmetatable
local loadstring_, unpack_ = loadstring, unpack
local getinfo = debug.getinfo
local GLUE = "=[redis]"

-- proxy -> the table it protects
local backing = setmt({}, { __mode = "k" })
local function deny()
  error_("Attempt to modify a readonly table", 2)
end
local function readonly(t)
  local p = setmt({}, { __index = t, __newindex = deny })
  backing[p] = t
  return p
end
local function target(t)
  return backing[t] or t
end

-- redis.call's errors: pcall hands them to the script as their message, as Redis does.
local callerr_mt = R.callerr_mt
local function fix(ok, ...)
  if not ok then
    local e = ...
    if type_(e) == "table" and getmt(e) == callerr_mt then
      return false, e.err
    end
    if type_(e) == "userdata" then
      return false, R.errmsg(e)
    end
  end
  return ok, ...
end

local redis = {
  call = R.call,
  pcall = R.pcall,
  error_reply = function(...)
    local msg = ...
    if select_("#", ...) ~= 1 or type_(msg) ~= "string" then
      return { err = "ERR wrong number or type of arguments" }
    end
    if msg:sub(1, 1) == "-" then
      msg = msg:sub(2)
    end
    return { err = msg }
  end,
  status_reply = function(...)
    local msg = ...
    if select_("#", ...) ~= 1 or type_(msg) ~= "string" then
      return { err = "ERR wrong number or type of arguments" }
    end
    return { ok = msg }
  end,
  sha1hex = R.sha1hex,
  log = R.log,
  setresp = R.setresp,
  set_repl = R.set_repl,
  replicate_commands = function()
    return true
  end,
  breakpoint = function()
    return false
  end,
  debug = function() end,
  acl_check_cmd = R.acl_check_cmd,
  LOG_DEBUG = 0,
  LOG_VERBOSE = 1,
  LOG_NOTICE = 2,
  LOG_WARNING = 3,
  REPL_NONE = 0,
  REPL_AOF = 1,
  REPL_SLAVE = 2,
  REPL_REPLICA = 2,
  REPL_ALL = 3,
  REDIS_VERSION = R.version,
  REDIS_VERSION_NUM = R.version_num,
}

math.random = R.random
math.randomseed = R.randomseed

-- Bytecode is refused: loadstring of a binary chunk answers nil.
local function load_text(s, name)
  if type_(s) == "string" and s:byte(1) == 27 then
    return nil, "bytecode loading is not allowed"
  end
  return loadstring_(s, name)
end
local function load_fn(f, name)
  if type_(f) ~= "function" then
    return load_text(f, name)
  end
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == "" then
      break
    end
    parts[#parts + 1] = piece
  end
  return load_text(table.concat(parts), name)
end

-- Finds the script's own frame: the first one below the handler that is neither C nor ours.
local function handler(err)
  local level, info = 2, nil
  while true do
    info = getinfo(level, "Sl")
    if info == nil or (info.what ~= "C" and info.source ~= GLUE) then
      break
    end
    level = level + 1
  end
  local msg
  if type_(err) == "table" and type_(rawget_(err, "err")) == "string" then
    msg = err.err
  elseif type_(err) == "userdata" then
    -- Raised in Rust: its message.
    msg = "ERR " .. R.errmsg(err)
  else
    msg = "ERR " .. tostring_(err)
  end
  local out = { err = msg }
  if info ~= nil then
    out.source = info.source
    out.line = info.currentline
  end
  return out
end

local function run(f, keys, args)
  return xpcall_(function()
    return f(keys, args)
  end, handler)
end

for _, name in ipairs_({ "print", "dofile", "loadfile", "getfenv", "setfenv", "module",
  "newproxy", "require", "package", "debug" }) do
  rawset_(real, name, nil)
end

real.pcall = function(...)
  return fix(pcall_(...))
end
real.loadstring = load_text
real.load = load_fn
real.rawset = function(t, k, v)
  if backing[t] then
    error_("Attempt to modify a readonly table", 0)
  end
  return rawset_(t, k, v)
end
real.rawget = function(t, k)
  return rawget_(target(t), k)
end
real.setmetatable = function(t, mt)
  if backing[t] then
    error_("Attempt to modify a readonly table", 0)
  end
  return setmt(t, mt)
end
real.next = function(t, k)
  return next_(target(t), k)
end
real.pairs = function(t)
  return next_, target(t), nil
end
real.ipairs = function(t)
  return ipairs_(target(t))
end
real.unpack = function(t, ...)
  return unpack_(target(t), ...)
end

real.redis = readonly(redis)
-- What FUNCTION LOAD's code sees: a `redis` with registration and logging only, and no other
-- global.
local load_api = readonly({
  register_function = R.register_function,
  log = R.log,
  LOG_DEBUG = 0,
  LOG_VERBOSE = 1,
  LOG_NOTICE = 2,
  LOG_WARNING = 3,
  REDIS_VERSION = R.version,
  REDIS_VERSION_NUM = R.version_num,
})
local function nonexistent(_, k)
  error_("Script attempted to access nonexistent global variable '" .. tostring_(k) .. "'", 2)
end
setmt(backing[load_api], { __index = nonexistent })
local load_env = setmt({ redis = load_api }, { __index = nonexistent })
for _, name in ipairs_({ "string", "math", "table", "coroutine", "bit", "cjson", "cmsgpack",
  "struct" }) do
  local lib = rawget_(real, name)
  if lib ~= nil then
    real[name] = readonly(lib)
  end
end
real.__redis__err__handler = handler
getmt("").__index = real.string
local string_mt = readonly(getmt(""))
real.getmetatable = function(t)
  if backing[t] then
    return nil
  end
  if type_(t) == "string" then
    return string_mt
  end
  return getmt(t)
end

-- The globals: a read-only view of `real`; while a library loads, of `load_env` instead.
local globals_mt = { __index = real, __newindex = deny }
local globals = setmt({}, globals_mt)
backing[globals] = real
real._G = globals
setmt(real, { __index = nonexistent })
return globals, run, real, globals_mt, load_env
