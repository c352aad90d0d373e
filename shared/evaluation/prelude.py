"""The Lua side of the sandbox: one controller per :class:`~shared.evaluation.sandbox.LuaSandbox`.

``PRELUDE`` is executed once, in the runtime's real global environment, with the Python
helpers (JSON/YAML codecs) as arguments. It captures everything it needs in locals
(``setfenv``, ``loadstring``, ``debug.sethook``...), builds the table of globals a script may
see, installs the instruction-count hook, and returns a controller table:

``compile(id, code, chunkname)``
    load a script (never run it); ``false, message`` on a syntax error.
``evaluate(id, obj, hooks)``
    run the chunk in a FRESH environment, then ``evaluate(obj)``; returns
    ``true, matching, message`` or ``false, error``.
``aggregate(id, resources, hooks)``
    same with the global ``resources``; returns ``true, items, message, origins`` where
    ``items`` are the returned object tables and ``origins[i]`` the 1-based index of the
    input object when the script returned that very table (else 0); or ``false, error``.

Scripts never see the real globals: each run gets a new table whose ``__index`` is the
read-only base (``__metatable`` hides it). Library tables are empty read-only proxies, and any
raw write to them (``rawset``/``table.insert`` on a proxy) is scrubbed after every run, so
nothing survives from one evaluation to the next. The budget is a count hook (every
``HOOK_EVERY`` VM instructions); ``pcall``/``xpcall`` re-raise a budget or memory error so a
script cannot swallow it.
"""

from __future__ import annotations

from shared.evaluation.guards import GUARDS
from shared.evaluation.lua_helpers import HELPERS

#: the count hook fires every this many Lua VM instructions
HOOK_EVERY = 1000

#: the error text Lua 5.1 uses for an allocation failure (the memory cap)
MEMORY_ERROR = "not enough memory"

_CORE = r"""
local py_json_decode, py_json_encode, py_yaml_decode, py_yaml_encode, HOOK_EVERY, MEMORY_CAP,
  py_over_time, PATTERN_LIMIT, ENCODE_VALUES, ENCODE_BYTES, ENCODE_DEPTH = ...

local type, pairs, ipairs, next, select, tostring, tonumber = type, pairs, ipairs, next, select, tostring, tonumber
local error, assert, rawget, rawset, rawequal, unpack = error, assert, rawget, rawset, rawequal, unpack
local setmetatable, getmetatable = setmetatable, getmetatable
local raw_pcall, raw_xpcall = pcall, xpcall
local setfenv, loadstring = setfenv, loadstring
local sethook, getinfo = debug.sethook, debug.getinfo
local collectgarbage = collectgarbage
local clock = os.clock
local string, table, math = string, table, math
local sfind, ssub, sbyte, schar, sgsub, slower, supper, srep, smatch, sgmatch =
  string.find, string.sub, string.byte, string.char, string.gsub, string.lower,
  string.upper, string.rep, string.match, string.gmatch
local concat, floor = table.concat, math.floor

-- the string metatable must not hand out the real string library, and the real string
-- library (reachable as ("").name) must not offer dump
getmetatable("").__metatable = false
string.dump = nil

---------------------------------------------------------------------------------------------
-- budget: instructions (the count hook) and CPU time. C functions (string.rep, gsub...) do
-- much work per instruction, so time is a budget too: the evaluating thread's CPU time,
-- asked of Python (py_over_time) only once the process's CPU time (os.clock, no Python call)
-- has grown by CPU_CHECK seconds since the last look
local hooks_left = 1e15
local exceeded = nil   -- the budget error message once the budget is spent
local budget_instructions = 0
local CPU_CHECK = 0.01
local cpu_mark = 1e300  -- os.clock() from which the thread's CPU time is looked at
local function over_time()
  if clock() < cpu_mark then return false end
  if py_over_time() then return true end
  cpu_mark = clock() + CPU_CHECK
  return false
end
local PRELUDE_SOURCE = getinfo(1, "S").source
-- the error level of the script's frame, from `level` up (past this prelude's helpers)
local function script_level(level)
  local info = getinfo(level + 1, "S")
  while info ~= nil and info.source == PRELUDE_SOURCE do
    level = level + 1
    info = getinfo(level + 1, "S")
  end
  return level
end
local function budget_error(level, instructions)
  if exceeded == nil then
    -- the position of the script's line (not of a helper of this prelude it called)
    local where = ""
    local info = getinfo(level + 1, "Sl")
    while info ~= nil do
      if info.source ~= PRELUDE_SOURCE and info.currentline ~= nil and info.currentline > 0 then
        where = info.short_src .. ":" .. info.currentline .. ": "
        break
      end
      level = level + 1
      info = getinfo(level + 1, "Sl")
    end
    if instructions then
      exceeded = where .. "instruction budget exceeded (" .. budget_instructions
        .. " instructions); the script was stopped"
    else
      exceeded = where .. "time budget exceeded; the script was stopped"
    end
  end
  error(exceeded, 0)
end
local function hook()
  hooks_left = hooks_left - 1
  if hooks_left < 0 then budget_error(2, true) end
  if over_time() then budget_error(2, false) end
end
sethook(hook, "", HOOK_EVERY)

local MEMERR = "not enough memory"
local function fatal_check(ok, ...)
  if exceeded ~= nil then error(exceeded, 0) end
  if not ok and (...) == MEMERR then error(MEMERR, 0) end
  return ok, ...
end
local function safe_pcall(f, ...)
  return fatal_check(raw_pcall(f, ...))
end
local function safe_xpcall(f, handler)
  return fatal_check(raw_xpcall(f, handler))
end

"""

