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

from shared.evaluation.lua_helpers import HELPERS

#: the count hook fires every this many Lua VM instructions
HOOK_EVERY = 1000

#: the error text Lua 5.1 uses for an allocation failure (the memory cap)
MEMORY_ERROR = "not enough memory"

_CORE = r"""
local py_json_decode, py_json_encode, py_yaml_decode, py_yaml_encode, HOOK_EVERY, MEMORY_CAP, py_over_time = ...

local type, pairs, ipairs, next, select, tostring, tonumber = type, pairs, ipairs, next, select, tostring, tonumber
local error, assert, rawget, rawset, rawequal, unpack = error, assert, rawget, rawset, rawequal, unpack
local setmetatable, getmetatable = setmetatable, getmetatable
local raw_pcall, raw_xpcall = pcall, xpcall
local setfenv, loadstring = setfenv, loadstring
local sethook, getinfo = debug.sethook, debug.getinfo
local collectgarbage = collectgarbage
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
-- budget
local hooks_left = 1e15
local exceeded = nil   -- the budget error message once the budget is spent
local budget_instructions = 0
local function hook()
  hooks_left = hooks_left - 1
  -- C functions (string.rep, gsub...) do much work per instruction: time is a budget too
  local late = hooks_left < 1e14 and py_over_time()
  if hooks_left < 0 or late then
    if exceeded == nil then
      local info = getinfo(2, "Sl")
      local where = ""
      if info ~= nil and info.currentline ~= nil and info.currentline > 0 then
        where = info.short_src .. ":" .. info.currentline .. ": "
      end
      if late and hooks_left >= 0 then
        exceeded = where .. "time budget exceeded; the script was stopped"
      else
        exceeded = where .. "instruction budget exceeded (" .. budget_instructions
          .. " instructions); the script was stopped"
      end
    end
    error(exceeded, 0)
  end
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

---------------------------------------------------------------------------------------------
-- pattern guard: Lua patterns backtrack in C, where the count hook never fires, so a
-- pattern like ("a*"):rep(8) .. "b" on a few hundred bytes would run for minutes. Before
-- running find/match/gmatch/gsub, estimate the worst case from the number of repetition
-- items (* + -) and the subject length, and refuse what could exceed PATTERN_LIMIT steps.
local PATTERN_LIMIT_LOG = math.log(5e7)
local log = math.log

local function skip_set(p, i)
  local len = #p
  local j = i + 1
  if sbyte(p, j) == 94 then j = j + 1 end        -- [^
  if sbyte(p, j) == 93 then j = j + 1 end        -- []...] : a literal ]
  while j <= len and sbyte(p, j) ~= 93 do
    if sbyte(p, j) == 37 then j = j + 2 else j = j + 1 end
  end
  return j + 1
end

local function repetitions(p)
  local i, len, q = 1, #p, 0
  local anchored = sbyte(p, 1) == 94
  if anchored then i = 2 end
  while i <= len do
    local c = sbyte(p, i)
    local item_end = nil
    if c == 37 then                               -- %
      local d = sbyte(p, i + 1)
      if d == 98 then i = i + 4                   -- %bxy
      elseif d == 102 then i = skip_set(p, i + 2) -- %f[set]
      else item_end = i + 1 end
    elseif c == 91 then item_end = skip_set(p, i) - 1
    elseif c == 40 or c == 41 then i = i + 1
    else item_end = i end
    if item_end ~= nil then
      local nxt = sbyte(p, item_end + 1)
      if nxt == 42 or nxt == 43 or nxt == 45 then
        q = q + 1
        i = item_end + 2
      elseif nxt == 63 then
        i = item_end + 2
      else
        i = item_end + 1
      end
    end
  end
  return q, anchored
end

local function check_pattern(fname, s, p)
  if type(s) ~= "string" or type(p) ~= "string" then return end
  local q, anchored = repetitions(p)
  if q < 2 then return end
  local n = #s
  local cost = (q - 1) * log(n + 1)
  if not anchored then cost = cost + log(n + 1) end
  if cost > PATTERN_LIMIT_LOG then
    error("string." .. fname .. ": pattern with " .. q .. " repetitions is too costly on a "
      .. n .. "-byte subject (its backtracking cannot be interrupted); simplify the pattern, "
      .. "or use plain find / the strings module", 3)
  end
end

do
  local raw_find, raw_match, raw_gmatch, raw_gsub = sfind, smatch, sgmatch, sgsub
  local function find(s, p, init, plain)
    if not plain then check_pattern("find", s, p) end
    return raw_find(s, p, init, plain)
  end
  local function match(s, p, init)
    check_pattern("match", s, p)
    return raw_match(s, p, init)
  end
  local function gmatch(s, p)
    check_pattern("gmatch", s, p)
    return raw_gmatch(s, p)
  end
  local function gsub(s, p, r, n)
    check_pattern("gsub", s, p)
    return raw_gsub(s, p, r, n)
  end
  -- string.rep builds its result in a C loop: refuse what cannot fit the memory cap
  -- before spending seconds on it
  local raw_rep = srep
  local function rep(s, n)
    if type(n) == "number" and n > 0 and (type(s) == "string" or type(s) == "number")
        and #tostring(s) * n > MEMORY_CAP then
      error("string.rep: a result of " .. #tostring(s) * n .. " bytes exceeds the memory budget", 2)
    end
    return raw_rep(s, n)
  end
  srep = rep
  -- the real table serves ("..."):find(...) method calls; string_lib below copies from it
  string.find, string.match, string.gmatch, string.gsub = find, match, gmatch, gsub
  string.rep = rep
end

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
end

local function finish()
  hooks_left = 1e15
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

#: the whole chunk: core (budget, guards, proxies), helpers, base environment, controller
PRELUDE = _CORE + HELPERS + _CONTROLLER
