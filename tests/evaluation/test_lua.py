"""Lua `evaluate`: the object as a Lua table, the result contract, helpers, errors."""

from __future__ import annotations

import datetime

import pytest

from shared.evaluation import InvalidEventSource
from tests.evaluation.helpers import expr, lua, message_of, service

# --- the object as Lua sees it ---------------------------------------------------------------


def obj_with(**spec: object) -> dict[str, object]:
    obj = service()
    obj["spec"] = spec
    return obj


def test_arrays_are_one_based_with_length_and_ipairs() -> None:
    c = expr("#obj.spec.ports .. ':' .. obj.spec.ports[1].port .. ':' .. obj.spec.ports[2].name")
    assert message_of(c, service(ports=[80, 443])) == "2:80:p443"
    c = expr(
        "(function() local n = 0 for i, p in ipairs(obj.spec.ports) do n = n + i end return n end)()"
    )
    assert message_of(c, service(ports=[1, 2, 3])) == "6"


def test_every_list_element_is_kept() -> None:
    # Sveltos drops ints and nested lists from arrays; Ripple keeps them (BRIEF §4)
    obj = obj_with(groups=[1000, 2000], nested=[[1, 2], [3]], mixed=["a", 1.5, True, {"k": "v"}])
    assert message_of(expr("#obj.spec.groups .. ':' .. obj.spec.groups[2]"), obj) == "2:2000"
    assert (
        message_of(
            expr("#obj.spec.nested .. ':' .. obj.spec.nested[1][2] .. ':' .. #obj.spec.nested[2]"),
            obj,
        )
        == "2:2:1"
    )
    assert (
        message_of(expr("#obj.spec.mixed .. type(obj.spec.mixed[3]) .. obj.spec.mixed[4].k"), obj)
        == "4booleanv"
    )


def test_null_list_elements_are_dropped_and_null_fields_absent() -> None:
    obj = obj_with(items=["a", None, "b"], gone=None)
    assert (
        message_of(expr("#obj.spec.items .. obj.spec.items[2] .. tostring(obj.spec.gone)"), obj)
        == "2bnil"
    )
    assert message_of(expr("obj.spec.missing == nil"), obj) == "true"


def test_numbers_are_lua_numbers() -> None:
    obj = obj_with(replicas=3, ratio=0.5, big=2**70)
    assert message_of(expr("obj.spec.replicas == 3.0"), obj) == "true"
    assert message_of(expr("tostring(6/3) .. ' ' .. obj.spec.ratio * 2"), obj) == "2 1"
    assert message_of(expr("obj.spec.big > 1e20"), obj) == "true"


def test_non_plain_values_reach_lua_as_strings() -> None:
    stamp = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    obj = obj_with(created=stamp, day=datetime.date(2024, 1, 2), raw=b"abc")
    assert message_of(
        expr("obj.spec.created .. ' ' .. obj.spec.day .. ' ' .. obj.spec.raw"), obj
    ) == ("2024-01-02T03:04:05Z 2024-01-02 abc")
    assert message_of(expr("type(obj.spec.created)"), obj) == "string"


def test_empty_map_and_list_are_empty_tables() -> None:
    obj = obj_with(m={}, l=[])
    assert (
        message_of(expr("type(obj.spec.m) .. #obj.spec.l .. tostring(next(obj.spec.m))"), obj)
        == "table0nil"
    )


def test_obj_is_also_the_first_argument() -> None:
    c = lua("function evaluate(o)\n return {matching = o == obj and o.kind == 'Service'}\nend")
    assert c.evaluate(service()).matching


def test_top_level_code_cannot_see_obj() -> None:
    c = lua(
        "seen = tostring(obj)\nfunction evaluate()\n return {matching = true, message = seen}\nend"
    )
    assert message_of(c) == "nil"


def test_the_caller_object_is_not_modified() -> None:
    obj = service(labels={"a": "b"})
    c = lua(
        "function evaluate()\n obj.metadata.labels.a = 'changed'\n obj.kind = nil\n return {matching = true}\nend"
    )
    assert c.evaluate(obj).matching
    assert obj["metadata"]["labels"] == {"a": "b"} and obj["kind"] == "Service"