_LIBRARIES = r"""
---------------------------------------------------------------------------------------------
-- read-only library proxies
local protected = {}
local proxies = {}
local function readonly(name, t)
  local p = {}
  setmetatable(p, {
    __index = t,
    __newindex = function(_, k)
      error("module '" .. name .. "' is read-only (cannot set '" .. tostring(k) .. "')", 2)
    end,
    __metatable = false,
  })
  protected[p] = true
  proxies[#proxies + 1] = p
  return p
end
local function scrub()
  for i = 1, #proxies do
    local p = proxies[i]
    if next(p) ~= nil then
      local keys = {}
      for k in next, p do keys[#keys + 1] = k end
      for j = 1, #keys do rawset(p, keys[j], nil) end
    end
  end
end
local function safe_rawset(t, k, v)
  if protected[t] then error("rawset on a built-in module is not allowed", 2) end
  return rawset(t, k, v)
end

local function copy(t, names)
  local out = {}
  for _, n in ipairs(names) do out[n] = t[n] end
  return out
end

local string_lib = copy(string, {"byte", "char", "find", "format", "gmatch", "gsub", "len",
  "lower", "match", "rep", "reverse", "sub", "upper"})
local table_lib = copy(table, {"concat", "insert", "maxn", "remove", "sort", "getn"})
local math_lib = copy(math, {"abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cosh",
  "deg", "exp", "floor", "fmod", "frexp", "huge", "ldexp", "log", "log10", "max", "min",
  "modf", "pi", "pow", "rad", "random", "sin", "sinh", "sqrt", "tan", "tanh"})

"""

