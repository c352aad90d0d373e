"""Hostile Lua: escapes, budgets, isolation (BRIEF §4 and §7).

Durations are measured in CPU time of the test thread (the machine is shared)."""

from __future__ import annotations

import time

import pytest

from shared.evaluation import Limits
from tests.evaluation.helpers import expr, lua, message_of, service

ABSENT = [
    "os",
    "io",
    "debug",
    "package",
    "load",
    "loadstring",
    "loadfile",
    "dofile",
    "setfenv",
    "getfenv",
    "collectgarbage",
    "coroutine",
    "newproxy",
    "module",
    "python",
    "gcinfo",
    "string.dump",
    "math.randomseed",
]


@pytest.mark.parametrize("name", ABSENT)
def test_dangerous_globals_are_absent(name: str) -> None:
    assert message_of(expr(f"{name} == nil")) == "true"


@pytest.mark.parametrize(
    "code",
    [
        "os.execute('touch /tmp/ripple-pwned')",
        "io.open('/etc/passwd')",
        "require('os')",
        "require('io')",
        "require('debug')",
        "require('/etc/passwd')",
        "require('shared.evaluation')",
        "loadstring('return 1')()",
        "load(function() return nil end)",
        "dofile('/etc/passwd')",
        "loadfile('/etc/passwd')",
        "debug.getinfo(1)",
        "setfenv(1, {})",
        "getfenv(0)",
        "string.dump(evaluate)",
        "(''):dump()",
        "python.eval('1')",
        "python.builtins.open('/etc/passwd')",
        "coroutine.create(function() end)",
        "collectgarbage('count')",
        "getmetatable('').__index.dump",
    ],
)
def test_escape_attempts_fail(code: str) -> None:
    c = lua(f"function evaluate()\n  local r = {code}\n  return {{matching = true}}\nend")
    result = c.evaluate(service())
    assert result.error is not None, code
    assert not result.matching


def test_string_metatable_is_hidden() -> None:
    assert message_of(expr("getmetatable('')")) == "false"
    assert message_of(expr("('abc'):upper()")) == "ABC"


def test_environment_metatable_is_hidden() -> None:
    assert message_of(expr("getmetatable(_G)")) == "false"
    assert message_of(expr("getmetatable(string)")) == "false"


def test_modules_are_read_only() -> None:
    for code in (
        "string.upper = nil",
        "table.insert = print",
        "math.pi = 3",
        "json.encode = nil",
        "strings.Contains = nil",
        "setmetatable(string, {})",
        "rawset(string, 'x', 1)",
    ):
        result = lua(f"function evaluate()\n {code}\n return {{matching = true}}\nend").evaluate(
            service()
        )
        assert result.error is not None, code


def test_raw_writes_to_modules_are_scrubbed_after_each_evaluation() -> None:
    # table.insert writes raw; it succeeds but nothing survives into the next evaluation
    c = lua(
        "function evaluate()\n"
        "  local before = rawget(string, 1)\n"
        "  table.insert(string, 'leak')\n"
        "  return {matching = true, message = tostring(before)}\n"
        "end\n"
    )
    assert [message_of(c) for _ in range(3)] == ["nil"] * 3


def test_global_functions_cannot_be_replaced_for_the_next_evaluation() -> None:
    c = lua(
        "function evaluate()\n"
        "  local original = tostring(type)\n"
        "  type = function() return 'hacked' end\n"
        "  pairs = nil\n"
        "  return {matching = true, message = original}\n"
        "end\n"
    )
    first, second = message_of(c), message_of(c)
    assert first == second and first.startswith("function")


def test_python_objects_never_reach_lua() -> None:
    c = expr("type(json.decode) .. type(json.encode) .. type(base64Encode) .. type(require)")
    assert message_of(c) == "functionfunctionfunctionfunction"
    # Python callables are hidden in Lua closures: a decoded document is plain tables
    assert message_of(expr('type(json.decode(\'{"a":{"b":[1]}}\').a.b)')) == "table"


def test_infinite_loop_is_stopped_in_milliseconds() -> None:
    c = lua("function evaluate()\n  while true do end\nend", name="looping")
    started = time.thread_time()
    result = c.evaluate(service())
    elapsed = time.thread_time() - started
    assert result.error is not None
    assert "instruction budget exceeded" in result.error and "looping" in result.error
    assert "line 2" in result.error
    assert elapsed < 0.25
    assert lua("function evaluate() return {matching = true} end").evaluate(service()).matching


def test_loop_at_top_level_is_stopped() -> None:
    result = lua("while true do end\nfunction evaluate() end").evaluate(service())
    assert result.error is not None and "instruction budget" in result.error


def test_pcall_cannot_swallow_the_budget() -> None:
    c = lua(
        "function evaluate()\n  while true do pcall(function() while true do end end) end\nend\n"
    )
    started = time.thread_time()
    result = c.evaluate(service())
    assert result.error is not None and "instruction budget" in result.error
    assert time.thread_time() - started < 0.25
    c = lua(
        "function evaluate()\n while true do xpcall(function() while true do end end, function(e) return e end) end\nend"
    )
    assert "instruction budget" in (c.evaluate(service()).error or "")


def test_memory_bomb_is_stopped() -> None:
    c = lua(
        "function evaluate()\n  local s = 'x'\n  while true do s = s .. s end\nend", name="bomb"
    )
    started = time.thread_time()
    result = c.evaluate(service())
    assert result.error is not None and "memory budget exceeded" in result.error
    assert "bomb" in result.error
    assert time.thread_time() - started < 0.5
    # the runtime recovers its memory and keeps working
    assert c.memory_used() < 8 * 1024 * 1024
    ok = lua("function evaluate() return {matching = true} end")
    assert ok.evaluate(service()).matching