# --- the result contract (sveltos-semantics.md §1.5) ------------------------------------------


@pytest.mark.parametrize(
    ("ret", "matching", "message"),
    [
        ("{matching = true, message = 'yes'}", True, "yes"),
        ("{matching = false}", False, ""),
        ("{}", False, ""),
        ("{message = 'only'}", False, "only"),
        ("{matching = true, extra = {1, 2}}", True, ""),
    ],
)
def test_valid_results(ret: str, matching: bool, message: str) -> None:
    result = lua(f"function evaluate()\n return {ret}\nend").evaluate(service())
    assert result.error is None
    assert (result.matching, result.message) == (matching, message)


@pytest.mark.parametrize(
    ("ret", "reason"),
    [
        ("nil", "not a lua table"),
        ("true", "not a lua table"),
        ("'yes'", "not a lua table"),
        ("{matching = 'true'}", "matching must be a boolean"),
        ("{matching = 1}", "matching must be a boolean"),
        ("{true}", "array"),
        ("{matching = true, message = 3}", "message must be a string"),
    ],
)
def test_invalid_results_are_errors(ret: str, reason: str) -> None:
    result = lua(f"function evaluate()\n return {ret}\nend", name="bad-result").evaluate(service())
    assert result.error is not None and reason in result.error
    assert "bad-result" in result.error
    assert not result.matching


def test_missing_evaluate_is_an_error() -> None:
    result = lua("function evaluat()\n return {matching = true}\nend").evaluate(service())
    assert result.error is not None and "evaluate" in result.error
    result = lua("local function evaluate()\n return {matching = true}\nend").evaluate(service())
    assert result.error is not None


def test_runtime_error_names_source_and_line() -> None:
    c = lua(
        "function evaluate()\n  local hs = {}\n  hs.matching = obj.spec.nothere.field\n  return hs\nend",
        name="broken-source",
    )
    result = c.evaluate(service())
    assert result.error is not None
    assert "broken-source" in result.error
    assert "resourceSelectors[0].evaluate line 3" in result.error
    assert "attempt to index" in result.error


def test_error_in_top_level_code_and_error_objects() -> None:
    assert "line 1" in (
        lua("error('boom')\nfunction evaluate() end").evaluate(service()).error or ""
    )
    result = lua("function evaluate()\n error({code = 1})\nend").evaluate(service())
    assert result.error is not None and "error object of type table" in result.error


def test_syntax_error_fails_compilation_with_line() -> None:
    with pytest.raises(InvalidEventSource) as info:
        lua("function evaluate()\n  local x = = 1\nend", name="syntax-source")
    text = str(info.value)
    assert "syntax-source" in text and "resourceSelectors[0].evaluate" in text and "line 2" in text
    assert info.value.line == 2


def test_syntax_error_in_aggregated_selection() -> None:
    with pytest.raises(InvalidEventSource) as info:
        lua(
            "function evaluate() return {} end", aggregated="function evaluate()\n\n  return {\nend"
        )
    assert "aggregatedSelection" in str(info.value) and info.value.line is not None


def test_an_error_keeps_the_engine_usable() -> None:
    c = lua(
        "function evaluate()\n if obj.metadata.name == 'bad' then error('bad object') end\n return {matching = true}\nend"
    )
    assert c.evaluate(service("bad")).error is not None
    assert c.evaluate(service("good")).matching


def test_lua_error_is_not_a_no_match_but_another_selector_can_match() -> None:
    from tests.evaluation.helpers import compiled, service_selector

    failing = service_selector(evaluate="function evaluate() error('x') end")
    matching = service_selector(labelFilters=[{"key": "a", "operation": "Has"}])
    c = compiled(failing, matching)
    assert c.evaluate(service(labels={"a": "1"})).matching
    # selector 1 does not match and selector 0 errors: unknown, not "no match"
    result = c.evaluate(service(labels={"b": "1"}))
    assert result.error is not None and not result.matching