_CONTROLLER = r"""
---------------------------------------------------------------------------------------------
-- the base environment
local json_proxy = readonly("json", json_lib)
local strings_proxy = readonly("strings", strings_lib)
local modules = {json = json_proxy, strings = strings_proxy}

local function safe_require(name)
  local m = modules[name]
  if m == nil then
    error("module '" .. tostring(name) .. "' not found: require resolves only the built-in "
      .. "modules json and strings", 2)
  end
  return m
end

local function noop() end

local base = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = safe_pcall, xpcall = safe_xpcall, rawequal = rawequal, rawget = rawget,
  rawset = safe_rawset, select = select, setmetatable = setmetatable,
  getmetatable = getmetatable, tonumber = tonumber, tostring = tostring, type = type,
  unpack = unpack, print = noop, _VERSION = _VERSION,
  string = readonly("string", string_lib),
  table = readonly("table", table_lib),
  math = readonly("math", math_lib),
  json = json_proxy,
  strings = strings_proxy,
  require = safe_require,
  base64Encode = base64Encode, base64Decode = base64Decode,
  getLabel = getLabel, getAnnotation = getAnnotation,
}
local env_mt = {__index = base, __metatable = false}

local function new_env()
  local env = setmetatable({}, env_mt)
  rawset(env, "_G", env)
  return env
end

---------------------------------------------------------------------------------------------
-- running scripts
local chunks = {}

local function errtext(e)
  if type(e) == "string" then return e end
  if type(e) == "number" then return tostring(e) end
  return "error object of type " .. type(e)
end

local function begin(hooks, instructions)
  exceeded = nil
  budget_instructions = instructions
  hooks_left = hooks
  cpu_mark = clock() + CPU_CHECK
end

local function finish()
  hooks_left = 1e15
  cpu_mark = 1e300
  scrub()
end

local function prepare(id, hooks, instructions)
  local chunk = chunks[id]
  if chunk == nil then return nil, "script " .. tostring(id) .. " is not compiled" end
  local env = new_env()
  setfenv(chunk, env)
  begin(hooks, instructions)
  local ok, err = raw_pcall(chunk)
  if not ok then return nil, errtext(err) end
  local fn = rawget(env, "evaluate")
  if type(fn) ~= "function" then
    return nil, "the script does not define a global function evaluate"
  end
  return env, fn
end

local function is_array(t)
  return rawget(t, 1) ~= nil or #t > 0
end

local function check_result(res)
  if type(res) ~= "table" then
    return "lua script output is not a lua table (evaluate returned " .. type(res) .. ")"
  end
  if is_array(res) then
    return "lua script output is an array; expected a table with fields matching and message"
  end
  local msg = rawget(res, "message")
  if msg ~= nil and type(msg) ~= "string" then
    return "message must be a string, got " .. type(msg)
  end
  return nil
end

local controller = {}

function controller.compile(id, code, chunkname)
  local f, err = loadstring(code, "=" .. chunkname)
  if f == nil then return false, err end
  chunks[id] = f
  return true, ""
end

function controller.evaluate(id, obj, hooks, instructions)
  local env, fn = prepare(id, hooks, instructions)
  if env == nil then finish(); return false, fn end
  rawset(env, "obj", obj)
  local ok, res = raw_pcall(fn, obj)
  finish()
  if not ok then return false, errtext(res) end
  local problem = check_result(res)
  if problem then return false, problem end
  local matching = rawget(res, "matching")
  if matching == nil then matching = false end
  if type(matching) ~= "boolean" then
    return false, "matching must be a boolean, got " .. type(matching)
  end
  return true, matching, rawget(res, "message") or ""
end

function controller.aggregate(id, resources, hooks, instructions)
  local origin = {}
  for i = 1, #resources do origin[resources[i]] = i end
  local env, fn = prepare(id, hooks, instructions)
  if env == nil then finish(); return false, fn end
  rawset(env, "resources", resources)
  local ok, res = raw_pcall(fn, resources)
  finish()
  if not ok then return false, errtext(res) end
  local problem = check_result(res)
  if problem then return false, problem end
  local list = rawget(res, "resources")
  local items, origins = {}, {}
  if list ~= nil then
    if type(list) ~= "table" then
      return false, "resources must be an array of objects, got " .. type(list)
    end
    if next(list) ~= nil and not is_array(list) then
      return false, "resources must be an array of objects, got a table with keys"
    end
    for i = 1, #list do
      local item = list[i]
      if type(item) ~= "table" then
        return false, "resources[" .. i .. "] is a " .. type(item) .. ", expected an object"
      end
      items[i] = item
      origins[i] = origin[item] or 0
    end
  end
  return true, items, rawget(res, "message") or "", origins
end

function controller.collect()
  collectgarbage("collect")
end

-- nothing reachable from the real globals matters to scripts, but leave no escape hatch
-- (the names below are locals of this chunk, so clear them in the real global table)
local G = _G
for _, k in ipairs({"debug", "os", "io", "package", "require", "module", "load", "loadstring",
    "loadfile", "dofile", "setfenv", "getfenv", "newproxy", "python", "coroutine", "gcinfo"}) do
  rawset(G, k, nil)
end

return controller
"""

#: the whole chunk: core (budgets), C guards, library proxies, helpers, base environment,
#: controller
PRELUDE = _CORE + GUARDS + _LIBRARIES + HELPERS + _CONTROLLER
