"""Lua source of the helpers Sveltos users call, spliced into :data:`~shared.evaluation.prelude.PRELUDE`.

* ``json``: ``encode``, ``decode``, ``toYAML``, ``fromYAML``; the codecs are Python
  (:class:`~shared.evaluation.convert.Codecs`) held in Lua closures, so a script never holds a
  Python object; bad input gives ``nil, message`` (gopher-lua's convention). What is to be
  encoded is walked in Lua first (``encode_check`` of :mod:`~shared.evaluation.guards`:
  depth, values counted as the encoder meets them, bytes), so a DAG or a cycle fails fast;
* ``base64Encode``, ``base64Decode`` (pure Lua, any byte string; empty input: ``nil, message``);
* ``getLabel(obj, key)``, ``getAnnotation(obj, key)``: the string or ``nil``;
* ``strings``: Go's ``strings`` API with capitalised names (``HasPrefix HasSuffix Contains
  Index Count Split Fields Join ToLower ToUpper TrimSpace TrimPrefix TrimSuffix Repeat
  EqualFold Replace ReplaceAll``), all linear in their input.

The code runs inside the prelude chunk and uses its locals (``sfind``, ``srep``...).
"""

from __future__ import annotations

HELPERS = r"""
---------------------------------------------------------------------------------------------
-- json (Python codecs behind Lua closures: the script never holds a Python object)
local json_lib = {}
function json_lib.decode(s)
  if type(s) ~= "string" then return nil, "json.decode: expected a string, got " .. type(s) end
  return py_json_decode(s)
end
function json_lib.encode(v)
  local err = encode_check(v, "json.encode")
  if err ~= nil then return nil, err end
  return py_json_encode(v)
end
function json_lib.fromYAML(s)
  if type(s) ~= "string" then return nil, "json.fromYAML: expected a string, got " .. type(s) end
  return py_yaml_decode(s)
end
function json_lib.toYAML(v)
  local err = encode_check(v, "json.toYAML")
  if err ~= nil then return nil, err end
  return py_yaml_encode(v)
end

---------------------------------------------------------------------------------------------
-- base64 (pure Lua; works on any byte string)
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64IDX = {}
for i = 1, 64 do B64IDX[sbyte(B64, i)] = i - 1 end

local function base64Encode(s)
  if s == nil or s == "" then return nil, "base64Encode: empty input" end
  if type(s) ~= "string" then s = tostring(s) end
  local out, n = {}, 0
  for i = 1, #s, 3 do
    local a, b, c = sbyte(s, i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = floor(v / 262144) % 64
    local c2 = floor(v / 4096) % 64
    local c3 = floor(v / 64) % 64
    local c4 = v % 64
    n = n + 1
    out[n] = ssub(B64, c1 + 1, c1 + 1) .. ssub(B64, c2 + 1, c2 + 1)
      .. (b and ssub(B64, c3 + 1, c3 + 1) or "=") .. (c and ssub(B64, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end

local function base64Decode(s)
  if s == nil or s == "" then return nil, "base64Decode: empty input" end
  if type(s) ~= "string" then return nil, "base64Decode: expected a string" end
  s = sgsub(s, "%s", "")
  if #s % 4 ~= 0 then return nil, "base64Decode: illegal base64 data (length)" end
  local out, n = {}, 0
  for i = 1, #s, 4 do
    local q = {sbyte(s, i, i + 3)}
    local v, pad = 0, 0
    for j = 1, 4 do
      local ch = q[j]
      local d
      if ch == 61 then -- '='
        if i + 3 ~= #s or j < 3 then return nil, "base64Decode: illegal base64 data (padding)" end
        d = 0
        pad = pad + 1
      else
        if pad > 0 then return nil, "base64Decode: illegal base64 data (padding)" end
        d = B64IDX[ch]
        if d == nil then
          return nil, "base64Decode: illegal base64 data at input byte " .. (i + j - 2)
        end
      end
      v = v * 64 + d
    end
    local b1 = floor(v / 65536) % 256
    local b2 = floor(v / 256) % 256
    local b3 = v % 256
    n = n + 1
    if pad == 0 then out[n] = schar(b1, b2, b3)
    elseif pad == 1 then out[n] = schar(b1, b2)
    else out[n] = schar(b1) end
  end
  return concat(out)
end

---------------------------------------------------------------------------------------------
-- getLabel / getAnnotation
local function meta_value(obj, field, key)
  if type(obj) ~= "table" then return nil end
  local md = obj.metadata
  if type(md) ~= "table" then return nil end
  local m = md[field]
  if type(m) ~= "table" then return nil end
  local v = m[key]
  if type(v) == "string" then return v end
  return nil
end
local function getLabel(obj, key) return meta_value(obj, "labels", key) end
local function getAnnotation(obj, key) return meta_value(obj, "annotations", key) end

---------------------------------------------------------------------------------------------
-- strings (Go's strings package, capitalised names)
local UTF8CHAR = "[%z\1-\127\194-\244][\128-\191]*"
local function need_string(fname, ...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) ~= "string" then
      error("strings." .. fname .. ": argument " .. i .. " must be a string, got " .. type(v), 3)
    end
  end
end
local strings_lib = {}
function strings_lib.HasPrefix(s, p) need_string("HasPrefix", s, p); return ssub(s, 1, #p) == p end
function strings_lib.HasSuffix(s, p)
  need_string("HasSuffix", s, p)
  return p == "" or ssub(s, -#p) == p
end
function strings_lib.Contains(s, sub)
  need_string("Contains", s, sub)
  return sfind(s, sub, 1, true) ~= nil
end
function strings_lib.Index(s, sub)
  need_string("Index", s, sub)
  local i = sfind(s, sub, 1, true)
  if i == nil then return -1 end
  return i - 1
end
function strings_lib.Count(s, sub)
  need_string("Count", s, sub)
  if sub == "" then
    local n = 0
    for _ in sgmatch(s, UTF8CHAR) do n = n + 1 end
    return n + 1
  end
  local n, init = 0, 1
  while true do
    local a, b = sfind(s, sub, init, true)
    if a == nil then return n end
    n = n + 1
    init = b + 1
  end
end
function strings_lib.Split(s, sep)
  need_string("Split", s, sep)
  local out = {}
  if sep == "" then
    for ch in sgmatch(s, UTF8CHAR) do out[#out + 1] = ch end
    return out
  end
  local init = 1
  while true do
    local a, b = sfind(s, sep, init, true)
    if a == nil then
      out[#out + 1] = ssub(s, init)
      return out
    end
    out[#out + 1] = ssub(s, init, a - 1)
    init = b + 1
  end
end
function strings_lib.Fields(s)
  need_string("Fields", s)
  local out = {}
  for w in sgmatch(s, "%S+") do out[#out + 1] = w end
  return out
end
function strings_lib.Join(t, sep)
  if type(t) ~= "table" then error("strings.Join: argument 1 must be a table", 2) end
  need_string("Join", sep)
  local parts = {}
  for i = 1, #t do parts[i] = tostring(t[i]) end
  return concat(parts, sep)
end
function strings_lib.ToLower(s) need_string("ToLower", s); return slower(s) end
function strings_lib.ToUpper(s) need_string("ToUpper", s); return supper(s) end
function strings_lib.TrimSpace(s)
  need_string("TrimSpace", s)
  local first = sfind(s, "%S")
  if first == nil then return "" end
  local last = #s
  while true do
    local b = sbyte(s, last)
    if b == 32 or (b >= 9 and b <= 13) then last = last - 1 else break end
  end
  return ssub(s, first, last)
end
function strings_lib.TrimPrefix(s, p)
  need_string("TrimPrefix", s, p)
  if p ~= "" and ssub(s, 1, #p) == p then return ssub(s, #p + 1) end
  return s
end
function strings_lib.TrimSuffix(s, p)
  need_string("TrimSuffix", s, p)
  if p ~= "" and ssub(s, -#p) == p then return ssub(s, 1, #s - #p) end
  return s
end
function strings_lib.Repeat(s, n)
  need_string("Repeat", s)
  if type(n) ~= "number" or n < 0 then error("strings.Repeat: negative or invalid count", 2) end
  return srep(s, n)
end
function strings_lib.EqualFold(a, b) need_string("EqualFold", a, b); return slower(a) == slower(b) end
function strings_lib.Replace(s, old, new, n)
  need_string("Replace", s, old, new)
  if n == nil then n = -1 end
  if type(n) ~= "number" then error("strings.Replace: argument 4 must be a number", 2) end
  if n == 0 or old == new then return s end
  local out, done, init = {}, 0, 1
  if old == "" then
    -- Go inserts `new` before every UTF-8 sequence and at the end
    for ch in sgmatch(s, UTF8CHAR) do
      if n < 0 or done < n then out[#out + 1] = new; done = done + 1 end
      out[#out + 1] = ch
    end
    if n < 0 or done < n then out[#out + 1] = new end
    return concat(out)
  end
  while n < 0 or done < n do
    local a, b = sfind(s, old, init, true)
    if a == nil then break end
    out[#out + 1] = ssub(s, init, a - 1)
    out[#out + 1] = new
    init = b + 1
    done = done + 1
  end
  out[#out + 1] = ssub(s, init)
  return concat(out)
end
function strings_lib.ReplaceAll(s, old, new)
  need_string("ReplaceAll", s, old, new)
  return strings_lib.Replace(s, old, new, -1)
end

"""
