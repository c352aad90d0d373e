"""Property tests: any JSON-shaped object reaches Lua intact and never breaks the engine."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.evaluation.helpers import lua, service

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)

COUNT_NODES = lua(
    "local function count(v)\n"
    "  if type(v) ~= 'table' then return 1 end\n"
    "  local n = 1\n"
    "  for _, x in pairs(v) do n = n + count(x) end\n"
    "  return n\n"
    "end\n"
    "function evaluate()\n"
    "  return {matching = true, message = tostring(count(obj.spec.data))}\n"
    "end\n"
)


def expected_nodes(value: Any) -> int:
    """Nodes Lua sees: nulls are absent (map values) or dropped (list elements)."""
    if isinstance(value, dict):
        return 1 + sum(expected_nodes(v) for v in value.values() if v is not None)
    if isinstance(value, list):
        return 1 + sum(expected_nodes(v) for v in value if v is not None)
    return 1


@settings(max_examples=150, deadline=None)
@given(json_values.filter(lambda v: v is not None))
def test_every_value_reaches_lua(data: Any) -> None:
    obj = service()
    obj["spec"] = {"data": data}
    result = COUNT_NODES.evaluate(obj)
    assert result.error is None, result.error
    assert int(result.message) == expected_nodes(data)


ROUNDTRIP = lua(
    "function evaluate()\n"
    "  local text, err = json.encode(obj.spec)\n"
    "  if text == nil then return {matching = false, message = err} end\n"
    "  local back = json.decode(text)\n"
    "  return {matching = json.encode(back) == text, message = text}\n"
    "end\n"
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=5))
def test_json_helpers_never_raise(spec: dict[str, Any]) -> None:
    obj = service()
    obj["spec"] = spec
    result = ROUNDTRIP.evaluate(obj)
    assert result.error is None, result.error
    assert isinstance(result.matching, bool)