def test_state_does_not_leak_between_evaluations() -> None:
    c = lua(
        "counter = (counter or 0) + 1\n"
        "function evaluate()\n"
        "  seen = (seen or 0) + 1\n"
        "  string.leak = 'x'\n"
        "  return {matching = true, message = counter .. ':' .. seen}\n"
        "end\n"
    )
    result = c.evaluate(service())
    assert result.error is not None and "read-only" in result.error
    c = lua(
        "counter = (counter or 0) + 1\n"
        "function evaluate()\n  seen = (seen or 0) + 1\n  _G.extra = (_G.extra or 0) + 1\n"
        "  return {matching = true, message = counter .. ':' .. seen .. ':' .. extra}\nend\n"
    )
    assert [message_of(c) for _ in range(3)] == ["1:1:1"] * 3


def test_state_does_not_leak_between_event_sources() -> None:
    first = lua("function evaluate()\n shared_value = 'first'\n return {matching = true}\nend")
    second = lua(
        "function evaluate()\n return {matching = true, message = tostring(shared_value)}\nend"
    )
    assert first.evaluate(service()).matching
    assert message_of(second) == "nil"


# --- precedence of CEL and Lua (sveltos-semantics.md §1.6) ------------------------------------

LUA_TRUE = "function evaluate() return {matching = true, message = 'lua'} end"
LUA_FALSE = "function evaluate() return {matching = false, message = 'lua'} end"
CEL_TRUE = [{"name": "t", "rule": "resource.kind == 'Service'"}]
CEL_FALSE = [{"name": "f", "rule": "resource.kind == 'Pod'"}]


@pytest.mark.parametrize(
    ("cel", "script", "expected"),
    [
        (None, None, True),
        (None, LUA_TRUE, True),
        (None, LUA_FALSE, False),
        (CEL_TRUE, None, True),
        (CEL_FALSE, None, False),
        (CEL_TRUE, LUA_FALSE, True),
        (CEL_FALSE, LUA_TRUE, True),
        (CEL_FALSE, LUA_FALSE, False),
    ],
)
def test_cel_and_lua_precedence(
    cel: list[dict[str, str]] | None, script: str | None, expected: bool
) -> None:
    from tests.evaluation.helpers import compiled, service_selector

    sel = service_selector()
    if cel is not None:
        sel["evaluateCEL"] = cel
    if script is not None:
        sel["evaluate"] = script
    assert compiled(sel).evaluate(service()).matching is expected


def test_cel_false_then_lua_error_is_an_error() -> None:
    from tests.evaluation.helpers import compiled, service_selector

    c = compiled(
        service_selector(evaluateCEL=CEL_FALSE, evaluate="function evaluate() error('x') end")
    )
    assert c.evaluate(service()).error is not None
    c = compiled(
        service_selector(evaluateCEL=CEL_TRUE, evaluate="function evaluate() error('x') end")
    )
    assert c.evaluate(service()).matching


def test_non_utf8_text_from_lua_is_an_error_not_an_exception() -> None:
    result = lua(
        "function evaluate()\n return {matching = true, message = string.char(255)}\nend"
    ).evaluate(service())
    assert result.error is not None and "UTF-8" in result.error
    result = lua("function evaluate()\n error(string.char(255))\nend").evaluate(service())
    assert result.error is not None


def test_deeply_nested_object_is_an_error_not_an_exception() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    obj = service()
    obj["spec"]["deep"] = deep
    result = lua("function evaluate() return {matching = true} end").evaluate(obj)
    assert result.error is not None and "nested too deeply" in result.error


def test_malformed_labels_do_not_crash_the_prefilter() -> None:
    from tests.evaluation.helpers import compiled, service_selector

    obj = service()
    obj["metadata"]["labels"] = ["not", "a", "map"]
    c = compiled(service_selector(labelFilters=[{"key": "a", "operation": "DoesNotHave"}]))
    assert c.evaluate(obj).matching


def test_lua_is_5_1() -> None:
    assert message_of(expr("_VERSION")) == "Lua 5.1"
    assert (
        message_of(expr("tostring(7 / 2) .. ' ' .. tostring(2^53) .. ' ' .. math.floor(7 / 2)"))
        == "3.5 9.007199254741e+15 3"
    )
