"""The C guards and the bounded json/yaml helpers (issue 16): hostile inputs fail fast with a
clear error naming the script's line, ordinary ones keep working."""

from __future__ import annotations

import time

import pytest

from shared.evaluation import Limits
from tests.evaluation.helpers import expr, lua, message_of, service


def run(body: str, limits: Limits | None = None) -> tuple[float, str]:
    """Wall seconds and the error (or message) of ``evaluate`` made of ``body``."""
    c = lua(f"function evaluate()\n  {body}\n  return {{matching = true}}\nend\n", limits)
    started = time.perf_counter()
    result = c.evaluate(service())
    return time.perf_counter() - started, result.error or result.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # the inputs: O(n^2) and O(2^n) backtracking
        ("local r = string.rep('a', 150000):find('.*b')", "string.find: the pattern '.*b'"),
        (
            "local r = string.rep('a', 28):find(string.rep('a?', 28) .. string.rep('a', 28))",
            "string.find: the pattern of 84 bytes on a 28-byte subject is too costly",
        ),
        ("local r = string.rep('a', 150000):match('a*$')", "string.match: the pattern 'a*$'"),
        ("for w in string.rep('a', 90000):gmatch('a-b') do end", "string.gmatch"),
        ("local r = string.gsub(string.rep('a', 90000), '%a+%d', '')", "string.gsub"),
        # string.rep loops in C as many times as asked, even for an empty string
        ("local r = string.rep('', 1e15)", "string.rep: a count of 1000000000000000 is too"),
        # a plain search costs subject x needle comparisons in C
        (
            "local r = string.rep('a', 1000000):find(string.rep('a', 300000) .. 'b', 1, true)",
            "searching a 300001-byte string in a 1000000-byte subject is too costly",
        ),
    ],
)
def test_costly_patterns_are_refused_before_they_run(body: str, expected: str) -> None:
    seconds, error = run(body)
    assert seconds < 1.0, seconds
    assert expected in error and "too costly" in error and "line 2" in error, error


def test_helpers_are_guarded_too_and_blame_the_script_line() -> None:
    seconds, error = run(
        "local s = string.rep('a', 1000000)\n"
        "  local r = strings.Contains(s, string.rep('a', 300000) .. 'b')"
    )
    assert seconds < 1.0
    assert "line 3" in error and "too costly" in error, error


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("select(2, string.rep('abc 123.45 ', 2000):find('%d+%.%d+'))", "10"),
        ("select(2, string.gsub(string.rep('abc 123.45 ', 2000), '%d+%.%d+', ''))", "2000"),
        ("(string.rep('x: 1\\n', 5000) .. 'enabled:  true'):find('enabled:%s*true')", "25001"),
        ("(string.rep('r', 20000) .. ':v1'):match(':(.*)$')", "v1"),
        ("#string.gsub(string.rep('ab ', 20000), '%s+', '')", "40000"),
        ("('key=value'):match('^(%w+)=(%w+)$')", "key"),
        ("strings.Contains(string.rep('a', 1000000) .. 'needle', 'needle')", "true"),
        ("select(2, ('^^x'):gsub('%^', ''))", "2"),
    ],
)
def test_ordinary_patterns_on_long_subjects_still_run(expression: str, expected: str) -> None:
    assert message_of(expr(expression)) == expected


def test_sort_without_comparator_is_interruptible_and_keeps_its_semantics() -> None:
    assert (
        message_of(
            expr("(function() local t = {3, 1, 2}; table.sort(t); return t[1] .. t[3] end)()")
        )
        == "13"
    )
    assert (
        message_of(
            expr(
                "(function() local t = {'b', 'a'}; table.sort(t, function(a, b) return a > b end); return t[1] end)()"
            )
        )
        == "b"
    )
    seconds, error = run("local t = {1, 'a', 3}\n  table.sort(t)")
    assert "line 3" in error and "attempt to compare" in error, error
    # a large sort runs Lua comparisons: the instruction budget stops it, not minutes of C
    seconds, error = run(
        "local t = {}\n  for i = 1, 300000 do t[i] = (i * 7919) % 100003 end\n  table.sort(t)"
    )
    assert seconds < 3.0 and "budget exceeded" in error, error


@pytest.mark.parametrize("fname", ["json.encode", "json.toYAML"])
def test_encoding_a_dag_or_a_cycle_fails_fast_as_gopher_json_does(fname: str) -> None:
    seconds, error = run(
        "local t = {1}\n  for i = 1, 60 do t = {t, t} end\n"
        f"  local r, e = {fname}(t)\n  error(tostring(e))"
    )
    assert seconds < 1.0
    assert f"{fname}: cannot encode recursively nested tables" in error, error
    _, error = run(f"local t = {{}}\n  t.me = t\n  local r, e = {fname}(t)\n  error(tostring(e))")
    assert "recursively nested" in error, error
    _, error = run(
        "local t = {}\n  for i = 1, 200000 do t[i] = i end\n"
        f"  local r, e = {fname}(t)\n  error(tostring(e))"
    )
    assert "more than 100000 values" in error, error


def test_encoded_output_and_decoded_input_are_bounded() -> None:
    limits = Limits(document_bytes=64 * 1024)
    _, error = run(
        "local r, e = json.encode({string.rep('x', 100000)})\n  error(tostring(e))", limits
    )
    assert "json.encode: the result would exceed 65536 bytes" in error, error
    _, error = run(
        "local r, e = json.decode('[' .. string.rep('1,', 40000) .. '1]')\n  error(tostring(e))",
        limits,
    )
    assert "exceeds the 65536-byte limit of json.decode" in error, error


def test_a_yaml_document_stops_at_the_time_budget() -> None:
    seconds, error = run(
        "local parts = {}\n  for i = 1, 60000 do parts[i] = 'k' .. i .. ': [a, b, c]' end\n"
        "  local d, e = json.fromYAML(table.concat(parts, '\\n'))\n  error(tostring(e))",
        Limits(seconds=0.05, hard_seconds=60.0),  # the CPU budget stops it, however loaded
    )
    assert "json.fromYAML: time budget exceeded" in error or "time budget exceeded" in error
    assert seconds < 5.0, seconds


def test_yaml_aliases_of_scalars_are_refused_too() -> None:
    result = expr("select(2, json.fromYAML('a: &x 1\\nb: *x\\n'))").evaluate(service())
    assert result.error is None and "aliases" in result.message


def test_cloud_event_criteria_match_in_linear_time() -> None:
    """messagingMatchCriteria are RE2 (Go's syntax, as Sveltos): a CloudEvent's content cannot
    make them backtrack on the agent's loop; what RE2 lacks is refused at compile time."""
    from shared.evaluation import InvalidEventSource
    from tests.evaluation.helpers import compiled

    c = compiled(criteria=[{"cloudEventSubject": "(a+)+$"}])
    started = time.perf_counter()
    assert not c.match_cloud_event("x", {"subject": "a" * 100_000 + "b"})
    assert time.perf_counter() - started < 0.5
    with pytest.raises(InvalidEventSource, match="invalid regular expression"):
        compiled(criteria=[{"cloudEventType": "(a)\\1"}])