def test_memory_bomb_with_tables_and_pcall() -> None:
    c = lua(
        "function evaluate()\n"
        "  local t = {}\n"
        "  while true do pcall(function() t[#t + 1] = string.rep('x', 1024) end) end\n"
        "end\n"
    )
    result = c.evaluate(service())
    assert result.error is not None
    # whichever budget runs out first stops it (on a loaded machine the time budget can)
    budgets = ("memory budget exceeded", "instruction budget", "time budget exceeded")
    assert any(b in result.error for b in budgets), result.error


def test_huge_single_allocation_is_refused() -> None:
    result = lua("function evaluate()\n local s = string.rep('x', 2^30)\nend").evaluate(service())
    assert result.error is not None and "memory" in result.error


def test_limits_are_configurable() -> None:
    script = "function evaluate()\n for i = 1, 100000 do end\n return {matching = true}\nend"
    assert lua(script).evaluate(service()).matching
    tight = lua(script, limits=Limits(instructions=10_000))
    assert "instruction budget exceeded (10000" in (tight.evaluate(service()).error or "")


def test_object_larger_than_memory_cap_is_an_error_not_a_crash() -> None:
    big = service()
    big["data"] = {f"k{i}": f"{i:06d}" * 200 for i in range(3000)}
    c = lua(
        "function evaluate() return {matching = true} end", limits=Limits(memory_bytes=1024 * 1024)
    )
    result = c.evaluate(big)
    assert result.error is not None and "memory" in result.error
    assert c.evaluate(service()).matching


def test_deep_recursion_is_an_error() -> None:
    result = lua("function f(n) return 1 + f(n + 1) end\nfunction evaluate() f(1) end").evaluate(
        service()
    )
    assert result.error is not None and "stack overflow" in result.error


def test_json_decode_bomb_is_refused_without_crashing() -> None:
    c = lua(
        "function evaluate()\n"
        "  local doc, err = json.decode('[' .. string.rep('[1],', 100000) .. '[1]]')\n"
        "  return {matching = doc == nil, message = tostring(err)}\n"
        "end\n",
        limits=Limits(memory_bytes=4 * 1024 * 1024),
    )
    started = time.thread_time()
    result = c.evaluate(service())
    assert time.thread_time() - started < 0.5
    assert result.error is None
    assert result.matching and "more than 100000 values" in result.message
    assert c.evaluate(service()).matching


def test_json_decode_result_larger_than_the_memory_cap() -> None:
    c = lua(
        "function evaluate()\n"
        "  local doc, err = json.decode('[' .. string.rep('[1],', 30000) .. '[1]]')\n"
        "  return {matching = doc == nil, message = tostring(err)}\n"
        "end\n",
        limits=Limits(memory_bytes=1024 * 1024),
    )
    result = c.evaluate(service())
    assert result.error is None and result.matching and "memory" in result.message


def test_catastrophic_patterns_are_refused_quickly() -> None:
    c = lua(
        "function evaluate()\n"
        "  local s = string.rep('a', 200)\n"
        "  local r = s:find(string.rep('a*', 4) .. 'b')\n"
        "  return {matching = true}\n"
        "end\n"
    )
    started = time.thread_time()
    result = c.evaluate(service())
    assert time.thread_time() - started < 0.25
    assert result.error is not None and "too costly" in result.error and "line 3" in result.error
    for call in (
        "string.match(s, p)",
        "string.gsub(s, p, '')",
        "string.gmatch(s, p)",
        "s:match(p)",
    ):
        code = f"function evaluate()\n local s, p = string.rep('a', 300), string.rep('a-', 5) .. 'b'\n local r = {call}\nend"
        assert "too costly" in (lua(code).evaluate(service()).error or ""), call


def test_ordinary_patterns_still_work() -> None:
    assert message_of(expr("select(3, string.find('key=value', '^(%w+)=(%w+)$'))")) == "key"
    assert message_of(expr("string.gsub('a-b-c', '%-', '+')")) == "a+b+c"
    assert message_of(expr("('10.0.0.1'):match('^(%d+)%.(%d+)%.(%d+)%.(%d+)$')")) == "10"
    long = "x" * 5000
    c = expr("#string.gsub(string.rep('ab ', 2000), '%s+', '')")
    assert message_of(c) == "4000"
    assert message_of(expr(f"('{long}'):find('y', 1, true)")) == "nil"
    assert (
        message_of(
            expr("strings.TrimSpace(string.rep(' ', 100000) .. 'x' .. string.rep(' ', 100000))")
        )
        == "x"
    )


def test_yaml_aliases_are_refused() -> None:
    doc = "a: &a [1, 2]\\nb: *a\\n"
    result = expr(f"select(2, json.fromYAML('{doc}'))").evaluate(service())
    assert result.error is None and "aliases" in result.message


def test_concurrent_use_from_threads_is_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = lua(
        "function evaluate()\n"
        "  local d = json.decode(json.encode(obj))\n"
        "  return {matching = d.metadata.name == obj.metadata.name, message = obj.metadata.name}\n"
        "end\n"
    )
    objs = [service(f"s{i}") for i in range(400)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(c.evaluate, objs))
    assert all(r.matching and r.error is None for r in results)
    assert [r.message for r in results] == [f"s{i}" for i in range(400)]
