"""Lua source of the C guards, spliced into :data:`~shared.evaluation.prelude.PRELUDE`.

The count hook never fires inside a C function, so a C function whose work can grow faster
than its input would run unbounded in the middle of an evaluation. Each one is looked at
before it runs, from its arguments only:

* ``string.find/match/gmatch/gsub`` with a pattern: the worst case of lstrlib's backtracking
  matcher is estimated -- the start positions (1 when anchored, the occurrences of a literal
  prefix, else every byte) times, for every repetition (``* + -``) followed by something that
  can fail, the longest run of its class in the subject plus one, times 2 per ``?`` followed
  by something that can fail, times the work of one path (the pattern, plus the subject for
  each ``%b`` and back-reference). A trailing repetition never backtracks (``.*$`` neither).
  Above ``PATTERN_LIMIT`` steps the call is refused with a clear error;
* a plain ``string.find`` (and patterns without special characters, which C searches
  plainly) costs up to subject x needle byte comparisons: refused above the same limit;
* ``table.sort`` without a comparator (C comparisons, quadratic on a crafted order) gets a
  Lua comparator, and a C comparator is wrapped in Lua, so the hook fires while it sorts;
* ``string.rep`` refuses a result larger than the memory cap, and a count above the limit
  (it loops that many times in C, even over an empty string).

A call estimated above ``CHECK_FROM`` steps first checks the time budget, so that a loop of
costly calls stops at the budget even between two hooks. The helpers (``strings``) use the
guarded functions too. What remains unbounded between two hooks is linear C work on strings
the memory cap bounds; the hard time limit of :mod:`shared.evaluation.isolation` covers it.

Uses the prelude's locals (``sfind``... ``over_time``, ``budget_error``).
"""

from __future__ import annotations

GUARDS = r"""
---------------------------------------------------------------------------------------------
-- C guards
do
  local raw_find, raw_match, raw_gmatch, raw_gsub, raw_rep = sfind, smatch, sgmatch, sgsub, srep
  local raw_sort = table.sort
  local CHECK_FROM = 1e5
  local shapes, nshapes = {}, 0

  local function skip_set(p, i)  -- i at '[': the index after the closing ']'
    local len = #p
    local j = i + 1
    if sbyte(p, j) == 94 then j = j + 1 end        -- [^
    if sbyte(p, j) == 93 then j = j + 1 end        -- []...] : a literal ]
    while j <= len and sbyte(p, j) ~= 93 do
      if sbyte(p, j) == 37 then j = j + 2 else j = j + 1 end
    end
    return j + 1
  end

  -- the items of a pattern as lstrlib's match() walks them
  local function shape_of(p, gmatch)
    local shape = shapes[p .. (gmatch and "\0g" or "")]
    if shape ~= nil then return shape end
    local len, i = #p, 1
    local anchored = not gmatch and sbyte(p, 1) == 94
    if anchored then i = 2 end
    local kinds, quants, texts, n = {}, {}, {}, 0
    while i <= len do
      local c = sbyte(p, i)
      local kind, item_end = "one", nil
      if c == 40 or c == 41 then                    -- ( ) captures
        i = i + 1
      elseif c == 36 and i == len then              -- $ at the end: anchor
        n = n + 1; kinds[n] = "end"; i = i + 1
      elseif c == 37 then                           -- %
        local d = sbyte(p, i + 1)
        if d == 98 then                             -- %bxy
          n = n + 1; kinds[n] = "scan"; i = i + 4
        elseif d == 102 then                        -- %f[set]
          n = n + 1; kinds[n] = "zero"; i = skip_set(p, i + 2)
        elseif d ~= nil and d >= 48 and d <= 57 then  -- back-reference
          n = n + 1; kinds[n] = "scan"; i = i + 2
        else
          item_end = i + 1
        end
      elseif c == 91 then
        item_end = skip_set(p, i) - 1
      else
        item_end = i
      end
      if item_end ~= nil then
        n = n + 1
        kinds[n] = kind
        local text = ssub(p, i, item_end)
        -- a lone punctuation character is a literal here: escape it to reuse it as a pattern
        if #text == 1 and c ~= 46 and raw_find(text, "^%p$") then text = "%" .. text end
        texts[n] = text
        local q = sbyte(p, item_end + 1)
        if q == 42 or q == 43 or q == 45 or q == 63 then
          quants[n] = q
          i = item_end + 2
        else
          i = item_end + 1
        end
      end
    end
    -- walk back: a repetition backtracks only when something after it can fail
    local reps, opts, scans = {}, 0, 0
    local rest_fail, rest_end = false, true
    for j = n, 1, -1 do
      local kind, q = kinds[j], quants[j]
      if q == 42 or q == 43 or q == 45 then         -- * + -
        local dot_end = rest_end and texts[j] == "." and q ~= 45
        if rest_fail and not dot_end then reps[#reps + 1] = texts[j] end
        if dot_end and q == 42 then rest_fail = false else rest_fail = rest_fail or q == 43 end
      elseif q == 63 then                           -- ?
        if rest_fail then opts = opts + 1 end
      else
        rest_fail = true
        if kind == "scan" then scans = scans + 1 end
      end
      if kind ~= "end" then rest_end = false end
    end
    -- a literal prefix (single characters, no quantifier) bounds the costly start positions
    local prefix, plen = nil, 0
    if not anchored and not (gmatch and sbyte(p, 1) == 94) then
      local parts = {}
      for j = 1, n do
        if kinds[j] ~= "one" or quants[j] ~= nil then break end
        parts[#parts + 1] = texts[j]
      end
      if #parts > 0 and #parts < n then prefix = concat(parts); plen = #parts end
    end
    local plain = raw_find(p, "[%^%$%*%+%?%.%(%[%%%-]") == nil
    shape = {anchored = anchored, reps = reps, opts = opts, scans = scans, len = len,
             prefix = prefix, plen = plen, plain = plain}
    if nshapes > 256 then shapes, nshapes = {}, 0 end
    shapes[p .. (gmatch and "\0g" or "")] = shape
    nshapes = nshapes + 1
    return shape
  end

  -- the longest run of characters of class c in s, bounded cheaply (two C searches)
  local function run_bound(s, c)
    local n = #s
    if c == "." then return n end
    if raw_find(s, raw_rep(c, 8)) == nil then return 7 end
    if n <= 100000 and raw_find(s, raw_rep(c, 64)) == nil then return 63 end
    return n
  end

  -- start positions where the prefix matches (nil: more than cap)
  local function starts_of(s, prefix, cap)
    local count, init = 0, 1
    while true do
      local a = raw_find(s, prefix, init)
      if a == nil then return count end
      count = count + 1
      if count > cap then return nil end
      init = a + 1
    end
  end

  local function pattern_cost(s, p, fname)
    local gmatch = fname == "gmatch"
    local shape = shape_of(p, gmatch)
    local n = #s
    if shape.plain and fname == "find" then return (n + 1) * (#p + 1) / 64 end
    local starts = shape.anchored and 1 or (n + 1)
    local work = shape.len + shape.scans * (n + 1)
    local reps = shape.reps
    local branching = 2 ^ shape.opts * (n + 1) ^ #reps
    local cost = starts * branching * work
    if cost <= PATTERN_LIMIT then return cost end
    if #reps > 0 then
      branching = 2 ^ shape.opts
      for j = 1, #reps do branching = branching * (run_bound(s, reps[j]) + 1) end
      cost = starts * branching * work
    end
    if cost > PATTERN_LIMIT and shape.prefix ~= nil and branching * work > shape.plen then
      local occurrences = starts_of(s, shape.prefix, 10000)
      if occurrences ~= nil then
        cost = (n + 1) * shape.plen + occurrences * branching * work
      end
    end
    return cost
  end

  local function check(fname, s, p, plain)
    local ts, tp = type(s), type(p)
    if (ts ~= "string" and ts ~= "number") or (tp ~= "string" and tp ~= "number") then
      return  -- the C function raises its own argument error
    end
    s, p = tostring(s), tostring(p)
    local cost
    if plain then cost = (#s + 1) * (#p + 1) / 64 else cost = pattern_cost(s, p, fname) end
    if cost > PATTERN_LIMIT then
      local what
      if plain then
        what = "searching a " .. #p .. "-byte string in a " .. #s .. "-byte subject"
      else
        what = "the pattern " .. (#p <= 40 and ("'" .. p .. "'") or ("of " .. #p .. " bytes"))
          .. " on a " .. #s .. "-byte subject"
      end
      error("string." .. fname .. ": " .. what .. " is too costly (worst case about "
        .. string.format("%.0e", cost) .. " steps; the C matcher cannot be interrupted); "
        .. "simplify the pattern (anchor it, fewer repetitions), or shorten the subject",
        script_level(3))
    end
    if cost > CHECK_FROM and over_time() then budget_error(3) end
  end

  local function find(s, p, init, plain)
    check("find", s, p, plain)
    return raw_find(s, p, init, plain)
  end
  local function match(s, p, init)
    check("match", s, p, false)
    return raw_match(s, p, init)
  end
  local function gmatch(s, p)
    check("gmatch", s, p, false)
    return raw_gmatch(s, p)
  end
  local function gsub(s, p, r, n)
    check("gsub", s, p, false)
    return raw_gsub(s, p, r, n)
  end
  -- string.rep builds its result in a C loop: refuse what cannot fit the memory cap
  local function rep(s, n)
    if type(n) == "number" and n > 0 and (type(s) == "string" or type(s) == "number") then
      local size = #tostring(s) * n
      if size > MEMORY_CAP then
        error("string.rep: a result of " .. size .. " bytes exceeds the memory budget",
          script_level(2))
      end
      if n > PATTERN_LIMIT then  -- C loops n times, even over an empty string
        error("string.rep: a count of " .. string.format("%.0f", n) .. " is too costly",
          script_level(2))
      end
      if size > CHECK_FROM * 16 and over_time() then budget_error(2) end
    end
    return raw_rep(s, n)
  end
  -- table.sort compares in C (quadratic on a crafted order, where the hook never fires):
  -- without a comparator, or with a C function as one, it sorts with a Lua comparator
  local function less(a, b) return a < b end
  local function sort(t, comp)
    if comp == nil then
      local ok, err = raw_pcall(raw_sort, t, less)
      if ok then return end
      if exceeded ~= nil then error(exceeded, 0) end
      if err == MEMERR then error(MEMERR, 0) end
      if type(err) == "string" then err = sgsub(err, "^[^:]*:%d+: ", "") end
      error(err, 2)
    end
    if type(comp) == "function" and getinfo(comp, "S").what == "C" then
      local c = comp
      comp = function(a, b) return c(a, b) end
    end
    return raw_sort(t, comp)
  end
  sfind, smatch, sgmatch, sgsub, srep = find, match, gmatch, gsub, rep
  -- the real tables serve ("..."):find(...) method calls; the libraries below copy from them
  string.find, string.match, string.gmatch, string.gsub = find, match, gmatch, gsub
  string.rep = rep
  table.sort = sort
end

---------------------------------------------------------------------------------------------
-- json.encode / toYAML: the encoder (Python) walks what it is given, so it is walked here
-- first (the hook runs): a table met twice is refused as gopher-json does ("recursively
-- nested": a cycle, or a DAG that could stand for an exponential document), and depth,
-- values and bytes are bounded
local function encode_check(v, fname)
  if type(v) ~= "table" then return nil end
  local stack, depths, top = {v}, {0}, 1
  local seen = {[v] = true}
  local count, bytes = 1, 0
  while top > 0 do
    local x, d = stack[top], depths[top]
    stack[top] = nil
    top = top - 1
    if d >= ENCODE_DEPTH then
      return fname .. ": nested deeper than " .. ENCODE_DEPTH .. " levels"
    end
    for k, val in next, x do
      if type(k) == "string" then bytes = bytes + #k end
      local t = type(val)
      if t == "string" then
        bytes = bytes + #val
      elseif t == "table" then
        if seen[val] then
          return fname .. ": cannot encode recursively nested tables (a table appears more "
            .. "than once)"
        end
        seen[val] = true
        top = top + 1
        stack[top] = val
        depths[top] = d + 1
      end
      count = count + 1
      if count > ENCODE_VALUES then
        return fname .. ": the value holds more than " .. ENCODE_VALUES .. " values"
      end
    end
    if bytes > ENCODE_BYTES then
      return fname .. ": the result would exceed " .. ENCODE_BYTES .. " bytes"
    end
  end
  return nil
end
"""
